"""Speed and memory benchmark of the real training, generation and evaluation code paths.

    python bench.py                                   # every case, fp32, torch's default threads
    python bench.py --threads 2 --json bench.json     # as the reference numbers were measured
    python bench.py --amp bf16 --cases vq_b8 gen_b1   # mixed precision, some cases
    python bench.py --tiny --repeats 1                # tiny models: a smoke test, not a benchmark

Every case runs in its own fresh process (`bench.py --_case NAME`), so its peak memory (ru_maxrss on
CPU, torch.cuda.max_memory_allocated on CUDA) is its own: one warm-up run, the median of --repeats
timed runs (eval: one timed run, no warm-up), the peak read, then one untimed run under torch's
FlopCounterMode (FLOPs per run; it raised a 64-clip step's peak by half when it ran first). All models have
the default sizes and random weights, so nothing is downloaded or read from checkpoints:

  vq_b8 / vq_b16     VQ-VAE training step (models/vq/trainer.py: forward, the six losses, backward,
                     clipping, AdamW) on 8 / 16 random normalised windows (B, 64, 262).
  trans_b8_len120    transformer training step (models/mask_transformer/trainer.py) on 8 interactions
                     of 120 frames stored padded to 300 frames, as the dataset returns them.
  trans_mix_b8       the same on 8 lengths drawn uniformly from 30..300 frames (fixed seed), close to
                     InterHuman's clip lengths, run as one batch (--length_split 1). The frozen CLIP text
                     tower (random weights) and the VQ token ids are cached by the trainer after the
                     warm-up, so neither is timed.
  trans_mix_split    trans_mix_b8's batch as the trainer runs it by default (--length_split auto): the same
                     step (same samples, draws and loss) run as parts of length-sorted clips, each cropped
                     to its own longest clip. Every other transformer case also runs with the default.
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
  (always)           the machine's matrix-multiply ceiling, GFLOP/s of a 2048^3 product in float32 (and
                     bfloat16 with --amp bf16); "% ceil" = a case's GFLOP/s over the ceiling of its precision.

"official s" and "speed-up" come only from --official FILE: the JSON the official-code timing harness
(bench-ref's bench_ref.py --out FILE) wrote on this machine, next to this run (speed-up = its median over
ours; the file's CPU model, torch version and threads are checked against this run's). Without it those
columns stay empty. Mapped cases: gen_b1 / gen_b4 - infer_b1_90f / infer_b4_90f, vq_b8 / vq_b16 -
vq_train_b8_t64 / vq_train_b16_t64, trans_b8_len120 - trans_train_b8_len120_pad300 (the official trainer
pads to 300 frames as shipped; trans_train_b8_len120_nopad is reported below the table when the file has
it). Machines shared with other jobs give noisy numbers: alternate the two and compare medians.
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

import torch

from benchmark_cases import ALL_CASES, DEFAULT_CASES, make_case, measure_ceiling, sync
from benchmark_official import HOW_TO, OfficialFileError, compare, load_official, machine_check

REPO = os.path.dirname(os.path.abspath(__file__))
# eval.py loads its models and data on every call and takes minutes: one timed run, no warm-up (its
# modules are imported before timing)
MAX_REPEATS, WARMUPS = {"eval": 1}, {"eval": 0}


# ================================================================================ child process
def peak_mib(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu_attention_formulas():
    """FLOP formulas for the CPU flash-attention kernels that scaled_dot_product_attention runs on
    CPU: torch's counter knows only the CUDA ones, so without these every attention product of a CPU
    run (Q K^T and P V, 4 Lq Lk E per head) went uncounted. The same counts as torch's CUDA formulas."""
    from torch.utils import flop_counter as fc
    aten = torch.ops.aten

    def forward(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
        return fc.sdpa_flop_count(query_shape, key_shape, value_shape)

    def backward(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
        return fc.sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)
    return {aten._scaled_dot_product_flash_attention_for_cpu: forward,
            aten._scaled_dot_product_flash_attention_for_cpu_backward: backward}


def count_flops(fn):
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False, custom_mapping=_cpu_attention_formulas()) as counter:
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
            times = time_runs(fn, min(args.repeats, MAX_REPEATS.get(args._case, args.repeats)), device)
            peak = peak_mib(device)  # before the FLOP count: its run keeps extra tensors alive
            flop = count_flops(fn) if args.flops and args._case != "eval" else None
            res = dict(case=args._case, description=what, samples=samples, times_s=times,
                       median_s=statistics.median(times), peak_mib=peak, setup_mib=setup_mib,
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


def summarise(res, ceiling, official=None):
    """Add per-sample time, GFLOP/s, share of the ceiling and the official comparison from the
    --official file's medians (`official`: load_official's result; None without a file or for --tiny
    runs, whose sizes differ from the official cases)."""
    if "error" in res:
        return res
    med = res["median_s"]
    res["per_sample_s"] = med / res["samples"]
    res["gflops"] = res["flop"] / med / 1e9 if res.get("flop") else None
    roof = ceiling.get("bf16" if res["amp"] == "bf16" else "fp32")
    res["ceiling_fraction"] = res["gflops"] / roof if res["gflops"] and roof else None
    return compare(res, official)


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(results, info, args, official=None):
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
    print(official_note(results, info, args, official))


def official_note(results, info, args, official):
    """The lines under the table: where the official column comes from, or how to get it."""
    if args.tiny:
        return "official s / speed-up: empty for --tiny (its sizes differ from the official cases)"
    if official is None:
        return HOW_TO
    lines = [machine_check(official, info)]
    lines += [f"{r['case']} against the official {r['official_also']['case']}: {r['official_also']['s']:.1f} s, "
              f"speed-up {r['official_also']['speedup']:.2f}x" for r in results if r.get("official_also")]
    if official["failed"]:
        lines.append(f"failed in {official['file']}: {', '.join(official['failed'])}")
    return "\n".join(lines)


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
    p.add_argument("--official", type=str, default=None, metavar="FILE",
                   help="the official code's timings on this machine (bench_ref.py --out FILE): fills the\n"
                        "official and speed-up columns; without it they stay empty")
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
    try:
        official = load_official(args.official) if args.official else None
    except OfficialFileError as e:
        print(f"bench.py: error: {e}", file=sys.stderr)
        return 2
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
    results = [summarise(r, ceiling, None if args.tiny else official) for r in results]
    print_table(results, info, args, official)
    out = dict(machine=info, settings=dict(repeats=args.repeats, amp=args.amp, tiny=args.tiny, warmup=1,
                                           warmup_overrides=WARMUPS, max_repeats=MAX_REPEATS,
                                           eval_clips=args.eval_clips, eval_reps=args.eval_reps,
                                           eval_models=args.eval_models, official=args.official, command=" ".join(["bench.py"] + list(
                                               sys.argv[1:] if argv is None else argv))),
               official=official and dict(file=official["file"], meta=official["meta"], failed=official["failed"],
                                          check=machine_check(official, info)),
               ceiling_gflops=ceiling, ceiling_runs=dict(before=before, after=after),
               cases={r["case"]: r for r in results})
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2)
    print(f"\nwritten {args.json}")
    return 1 if any("error" in r for r in results + [before, after]) else 0


if __name__ == "__main__":
    sys.exit(main())
