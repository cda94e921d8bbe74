"""Properties of the processing that the golden vectors do not pin down: the fixed caption mirror,
the normaliser, invariance of the pair features to a common raw yaw/translation, and the canonical
frame of the reference person."""
import numpy as np
import pytest
import torch

from data.normalizer import Normalizer
from data.process import canonicalise_pair, mirror_caption, process_motion_np, swap_left_right
from tests.test_data_loaders import person_file


@pytest.mark.parametrize("text,expected", [
    ("Left and right", "Right and left"),
    ("a bright light on the left", "a bright light on the right"),
    ("turns counterclockwise, then clockwise", "turns clockwise, then counterclockwise"),
    ("spins Counter-Clockwise", "spins Clockwise"),
    ("moves leftwards to the RIGHT-most spot", "moves rightwards to the LEFT-most spot"),
    ("copyright leftover", "copyright leftover"),
])
def test_fixed_caption_mirror(text, expected):
    assert mirror_caption(text, "fixed") == expected


def test_official_caption_mirror_quirks_and_bad_mode():
    assert mirror_caption("counterclockwise", "official") == "countercounterclockwise"
    assert mirror_caption("bright Left", "official") == "bleft Left"
    with pytest.raises(ValueError, match="text_mirror"):
        mirror_caption("left", "both")


def test_normalizer_numpy_torch_roundtrip_and_errors():
    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=262).astype(np.float32), rng.uniform(0.1, 2, 262).astype(np.float32)
    norm = Normalizer(mean, std)
    x = rng.normal(size=(5, 262)).astype(np.float32)
    z = norm.forward(x)
    assert z.dtype == np.float32
    np.testing.assert_array_equal(z, (x - mean) / std)
    np.testing.assert_allclose(norm.backward(z), x, atol=1e-5)
    zt = norm.forward(torch.from_numpy(x).double())
    assert zt.dtype == torch.float64
    np.testing.assert_allclose(zt.numpy(), z, atol=1e-5)
    np.testing.assert_allclose(norm.backward(zt).numpy(), x, atol=1e-6)
    with pytest.raises(ValueError, match="features"):
        norm.forward(np.zeros((2, 261)))
    with pytest.raises(ValueError, match="std > 0"):
        Normalizer(mean, np.zeros(262))


def _to_raw(file_arr):
    return np.concatenate([file_arr[:, :66], file_arr[:, 186:312]], 1)


def test_pair_features_invariant_to_common_yaw_and_shift():
    rng = np.random.default_rng(1)
    a = _to_raw(person_file(50, 0.4, (0, 0), rng))
    b = _to_raw(person_file(50, -2.0, (0.9, 0.5), rng))
    f1, f2 = canonicalise_pair(a, b)
    ang = 1.1
    c, s = np.cos(ang), np.sin(ang)
    Rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], np.float32)      # yaw about raw Z (up)
    shift = np.array([3.0, -2.0, 0.4], np.float32)

    def move(r):
        r = r.copy()
        r[:, :66] = ((r[:, :66].reshape(-1, 22, 3) @ Rz.T) + shift).reshape(-1, 66)
        return r
    g1, g2 = canonicalise_pair(move(a), move(b))
    np.testing.assert_allclose(g1[:, :258], f1[:, :258], atol=2e-5)
    np.testing.assert_allclose(g2[:, :258], f2[:, :258], atol=2e-5)
    # Reference person: pelvis at the xz origin and hips along x (facing +Z) at frame 0; floor at 0.
    pos = f1[0, :66].reshape(22, 3)
    assert abs(pos[0, 0]) < 1e-6 and abs(pos[0, 2]) < 1e-6
    assert abs(pos[2, 2] - pos[1, 2]) < 1e-6 and pos[1, 0] > pos[2, 0]
    assert f1[:, 1:66:3].min() >= 0
    np.testing.assert_allclose(f1[:-1, 66:132], f1[1:, :66] - f1[:-1, :66], atol=1e-6)


def test_processing_commutes_with_mirror():
    """Mirroring the raw pair mirrors the canonical features (x negated, sides exchanged)."""
    rng = np.random.default_rng(2)
    a = _to_raw(person_file(30, 0.7, (0, 0), rng))
    f = process_motion_np(a)[0]
    fm = process_motion_np(swap_left_right(a))[0]
    pos, posm = f[:, :66].reshape(-1, 22, 3), fm[:, :66].reshape(-1, 22, 3)
    mirrored = swap_left_right(np.concatenate([pos.reshape(-1, 66), f[:, 132:258]], 1))
    np.testing.assert_allclose(posm.reshape(-1, 66), mirrored[:, :66], atol=2e-5)
    np.testing.assert_array_equal(fm[:, 258:262], f[:, [260, 261, 258, 259]])
