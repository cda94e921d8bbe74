"""InterHuman processing: raw person arrays -> InterGen's 262-d per-person features, the two-person
re-expression, the left/right mirror and caption mirroring.

Everything follows the official `process_motion_np` / `rigid_transform` / `swap_left_right` step by
step, including where the official code computes in float32 (its quaternion helpers go through
torch float32) and where in float64, so the results agree with it to float32 rounding.

Raw layout (T, 192): 22 joint positions xyz (Z-up, metres) then 21 local 6D rotations
[R00, R01, R10, R11, R20, R21] (joints 1..21). Feature layout (T-1, 262): see data/skeleton.py.
"""
import re

import numpy as np

from data import skeleton as sk
from utils.quaternion import qbetween, qinv, qmul, qrot, quat_about_y

# Z-up -> Y-up: (x, y, z) -> (x, z, -y).
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]], dtype=np.float32)
FILE_POS_COLUMNS = slice(0, 66)      # 22 body joints of the 62 stored positions
FILE_ROT_COLUMNS = slice(186, 312)   # 21 body-joint rotations after the 62 x 3 positions
MIN_FILE_COLUMNS = 312
TEXT_MIRROR_MODES = ("fixed", "official")


def raw_from_person_file(arr):
    """A person file (T, >=312) -> raw (T, 192) float32: columns 0:66 and 186:312."""
    arr = np.asarray(arr, dtype=np.float32)
    return np.concatenate([arr[:, FILE_POS_COLUMNS], arr[:, FILE_ROT_COLUMNS]], axis=1)


def facing_quaternion(pos0):
    """q_init from frame-0 positions (..., 22, 3) in the Y-up frame: the yaw turning the forward
    direction cross(+Y, R_hip - L_hip) onto +Z. Same dtypes as the official code (hip difference
    in the input's float32, cross product in float64, the quaternion in float32).
    Returns (..., 4); NaN when the hips give no horizontal direction or face exactly -Z."""
    across = pos0[..., 2, :] - pos0[..., 1, :]
    across = across / np.sqrt((across ** 2).sum(-1))[..., None]
    forward = np.cross(np.array([0.0, 1.0, 0.0]), across)                       # float64
    forward = forward / np.sqrt((forward ** 2).sum(-1))[..., None]
    target = np.array([0.0, 0.0, 1.0], dtype=np.float32)
    return qbetween(forward.astype(np.float32), np.broadcast_to(target, forward.shape))


def foot_contacts(pos, feet_thre=sk.FOOT_VEL_THRESH):
    """Binary contacts (T-1, 4) [L-ankle, L-foot, R-ankle, R-foot] from canonical positions
    (T, 22, 3): squared displacement to the next frame < feet_thre and height below 0.12 (ankle)
    or 0.05 (foot)."""
    feet = pos[:, sk.FOOT_JOINTS]                                 # (T, 4, 3)
    disp2 = ((feet[1:] - feet[:-1]) ** 2).sum(-1)                 # (T-1, 4)
    height = feet[:-1, :, 1]                                      # (T-1, 4)
    thresh = np.asarray(sk.FOOT_HEIGHT_THRESH, dtype=np.float64)   # compared in float64 as official
    return ((disp2 < np.float64(feet_thre)) & (height < thresh)).astype(np.float32)


def process_motion_np(raw, feet_thre=sk.FOOT_VEL_THRESH, prev_frames=0, n_joints=sk.NUM_JOINTS):
    """One person's raw (T, 192) -> (features (T-1, 262) float32, q_init (1, 4), root_xz (1, 3)).

    Y-up axis change, floor at this person's lowest joint, frame-`prev_frames` pelvis moved to the
    xz origin, rotated to face +Z, foot contacts, velocities; rotations copied unchanged (they are
    local). q_init and root_xz (the removed (x, 0, z)) are what `pair_relative` needs."""
    raw = np.asarray(raw, dtype=np.float32)
    T = raw.shape[0]
    pos = raw[:, :n_joints * 3].reshape(T, n_joints, 3) @ Z_UP_TO_Y_UP.T      # (T, J, 3) f32
    rot = raw[:, n_joints * 3:]                                                # (T, 126)
    pos[:, :, 1] -= pos[:, :, 1].min()
    q_init = facing_quaternion(pos[prev_frames][None])                         # (1, 4) f32
    root_xz = pos[prev_frames, 0].astype(np.float64) * np.array([1.0, 0.0, 1.0])  # (3,) float64
    pos = pos - root_xz                                                        # float64 as official
    pos = qrot(q_init[:, None], pos.astype(np.float32))                        # (T, J, 3) f32
    contacts = foot_contacts(pos, feet_thre)                                   # (T-1, 4)
    vel = pos[1:] - pos[:-1]                                                   # (T-1, J, 3)
    feat = np.concatenate([pos[:-1].reshape(T - 1, -1), vel.reshape(T - 1, -1), rot[:-1], contacts],
                          axis=-1)
    return feat.astype(np.float32), q_init, root_xz[None]


def pair_relative(q1, root_xz1, q2, root_xz2):
    """[a, dx, dz] placing person 2 in person 1's canonical frame: r = q2 q1^-1, a = atan2(r_y, r_w)
    (half the relative yaw, as stored officially), (dx, dz) = xz of q1 rotating root_xz2 - root_xz1.
    Inputs (1, 4)/(1, 3); returns (3,) float32."""
    q1 = np.asarray(q1, dtype=np.float32)
    q2 = np.asarray(q2, dtype=np.float32)
    r = qmul(q2, qinv(q1))                                                     # (1, 4)
    angle = np.arctan2(r[:, 2:3], r[:, 0:1])                                   # (1, 1)
    offset = np.asarray(root_xz2, np.float64) - np.asarray(root_xz1, np.float64)
    xz = qrot(q1, offset.astype(np.float32))[:, [0, 2]]                        # (1, 2)
    return np.concatenate([angle, xz], axis=-1)[0].astype(np.float32)


def rigid_transform(relative, feat):
    """Re-express features (..., 262) with `relative` = [a, dx, dz]: positions and velocities are
    rotated by the inverse of (cos a, 0, sin a, 0), then (dx, dz) is added to positions. Rotations
    and contacts are unchanged. Returns a new array (the official edits its input in place)."""
    feat = np.array(feat, dtype=np.float32, copy=True)
    lead = feat.shape[:-1]
    q = qinv(quat_about_y(np.asarray(relative[0], dtype=np.float32)))         # (4,)
    pos = qrot(q, feat[..., sk.POS].reshape(lead + (22, 3)))                   # (..., 22, 3)
    pos[..., [0, 2]] += np.asarray(relative[1:3], dtype=np.float32)
    vel = qrot(q, feat[..., sk.VEL].reshape(lead + (22, 3)))
    feat[..., sk.POS] = pos.reshape(lead + (66,))
    feat[..., sk.VEL] = vel.reshape(lead + (66,))
    return feat


def canonicalise_pair(raw1, raw2):
    """Both persons processed, person 2 re-expressed in person 1's frame.
    raw (T, 192) x 2 -> (feat1 (T-1, 262), feat2 (T-1, 262))."""
    feat1, q1, xz1 = process_motion_np(raw1)
    feat2, q2, xz2 = process_motion_np(raw2)
    return feat1, rigid_transform(pair_relative(q1, xz1, q2, xz2), feat2)


# ------------------------------------------------------------------------------------------ mirror
_MIRROR_JOINTS = np.arange(sk.NUM_JOINTS)
_MIRROR_JOINTS[sk.RIGHT_CHAIN] = sk.LEFT_CHAIN
_MIRROR_JOINTS[sk.LEFT_CHAIN] = sk.RIGHT_CHAIN
_MIRROR_ROTS = _MIRROR_JOINTS[1:] - 1                 # rotations are stored for joints 1..21
_ROT_SIGN = np.array([1, -1, -1, 1, -1, 1], dtype=np.float32)  # negate 6D components 1, 2, 4


def swap_left_right(raw, n_joints=sk.NUM_JOINTS):
    """Mirror a raw (T, 192) motion about the raw x axis: x negated, left/right joints exchanged,
    6D components 1, 2, 4 negated and left/right rotations exchanged. Exact (sign flips and
    permutations only); applying it twice gives the input back."""
    if n_joints != sk.NUM_JOINTS:
        raise ValueError(f"swap_left_right supports the 22-joint body only, got n_joints={n_joints}")
    raw = np.asarray(raw, dtype=np.float32)
    T = raw.shape[0]
    pos = raw[:, :66].reshape(T, 22, 3)[:, _MIRROR_JOINTS] * np.array([-1, 1, 1], dtype=np.float32)
    rot = raw[:, 66:].reshape(T, 21, 6)[:, _MIRROR_ROTS] * _ROT_SIGN
    return np.concatenate([pos.reshape(T, -1), rot.reshape(T, -1)], axis=1)


# ------------------------------------------------------------------------------ caption mirroring
_MIRROR_WORDS = {
    "left": "right", "right": "left", "leftward": "rightward", "rightward": "leftward",
    "leftwards": "rightwards", "rightwards": "leftwards", "leftmost": "rightmost", "rightmost": "leftmost",
    "clockwise": "counterclockwise", "counterclockwise": "clockwise", "counter-clockwise": "clockwise",
    "counter clockwise": "clockwise", "anticlockwise": "clockwise", "anti-clockwise": "clockwise",
}
_MIRROR_RE = re.compile(r"\b(counter[- ]?clockwise|anti-?clockwise|clockwise|"
                        r"(?:left|right)(?:wards?|most)?)\b", re.IGNORECASE)


def _keep_case(src, word):
    if src.isupper() and len(src) > 1:
        return word.upper()
    if src[0].isupper():
        return word[0].upper() + word[1:]
    return word


def _mirror_word(match):
    src = match.group(0)
    return _keep_case(src, _MIRROR_WORDS[src.lower()])


def mirror_caption(text, mode="fixed"):
    """The caption of a mirrored clip.

    mode "fixed" (default): whole words only, case kept: left<->right (also -ward(s), -most),
    clockwise<->counterclockwise (also counter-clockwise, anticlockwise). "bright" is untouched.
    mode "official": the official chain of case-sensitive substring replacements
    (left->tmp, right->left, tmp->right, clockwise->tmp, counterclockwise->clockwise,
    tmp->counterclockwise), which turns "counterclockwise" into "countercounterclockwise",
    leaves "Left" alone and makes "bright" "bleft"."""
    if mode == "fixed":
        return _MIRROR_RE.sub(_mirror_word, text)
    if mode == "official":
        t = text.replace("left", "tmp").replace("right", "left").replace("tmp", "right")
        return t.replace("clockwise", "tmp").replace("counterclockwise", "clockwise").replace(
            "tmp", "counterclockwise")
    raise ValueError(f"text_mirror must be one of {TEXT_MIRROR_MODES}, got {mode!r}")
