"""SMPL-22 rest skeleton per body size, forward kinematics and the rotation formats InterHuman stores.

Frame conventions (everything in this package):
- FK is done in a **Y-up** world (the axes InterHuman's loader converts to): a person at rest stands in
  a T-pose facing +Z with their left on +X, like SMPL. Offsets are parent-relative in the parent's frame:
  p[j] = p[parent] + G[parent] @ offset[j],  G[j] = G[parent] @ R_local[j].
- The file stores Z-up positions: raw = (x, -z, y) of the Y-up world (`yup_to_zup`), the exact inverse of
  the loader's (x, y, z) -> (x, z, -y). Local rotations are frame-independent and stored as they are.
- 6D layout (InterHuman): the first two COLUMNS of the 3x3 local rotation, read row by row:
  [m00, m01, m10, m11, m20, m21].
"""
from dataclasses import dataclass

import numpy as np

from data.skeleton import NUM_JOINTS, PARENTS

# Rest offsets of an average adult (metres, Y-up, facing +Z, left = +X), parent-relative. Arms and legs are
# exactly straight in the rest pose (shoulder-elbow-wrist along X, hip-knee-ankle along -Y) so the two-bone IK
# stays closed-form. Numbers are rounded SMPL-like proportions.
_REST = np.array([
    [0.000, 0.000, 0.000],    # 0 pelvis (root, placed by the root trajectory)
    [0.068, -0.091, -0.005],  # 1 L-hip
    [-0.068, -0.091, -0.005],  # 2 R-hip
    [0.000, 0.112, -0.025],   # 3 spine1
    [0.000, -0.380, 0.000],   # 4 L-knee
    [0.000, -0.380, 0.000],   # 5 R-knee
    [0.000, 0.135, 0.025],    # 6 spine2
    [0.000, -0.410, 0.000],   # 7 L-ankle
    [0.000, -0.410, 0.000],   # 8 R-ankle
    [0.000, 0.055, 0.005],    # 9 spine3
    [0.000, -0.055, 0.125],   # 10 L-foot (toe base)
    [0.000, -0.055, 0.125],   # 11 R-foot
    [0.000, 0.215, -0.035],   # 12 neck
    [0.075, 0.115, -0.035],   # 13 L-collar
    [-0.075, 0.115, -0.035],  # 14 R-collar
    [0.000, 0.100, 0.045],    # 15 head
    [0.120, 0.030, -0.012],   # 16 L-shoulder
    [-0.120, 0.030, -0.012],  # 17 R-shoulder
    [0.260, 0.000, 0.000],    # 18 L-elbow
    [-0.260, 0.000, 0.000],   # 19 R-elbow
    [0.255, 0.000, 0.000],    # 20 L-wrist
    [-0.255, 0.000, 0.000],   # 21 R-wrist
])
_LEG = [1, 2, 4, 5, 7, 8]
_ARM = [18, 19, 20, 21]
_WIDTH = [13, 14, 16, 17]


@dataclass(frozen=True)
class BodyParams:
    """Body size: overall scale and per-segment ratios (left/right symmetric, so mirroring is exact)."""
    scale: float = 1.0
    leg: float = 1.0
    arm: float = 1.0
    width: float = 1.0

    @staticmethod
    def sample(rng):
        return BodyParams(scale=float(rng.uniform(0.88, 1.08)), leg=float(rng.uniform(0.95, 1.05)),
                          arm=float(rng.uniform(0.95, 1.05)), width=float(rng.uniform(0.92, 1.08)))


def rest_offsets(body=BodyParams()):
    """(22, 3) parent-relative rest offsets for this body."""
    off = _REST.copy()
    off[_LEG] *= body.leg
    off[_ARM] *= body.arm
    off[_WIDTH, 0] *= body.width
    return off * body.scale


def forward_kinematics(local_rot, root_pos, offsets):
    """Joint positions and global orientations.
    local_rot (..., 22, 3, 3): entry 0 is the root's GLOBAL orientation, 1..21 parent-relative.
    root_pos (..., 3); offsets (22, 3). Returns positions (..., 22, 3), global rotations (..., 22, 3, 3)."""
    glob = np.empty_like(local_rot)
    pos = np.empty(local_rot.shape[:-2] + (3,), dtype=local_rot.dtype)
    glob[..., 0, :, :] = local_rot[..., 0, :, :]
    pos[..., 0, :] = root_pos
    for j in range(1, NUM_JOINTS):  # loop over joints, vectorised over frames
        p = PARENTS[j]
        glob[..., j, :, :] = glob[..., p, :, :] @ local_rot[..., j, :, :]
        pos[..., j, :] = pos[..., p, :] + glob[..., p, :, :] @ offsets[j]
    return pos, glob


# ---------------------------------------------------------------------------- rotations
def rot_x(a):
    """(..., 3, 3) rotation about +X by angle a (positive pitches +Y towards +Z: a forward bend)."""
    a = np.asarray(a, dtype=np.float64)
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([o, z, z, z, c, -s, z, s, c], -1).reshape(a.shape + (3, 3))


def rot_y(a):
    """(..., 3, 3) rotation about +Y (yaw; positive turns +Z towards +X, counterclockwise seen from above)."""
    a = np.asarray(a, dtype=np.float64)
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(a.shape + (3, 3))


def rot_z(a):
    a = np.asarray(a, dtype=np.float64)
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(a.shape + (3, 3))


def axis_angle_matrix(axis, angle):
    """Rodrigues: rotation about unit axis (..., 3) by angle (...)."""
    axis = np.asarray(axis, dtype=np.float64)
    angle = np.asarray(angle, dtype=np.float64)[..., None, None]
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(axis.shape[:-1] + (3, 3))
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def heading(yaw):
    """Unit facing direction (..., 3) of a body with root yaw `yaw` (rest faces +Z)."""
    yaw = np.asarray(yaw, dtype=np.float64)
    return np.stack([np.sin(yaw), np.zeros_like(yaw), np.cos(yaw)], -1)


def left_of(yaw):
    """Unit direction (..., 3) of the body's left side (rest: +X)."""
    yaw = np.asarray(yaw, dtype=np.float64)
    return np.stack([np.cos(yaw), np.zeros_like(yaw), -np.sin(yaw)], -1)


def yaw_towards(src_xz, dst_xz):
    """Yaw that makes a body at src (..., 2) [x, z] face dst."""
    d = np.asarray(dst_xz) - np.asarray(src_xz)
    return np.arctan2(d[..., 0], d[..., 1])


def matrix_to_6d(rot):
    """(..., 3, 3) -> (..., 6) InterHuman layout [m00, m01, m10, m11, m20, m21]."""
    return rot[..., :, :2].reshape(rot.shape[:-2] + (6,))


def sixd_to_matrix(d6):
    """(..., 6) InterHuman layout -> (..., 3, 3): columns (d0, d2, d4) and (d1, d3, d5), Gram-Schmidt."""
    d6 = np.asarray(d6, dtype=np.float64)
    c0, c1 = d6[..., 0::2], d6[..., 1::2]
    c0 = c0 / np.linalg.norm(c0, axis=-1, keepdims=True)
    c1 = c1 - (c0 * c1).sum(-1, keepdims=True) * c0
    c1 = c1 / np.linalg.norm(c1, axis=-1, keepdims=True)
    return np.stack([c0, c1, np.cross(c0, c1)], -1)


def yup_to_zup(p):
    """Y-up world (x, y, z) -> InterHuman raw Z-up (x, -z, y)."""
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], -1)


def zup_to_yup(p):
    """InterHuman raw Z-up -> Y-up, exactly as the loader does: (x, y, z) -> (x, z, -y)."""
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], -1)


def root_from_positions(pos, offsets):
    """Root (pelvis) global orientation (..., 3, 3) recovered from positions (..., 22, 3) by a Kabsch fit of
    the pelvis' children (hips, spine1) to their rest offsets. The files do not store the root orientation;
    this recovers it exactly because those three offsets are rigidly attached to the pelvis."""
    kids = [1, 2, 3]
    world = pos[..., kids, :] - pos[..., :1, :]                 # (..., 3, 3) rows = vectors
    rest = offsets[kids]                                        # (3, 3)
    h = np.swapaxes(world, -1, -2) @ rest                       # sum_k w_k r_k^T
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones(u.shape[:-2] + (3,))
    fix[..., 2] = d
    return (u * fix[..., None, :]) @ vt
