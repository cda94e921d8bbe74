"""Motion arrays between InterHuman's files, this project's 262-d features and infer.py's keypoints.

- InterHuman person files `motions_processed/person{1,2}/<clip>.npy`: (T, >=312) float, columns 0:66
  the 22 SMPL body joints xyz (Z-up, metres; 62 joints are stored, the hands are not used), columns
  186:312 the 21 local 6D rotations [R00, R01, R10, R11, R20, R21] of joints 1..21;
- the 262-d features the models work on (data/process.py): (T-1, 262) per person, Y-up, both people in
  person 1's canonical frame (pelvis at the xz origin facing +Z at frame 0, floor at y = 0);
- infer.py's keypoints `keypoint_npy/<base>_{0,1}.npy`: (T, 22, 9) per person = [positions Y-up (3) |
  6D rotations with a zero root (6)], in the model's frame.

`load_person_features` (infer.py --react_to/--edit) reads any of these for one person; the command
line converter is prepare/convert_motion.py.
"""
import numpy as np

from data import skeleton as sk
from data.process import (FILE_POS_COLUMNS, FILE_ROT_COLUMNS, MIN_FILE_COLUMNS, Z_UP_TO_Y_UP,
                          canonicalise_pair, foot_contacts, process_motion_np, raw_from_person_file)
from utils.files import require_file
from utils.plot_script import keypoints_from_features


def person_file_to_raw(arr, where="person file"):
    """(T, >=312) InterHuman person file or an already-sliced (T, 192) raw array -> raw (T, 192)."""
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 2 and arr.shape[1] == sk.RAW_DIM:
        return arr
    if arr.ndim != 2 or arr.shape[1] < MIN_FILE_COLUMNS:
        raise ValueError(f"{where}: expected an InterHuman person array (T, >={MIN_FILE_COLUMNS}) or "
                         f"(T, {sk.RAW_DIM}), got shape {arr.shape}")
    return raw_from_person_file(arr)


def interhuman_to_features(arr1, arr2=None):
    """Person files -> features (T-1, 262) float32 each, person 2 in person 1's canonical frame.
    With one person only, its own canonical frame."""
    raw1 = person_file_to_raw(arr1, "person 1")
    if arr2 is None:
        return [process_motion_np(raw1)[0]]
    raw2 = person_file_to_raw(arr2, "person 2")
    if len(raw1) != len(raw2):
        raise ValueError(f"person files differ in length: {len(raw1)} vs {len(raw2)} frames")
    return list(canonicalise_pair(raw1, raw2))


def features_to_keypoints(feat):
    """(T, 262) features -> (T, 22, 9) keypoints, not smoothed (infer.py smooths its own outputs)."""
    return keypoints_from_features(feat, smooth=False)


def keypoints_to_person_file(kp, n_columns=MIN_FILE_COLUMNS):
    """(T, 22, 9) keypoints (Y-up) -> an InterHuman-layout person array (T, n_columns) float32:
    positions back to Z-up in columns 0:66, 6D rotations in 186:312, everything else zero."""
    kp = np.asarray(kp, dtype=np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (22, 9):
        raise ValueError(f"expected (T, 22, 9) keypoints, got shape {kp.shape}")
    T = len(kp)
    out = np.zeros((T, max(n_columns, MIN_FILE_COLUMNS)), dtype=np.float32)
    out[:, FILE_POS_COLUMNS] = (kp[..., :3] @ Z_UP_TO_Y_UP).reshape(T, 66)    # inverse of the Y-up turn
    out[:, FILE_ROT_COLUMNS] = kp[:, 1:, 3:].reshape(T, 126)
    return out


def keypoints_to_features(kp):
    """(T, 22, 9) keypoints in the model's frame -> (T-1, 262) features in the SAME frame (no
    re-canonicalisation): positions, next-frame velocities, rotations, foot contacts."""
    kp = np.asarray(kp, dtype=np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (22, 9):
        raise ValueError(f"expected (T, 22, 9) keypoints, got shape {kp.shape}")
    T = len(kp)
    pos, rot = kp[..., :3], kp[:, 1:, 3:]
    vel = pos[1:] - pos[:-1]                                                   # (T-1, 22, 3)
    return np.concatenate([pos[:-1].reshape(T - 1, 66), vel.reshape(T - 1, 66),
                           rot[:-1].reshape(T - 1, 126), foot_contacts(pos)], axis=1).astype(np.float32)


def load_npy(path):
    """One .npy array; ValueError naming `path` for another kind of file, a truncated array or an
    .npz archive."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY":
        kind = "an .npz archive" if magic.startswith(b"PK") else "not an .npy file"
        raise ValueError(f"{path}: {kind}; give a single .npy array")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        detail = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ValueError(f"{path}: cannot read the .npy array, truncated or damaged ({detail})") from None


def check_finite(arr, path):
    """ValueError naming `path` unless `arr` is a real-valued array without NaN/inf."""
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{path}: a motion array holds numbers, this one holds {arr.dtype}")
    bad = ~np.isfinite(arr)
    if bad.any():
        where = f" (first at frame {int(np.argwhere(bad)[0][0])})" if arr.ndim else ""
        raise ValueError(f"{path}: {int(bad.sum())} NaN/inf values{where}; the motion must be finite")


def load_person_features(path, which=0):
    """One person's de-normalised features (T', 262) from any of: a (T, 262) feature file, a
    (T, 2, 262) pair (person `which`), (T, 22, 9) keypoints (T' = T-1, same frame), an InterHuman
    person file (T, >=312) or raw (T, 192) (T' = T-1, put in its own canonical frame). A file holding
    NaN/inf or of another shape is a ValueError naming it."""
    require_file(path, "give a .npy motion (infer.py keypoints, 262-d features or an InterHuman file)")
    arr = load_npy(path)
    check_finite(arr, path)
    if arr.ndim == 2 and arr.shape[1] == sk.FEAT_DIM:
        return arr.astype(np.float32)
    if arr.ndim == 3 and arr.shape[1:] == (2, sk.FEAT_DIM):
        return arr[:, which].astype(np.float32)
    if arr.ndim == 3 and arr.shape[1:] == (22, 9):
        return keypoints_to_features(arr)
    if arr.ndim == 2 and (arr.shape[1] == sk.RAW_DIM or arr.shape[1] >= MIN_FILE_COLUMNS):
        return interhuman_to_features(arr)[0]
    raise ValueError(f"{path}: unrecognised motion array of shape {arr.shape}; expected (T, 262), "
                     f"(T, 2, 262), (T, 22, 9), (T, 192) or (T, >={MIN_FILE_COLUMNS})")
