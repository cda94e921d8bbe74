"""Speed and memory benchmark of the real training, generation and evaluation code paths.

    python bench.py                                   # every case, fp32, torch's default threads
    python bench.py --threads 2 --json bench.json     # as the reference numbers were measured
    python bench.py --amp bf16 --cases vq_b8 gen_b1   # mixed precision, some cases
    python bench.py --tiny --repeats 1                # tiny models: a smoke test, not a benchmark

Every case runs in its own fresh process (`bench.py --_case NAME`), so its peak memory (ru_maxrss on
CPU, torch.cuda.max_memory_allocated on CUDA) is its own: one warm-up run, one untimed run under
torch's FlopCounterMode (FLOPs per run), then the median of --repeats timed runs (eval: one timed run,
no warm-up). All models have
the default sizes and random weights, so nothing is downloaded or read from checkpoints:

  vq_b8 / vq_b16     VQ-VAE training step (models/vq/trainer.py: forward, the six losses, backward,
                     clipping, AdamW) on 8 / 16 random normalised windows (B, 64, 262).
  trans_b8_len120    transformer training step (models/mask_transformer/trainer.py) on 8 interactions
                     of 120 frames stored padded to 300 frames, as the dataset returns them.
  trans_mix_b8       the same on 8 lengths drawn uniformly from 30..300 frames (fixed seed), close to
                     InterHuman's clip lengths. The frozen CLIP text tower (random weights) and the VQ
                     token ids are cached by the trainer after the warm-up, so neither is timed.
  trans_mix_bucketed the same length mix with length-bucketed batches (train_transformer.py
                     --length_buckets): 64 lengths drawn from 30..300 (fixed seed, the first 8 are
                     trans_mix_b8's), sorted and cut into 8 batches of 8; one run = one training step
                     per batch, so "/sample s" is the time per sample over the 8 bucketed batches.
  trans_b8_len300    (not in the default list) 8 interactions of the full 300 frames.
  gen_b1 / gen_b4    text -> 1 / 4 interactions of 90 frames (models/pipeline.py InterMaskGenerator:
                     CLIP text tower, 20 mask-predict steps with CFG 2 as one batched pass, VQ decoding).
                     Each run uses new captions, so the text tower is timed, as in the official figure.
  eval               eval.py's whole protocol (dataset loading, batched generation, GT and generated
                     evaluator passes, MM Dist, R-precision, FID, Diversity, MultiModality, log) on a
                     synthetic InterHuman-format test split of --eval_clips clips, with reduced counts
                     and tiny random models (--eval_models default: default sizes, MiniLM text side).
                     It measures the protocol's own cost in float32 (eval.py --amp is not timed here).
  (always)           the machine's matrix-multiply ceiling, GFLOP/s of a 2048^3 product in float32 and
                     bfloat16; "% ceil" = a case's GFLOP/s over the ceiling of its precision.

"official s" are the official code's medians on the same machine type (2 CPU cores, 2 threads, same
shapes); official transformer steps always work on 300 padded frames, so both transformer cases
compare to its 29 s. Machines shared with other jobs give noisy numbers: compare medians.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

REPO = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CASES = ["vq_b8", "vq_b16", "trans_b8_len120", "trans_mix_b8", "trans_mix_bucketed", "gen_b1", "gen_b4",
                 "eval"]
ALL_CASES = DEFAULT_CASES + ["trans_b8_len300"]
# the official code on 2 cores / 2 threads / torch 2.13 CPU: median s, GFLOP per run, peak MiB
_OFFICIAL_TRANS = dict(s=29.0, peak_mib=18.7 * 1024)  # always 300 padded frames, whatever the lengths
OFFICIAL = {"vq_b8": dict(s=4.2), "vq_b16": dict(s=10.4), "trans_b8_len120": _OFFICIAL_TRANS,
            "trans_mix_b8": _OFFICIAL_TRANS, "trans_b8_len300": _OFFICIAL_TRANS, "gen_b1": dict(s=5.9, gflop=537.0),
            "trans_mix_bucketed": dict(_OFFICIAL_TRANS, s=8 * _OFFICIAL_TRANS["s"]),  # 8 steps of 300 padded frames
            "gen_b4": dict(s=18.1, gflop=2149.0)}
# eval.py loads its models and data on every call and takes minutes: one timed run, no warm-up (its
# modules are imported before timing)
MAX_REPEATS, WARMUPS = {"eval": 1}, {"eval": 0}

TINY_VQ = dict(nb_code=64, code_dim=32, output_emb_width=32, width=32, depth=1)
TINY_TRANS = dict(num_tokens=64, code_dim=32, latent_dim=32, ff_size=64, n_layers=1, n_heads=2, clip_dim=64)
TINY_CLIP_TEXT = dict(width=64, layers=1, heads=1)
CLIP_TEXT = dict(width=768, layers=12, heads=12)  # ViT-L/14@336px text tower
TINY_EVALUATOR = {"NUM_LAYERS": 1, "NUM_HEADS": 2, "LATENT_DIM": 32, "FF_SIZE": 64, "TEXT_LATENT_DIM": 32,
                  "TEXT_NUM_LAYERS": 1, "TEXT_NUM_HEADS": 2, "EMB_DIM": 16}


# ================================================================================ shared helpers
def random_clip_tower(width, layers, heads, device):
    """The official frozen CLIP text tower (models/text_encoders.ClipTextTower) with random weights:
    same architecture, tokenizer and per-caption cache, no weights file needed."""
    import clip
    from clip.model import LayerNorm, Transformer
    from models.text_encoders import CachedTower, ClipTextTower

    class RandomClipTextTower(ClipTextTower):
        def __init__(self):
            CachedTower.__init__(self, device)
            self._tokenize = clip.tokenize
            self.token_embedding = torch.nn.Embedding(49408, width)
            torch.nn.init.normal_(self.token_embedding.weight, std=0.02)
            self.positional_embedding = torch.nn.Parameter(torch.randn(self.context_length, width) * 0.01)
            causal = torch.full((self.context_length, self.context_length), float("-inf")).triu_(1)
            self.transformer = Transformer(width, layers, heads, attn_mask=causal)
            self.ln_final = LayerNorm(width)
            self.width = width
            for mod in (self.token_embedding, self.transformer, self.ln_final):
                mod.eval().requires_grad_(False)
            self.positional_embedding.requires_grad_(False)
            self._modules_to(self.device)

    return RandomClipTextTower()


def random_vq(args, device):
    """Default-size (or tiny) InterHuman RVQVAE, random weights and a random codebook (an untrained
    codebook is all zeros, which would make every token id 0)."""
    from models.vq.build import build_vq
    vq = build_vq(dict(dataset_name="interhuman", **(TINY_VQ if args.tiny else {})))
    with torch.no_grad():
        for name, buf in vq.named_buffers():
            if name.endswith("codebook"):
                buf.copy_(torch.randn_like(buf))
    return vq.to(device).eval()


def random_transformer(args, device):
    """Default-size (or tiny) MaskTransformer with a random CLIP text tower attached."""
    from models.mask_transformer.build import build_transformer
    cfg = dict(TINY_TRANS) if args.tiny else {}
    model = build_transformer(cfg, device)
    tower = TINY_CLIP_TEXT if args.tiny else CLIP_TEXT
    return model.set_text_tower(random_clip_tower(tower["width"], tower["layers"], tower["heads"], device))


def autocast(args, device):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=args.amp == "bf16")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ======================================================================================= cases
def measure_ceiling(args, device):
    """Median GFLOP/s of an n^3 matrix product (n = 2048) in float32 and bfloat16."""
    n = 256 if args.tiny else 2048
    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
        times = []
        for i in range(12):  # 2 warm-up products, then 10 timed
            sync(device)
            start = time.perf_counter()
            a @ b
            sync(device)
            times.append(time.perf_counter() - start)
        out[name] = 2 * n ** 3 / statistics.median(times[2:]) / 1e9
    return out


def case_vq(args, device, batch):
    from models.vq.losses import GeometricLosses
    from models.vq.trainer import VQTrainer
    from options.vq_option import arg_parse
    opt = arg_parse(True, ["--amp", args.amp] + [f"--{k}={v}" for k, v in (TINY_VQ if args.tiny else {}).items()])
    opt.model_dir = args.work  # nothing is saved
    losses = GeometricLosses(opt.recons_loss, np.zeros(262, np.float32), np.ones(262, np.float32))
    from models.vq.build import build_vq
    trainer = VQTrainer(opt, build_vq(opt), losses, device)
    trainer._setup(iters_per_epoch=1000)
    trainer.model.train()
    motions = torch.randn(batch, opt.window_size, 262, generator=torch.Generator().manual_seed(0))  # (B, 64, 262)

    def step():  # the body of VQTrainer.train's inner loop
        loss, _ = trainer._forward(motions)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), 1.0)
        trainer.optimizer.step()
    return step, batch, f"{batch} windows of {opt.window_size} frames"


def length_mix(n, seed=0):
    """n clip lengths drawn uniformly from 30..300 frames, close to InterHuman's."""
    return np.random.default_rng(seed).integers(30, 301, n).tolist()


def transformer_batch(lengths, g, first=0, full=300):
    """A loader batch (names, texts, m1, m2, lengths) of random motions padded to `full` frames with
    zero rows, as the InterHuman dataset returns them; samples numbered from `first`."""
    bsz = len(lengths)
    motions = [torch.randn(bsz, full, 262, generator=g) for _ in range(2)]  # (B, 300, 262) each
    for m in motions:
        for i, n in enumerate(lengths):
            m[i, n:] = 0
    names = [str(first + i) for i in range(bsz)]
    return names, [f"two people interact, sample {k}" for k in names], motions[0], motions[1], torch.tensor(lengths)


def case_transformer(args, device, batches):
    """One run = one training step per batch of lengths in `batches`."""
    from models.mask_transformer.trainer import TransformerTrainer
    from options.trans_option import TrainT2MOptions
    vq = random_vq(args, device)
    model = random_transformer(args, device)
    opt = TrainT2MOptions().parse(["--amp", args.amp])
    opt.model_dir = args.work  # nothing is saved
    trainer = TransformerTrainer(opt, model, vq, device)
    trainer._setup(iters_per_epoch=1000)
    model.train()
    g = torch.Generator().manual_seed(0)
    loader, first = [], 0
    for lengths in batches:
        loader.append(transformer_batch(lengths, g, first))
        first += len(lengths)

    def run():
        for batch in loader:  # the body of TransformerTrainer.train's loop with grad_accum 1
            trainer.optimizer.zero_grad(set_to_none=True)
            loss, _ = trainer._forward(batch)
            loss.backward()
            trainer.optimizer.step()
            trainer.scheduler.step()
    if len(batches) == 1:
        return run, first, f"lengths {list(batches[0])} (padded to 300)"
    return run, first, f"{len(batches)} steps on length-sorted batches " + \
        " ".join(f"{min(b)}-{max(b)}" for b in batches) + f" (padded to 300); per-sample = per sample over all {first}"


def case_generate(args, device, bsz, frames=90):
    from models.pipeline import InterMaskGenerator
    vq = random_vq(args, device)
    gen = InterMaskGenerator(random_transformer(args, device).eval(), vq, device=device)
    calls = [0]

    def run():
        calls[0] += 1  # new captions every run: the text tower is part of what is timed
        texts = [f"two people greet each other, take {calls[0]}.{i}" for i in range(bsz)]
        with autocast(args, device):
            gen.generate(texts, [frames] * bsz, time_steps=20, cond_scale=2.0, topkr=0.9, seed=calls[0])
    return run, bsz, f"{bsz} x {frames} frames, 20 steps, cfg 2"


# ---------------------------------------------------------------------------------- eval case
def write_eval_dataset(root, n_test, seed=0):
    """`n_test` synthetic clips, all in the test split (prepare/make_synthetic_dataset.py), and unit
    statistics (no train split to compute them from; values do not matter for timing)."""
    from prepare.make_synthetic_dataset import main as make_synthetic_dataset
    make_synthetic_dataset(["--out", root, "--num_clips", str(n_test), "--seed", str(seed), "--val_frac", "0",
                            "--test_frac", "1", "--no_stats"])
    os.makedirs(os.path.join(root, "stats"), exist_ok=True)
    np.save(os.path.join(root, "stats", "global_mean.npy"), np.zeros(262, np.float32))
    np.save(os.path.join(root, "stats", "global_std.npy"), np.ones(262, np.float32))


def write_eval_runs(args, root, ckpt):
    """Random-weight VQ and transformer runs (opt.yaml + model/best_fid.tar) and a random InterCLIP."""
    import yaml
    from models.evaluator.build import save_interclip
    from models.evaluator.interclip import InterCLIP
    from models.mask_transformer.build import build_transformer, checkpoint_state
    from models.vq.build import build_vq
    from utils.files import atomic_torch_save
    tiny = args.eval_models == "tiny"
    save_interclip(InterCLIP(dict(TINY_EVALUATOR) if tiny else None), os.path.join(ckpt, "eval_model"))
    vq_cfg = dict(dataset_name="interhuman", name="vq_bench", **(TINY_VQ if tiny else {}))
    vq_sd = build_vq(vq_cfg).state_dict()
    vq_sd["quantizer.layers.0.codebook"] = torch.randn_like(vq_sd["quantizer.layers.0.codebook"])
    trans_cfg = dict(name="trans_bench", vq_name="vq_bench", dataset_name="interhuman", seed=3407,
                     vq_which_epoch="best_fid", data_root=root, **(TINY_TRANS if tiny else {}))
    trans_cfg["code_dim"] = vq_cfg.get("code_dim", 512)
    trans_cfg["num_tokens"] = vq_cfg.get("nb_code", 1024)
    if tiny:  # a tiny CLIP file (the official text path: clip.load of a local file)
        import clip.model
        w = TINY_CLIP_TEXT["width"]
        tiny_clip = clip.model.CLIP(w, 32, 1, 64, 16, 77, 49408, w, TINY_CLIP_TEXT["heads"], TINY_CLIP_TEXT["layers"])
        trans_cfg.update(text_encoder="clip", clip_path=os.path.join(ckpt, "clip", "tiny_clip.pt"))
        atomic_torch_save(tiny_clip.state_dict(), trans_cfg["clip_path"])
    else:
        trans_cfg.update(text_encoder="minilm")  # the CLIP weights would need a download
    for cfg, state in ((vq_cfg, {"vq_model": vq_sd}),
                       (trans_cfg, {"t2m_transformer": checkpoint_state(build_transformer(trans_cfg))})):
        run = os.path.join(ckpt, "interhuman", cfg["name"])
        os.makedirs(os.path.join(run, "model"), exist_ok=True)
        with open(os.path.join(run, "opt.yaml"), "w") as f:
            yaml.safe_dump(cfg, f)
        atomic_torch_save(state, os.path.join(run, "model", "best_fid.tar"))


def eval_counts(args):
    """Protocol counts scaled to --eval_clips (official: batch 96, 20 replications, diversity 300,
    MultiModality 100 texts x 30 generations, 10 pairs)."""
    n = args.eval_clips
    batch = min(96, max(2, n // 2))
    usable = (n // batch) * batch
    return dict(batch_size=batch, replication_times=args.eval_reps, diversity_times=max(2, min(300, usable // 2)),
                mm_num_samples=max(1, min(100, n // 8)), mm_num_repeats=5, mm_num_times=3,
                gen_batch_size=32, time_steps=20)


def case_eval(args, device):
    import eval as eval_script
    import models.pipeline  # noqa: F401  (imports are not part of the protocol's time)
    import utils.eval_t2m  # noqa: F401
    data, ckpt = os.path.join(args.work, "data"), os.path.join(args.work, "checkpoints")
    write_eval_dataset(data, args.eval_clips)
    write_eval_runs(args, data, ckpt)
    counts = eval_counts(args)
    argv = ["--checkpoints_dir", ckpt, "--data_root", data, "--name", "trans_bench", "--log_time", "False",
            "--device", str(device), "--eval_model_dir", os.path.join(ckpt, "eval_model")]
    for k, v in counts.items():
        argv += [f"--{k}", str(v)]

    def run():
        eval_script.main(list(argv))
    per = counts["replication_times"] * args.eval_clips
    return run, per, "protocol " + " ".join(f"{k}={v}" for k, v in counts.items()) + \
        f", {args.eval_clips} test clips, {args.eval_models} models, per-sample = per clip per replication"


def make_case(name, args, device):
    """-> (callable for one run, samples per run, description)."""
    if name.startswith("vq_b"):
        return case_vq(args, device, int(name[4:]))
    if name == "trans_b8_len120":
        return case_transformer(args, device, [[120] * 8])
    if name == "trans_b8_len300":
        return case_transformer(args, device, [[300] * 8])
    if name == "trans_mix_b8":
        return case_transformer(args, device, [length_mix(8)])
    if name == "trans_mix_bucketed":  # what --length_buckets 8 makes of 64 clips with batch size 8
        lengths = sorted(length_mix(64))
        return case_transformer(args, device, [lengths[k:k + 8] for k in range(0, 64, 8)])
    if name.startswith("gen_b"):
        return case_generate(args, device, int(name[5:]))
    if name == "eval":
        return case_eval(args, device)
    raise ValueError(f"unknown case {name!r}; known: {', '.join(ALL_CASES)}")


# ================================================================================ child process
def peak_mib(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def count_flops(fn):
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def time_runs(fn, repeats, device):
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def run_child(args):
    """Measure one case in this process (fresh, so the peak memory is the case's own) and write its
    result as JSON to --_out. Temporary files live in a folder removed at the end."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args)
    torch.manual_seed(0)
    load_before = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryDirectory(prefix="intermask_bench_") as work:
        args.work = work
        if args._case == "matmul":
            res = dict(case="matmul", ceiling_gflops=measure_ceiling(args, device), threads=torch.get_num_threads())
        else:
            fn, samples, what = make_case(args._case, args, device)
            setup_mib = peak_mib(device)
            for _ in range(WARMUPS.get(args._case, 1)):
                fn()
            sync(device)
            flop = count_flops(fn) if args.flops and args._case != "eval" else None
            times = time_runs(fn, min(args.repeats, MAX_REPEATS.get(args._case, args.repeats)), device)
            res = dict(case=args._case, description=what, samples=samples, times_s=times,
                       median_s=statistics.median(times), peak_mib=peak_mib(device), setup_mib=setup_mib,
                       flop=flop, threads=torch.get_num_threads(), amp="none" if args._case == "eval" else args.amp)
    res["load_average_before"] = load_before
    res["load_average_after"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    with open(args._out, "w") as f:
        json.dump(res, f)


def pick_device(args):
    if args.device:
        return torch.device(args.device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# =============================================================================== parent process
def machine_info(args):
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
               platform.processor()) if os.path.isfile("/proc/cpuinfo") else platform.processor()
    device = pick_device(args)
    return dict(cpu=cpu, cores=os.cpu_count(), threads=args.threads or torch.get_num_threads(), torch=torch.__version__,
                python=platform.python_version(), device=str(device),
                gpu=torch.cuda.get_device_name(device) if device.type == "cuda" else None,
                load_average=os.getloadavg() if hasattr(os, "getloadavg") else None)


def child_argv(args, case, out):
    argv = [sys.executable, os.path.abspath(__file__), "--_case", case, "--_out", out, "--repeats", str(args.repeats),
            "--amp", args.amp, "--eval_clips", str(args.eval_clips), "--eval_reps", str(args.eval_reps),
            "--eval_models", args.eval_models, "--flops", str(args.flops)]
    for flag, on in (("--tiny", args.tiny),):
        argv += [flag] if on else []
    for flag, val in (("--threads", args.threads), ("--device", args.device)):
        argv += [flag, str(val)] if val else []
    return argv


def run_case(args, case):
    fd, out = tempfile.mkstemp(prefix=f"bench_{case}_", suffix=".json")
    os.close(fd)
    try:
        proc = subprocess.run(child_argv(args, case, out), cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout or "no output").strip().splitlines()
            return dict(case=case, error=lines[-1] if lines else f"exit code {proc.returncode}")
        with open(out) as f:
            return json.load(f)
    finally:
        os.remove(out)


def ceiling_run(args, when):
    res = run_case(args, "matmul")
    got = res.get("ceiling_gflops", {})
    print(f"matmul ceiling ({when}): " + (f"FAILED {res['error']}" if "error" in res else
                                         ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in got.items())), flush=True)
    return res


def summarise(res, ceiling, tiny=False):
    """Add per-sample time, GFLOP/s, share of the ceiling and the official comparison (none for
    --tiny runs, whose sizes differ from the official measurements)."""
    if "error" in res:
        return res
    med = res["median_s"]
    res["per_sample_s"] = med / res["samples"]
    res["gflops"] = res["flop"] / med / 1e9 if res.get("flop") else None
    roof = ceiling.get("bf16" if res["amp"] == "bf16" else "fp32")
    res["ceiling_fraction"] = res["gflops"] / roof if res["gflops"] and roof else None
    official = {} if tiny else OFFICIAL.get(res["case"], {})
    res["official_s"], res["official_gflop"] = official.get("s"), official.get("gflop")
    res["official_peak_mib"] = official.get("peak_mib")
    res["speedup_vs_official"] = res["official_s"] / med if res["official_s"] else None
    return res


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(results, info, args):
    print(f"\nInterMask benchmark  |  {info['cpu']}, {info['cores']} cores, {info['threads']} threads  |  "
          f"torch {info['torch']}  |  device {info['device']}  |  amp {args.amp}{'  |  TINY' if args.tiny else ''}")
    head = f"{'case':<18} {'median s':>9} {'/sample s':>10} {'peak MiB':>9} {'GFLOP':>8} {'GFLOP/s':>8} " \
           f"{'% ceil':>6} {'official s':>10} {'speed-up':>8} {'off. MiB':>8}"
    print(head + "\n" + "-" * len(head))
    for r in results:
        if "error" in r:
            print(f"{r['case']:<18} FAILED: {r['error']}")
            continue
        pct = None if r.get("ceiling_fraction") is None else 100 * r["ceiling_fraction"]
        print(f"{r['case']:<18} {r['median_s']:>9.3f} {r['per_sample_s']:>10.3f} {r['peak_mib']:>9.0f} "
              f"{fmt(r['flop'] and r['flop'] / 1e9, '8.1f'):>8} {fmt(r['gflops'], '8.1f'):>8} {fmt(pct, '6.0f'):>6} "
              f"{fmt(r['official_s'], '10.1f'):>10} {fmt(r['speedup_vs_official'], '7.2f') + ('x' if r['speedup_vs_official'] else ''):>8} "
              f"{fmt(r['official_peak_mib'], '8.0f'):>8}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cases", nargs="+", default=DEFAULT_CASES, metavar="CASE",
                   help=f"cases to run (default: all but trans_b8_len300); known: {' '.join(ALL_CASES)}")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per case after one warm-up (median)")
    p.add_argument("--json", type=str, default="bench.json", help="where to write the results")
    p.add_argument("--amp", type=str, default="none", choices=["none", "bf16"],
                   help="bf16 autocast for training steps and generation (not eval)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--device", type=str, default=None, help="default cuda when available, else cpu")
    p.add_argument("--tiny", action="store_true", help="tiny models and sizes (a smoke test, not a benchmark)")
    p.add_argument("--flops", type=int, default=1, choices=[0, 1], help="1 = count FLOPs in one extra untimed run")
    p.add_argument("--eval_clips", type=int, default=None,
                   help="test clips of the eval case's synthetic dataset (default 64, --tiny 8)")
    p.add_argument("--eval_reps", type=int, default=None, help="eval case replications (default 2, --tiny 1; official 20)")
    p.add_argument("--eval_models", type=str, default="tiny", choices=["tiny", "default"],
                   help="model sizes in the eval case (default = default sizes, MiniLM text side)")
    p.add_argument("--_case", type=str, default=None, help=argparse.SUPPRESS)
    p.add_argument("--_out", type=str, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    unknown = [c for c in args.cases if c not in ALL_CASES]
    if unknown:
        p.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(ALL_CASES)}")
    if args.repeats < 1:
        p.error(f"--repeats must be >= 1, got {args.repeats}")
    args.eval_clips = args.eval_clips or (8 if args.tiny else 64)
    args.eval_reps = args.eval_reps or (1 if args.tiny else 2)
    if args.eval_clips < 2:
        p.error(f"--eval_clips must be >= 2, got {args.eval_clips}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args._case:
        return run_child(args)
    info = machine_info(args)
    before = ceiling_run(args, "before")
    results = []
    for case in args.cases:
        r = run_case(args, case)
        results.append(r)
        print(f"{case}: " + (f"FAILED {r['error']}" if "error" in r else f"median {r['median_s']:.3f} s"), flush=True)
    after = ceiling_run(args, "after")
    # the best of both: a busy machine only ever lowers the measured ceiling
    ceiling = {k: max(m.get("ceiling_gflops", {}).get(k, 0.0) for m in (before, after)) for k in ("fp32", "bf16")}
    ceiling = {k: v for k, v in ceiling.items() if v > 0}
    results = [summarise(r, ceiling, args.tiny) for r in results]
    print_table(results, info, args)
    out = dict(machine=info, settings=dict(repeats=args.repeats, amp=args.amp, tiny=args.tiny, warmup=1,
                                           warmup_overrides=WARMUPS, max_repeats=MAX_REPEATS,
                                           eval_clips=args.eval_clips, eval_reps=args.eval_reps,
                                           eval_models=args.eval_models, command=" ".join(["bench.py"] + list(
                                               sys.argv[1:] if argv is None else argv))),
               ceiling_gflops=ceiling, ceiling_runs=dict(before=before, after=after),
               cases={r["case"]: r for r in results})
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2)
    print(f"\nwritten {args.json}")
    return 1 if any("error" in r for r in results + [before, after]) else 0


if __name__ == "__main__":
    sys.exit(main())
