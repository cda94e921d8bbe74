"""Generate the embedded synthetic two-person interaction dataset in InterHuman's on-disk format.

    python prepare/make_synthetic_dataset.py --out data/Synthetic --num_clips 1000 --seed 0

Writes <out>/motions_processed, annots, split lists, synthetic_meta.json and, unless --no_stats, the
normalisation statistics <out>/stats/global_mean.npy, global_std.npy. Train/eval with --data_root <out>.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from data.synthetic.writer import interaction_types, write_dataset  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=str, default="data/Synthetic", help="dataset folder to create")
    p.add_argument("--num_clips", type=int, default=1000, help="number of two-person clips")
    p.add_argument("--seed", type=int, default=0, help="same seed -> byte-identical dataset")
    p.add_argument("--val_frac", type=float, default=0.1, help="share of clips in split/val.txt")
    p.add_argument("--test_frac", type=float, default=0.1, help="share of clips in split/test.txt")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset in --out")
    p.add_argument("--no_stats", action="store_true", help="skip <out>/stats/global_{mean,std}.npy")
    p.add_argument("--max_seconds", type=float, default=None,
                   help="cap every clip's length (30 fps); e.g. 4 when training on 4 s crops, so that a crop "
                        "always holds the event its caption names (default: lengths as InterHuman, 1-11 s)")
    p.add_argument("--kinds", nargs="+", default=None,
                   help="only these interaction types, balanced (default: all 14); e.g. the kinds a prompts "
                        "file asks for, so that a small dataset holds more clips of each")
    opt = p.parse_args(argv)
    max_frames = None if opt.max_seconds is None else int(round(opt.max_seconds * 30))
    if max_frames is not None and max_frames < 90:
        p.error(f"--max_seconds {opt.max_seconds} is too short: some interactions need 3 s (90 frames)")
    if opt.num_clips < 1:
        p.error(f"--num_clips must be >= 1, got {opt.num_clips}")
    try:
        interaction_types(opt.kinds)
    except ValueError as e:
        p.error(str(e))
    train_frac = 1.0 - opt.val_frac - opt.test_frac
    if min(opt.val_frac, opt.test_frac, train_frac) < 0:
        p.error(f"--val_frac {opt.val_frac} + --test_frac {opt.test_frac} must be within [0, 1]")
    write_dataset(opt.out, opt.num_clips, opt.seed, (train_frac, opt.val_frac, opt.test_frac),
                  overwrite=opt.overwrite, max_frames=max_frames, types=opt.kinds)
    if not opt.no_stats:
        from prepare.compute_stats import compute_stats
        compute_stats(opt.out)
        print(f"wrote {os.path.join(opt.out, 'stats')}/global_mean.npy, global_std.npy")


if __name__ == "__main__":
    main()
