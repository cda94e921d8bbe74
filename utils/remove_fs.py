"""The official "foot IK" (`visualization/remove_fs.py::remove_fs`): contact locking with easing.

It is not an inverse-kinematics solve. It only edits the four foot joints' positions so that feet stop
sliding while in contact: each contact run of a foot joint is pinned to the run's mean position on
the floor, and the up to `interp_length` non-contact frames around a run are eased towards it with
the cubic alpha(t) = 2t^3 - 3t^2 + 1. The `ik_` files of infer.py are made with it.

Differences from the official function (none changes the numbers):
- the input is NOT modified in place (the official one edits its argument, which made the official
  non-`ik_` video show the foot-fixed joints);
- vectorised over time (the official loops frame by frame in Python);
- works on NumPy >= 1.24 (the official uses `np.float`).
"""
import numpy as np

from data.skeleton import FOOT_LEFT, FOOT_RIGHT, FOOT_VEL_THRESH


def _alpha(t):
    """Cubic ease from 1 (t = 0, at the contact) to 0 (t = 1, far from it)."""
    return 2.0 * t * t * t - 3.0 * t * t + 1.0


def detect_contacts(joints, fid, vel_thres=FOOT_VEL_THRESH, height_thres=(0.12, 0.05)):
    """Foot contacts of the joints `fid` (T, 22, 3) -> (len(fid), T) float flags.

    Contact at t < T-1 when the squared displacement to frame t+1 is below `vel_thres` and the height
    at t is below the joint's threshold (`height_thres` is repeated over the left and right feet);
    the last frame repeats the previous one (official)."""
    fid = list(fid)
    thr = np.tile(np.asarray(height_thres, dtype=joints.dtype), len(fid) // len(height_thres))  # (F,)
    d = joints[1:, fid] - joints[:-1, fid]                                   # (T-1, F, 3)
    disp2 = d[..., 0] ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2                 # (T-1, F)
    contact = (disp2 < vel_thres) & (joints[:-1, fid, 1] < thr)             # (T-1, F)
    foot = contact.astype(joints.dtype).T                                    # (F, T-1)
    return np.concatenate([foot, foot[:, -1:]], axis=1)                      # (F, T)


def floor_height(joints, fid_l=FOOT_LEFT, fid_r=FOOT_RIGHT):
    """Floor = mean of the 25th-50th percentile slice of the sorted per-frame lowest foot height,
    or 0 when that is above 0.5 m (official: 'for motion like swim')."""
    lowest = np.minimum(joints[:, list(fid_l), 1], joints[:, list(fid_r), 1]).min(axis=1)  # (T,)
    s = np.sort(lowest)
    n = len(s)
    h = np.mean(s[int(0.25 * n):int(0.5 * n)])
    return joints.dtype.type(0) if h > 0.5 else h


def _lock_runs(track, fixed, force_on_floor):
    """Set every contact run of one joint's track (T, 3) to the run's mean (y = 0 if forced)."""
    is_start = fixed & ~np.concatenate([[False], fixed[:-1]])                   # (T,) run starts
    if not is_start.any():
        return track
    run_id = np.cumsum(is_start) - 1                                             # (T,) run of t
    starts = np.flatnonzero(is_start)
    counts = np.bincount(run_id[fixed], minlength=len(starts))                  # (R,)
    sums = np.add.reduceat(track[fixed], np.concatenate([[0], np.cumsum(counts)[:-1]]), axis=0)
    means = sums / counts[:, None].astype(track.dtype)                           # (R, 3)
    if force_on_floor:
        means[:, 1] = 0.0
    track = track.copy()
    track[fixed] = means[run_id[fixed]]
    return track


def _ease_around_runs(track, fixed, interp_length):
    """Blend non-contact frames within `interp_length` frames of a contact towards it (official
    formula: ease towards the nearest contact on each side, then between the two by position)."""
    T = len(track)
    idx = np.arange(T)
    # nearest contact frame strictly before / after each frame (-1 / T when none)
    left = np.maximum.accumulate(np.where(fixed, idx, -1))
    left = np.concatenate([[-1], left[:-1]])                                      # (T,)
    right = np.minimum.accumulate(np.where(fixed, idx, T)[::-1])[::-1]
    right = np.concatenate([right[1:], [T]])                                      # (T,)
    has_l = (~fixed) & (left >= 0) & (idx - left <= interp_length)
    has_r = (~fixed) & (right < T) & (right - idx <= interp_length)
    if not (has_l.any() or has_r.any()):
        return track
    dt = track.dtype.type
    span = float(interp_length + 1)
    al = _alpha((idx - left + 1) / span).astype(track.dtype)[:, None]            # (T, 1)
    ar = _alpha((right - idx + 1) / span).astype(track.dtype)[:, None]
    a_lr = _alpha((idx - left + 1) / np.maximum(right - left + 1, 1)).astype(track.dtype)[:, None]
    li = np.clip(left, 0, T - 1)
    ri = np.clip(right, 0, T - 1)
    litp = (dt(1) - al) * track + al * track[li]                                  # (T, 3)
    ritp = (dt(1) - ar) * track + ar * track[ri]
    both = (dt(1) - a_lr) * ritp + a_lr * litp
    out = track.copy()
    out[has_l & has_r] = both[has_l & has_r]
    out[has_l & ~has_r] = litp[has_l & ~has_r]
    out[has_r & ~has_l] = ritp[has_r & ~has_l]
    return out


def remove_fs(joints, foot_contact=None, fid_l=FOOT_LEFT, fid_r=FOOT_RIGHT, interp_length=5,
              force_on_floor=True, vel_thres=FOOT_VEL_THRESH, height_thres=(0.12, 0.05)):
    """Foot clean-up of (T, J, 3) Y-up joint positions (metres). Returns (new joints, foot (4, T)).

    `foot_contact` (T, 4) overrides the detected contacts (order fid_l + fid_r). The floor (see
    `floor_height`) is subtracted from every joint's height, then each foot joint's contact runs are
    locked and the frames around them eased. The input array is left untouched."""
    joints = np.asarray(joints)
    if joints.ndim != 3 or joints.shape[-1] != 3:
        raise ValueError(f"remove_fs: expected joints (T, J, 3), got shape {joints.shape}")
    if len(joints) < 2:
        raise ValueError(f"remove_fs: needs at least 2 frames, got {len(joints)}")
    fid = list(fid_l) + list(fid_r)
    if foot_contact is None:
        foot = detect_contacts(joints, fid, vel_thres, height_thres)            # (4, T)
    else:
        foot = np.asarray(foot_contact).T
    glb = joints.copy()
    glb[:, :, 1] -= floor_height(glb, fid_l, fid_r)
    for i, j in enumerate(fid):  # 4 foot joints; each step is vectorised over time
        fixed = foot[i] == 1
        track = _lock_runs(glb[:, j], fixed, force_on_floor)
        glb[:, j] = _ease_around_runs(track, fixed, interp_length)
    return glb, foot
