"""Behaviour guards: short seeded CPU runs of the whole pipeline through its command lines only.

Each run goes through the scripts (`train_evaluator.py`, `train_vq.py`, `train_transformer.py` with
and without `--length_split`, one process and two gloo ranks, `eval.py`, `infer.py`) on a tiny
synthetic dataset, one thread per process, and is summarised from what it leaves on disk and prints:

- `sha256`: every tensor and number of every checkpoint file (model, optimiser, scheduler, codebook
  EMA, ...), every output file of `infer.py`, the metric lines of `eval.py`'s log; equal bit for bit on
  one machine when the code's behaviour is unchanged (a refactor must keep them);
- `values`: the printed losses and, per weight tensor of each run's final checkpoint, its sum, its
  sum of absolute values and a few elements; `tests/test_guards.py` compares them with
  `tests/data/guard_values.json` within a float tolerance that survives another CPU.

    python -m tests.guard_runs record --work DIR --out FILE   # run everything, write the summary
    python -m tests.guard_runs compare A.json B.json          # bit-for-bit comparison of two summaries

Only command lines and files are used, so the guards hold across any rewrite of the code behind them.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore",
       "PYTHONHASHSEED": "0"}

EVALUATOR = ["--text_encoder", "minilm", "--latent_dim", "32", "--num_layers", "1", "--num_heads", "2",
             "--ff_size", "64", "--text_latent_dim", "32", "--text_num_layers", "1", "--text_num_heads", "2",
             "--emb_dim", "16", "--dropout", "0", "--max_epoch", "2", "--eval_batch_size", "4", "--seed", "3",
             "--max_motion_length", "120", "--log_every", "1"]
VQ = ["--batch_size", "16", "--width", "32", "--code_dim", "16", "--output_emb_width", "16", "--nb_code", "32",
      "--depth", "1", "--seed", "7", "--window_stride", "100", "--lr", "1e-3", "--max_iters", "7",
      "--log_every", "1", "--mu", "0.9"]
TRANS = ["--batch_size", "6", "--latent_dim", "32", "--n_heads", "2", "--n_layers", "1", "--ff_size", "64",
         "--dropout", "0.1", "--text_encoder", "minilm", "--vq_name", "vq_one", "--max_epoch", "100",
         "--clip_dim", "64", "--interaction_mask_prob", "0.5", "--warm_up_iter", "3", "--lr", "1e-3",
         "--max_iters", "6", "--log_every", "1", "--max_motion_length", "120"]
EVAL = ["--name", "trans_one", "--batch_size", "4", "--replication_times", "2", "--diversity_times", "5",
        "--mm_num_samples", "3", "--mm_num_repeats", "4", "--mm_num_times", "2", "--gen_batch_size", "5",
        "--log_time", "False", "--time_steps", "3", "--which_epoch", "latest"]
INFER = ["--name", "trans_one", "--text", "two people shake hands", "--motion_length", "2s", "--num_samples", "2",
         "--format", "none", "--seed", "1", "--which_epoch", "latest", "--time_steps", "4"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(script, args, work, nproc=1, log=None):
    """Run a script (under torchrun with `nproc` gloo ranks when > 1); returns its stdout + stderr."""
    cmd = [sys.executable, script, *args]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(nproc),
               "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), script, *args]
    res = subprocess.run(cmd, cwd=REPO, env=dict(os.environ, **ENV), capture_output=True, text=True, timeout=3600)
    out = res.stdout + res.stderr
    if log:
        with open(os.path.join(work, log + ".log"), "w") as f:
            f.write(out)
    if res.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} failed:\n{out[-3000:]}")
    return out


def _walk(obj, prefix=""):
    """(name, tensor-or-number) leaves of a checkpoint, in a stable order; strings and paths skipped."""
    if isinstance(obj, dict):
        for k in sorted(obj, key=str):
            yield from _walk(obj[k], f"{prefix}/{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{prefix}/{i}")
    elif torch.is_tensor(obj):
        yield prefix, obj
    elif isinstance(obj, (bool, int, float, np.integer, np.floating)):
        yield prefix, obj
    elif isinstance(obj, np.ndarray):
        yield prefix, torch.from_numpy(obj)


def checkpoint_sha(path):
    h = hashlib.sha256()
    ck = torch.load(path, map_location="cpu", weights_only=False)
    for name, v in _walk(ck):
        h.update(name.encode())
        if torch.is_tensor(v):
            t = v.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(repr(v).encode())
    return h.hexdigest()


def weight_values(state):
    """Per float tensor: [sum, sum |x|, up to 4 elements spread over it] (float64)."""
    out = {}
    for k, t in sorted(state.items()):
        if torch.is_tensor(t) and t.is_floating_point() and t.numel():
            flat = t.detach().double().flatten()
            idx = torch.linspace(0, flat.numel() - 1, min(4, flat.numel())).long()
            out[k] = [flat.sum().item(), flat.abs().sum().item(), *flat[idx].tolist()]
    return out


_TIME = re.compile(r"\d+m \d+s \(- \d+m \d+s\)|\d+(\.\d+)?(it/s|s/it)")


def printed_losses(text):
    """Numbers of the training/validation lines (`ep/it:`, `Validation epoch`, `epoch N: train loss`)."""
    vals = []
    for line in re.split(r"[\r\n]", text):
        line = _TIME.sub("", line)
        for tag in ("ep/it:", "Validation epoch", "train loss", "Eval epoch"):
            i = line.find(tag)
            if i >= 0:
                seg = line[i:]
                vals += [float(v) for v in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", seg)]
                break
    return vals


def run_dir_summary(run_dir, stdout, weights_key):
    model = os.path.join(run_dir, "model")
    files = [os.path.join(model, f) for f in sorted(os.listdir(model)) if f.endswith(".tar")]
    files += [os.path.join(run_dir, f) for f in sorted(os.listdir(run_dir)) if f.endswith(".ckpt")]
    shas = {os.path.relpath(f, run_dir): checkpoint_sha(f) for f in files}
    latest = torch.load(os.path.join(model, "latest.tar"), map_location="cpu", weights_only=False)
    return {"sha256": shas, "losses": printed_losses(stdout), "weights": weight_values(latest[weights_key])}


def record(work):
    """Run every guard in `work` (emptied first) -> summary dict."""
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    data, ck = os.path.join(work, "synthetic"), os.path.join(work, "checkpoints")
    run(os.path.join("prepare", "make_synthetic_dataset.py"),
        ["--out", data, "--num_clips", "40", "--seed", "0", "--val_frac", "0.2", "--test_frac", "0.2"], work)
    base = ["--data_root", data, "--checkpoints_dir", ck, "--device", "cpu"]
    summary = {}

    def train(key, script, args, nproc, weights_key):
        out = run(script, base + ["--name", key, *args], work, nproc, log=key)
        summary[key] = run_dir_summary(os.path.join(ck, "interhuman", key), out, weights_key)

    train("evaluator_one", "train_evaluator.py", [*EVALUATOR, "--batch_size", "8"], 1, "model")
    train("evaluator_two", "train_evaluator.py", [*EVALUATOR, "--batch_size", "4"], 2, "model")
    shutil.copytree(os.path.join(ck, "interhuman", "evaluator_one"), os.path.join(ck, "eval_model"),
                    ignore=shutil.ignore_patterns("model", "log", "opt.*"))
    evaluator = ["--eval_model_dir", os.path.join(ck, "eval_model")]
    train("vq_one", "train_vq.py", [*VQ, "--grad_accum", "2", "--do_eval", "--test_batch_size", "4", *evaluator], 1, "vq_model")
    train("vq_two", "train_vq.py", VQ, 2, "vq_model")
    for split in ("1", "2"):
        sp = ["--length_split", split]
        train(f"trans_one_split{split}", "train_transformer.py", [*TRANS, "--grad_accum", "2", *sp], 1,
              "t2m_transformer")
        train(f"trans_two_split{split}", "train_transformer.py", [*TRANS, *sp], 2, "t2m_transformer")
    train("trans_one", "train_transformer.py", [*TRANS, "--batch_size", "8", "--max_iters", "8", "--max_epoch", "2",
                                                "--do_eval", "--eval_every_e", "1", "--test_batch_size", "4",
                                                *evaluator], 1, "t2m_transformer")
    out = run("eval.py", [*base[:4], "--device", "cpu", *EVAL, *evaluator], work, log="eval")
    logs = os.path.join(ck, "interhuman", "trans_one", "eval")
    lines = [ln for f in sorted(os.listdir(logs)) for ln in open(os.path.join(logs, f)).read().splitlines()
             if ln.startswith("--->") or "Mean" in ln or "CInterval" in ln]
    summary["eval"] = {"sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest(),
                       "metric_lines": len(lines),
                       "values": [float(v) for v in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", "\n".join(lines))],
                       "stdout_metrics": [ln for ln in out.splitlines() if ln.startswith("--->")]}
    infer_out = os.path.join(work, "infer")
    run("infer.py", [*base[:4], "--device", "cpu", *INFER, "--out_dir", infer_out], work, log="infer")
    files = {}
    for root, _, names in sorted(os.walk(infer_out)):
        for n in sorted(names):
            p = os.path.join(root, n)
            files[os.path.relpath(p, infer_out)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    summary["infer"] = {"sha256": files}
    return summary


def compare(a, b):
    """Lines naming every difference between two summaries' bit-for-bit fields (empty: identical)."""
    diffs = []
    for run_name in sorted(set(a) | set(b)):
        if run_name not in a or run_name not in b:
            diffs.append(f"{run_name}: only in one summary")
            continue
        x, y = a[run_name], b[run_name]
        for field in ("sha256", "losses", "metric_lines", "values", "stdout_metrics"):
            if x.get(field) != y.get(field):
                diffs.append(f"{run_name}.{field} differs")
    return diffs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--work", required=True)
    r.add_argument("--out", required=True)
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    args = p.parse_args(argv)
    if args.cmd == "record":
        summary = record(args.work)
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=1, sort_keys=True)
        print(f"{len(summary)} guards written to {args.out}")
        return 0
    diffs = compare(json.load(open(args.a)), json.load(open(args.b)))
    print("\n".join(diffs) if diffs else "identical bit for bit")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
