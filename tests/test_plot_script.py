"""Stick-figure videos and the official keypoint export."""
import os
import sys

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from utils.plot_script import (StickFigureRenderer, VideoBackendError, keypoints_from_features,
                               preprocess_plot_motion, wrap_title)

T = 7


def _standing(T, x0=0.0, z0=0.0, seed=0):
    """A crude skeleton (T, 22, 3) around a standing SMPL rest pose, swaying a little."""
    from utils.bvh import SMPL_REST_JOINTS
    rng = np.random.default_rng(seed)
    base = SMPL_REST_JOINTS + np.array([x0, 0.95, z0])
    sway = 0.02 * np.sin(np.linspace(0, 3, T))[:, None, None] + 0.002 * rng.normal(size=(T, 22, 3))
    return (base[None] + sway).astype(np.float32)


def _features(T, seed=0, x0=0.0):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(T, 262)).astype(np.float32) * 0.1
    f[:, :66] = _standing(T, x0=x0, seed=seed).reshape(T, 66)
    f[:, 258:] = 0
    return f


@pytest.fixture(scope="module")
def renderer():
    r = StickFigureRenderer(dpi=20)   # 400 x 200 pixels: fast
    yield r
    r.close()


def _orange(frame):
    r, g, b = (frame[..., k].astype(int) for k in range(3))
    return (r - b > 60) & (r > g)


def _green(frame):
    r, g, b = (frame[..., k].astype(int) for k in range(3))
    return (g - r > 30) & (g - b > 30)


def test_wrap_title_every_ten_words():
    cap = " ".join(f"w{i}" for i in range(25))
    lines = wrap_title(cap).split("\n")
    assert [len(l.split()) for l in lines] == [10, 10, 5]
    assert wrap_title("two people bow") == "two people bow"


def test_frames_draw_both_people_in_both_views(renderer):
    people = [_standing(T, x0=-0.5), _standing(T + 3, x0=0.5, seed=1)]
    frames = list(renderer.frames(people, "a caption"))
    assert len(frames) == T                                 # the shorter person decides
    h, w, c = frames[0].shape
    assert (h, w, c) == (200, 400, 4)
    orange, green = _orange(frames[0]), _green(frames[0])
    for half in (slice(0, w // 2), slice(w // 2, w)):
        assert orange[:, half].sum() > 5 and green[:, half].sum() > 5
    assert not np.array_equal(frames[0], frames[-1])        # the motion moves the lines


def test_mp4_has_all_frames_at_30fps(renderer, tmp_path):
    import imageio_ffmpeg
    path = str(tmp_path / "clip.mp4")
    renderer.render(path, [_standing(T), _standing(T, x0=1.0)], "two people stand")
    nframes, secs = imageio_ffmpeg.count_frames_and_secs(path)
    assert nframes == T
    assert abs(secs - T / 30.0) < 0.05
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]


def test_gif_frames_and_duration(renderer, tmp_path):
    from PIL import Image
    path = str(tmp_path / "clip.gif")
    renderer.render(path, [_standing(T), _standing(T, x0=1.0)], "two people stand")
    im = Image.open(path)
    assert im.n_frames == T
    total = 0
    for k in range(im.n_frames):
        im.seek(k)
        total += im.info["duration"]
    assert abs(total - 1000.0 * T / 30) <= 10              # 30 fps on average (GIF counts 10 ms)


def test_renderer_reuses_one_figure(renderer, tmp_path):
    import matplotlib.pyplot as plt
    before = len(plt.get_fignums())
    for k in range(2):
        renderer.render(str(tmp_path / f"c{k}.gif"), [_standing(3)], "one")
    assert len(plt.get_fignums()) == before


def test_missing_ffmpeg_gives_clear_error(renderer, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(VideoBackendError, match="imageio-ffmpeg"):
        renderer.render(str(tmp_path / "x.mp4"), [_standing(3)], "x")


def test_bad_format_and_shape(renderer, tmp_path):
    with pytest.raises(ValueError, match="avi"):
        renderer.render(str(tmp_path / "x.avi"), [_standing(3)], "x")
    with pytest.raises(ValueError, match="shape"):
        list(renderer.frames([np.zeros((3, 22))], "x"))


def test_keypoints_from_features():
    f = _features(T)
    kp = keypoints_from_features(f)
    assert kp.shape == (T, 22, 9) and kp.dtype == np.float32
    ref = gaussian_filter1d(f[:, :66].reshape(T, 22, 3), 1, axis=0, mode="nearest")
    np.testing.assert_allclose(kp[..., :3], ref, rtol=0, atol=1e-6)
    assert np.all(kp[:, 0, 3:] == 0)
    np.testing.assert_array_equal(kp[:, 1:, 3:], f[:, 132:258].reshape(T, 21, 6))


class _Recorder:
    def __init__(self):
        self.calls = []

    def render(self, path, people, caption, fps=30, fmt=None):
        self.calls.append((os.path.basename(path), [p.copy() for p in people], caption, fps))
        return path


def test_preprocess_plot_motion_files_and_raw_video(tmp_path):
    motions = np.stack([_features(T + 20), _features(T + 20, seed=1, x0=1.0)], axis=1)  # (T, 2, 262)
    before = motions.copy()
    rec = _Recorder()
    out = preprocess_plot_motion(motions, "cap", str(tmp_path / "mp4"), str(tmp_path / "npy"), "base",
                                 foot_ik=True, renderer=rec)
    np.testing.assert_array_equal(motions, before)
    names = sorted(os.listdir(tmp_path / "npy"))
    assert names == ["base_0.npy", "base_1.npy", "ik_base_0.npy", "ik_base_1.npy"]
    kp0 = np.load(tmp_path / "npy" / "base_0.npy")
    ik0 = np.load(tmp_path / "npy" / "ik_base_0.npy")
    assert kp0.shape == ik0.shape == (T + 20, 22, 9)
    assert not np.allclose(kp0[..., :3], ik0[..., :3])
    np.testing.assert_array_equal(kp0[..., 3:], ik0[..., 3:])
    assert [c[0] for c in rec.calls] == ["base.mp4", "ik_base.mp4"]
    # the plain video shows the raw (smoothed) joints; the official in-place bug showed the ik ones
    np.testing.assert_array_equal(rec.calls[0][1][0], kp0[..., :3])
    np.testing.assert_array_equal(rec.calls[1][1][0], ik0[..., :3])
    assert out["npy"] == [str(tmp_path / "npy" / n) for n in ("base_0.npy", "ik_base_0.npy", "base_1.npy", "ik_base_1.npy")]
    assert out["video"] == [str(tmp_path / "mp4" / n) for n in ("base.mp4", "ik_base.mp4")]
    np.testing.assert_array_equal(out["ik_keypoints"][0], ik0)
    out2 = preprocess_plot_motion(motions, "cap", str(tmp_path / "v2"), str(tmp_path / "n2"), "b",
                                  foot_ik=False, fmt="none", renderer=rec)
    assert out2["video"] == [] and len(rec.calls) == 2
    assert sorted(os.listdir(tmp_path / "n2")) == ["b_0.npy", "b_1.npy"]
