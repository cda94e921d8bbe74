"""utils/quaternion.py: the helpers agree between numpy and torch, invert each other, and the three
6D layouts read the matrices they claim to."""
import numpy as np
import pytest
import torch

from utils import quaternion as Q


def _random_rotations(n, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return q, Q.quat_to_matrix(q)


def test_matrix_is_rotation_and_matches_qrot():
    q, R = _random_rotations(64)
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    v = np.random.default_rng(1).normal(size=(64, 3))
    np.testing.assert_allclose(Q.qrot(q, v), (R @ v[..., None])[..., 0], atol=1e-12)


def test_qmul_composes_and_qinv_inverts():
    q, Rq = _random_rotations(32, 2)
    r, Rr = _random_rotations(32, 3)
    np.testing.assert_allclose(Q.quat_to_matrix(Q.qmul(q, r)), Rq @ Rr, atol=1e-12)
    ident = Q.qmul(q, Q.qinv(q))
    np.testing.assert_allclose(ident, np.tile([1.0, 0, 0, 0], (32, 1)), atol=1e-12)


def test_matrix_to_quat_roundtrip_including_half_turns():
    q, R = _random_rotations(200, 4)
    half_turns = Q.axis_angle_to_matrix(np.pi * np.eye(3))  # trace -1: the w-based formula fails
    R = np.concatenate([R, half_turns], 0)
    np.testing.assert_allclose(Q.quat_to_matrix(Q.matrix_to_quat(R)), R, atol=1e-10)
    assert np.all(Q.matrix_to_quat(R)[:, 0] >= 0)


def test_axis_angle_roundtrip_and_zero():
    aa = np.random.default_rng(5).normal(size=(100, 3))
    aa = aa / np.linalg.norm(aa, axis=-1, keepdims=True) * np.random.default_rng(6).uniform(0, 3.0, (100, 1))
    np.testing.assert_allclose(Q.matrix_to_axis_angle(Q.axis_angle_to_matrix(aa)), aa, atol=1e-9)
    np.testing.assert_array_equal(Q.axis_angle_to_matrix(np.zeros((2, 3))), np.broadcast_to(np.eye(3), (2, 3, 3)))
    # A rotation of 90 degrees about +Z sends +X to +Y.
    R = Q.axis_angle_to_matrix(np.array([0, 0, np.pi / 2]))
    np.testing.assert_allclose(R @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_6d_layouts():
    _, R = _random_rotations(50, 7)
    d = Q.matrix_to_rot6d(R)
    np.testing.assert_array_equal(d[:, [0, 2, 4]], R[:, :, 0])  # column 0 at indices 0, 2, 4
    np.testing.assert_allclose(Q.rot6d_to_matrix(d), R, atol=1e-12)
    np.testing.assert_array_equal(Q.matrix_to_rot6d_rows(R)[:, :3], R[:, 0, :])
    np.testing.assert_allclose(Q.rot6d_rows_to_matrix(Q.matrix_to_rot6d_rows(R)), R, atol=1e-12)
    np.testing.assert_array_equal(Q.matrix_to_cont6d(R)[:, :3], R[:, :, 0])
    np.testing.assert_allclose(Q.cont6d_to_matrix(Q.matrix_to_cont6d(R)), R, atol=1e-12)
    # Mirroring about x (M R M, M = diag(-1,1,1)) negates InterHuman 6D components 1, 2 and 4.
    M = np.diag([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(Q.matrix_to_rot6d(M @ R @ M), d * [1, -1, -1, 1, -1, 1], atol=1e-15)


@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_euler_roundtrip(order):
    rng = np.random.default_rng(8)
    ang = rng.uniform(-np.pi, np.pi, (100, 3))
    ang[:, 1] = rng.uniform(-np.pi / 2 + 1e-3, np.pi / 2 - 1e-3, 100)
    R = Q.euler_to_matrix(ang, order)
    np.testing.assert_allclose(Q.matrix_to_euler(R, order), ang, atol=1e-8)
    locked = ang.copy()
    locked[:, 1] = np.pi / 2 * np.sign(rng.normal(size=100))
    R = Q.euler_to_matrix(locked, order)
    np.testing.assert_allclose(Q.euler_to_matrix(Q.matrix_to_euler(R, order), order), R, atol=1e-6)
    with pytest.raises(ValueError, match="permutation"):
        Q.matrix_to_euler(R, "XXY")


def test_qbetween_and_torch_agree_with_numpy():
    rng = np.random.default_rng(9)
    a = rng.normal(size=(40, 3)).astype(np.float32)
    b = rng.normal(size=(40, 3)).astype(np.float32)
    q = Q.qbetween(a, b)
    rotated = Q.qrot(q, a / np.linalg.norm(a, axis=-1, keepdims=True))
    np.testing.assert_allclose(rotated, b / np.linalg.norm(b, axis=-1, keepdims=True), atol=1e-6)
    for fn, args in ((Q.qbetween, (a, b)), (Q.qrot, (q, a)), (Q.qmul, (q, q[::-1].copy())),
                     (Q.rot6d_to_matrix, (rng.normal(size=(5, 6)).astype(np.float32),)),
                     (Q.matrix_to_euler, (Q.quat_to_matrix(q),))):
        ours_t = fn(*(torch.from_numpy(np.ascontiguousarray(x)) for x in args))
        assert isinstance(ours_t, torch.Tensor)
        np.testing.assert_allclose(ours_t.numpy(), fn(*args), atol=2e-6, err_msg=fn.__name__)
