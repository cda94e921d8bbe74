"""Convert between InterHuman's motion files and this project's outputs.

InterHuman person files, the 262-d features and infer.py's keypoints are described in data/motion_files.py,
which holds the conversions (infer.py reads motions through them too).

Commands (run from the repository root):

  # InterHuman clip -> keypoints (+ features) in person 1's canonical frame, as the datasets see it
  python prepare/convert_motion.py interhuman2ours --person1 data/InterHuman/motions_processed/person1/10.npy \
      --out_dir converted/ [--features]
  # our keypoints -> InterHuman person files (Z-up; the 40 hand joints are written as zeros)
  python prepare/convert_motion.py ours2interhuman KP_0.npy KP_1.npy --out_dir converted/ --name clip
"""
import argparse
import os
import sys

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from data.motion_files import features_to_keypoints, interhuman_to_features, keypoints_to_person_file  # noqa: E402
from utils.files import require_file  # noqa: E402


def _interhuman2ours(args):
    p1 = require_file(args.person1, "point --person1 at an InterHuman motions_processed/person1 file")
    p2 = args.person2 or p1.replace("person1", "person2")
    arrs = [np.load(p1)] + ([np.load(p2)] if os.path.isfile(p2) and p2 != p1 else [])
    feats = interhuman_to_features(*arrs)
    name = args.name or os.path.splitext(os.path.basename(p1))[0]
    os.makedirs(args.out_dir, exist_ok=True)
    for k, f in enumerate(feats):
        np.save(os.path.join(args.out_dir, f"{name}_{k}.npy"), features_to_keypoints(f))
        if args.features:
            np.save(os.path.join(args.out_dir, f"{name}_feats_{k}.npy"), f)
    print(f"wrote {len(feats)} person(s), {len(feats[0])} frames, to {args.out_dir}/{name}_*.npy")


def _ours2interhuman(args):
    name = args.name or os.path.splitext(os.path.basename(args.keypoints[0]))[0].rsplit("_", 1)[0]
    for k, path in enumerate(args.keypoints):
        kp = np.load(require_file(path, "give infer.py keypoint_npy files (T, 22, 9)"))
        folder = os.path.join(args.out_dir, f"person{k + 1}")
        os.makedirs(folder, exist_ok=True)
        np.save(os.path.join(folder, f"{name}.npy"), keypoints_to_person_file(kp))
    print(f"wrote {len(args.keypoints)} person file(s) to {args.out_dir}/person*/{name}.npy")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("interhuman2ours", help="InterHuman person files -> keypoints (+ features)")
    a.add_argument("--person1", required=True)
    a.add_argument("--person2", default=None, help="default: the person1 path with person1 -> person2")
    a.add_argument("--out_dir", required=True)
    a.add_argument("--name", default=None, help="output stem; default the clip name")
    a.add_argument("--features", action="store_true", help="also write the (T-1, 262) features")
    b = sub.add_parser("ours2interhuman", help="keypoints (T, 22, 9) -> InterHuman person files")
    b.add_argument("keypoints", nargs="+", help="person 1 [person 2] keypoint files")
    b.add_argument("--out_dir", required=True)
    b.add_argument("--name", default=None, help="clip name; default the keypoint stem without _<k>")
    args = ap.parse_args(argv)
    try:
        (_interhuman2ours if args.cmd == "interhuman2ours" else _ours2interhuman)(args)
    except (OSError, ValueError) as e:  # one line, no traceback
        raise SystemExit(f"convert_motion: {e}")


if __name__ == "__main__":
    main()
