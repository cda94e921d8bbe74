"""Limb solvers: closed-form two-bone IK (arms, legs) and an event-based footstep planner.

Positions are never written directly: the choreography gives targets (where a wrist or an ankle should be),
these solvers turn them into LOCAL joint rotations, and forward kinematics recomputes the positions. That is
what keeps positions and stored rotations in exact agreement and bone lengths constant.
"""
import numpy as np
from scipy.ndimage import gaussian_filter1d, minimum_filter1d

from data.synthetic.skeleton_fk import axis_angle_matrix


def _unit(v, eps=1e-9):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), eps)


def _perp_unit(v, ref, fallback):
    """Unit component of v (T, 3) orthogonal to unit ref (T, 3); `fallback` where v is (nearly) parallel."""
    p = v - (v * ref).sum(-1, keepdims=True) * ref
    n = np.linalg.norm(p, axis=-1, keepdims=True)
    fb = fallback - (fallback * ref).sum(-1, keepdims=True) * ref
    p = np.where(n > 1e-6, p, fb)
    return _unit(p)


def two_bone_ik(parent_glob, root_pos, target, pole, upper, lower, bend_dir):
    """Local rotations of a straight-at-rest two-bone limb so its end reaches `target`.

    parent_glob (T, 3, 3) global orientation of the limb's parent (collar or pelvis); root_pos (T, 3) the limb
    root joint (shoulder or hip); target (T, 3) world end position (wrist or ankle); pole (T, 3) world direction
    the middle joint (elbow, knee) should point to; upper/lower (3,) rest offsets of the middle and end joints
    (collinear); bend_dir (3,) local direction the lower bone folds towards (forearm: forward; shin: backward).
    Unreachable targets are clamped to 99.9 % of the limb length (the end then stops short).
    Returns (root_local (T, 3, 3), mid_local (T, 3, 3), bend angle (T,))."""
    a, b = np.linalg.norm(upper), np.linalg.norm(lower)
    bone = upper / a
    c = bend_dir - bone * (bend_dir @ bone)
    c = c / np.linalg.norm(c)
    hinge = np.cross(bone, c)

    w = target - root_pos                                           # (T, 3)
    d = np.clip(np.linalg.norm(w, axis=-1), abs(a - b) + 1e-3, (a + b) * 0.999)
    cos_bend = np.clip((d ** 2 - a ** 2 - b ** 2) / (2 * a * b), -1.0, 1.0)
    bend = np.arccos(cos_bend)                                      # 0 = straight
    mid_local = axis_angle_matrix(np.broadcast_to(hinge, w.shape), bend)
    v = upper + mid_local @ lower                                   # (T, 3) root->end in the root's frame

    e1 = _unit(v)
    e2 = _perp_unit(np.broadcast_to(-c, v.shape), e1, np.broadcast_to(bone, v.shape))
    local_frame = np.stack([e1, e2, np.cross(e1, e2)], -1)          # columns
    f1 = _unit(w)
    f2 = _perp_unit(pole, f1, np.broadcast_to(-c, w.shape))
    world_frame = np.stack([f1, f2, np.cross(f1, f2)], -1)
    root_glob = world_frame @ np.swapaxes(local_frame, -1, -2)
    root_local = np.swapaxes(parent_glob, -1, -2) @ root_glob
    return root_local, mid_local, bend


def smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _wrap(a):
    return (a + np.pi) % (2 * np.pi) - np.pi


def plan_footsteps(root_xz, yaw, half_width, swing_frames, lift, pos_thresh=0.09, yaw_thresh=0.35,
                   lead_frames=None, gap_frames=3):
    """Place feet under a moving pelvis: a foot stays planted until the pelvis has carried its "home" spot
    (beside the pelvis) more than `pos_thresh` away or turned more than `yaw_thresh` (judged `lead_frames`
    ahead, so a start from standing does not leave a foot behind); it then swings for `swing_frames` to where
    home will be `lead_frames` after landing. Only one foot swings at a time, so one foot is
    always on the floor. Loops over steps (a few dozen), vectorised over frames.

    root_xz (T, 2) [x, z]; yaw (T,). Returns ankle xz (2, T, 2) [left, right], lift height (2, T),
    foot yaw (2, T), stance mask (2, T) (True while planted)."""
    n = len(yaw)
    lead = swing_frames // 2 + gap_frames if lead_frames is None else lead_frames
    side = np.stack([np.cos(yaw), -np.sin(yaw)], -1)                # (T, 2) body-left in xz
    home = np.stack([root_xz + half_width * side, root_xz - half_width * side])  # (2, T, 2)
    planted = home[:, 0].copy()
    planted_yaw = np.full(2, yaw[0])
    xz = np.repeat(home[:, :1], n, axis=1)
    foot_yaw = np.full((2, n), yaw[0])
    height = np.zeros((2, n))
    stance = np.ones((2, n), dtype=bool)
    t = 0
    while t < n - 1:
        ahead = np.minimum(np.arange(t, n) + lead, n - 1)          # judge by where home is about to be
        drift = np.linalg.norm(home[:, ahead] - planted[:, None], axis=-1) / pos_thresh      # (2, n-t)
        turn = np.abs(_wrap(yaw[None, ahead] - planted_yaw[:, None])) / yaw_thresh
        need = np.maximum(drift, turn)
        over = (need > 1.0).any(0)
        if not over.any():
            break
        t0 = t + int(np.argmax(over))
        if t0 > n - 4:
            break
        # on a near tie (side-stepping) the foot on the side of the motion goes first, so feet never cross
        move = home[:, ahead[t0 - t]] - planted                                  # (2, 2)
        leads = np.array([(move[k] @ (planted[k] - planted[1 - k])) > 0 for k in (0, 1)])
        f = int(np.argmax(need[:, t0 - t] + 0.5 * leads))
        t1 = min(t0 + swing_frames, n - 1)
        tl = min(t0 + swing_frames + lead, n - 1)
        land, land_yaw = home[f, tl].copy(), yaw[tl]
        s = smoothstep((np.arange(t0, n) - t0) / swing_frames)     # (n - t0,)
        xz[f, t0:] = planted[f] + s[:, None] * (land - planted[f])
        foot_yaw[f, t0:] = planted_yaw[f] + s * _wrap(land_yaw - planted_yaw[f])
        u = np.clip((np.arange(t0, t1 + 1) - t0) / swing_frames, 0, 1)
        height[f, t0:t1 + 1] = lift * np.sin(np.pi * u)
        stance[f, t0 + 1:t1] = False
        planted[f], planted_yaw[f] = land, land_yaw
        t = t1 + gap_frames
    return xz, height, foot_yaw, stance


def pelvis_height_for_reach(desired, hip_xz, hip_drop, ankle, leg_len, margin=0.99):
    """Lower the pelvis where needed so both ankles stay reachable (no floating feet).
    desired (T,); hip_xz (2, T, 2) hip horizontal positions; hip_drop (2, T) hip height minus pelvis height;
    ankle (2, T, 3) ankle targets (Y-up); leg_len hip-to-ankle length. Returns (T,) pelvis heights."""
    horiz = np.linalg.norm(hip_xz - ankle[..., [0, 2]], axis=-1)    # (2, T)
    reach = margin * leg_len
    vert = np.sqrt(np.maximum(reach ** 2 - horiz ** 2, 0.0))
    hmax = (ankle[..., 1] + vert - hip_drop).min(0)                 # (T,)
    h = np.minimum(desired, hmax)
    h = gaussian_filter1d(minimum_filter1d(h, size=9, mode="nearest"), sigma=2.0, mode="nearest")
    return np.minimum(h, hmax)
