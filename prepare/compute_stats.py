"""Normalisation statistics (global_mean.npy / global_std.npy, (262,) float32) for any dataset in the
InterHuman layout, computed over the 262-d features exactly as the text-motion pipeline produces
them. Use it for your own data; for the official checkpoints use the official statistics
(`python prepare/download_models.py`).

    python prepare/compute_stats.py --data_root DIR [--split train] [--out DIR]
"""
import argparse
import os
import sys

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from data.process import canonicalise_pair, swap_left_right  # noqa: E402
from data.validate import ClipProblem, ClipReport, load_interhuman_clip, read_split_ids  # noqa: E402

STD_FLOOR = 1e-3      # std below this is raised to it (constant features would divide by zero)
MAX_LENGTH = 300      # the text-motion crop
MIN_LENGTH = 15
CROP_SPACING = 100    # frames between the crop starts sampled from clips longer than MAX_LENGTH


class _RunningMoments:
    """Mean and M2 merged batch by batch in float64 (Chan et al.), stable for millions of rows."""

    def __init__(self, dim):
        self.n, self.mean, self.m2 = 0, np.zeros(dim), np.zeros(dim)

    def add(self, rows):
        rows = np.asarray(rows, dtype=np.float64)                         # (N, D)
        n = rows.shape[0]
        mean = rows.mean(0)
        m2 = ((rows - mean) ** 2).sum(0)
        delta = mean - self.mean
        total = self.n + n
        self.mean = self.mean + delta * n / total
        self.m2 = self.m2 + m2 + delta ** 2 * self.n * n / total
        self.n = total


def crop_starts(T, max_length=MAX_LENGTH, spacing=CROP_SPACING):
    """Deterministic stand-in for the random crop: start 0 for short clips, else starts spread
    evenly over the official range 0 .. T-max_length-1, about `spacing` frames apart."""
    if T <= max_length:
        return [0]
    last = T - max_length - 1
    return sorted(set(np.linspace(0, last, last // spacing + 2).round().astype(int).tolist()))


def compute_stats(data_root, split="train", out_dir=None, std_floor=STD_FLOOR, verbose=True):
    """Mean and std (262,) float32 of the per-person features over `split`, and write them as
    `global_mean.npy` / `global_std.npy` into out_dir (default `<data_root>/stats`).

    Covers what training sees: every clip and its mirrored copy, each person once as the reference
    (the dataset's first coin), both persons' features after pair canonicalisation, crops of clips
    longer than 300 frames at evenly spread starts. Padding rows are not included. The std is the
    population std floored at `std_floor` (1e-3) so that constant features (possible in synthetic
    data) do not divide by zero; the official statistics have no feature below 0.007."""
    report = ClipReport(f"compute_stats({split})")
    moments = _RunningMoments(262)
    kept = 0
    for clip_id in read_split_ids(data_root, split):
        try:
            raw1, raw2, _ = load_interhuman_clip(data_root, clip_id, MIN_LENGTH, MAX_LENGTH)
        except ClipProblem as p:
            report.skip(clip_id, p)
            continue
        kept += 1
        for a, b in ((raw1, raw2), (swap_left_right(raw1), swap_left_right(raw2))):
            for s in crop_starts(a.shape[0]):
                ca, cb = a[s:s + MAX_LENGTH], b[s:s + MAX_LENGTH]
                for ref, other in ((ca, cb), (cb, ca)):
                    f1, f2 = canonicalise_pair(ref, other)                  # (T-1, 262) x 2
                    moments.add(np.concatenate([f1, f2], 0))
    report.finish(kept, data_root)
    mean = moments.mean.astype(np.float32)
    std = np.maximum(np.sqrt(moments.m2 / moments.n), std_floor).astype(np.float32)
    out_dir = out_dir or os.path.join(data_root, "stats")
    os.makedirs(out_dir, exist_ok=True)
    np.save(os.path.join(out_dir, "global_mean.npy"), mean)
    np.save(os.path.join(out_dir, "global_std.npy"), std)
    if verbose:
        print(f"compute_stats: {kept} clips, {moments.n} feature rows -> {out_dir}/global_{{mean,std}}.npy")
    return mean, std


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data_root", required=True, help="dataset folder in the InterHuman layout")
    p.add_argument("--split", default="train", help="split file under <data_root>/split/ (default train)")
    p.add_argument("--out", default=None, help="output folder (default <data_root>/stats)")
    args = p.parse_args(argv)
    compute_stats(args.data_root, args.split, args.out)


if __name__ == "__main__":
    main()
