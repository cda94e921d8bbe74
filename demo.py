"""The embedded default, end to end, on CPU with no download.

    python demo.py                 # build what is missing, continue what was interrupted
    python demo.py --rebuild       # start over

It runs the same scripts a user runs on InterHuman, with small sizes passed as flags
(configs/demo.yaml): a synthetic InterHuman-format dataset -> an InterCLIP-style evaluator -> the
VQ-VAE -> the Inter-M transformer with the offline MiniLM text encoder -> eval.py (with a
text-ignoring baseline: the same model at cond_scale 0, i.e. its unconditional branch) -> infer.py on
prompts_demo.txt (npy, mp4, BVH). Each finished step leaves a `.demo_done` marker in its folder, so a
second run reuses it; an interrupted training run is continued with --is_continue. It ends by printing
where the outputs are, the evaluation summary and the total time, and writes `demo_summary.json`.
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DS = "interhuman"  # the synthetic dataset is in the InterHuman format


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=os.path.join(HERE, "configs", "demo.yaml"))
    p.add_argument("--data_root", default="data/synthetic_interhuman", help="where the synthetic dataset goes")
    p.add_argument("--checkpoints_dir", default="./checkpoints")
    p.add_argument("--prompts_file", default=os.path.join(HERE, "prompts_demo.txt"))
    p.add_argument("--rebuild", action="store_true", help="delete the demo's dataset and runs first")
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda when available)")
    return p.parse_args(argv)


def flags(d):
    """{'batch_size': 32, 'flag': True} -> ['--batch_size', '32', '--flag', 'True']."""
    out = []
    for k, v in d.items():
        out += [f"--{k}"] + ([str(x) for x in v] if isinstance(v, list) else [str(v)])
    return out


def run(cmd, what):
    print(f"\n=== {what} ===\n$ {' '.join(cmd)}", flush=True)
    t0 = time.time()
    r = subprocess.run([sys.executable] + cmd, cwd=os.getcwd())
    if r.returncode != 0:
        sys.exit(f"demo: step '{what}' failed (exit {r.returncode}); fix it and run demo.py again "
                 f"to continue from here")
    seconds = time.time() - t0
    print(f"=== {what}: {seconds:.0f} s ===", flush=True)
    return seconds


def done(folder):
    return os.path.isfile(os.path.join(folder, ".demo_done"))


def mark_done(folder):
    os.makedirs(folder, exist_ok=True)
    open(os.path.join(folder, ".demo_done"), "w").close()


class Timings:
    """Seconds each step took when it was built, kept in a JSON file beside the runs, so the total
    build time survives reuse and interruption: a continued step adds its remaining time, a step built
    again from scratch replaces its old time."""

    def __init__(self, path):
        self.path = path
        self.seconds = json.load(open(path)) if os.path.isfile(path) else {}

    def add(self, what, seconds, continued=False):
        self.seconds[what] = round((self.seconds.get(what, 0.0) if continued else 0.0) + seconds, 1)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path + ".tmp", "w") as f:
            json.dump(self.seconds, f, indent=1)
        os.replace(self.path + ".tmp", self.path)

    def total(self):
        return round(sum(self.seconds.values()), 1)


def train_step(script, run_dir, args, what, timings):
    """Run a trainer unless its run is finished; continue it when a resumable checkpoint exists."""
    if done(run_dir):
        print(f"=== {what}: reusing {run_dir} ===")
        return
    resume = ["--is_continue"] if os.path.isfile(os.path.join(run_dir, "model", "latest.tar")) else []
    seconds = run([os.path.join(HERE, script)] + args + resume, what + (" (continued)" if resume else ""))
    timings.add(what, seconds, continued=bool(resume))
    mark_done(run_dir)


def read_summary(log_path):
    """Parse the official summary block of an eval log into {metric: {loader: mean or [top1..3]}}."""
    out, metric = {}, None
    with open(log_path) as f:
        for line in f:
            m = re.match(r"=+ (.+) Summary =+", line.strip())
            if m:
                metric = m.group(1)
                continue
            m = re.match(r"---> \[(.+?)\]\s*(.*)", line.strip())
            if metric and m:
                means = [float(x) for x in re.findall(r"Mean: ([-\d.eE+naif]+)", m.group(2))]
                out.setdefault(metric, {})[m.group(1)] = means[0] if len(means) == 1 else means
    return out


def main(argv=None):
    a = parse_args(argv)
    t_start = time.time()
    cfg = yaml.safe_load(open(a.config))
    ck = a.checkpoints_dir
    runs = {k: os.path.join(ck, DS, f"demo_{k}") for k in ("evaluator", "vq", "trans")}
    common = ["--dataset_name", DS, "--data_root", a.data_root, "--checkpoints_dir", ck]
    if a.device:
        common += ["--device", a.device]
    timings_file = os.path.join(ck, DS, "demo_timings.json")
    if a.rebuild:
        for path in [a.data_root] + list(runs.values()):
            shutil.rmtree(path, ignore_errors=True)
        if os.path.isfile(timings_file):
            os.remove(timings_file)
    timings = Timings(timings_file)

    # 1. dataset
    if done(a.data_root):
        print(f"=== dataset: reusing {a.data_root} ===")
    else:
        d = cfg["dataset"]
        timings.add("synthetic dataset", run(
            [os.path.join(HERE, "prepare", "make_synthetic_dataset.py"), "--out", a.data_root, "--overwrite",
             "--num_clips", str(d["num_clips"]), "--seed", str(d["seed"])]
            + (["--max_seconds", str(d["max_seconds"])] if d.get("max_seconds") else [])
            + (["--kinds"] + list(d["kinds"]) if d.get("kinds") else []), "synthetic dataset"))
        mark_done(a.data_root)

    # 2. evaluator (the official InterCLIP cannot score synthetic motion; train one of the same design)
    train_step("train_evaluator.py", runs["evaluator"],
               common + ["--name", "demo_evaluator", "--text_encoder", "minilm"] + flags(cfg["evaluator"]),
               "evaluator training", timings)
    # 3. VQ-VAE
    train_step("train_vq.py", runs["vq"], common + ["--name", "demo_vq"] + flags(cfg["vq"]), "VQ-VAE training", timings)
    # 3b. what the VQ-VAE keeps of each interaction: decode its own codes of training clips (the ceiling
    # of any transformer on top of it)
    ceiling_file = os.path.join(runs["vq"], "vq_ceiling.json")
    if not os.path.isfile(ceiling_file):
        timings.add("VQ-VAE ceiling", vq_ceiling(a, ck, cfg, ceiling_file))
    # 4. transformer
    train_step("train_transformer.py", runs["trans"],
               common + ["--name", "demo_trans", "--vq_name", "demo_vq", "--vq_which_epoch", "finest"]
               + flags(cfg["transformer"]), "transformer training", timings)

    # 5. evaluation: the model (cond scale 2) and the text-ignoring baseline (cond scale 0)
    ev = cfg["eval"]
    eval_dir = os.path.join(runs["trans"], "eval")
    logs = {}
    for cs in (2.0, 0.0):
        log = os.path.join(eval_dir, f"evaluation_latest_ts20_cs{cs}_topkr0.9.log")
        # the baseline only needs FID and R-precision: its own (cheaper) counts from `eval_baseline`
        settings = ev if cs else dict(ev, **cfg.get("eval_baseline", {}))
        if not os.path.isfile(log) or a.rebuild:
            what = f"evaluation (cond scale {cs})"
            timings.add(what, run([os.path.join(HERE, "eval.py")] + common
                                  + ["--name", "demo_trans", "--which_epoch", "latest", "--vq_which_epoch", "finest",
                                     "--eval_model_dir", runs["evaluator"], "--cond_scales", str(cs)] + flags(settings),
                                  what))
        logs[cs] = read_summary(log)

    # 6. generation for the demo prompts
    out_dir = os.path.join(runs["trans"], "animation_infer")
    if not done(out_dir):
        timings.add("generation", run([os.path.join(HERE, "infer.py")] + common
                                      + ["--name", "demo_trans", "--which_epoch", "latest", "--vq_which_epoch",
                                         "finest", "--prompts_file", a.prompts_file] + flags(cfg["infer"]),
                                      "generation"))
        mark_done(out_dir)
    signatures, distances, apart = check_signatures(out_dir, cfg)
    ceiling = json.load(open(ceiling_file))
    from utils.bvh import keypoint_residual
    bvh_mm = keypoint_residual(out_dir) * 1000

    summary = {"outputs": out_dir, "eval_logs": eval_dir, "model": logs.get(2.0, {}),
               "text_ignoring_baseline": logs.get(0.0, {}), "signatures": signatures,
               "signatures_apart": apart, "pelvis_distance_m": distances,
               "dataset_pelvis_distance_m": dataset_pelvis_distances(a.data_root, cfg.get("signatures", [])),
               "vq_ceiling": {k: [r["decoded"], r["clips"]] for k, r in ceiling.items()},
               "bvh_vs_keypoints_mm": {"mean": round(float(bvh_mm.mean()), 1), "max": round(float(bvh_mm.max()), 1)}
               if bvh_mm.size else {}, "step_seconds": timings.seconds,
               "total_seconds": timings.total(), "this_run_seconds": round(time.time() - t_start, 1)}
    with open(os.path.join(runs["trans"], "demo_summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print_summary(summary, out_dir)


def vq_ceiling(a, ck, cfg, json_path):
    """Run models.vq.ceiling on the demo's VQ-VAE (the demo's interaction kinds, 8 training clips each);
    -> seconds taken."""
    from models.vq.ceiling import main as ceiling_main
    print("\n=== VQ-VAE ceiling ===", flush=True)
    t0 = time.time()
    ceiling_main(["--data_root", a.data_root, "--checkpoints_dir", ck, "--vq_name", "demo_vq",
                  "--vq_which_epoch", "finest", "--json", json_path, "--kinds"] + list(cfg.get("signatures", [])))
    return time.time() - t0


def dataset_pelvis_distances(data_root, kinds):
    """{kind: mean horizontal pelvis distance (m) over all of the dataset's clips of that kind}: where
    the ground truth places the pair, read from the raw Z-up person files (pelvis = columns 0:3)."""
    import numpy as np
    clips = json.load(open(os.path.join(data_root, "synthetic_meta.json")))["clips"]
    out = {}
    for kind in kinds:
        d = []
        for cid, c in clips.items():
            if c["kind"] != kind:
                continue
            p1, p2 = (np.load(os.path.join(data_root, "motions_processed", f"person{p}", f"{cid}.npy"))[:, 0:2]
                      for p in (1, 2))                       # (T, 2): x, y are horizontal in Z-up
            d.append(float(np.linalg.norm(p1 - p2, axis=-1).mean()))
        out[kind] = round(float(np.mean(d)), 3) if d else float("nan")
    return out


def generated_pairs(out_dir, cfg):
    """{kind: [joints (T, 2, 22, 3), ...]} of the generated samples of each demo prompt with a known
    interaction type (configs/demo.yaml `signatures`, in prompt order)."""
    import numpy as np
    out = {}
    for i, kind in enumerate(cfg.get("signatures", [])):
        files = sorted(glob.glob(os.path.join(out_dir, "keypoint_npy", f"infer_*_{i:02d}_[0-9][0-9]_0.npy")))
        files = [f for f in files if not os.path.basename(f).startswith("ik_")]
        pairs = []
        for f0 in files:
            p1, p2 = np.load(f0), np.load(f0[:-len("_0.npy")] + "_1.npy")  # (T, 22, 9) each
            pairs.append(np.stack([p1[..., :3], p2[..., :3]], axis=1))  # (T, 2, 22, 3)
        out[kind] = pairs
    return out


def check_signatures(out_dir, cfg, min_apart=0.3):
    """-> ({kind: [samples showing the interaction's signature, samples]}, {kind: mean horizontal
    pelvis distance in metres}, {kind: samples showing it with the pelvises at least `min_apart` m apart
    where it happens}). The distances show placement, which the signatures alone can miss: two people
    generated on the same spot can still "touch"."""
    import numpy as np

    from data.synthetic.signatures import check, pelvis_distance, pelvis_distance_at_event
    signatures, distances, apart = {}, {}, {}
    for kind, pairs in generated_pairs(out_dir, cfg).items():
        results = [check(kind, j) for j in pairs]
        signatures[kind] = [sum(bool(r.passed) for r in results), len(pairs)]
        apart[kind] = sum(bool(r.passed) and pelvis_distance_at_event(r, j) >= min_apart
                          for r, j in zip(results, pairs))
        distances[kind] = round(float(np.mean([pelvis_distance(j) for j in pairs])), 3) if pairs else float("nan")
    return signatures, distances, apart


def print_summary(summary, out_dir):
    print("\n================ InterMask demo ================")
    for kind in ("keypoint_npy", "keypoint_mp4", "bvh"):
        files = sorted(glob.glob(os.path.join(out_dir, kind, "*")))
        print(f"{kind:13s} {len(files):3d} files in {os.path.join(out_dir, kind)}")
    for label, key in (("model (cond scale 2)", "model"), ("text ignored (cs 0)", "text_ignoring_baseline")):
        s = summary[key]
        for loader in s.get("FID", {}):
            r = s.get("R_precision", {}).get(loader, [float("nan")] * 3)
            print(f"{label:22s} [{loader}] FID {s['FID'][loader]:.3f}  R-precision top1/2/3 "
                  f"{r[0]:.3f}/{r[1]:.3f}/{r[2]:.3f}  MM Dist {s.get('MM Distance', {}).get(loader, float('nan')):.3f}")
    ceiling = ", ".join(f"{k} {p}/{n}" for k, (p, n) in summary["vq_ceiling"].items())
    print(f"signatures the VQ-VAE keeps decoding its own codes of training clips: {ceiling}")
    sig = ", ".join(f"{k} {p}/{n} ({summary['signatures_apart'][k]} apart)"
                    for k, (p, n) in summary["signatures"].items())
    print(f"interaction signatures in the generated samples: {sig}")
    dist = ", ".join(f"{k} {d:.2f} ({summary['dataset_pelvis_distance_m'][k]:.2f})"
                     for k, d in summary.get("pelvis_distance_m", {}).items())
    print(f"mean pelvis distance of the generated pairs (dataset) in m: {dist}")
    if summary.get("bvh_vs_keypoints_mm"):
        b = summary["bvh_vs_keypoints_mm"]
        print(f"BVH joints vs keypoints: mean {b['mean']:.1f} mm, max {b['max']:.1f} mm "
              f"(a rigid skeleton cannot follow the generated bones' length changes)")
    print(f"evaluation logs: {summary['eval_logs']}")
    print(f"total time: {summary['total_seconds']:.0f} s to build everything "
          f"(this run: {summary['this_run_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
