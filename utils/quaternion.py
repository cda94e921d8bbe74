"""Quaternion, rotation-matrix and 6D helpers shared by data processing, losses and export.

Every function accepts either numpy arrays or torch tensors and returns the same kind, computing in
the input's dtype (the processing casts to float32 first, which is what the official pipeline does).
Leading dimensions broadcast; the last dimension holds the components.

Conventions (all active rotations, right-handed):
- quaternions are (w, x, y, z) with the Hamilton product; `qrot(q, v)` rotates v by q;
- rotation matrices R act on column vectors (v' = R v), shape (..., 3, 3);
- three 6D layouts are in use and are kept apart by name:
    * `rot6d_*`       InterHuman files: first two COLUMNS of R written row by row
                      [R00, R01, R10, R11, R20, R21];
    * `rot6d_rows_*`  PyTorch3D / Inter-X: first two ROWS of R [R00, R01, R02, R10, R11, R12];
    * `cont6d_*`      the official geodesic loss: [column 0 | column 1] = [R00, R10, R20, R01, R11, R21].
"""
import numpy as np
import torch

__all__ = [
    "qnormalize", "qmul", "qinv", "qrot", "qbetween", "quat_about_y", "quat_to_matrix", "matrix_to_quat",
    "axis_angle_to_matrix", "matrix_to_axis_angle", "rot6d_to_matrix", "matrix_to_rot6d",
    "rot6d_rows_to_matrix", "matrix_to_rot6d_rows", "cont6d_to_matrix", "matrix_to_cont6d",
    "matrix_to_euler", "euler_to_matrix",
]


def _xp(x):
    """The array module of x: torch for tensors, numpy otherwise (numpy and torch share the names
    used here: sqrt, sin, cos, arctan2, stack, concatenate, where, clip, abs)."""
    return torch if isinstance(x, torch.Tensor) else np


def _cross(a, b):
    """Cross product on the last axis, written out so numpy and torch round identically."""
    ax, ay, az = a[..., 0], a[..., 1], a[..., 2]
    bx, by, bz = b[..., 0], b[..., 1], b[..., 2]
    return _xp(a).stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], -1)


def _norm(x):
    """Euclidean norm over the last axis, keeping it (..., 1)."""
    return _xp(x).sqrt((x * x).sum(-1))[..., None]


def _broadcast(a, b):
    """Broadcast the leading dims of a (..., m) and b (..., n) against each other."""
    if isinstance(a, torch.Tensor):
        lead = torch.broadcast_shapes(a.shape[:-1], b.shape[:-1])
        return a.expand(*lead, a.shape[-1]), b.expand(*lead, b.shape[-1])
    lead = np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    return np.broadcast_to(a, lead + a.shape[-1:]), np.broadcast_to(b, lead + b.shape[-1:])


# ----------------------------------------------------------------------------------------- quaternions
def qnormalize(q):
    """q / |q| over the last axis. (..., 4) -> (..., 4)."""
    return q / _norm(q)


def qmul(q, r):
    """Hamilton product q * r (apply r first, then q). (..., 4) x (..., 4) -> (..., 4)."""
    w0, x0, y0, z0 = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    w1, x1, y1, z1 = r[..., 0], r[..., 1], r[..., 2], r[..., 3]
    return _xp(q).stack([w0 * w1 - x0 * x1 - y0 * y1 - z0 * z1,
                         w0 * x1 + x0 * w1 + y0 * z1 - z0 * y1,
                         w0 * y1 - x0 * z1 + y0 * w1 + z0 * x1,
                         w0 * z1 + x0 * y1 - y0 * x1 + z0 * w1], -1)


def qinv(q):
    """Conjugate (the inverse of a unit quaternion): (w, -x, -y, -z)."""
    return _xp(q).concatenate([q[..., :1], -q[..., 1:]], -1)


def qrot(q, v):
    """Rotate v (..., 3) by unit quaternion q (..., 4): v + 2 (w (u x v) + u x (u x v)), u = q.xyz.
    This is the exact formula of the official helpers, so float32 results agree to the last bit."""
    q, v = _broadcast(q, v)
    u = q[..., 1:]
    uv = _cross(u, v)
    uuv = _cross(u, uv)
    return v + 2 * (q[..., :1] * uv + uuv)


def qbetween(a, b):
    """Shortest-arc quaternion turning direction a onto direction b: w = |a||b| + a.b, xyz = a x b,
    normalised. Undefined (0/0 -> NaN) when a and b are exactly antiparallel; data/validate.py
    rejects such clips before they get here."""
    a, b = _broadcast(a, b)
    xp = _xp(a)
    w = xp.sqrt((a * a).sum(-1) * (b * b).sum(-1)) + (a * b).sum(-1)
    return qnormalize(xp.concatenate([w[..., None], _cross(a, b)], -1))


def quat_about_y(half_angle):
    """(cos h, 0, sin h, 0): the rotation by 2h about +Y. half_angle (...) -> (..., 4)."""
    xp = _xp(half_angle)
    z = half_angle * 0
    return xp.stack([xp.cos(half_angle), z, xp.sin(half_angle), z], -1)


def quat_to_matrix(q):
    """Unit quaternion (..., 4) -> rotation matrix (..., 3, 3)."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    s = 2.0 / (q * q).sum(-1)
    rows = [1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w),
            s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w),
            s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y)]
    return _xp(q).stack(rows, -1).reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(R):
    """Rotation matrix (..., 3, 3) -> unit quaternion (..., 4) with w >= 0. Uses the largest of
    the four candidate denominators per element, so it is stable for every rotation."""
    xp = _xp(R)
    m00, m11, m22 = R[..., 0, 0], R[..., 1, 1], R[..., 2, 2]
    # 4*w^2, 4*x^2, 4*y^2, 4*z^2 (each >= 0 for a rotation up to rounding)
    sq = xp.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    r = xp.sqrt(xp.clip(sq, 1e-12, None))  # (..., 4) = 2|w|, 2|x|, 2|y|, 2|z|
    d21, d02, d10 = R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]
    s21, s02, s10 = R[..., 2, 1] + R[..., 1, 2], R[..., 0, 2] + R[..., 2, 0], R[..., 1, 0] + R[..., 0, 1]
    cands = xp.stack([  # (..., 4 candidates, 4 components), candidate k divides by r_k
        xp.stack([r[..., 0] ** 2, d21, d02, d10], -1) / (2 * r[..., 0:1]),
        xp.stack([d21, r[..., 1] ** 2, s10, s02], -1) / (2 * r[..., 1:2]),
        xp.stack([d02, s10, r[..., 2] ** 2, s21], -1) / (2 * r[..., 2:3]),
        xp.stack([d10, s02, s21, r[..., 3] ** 2], -1) / (2 * r[..., 3:4]),
    ], -2)
    best = sq.argmax(-1)
    if xp is torch:
        q = torch.gather(cands, -2, best[..., None, None].expand(*best.shape, 1, 4))[..., 0, :]
    else:
        q = np.take_along_axis(cands, best[..., None, None], -2)[..., 0, :]
    q = qnormalize(q)
    return xp.where(q[..., :1] < 0, -q, q)


# ------------------------------------------------------------------------------------ axis-angle
def axis_angle_to_matrix(aa):
    """Axis-angle (..., 3) (direction = axis, norm = angle in radians) -> (..., 3, 3) (Rodrigues),
    exact identity for a zero vector."""
    xp = _xp(aa)
    theta = xp.sqrt((aa * aa).sum(-1))  # (...)
    small = theta < 1e-8
    safe = xp.where(small, theta * 0 + 1, theta)
    k = aa / safe[..., None]
    kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
    s, c = xp.sin(theta), xp.cos(theta)
    c1 = 1 - c
    R = xp.stack([c + kx * kx * c1, kx * ky * c1 - kz * s, kx * kz * c1 + ky * s,
                  ky * kx * c1 + kz * s, c + ky * ky * c1, ky * kz * c1 - kx * s,
                  kz * kx * c1 - ky * s, kz * ky * c1 + kx * s, c + kz * kz * c1], -1)
    return R.reshape(aa.shape[:-1] + (3, 3))


def matrix_to_axis_angle(R):
    """(..., 3, 3) -> axis-angle (..., 3), angle in [0, pi], via the quaternion."""
    xp = _xp(R)
    q = matrix_to_quat(R)
    sin_half = xp.sqrt((q[..., 1:] ** 2).sum(-1))
    half = xp.arctan2(sin_half, q[..., 0])
    scale = xp.where(sin_half < 1e-8, 2 + 0 * half, 2 * half / xp.where(sin_half < 1e-8, 1 + 0 * half, sin_half))
    return q[..., 1:] * scale[..., None]


# ------------------------------------------------------------------------------------------- 6D
def _gram_schmidt(c0, c1):
    """Two raw 3-vectors -> orthonormal (b0, b1, b2 = b0 x b1), the PyTorch3D procedure."""
    b0 = c0 / _norm(c0)
    b1 = c1 - (b0 * c1).sum(-1)[..., None] * b0
    b1 = b1 / _norm(b1)
    return b0, b1, _cross(b0, b1)


def rot6d_to_matrix(d6):
    """InterHuman 6D [R00, R01, R10, R11, R20, R21] (..., 6) -> (..., 3, 3). Columns 0 and 1 are
    (d0, d2, d4) and (d1, d3, d5), orthonormalised; column 2 is their cross product."""
    b0, b1, b2 = _gram_schmidt(d6[..., 0::2], d6[..., 1::2])
    return _xp(d6).stack([b0, b1, b2], -1)


def matrix_to_rot6d(R):
    """(..., 3, 3) -> InterHuman 6D [R00, R01, R10, R11, R20, R21] (..., 6)."""
    return R[..., :, :2].reshape(R.shape[:-2] + (6,))


def rot6d_rows_to_matrix(d6):
    """PyTorch3D / Inter-X 6D (first two rows) (..., 6) -> (..., 3, 3)."""
    b0, b1, b2 = _gram_schmidt(d6[..., :3], d6[..., 3:])
    return _xp(d6).stack([b0, b1, b2], -2)


def matrix_to_rot6d_rows(R):
    """(..., 3, 3) -> PyTorch3D / Inter-X 6D: rows 0 and 1 of R, (..., 6)."""
    return R[..., :2, :].reshape(R.shape[:-2] + (6,))


def cont6d_to_matrix(d6):
    """The official geodesic loss's reading: [column 0 | column 1] (..., 6) -> (..., 3, 3), built as
    x = n(c0), z = n(x cross c1), y = z cross x (the official construction)."""
    x = d6[..., :3] / _norm(d6[..., :3])
    z = _cross(x, d6[..., 3:])
    z = z / _norm(z)
    y = _cross(z, x)
    return _xp(d6).stack([x, y, z], -1)


def matrix_to_cont6d(R):
    """(..., 3, 3) -> [column 0 | column 1] (..., 6)."""
    xp = _xp(R)
    return xp.concatenate([R[..., :, 0], R[..., :, 1]], -1)


# ---------------------------------------------------------------------------------------- Euler
_AXIS = {"X": 0, "Y": 1, "Z": 2}


def _axis_matrix(axis, angle):
    xp = _xp(angle)
    c, s = xp.cos(angle), xp.sin(angle)
    one, zero = c * 0 + 1, c * 0
    if axis == "X":
        rows = [one, zero, zero, zero, c, -s, zero, s, c]
    elif axis == "Y":
        rows = [c, zero, s, zero, one, zero, -s, zero, c]
    else:
        rows = [c, -s, zero, s, c, zero, zero, zero, one]
    return xp.stack(rows, -1).reshape(angle.shape + (3, 3))


def euler_to_matrix(angles, order="ZYX"):
    """Intrinsic Tait-Bryan angles (..., 3) in radians, applied as R = R_a(a0) R_b(a1) R_c(a2) for
    order "abc" (the BVH channel convention) -> (..., 3, 3)."""
    _check_order(order)
    R = _axis_matrix(order[0], angles[..., 0])
    for i in (1, 2):
        R = R @ _axis_matrix(order[i], angles[..., i])
    return R


def matrix_to_euler(R, order="ZYX"):
    """Inverse of euler_to_matrix for the six Tait-Bryan orders: (..., 3, 3) -> (..., 3) radians,
    middle angle in [-pi/2, pi/2] (gimbal lock: the first angle absorbs the whole twist)."""
    _check_order(order)
    xp = _xp(R)
    i, j, k = (_AXIS[a] for a in order)
    sign = 1.0 if (j - i) % 3 == 1 else -1.0  # even permutation of XYZ
    # For R = R_i(a) R_j(b) R_k(c): R[i, k] = sign * sin(b).
    sb = xp.clip(sign * R[..., i, k], -1.0, 1.0)
    b = xp.arctan2(sb, xp.sqrt(xp.clip(1 - sb * sb, 0.0, None)))
    a = xp.arctan2(-sign * R[..., j, k], R[..., k, k])
    c = xp.arctan2(-sign * R[..., i, j], R[..., i, i])
    locked = xp.abs(sb) > 1 - 1e-7
    a_lock = xp.arctan2(sign * R[..., k, j], R[..., j, j])
    a = xp.where(locked, a_lock, a)
    c = xp.where(locked, c * 0, c)
    return xp.stack([a, b, c], -1)


def _check_order(order):
    if len(order) != 3 or sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"Euler order must be a permutation of 'XYZ', got {order!r}")
