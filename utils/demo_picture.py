"""The README's picture: one frame of several generated prompts, side by side in one small PNG.

    python -m utils.demo_picture --anim_dir checkpoints/interhuman/demo_trans/animation_infer \
        --prompts_file prompts_demo.txt --out docs/demo.png

For each chosen prompt it reads infer.py's keypoints of its first sample (`keypoint_npy/infer_*_<prompt>_00_
{0,1}.npy`, not the foot-cleaned `ik_` copies), draws them with the readable renderer (utils/render.py) and
keeps the frame where the interaction happens (the signature's event frame of configs/demo.yaml's kind of
that prompt, else the middle frame). Frames are tiled two per row and stored as a 256-colour PNG, so the
picture stays well under 1 MB.
"""
import argparse
import glob
import os

import numpy as np
import yaml
from PIL import Image

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def prompt_pair(anim_dir, prompt, sample=0):
    """-> joints (T, 2, 22, 3) of a prompt's sample, from infer.py's keypoint files."""
    pattern = os.path.join(anim_dir, "keypoint_npy", f"infer_*_{prompt:02d}_{sample:02d}_0.npy")
    files = sorted(f for f in glob.glob(pattern) if not os.path.basename(f).startswith("ik_"))
    if not files:
        raise FileNotFoundError(f"{pattern}: no keypoints (run infer.py / demo.py first)")
    p1, p2 = np.load(files[0]), np.load(files[0][:-len("_0.npy")] + "_1.npy")      # (T, 22, 9) each
    return np.stack([p1[..., :3], p2[..., :3]], axis=1)


def event_frame(joints, kind):
    """Frame where `kind`'s signature happens (its result's `frame`), else the middle frame."""
    if kind:
        from data.synthetic.signatures import check
        frame = check(kind, joints).values.get("frame", -1)
        if frame is not None and frame >= 0:
            return int(frame)
    return len(joints) // 2


def make_picture(anim_dir, captions, prompts, kinds, out, dpi=50, columns=2):
    """Tile one frame per prompt (readable renderer at `dpi`) into a palette PNG at `out`; -> (H, W)."""
    from utils.render import ReadableRenderer
    renderer = ReadableRenderer(dpi=dpi)
    tiles = []
    for p in prompts:
        joints = prompt_pair(anim_dir, p)
        t = event_frame(joints, kinds[p] if p < len(kinds) else None)
        frames = renderer.frames([joints[:, 0], joints[:, 1]], captions[p])
        for i, frame in enumerate(frames):
            if i == t:
                tiles.append(frame[..., :3].copy())                             # (H, W, 3)
                break
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * h, columns * w, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = tile
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp.png"
    Image.fromarray(sheet).quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(tmp, optimize=True)
    os.replace(tmp, out)
    return sheet.shape[:2]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--anim_dir", default="checkpoints/interhuman/demo_trans/animation_infer")
    p.add_argument("--prompts_file", default=os.path.join(HERE, "prompts_demo.txt"))
    p.add_argument("--config", default=os.path.join(HERE, "configs", "demo.yaml"),
                   help="its `signatures` list names each prompt's interaction kind")
    p.add_argument("--prompts", type=int, nargs="+", default=[1, 4, 2, 3],
                   help="prompt indices (0-based lines of the prompts file; default: prompts_demo.txt's "
                        "hug, kick, bow, wave)")
    p.add_argument("--dpi", type=int, default=50, help="frame size: 16 x 9 inches at this dpi")
    p.add_argument("--out", default="docs/demo.png")
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    from utils.prompts import read_prompts_file
    captions = [p.text for p in read_prompts_file(a.prompts_file, 120)]
    bad = [p for p in a.prompts if not 0 <= p < len(captions)]
    if bad:
        raise SystemExit(f"--prompts {bad}: {a.prompts_file} has {len(captions)} prompts")
    kinds = yaml.safe_load(open(a.config)).get("signatures", []) if os.path.isfile(a.config) else []
    shape = make_picture(a.anim_dir, captions, a.prompts, kinds, a.out, dpi=a.dpi)
    print(f"wrote {a.out}: {shape[1]} x {shape[0]} px, {os.path.getsize(a.out) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
