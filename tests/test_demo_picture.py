"""utils/demo_picture.py: the README's picture, one frame per prompt at the moment its interaction
happens, tiled into a small palette PNG."""
import os

import numpy as np
import pytest
from PIL import Image

from utils import demo_picture


def _write(anim_dir, prompt, joints):
    """joints (T, 2, 22, 3) -> infer.py-named keypoint files (T, 22, 9), plus a decoy ik_ copy."""
    kp_dir = os.path.join(anim_dir, "keypoint_npy")
    os.makedirs(kp_dir, exist_ok=True)
    for p in (0, 1):
        kp = np.concatenate([joints[:, p], np.zeros(joints.shape[:1] + (22, 6))], axis=-1)
        base = f"infer_latest_ts20_cs2.0_topkr0.9_{prompt:02d}_00_{p}.npy"
        np.save(os.path.join(kp_dir, base), kp)
        np.save(os.path.join(kp_dir, "ik_" + base), kp + 9.0)


def test_picture_tiles_the_event_frames(tmp_path):
    from data.synthetic.choreography import generate_clip
    from data.synthetic.signatures import check
    from utils.render import ReadableRenderer
    anim = str(tmp_path / "anim")
    clips = {}
    for prompt, kind in ((0, "handshake"), (1, "hug"), (2, "wave")):
        c = generate_clip(kind, prompt + 3, num_frames=90)
        clips[prompt] = np.stack([c.people[0]["pos"], c.people[1]["pos"]], axis=1)
        _write(anim, prompt, clips[prompt])
    np.testing.assert_array_equal(demo_picture.prompt_pair(anim, 1), clips[1])   # not the ik_ copy
    frame = demo_picture.event_frame(clips[0], "handshake")
    assert frame == check("handshake", clips[0]).values["frame"] and frame != 45
    assert demo_picture.event_frame(clips[2], None) == 45
    captions = ["shake hands", "hug", "wave"]
    out = str(tmp_path / "docs" / "demo.png")
    h, w = demo_picture.make_picture(anim, captions, [0, 1, 2], ["handshake", "hug", "wave"], out, dpi=30)
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (h, w, 3) == (2 * 270, 2 * 480, 3)               # 3 tiles, 2 per row
    assert os.path.getsize(out) < 1024 * 1024
    assert (img[270:, 480:] == 255).all()                                 # the empty fourth tile
    # the first tile is the handshake's event frame as the renderer draws it (up to the palette)
    want = [f for i, f in enumerate(ReadableRenderer(dpi=30).frames(
        [clips[0][:, 0], clips[0][:, 1]], "shake hands")) if i == frame][0][..., :3]
    assert np.abs(img[:270, :480].astype(int) - want.astype(int)).mean() < 3


def test_missing_keypoints_name_the_pattern(tmp_path):
    with pytest.raises(FileNotFoundError, match="keypoint_npy"):
        demo_picture.prompt_pair(str(tmp_path), 4)
