"""BVH export of generated interactions (ours; the official pipeline has none), a BVH parser and
forward kinematics, so the export can be checked by a round trip.

What the BVH holds (per person, Y-up, 30 fps, metres by default or centimetres with scale=100):
- the SMPL-22 hierarchy (InterHuman's joint order, DFS-ordered in the file), root channels
  `Xposition Yposition Zposition Zrotation Yrotation Xrotation`, other joints `Zrotation Yrotation
  Xrotation` (R = Rz Ry Rx, degrees), root OFFSET 0 so every reader places the root at the channels;
- OFFSETS (the rest skeleton, T-pose facing +Z, left = +X, which SMPL's local rotations refer to):
  each bone's length is the person's mean bone length in the generated positions; its direction is
  fitted to the motion (`utils.bvh_fit`: the direction in the parent's frame that best explains the
  generated bone vectors given the rotations, started from an approximate SMPL neutral rest pose);
- root translation = the generated pelvis; root orientation (not in the 262-d features) fitted per
  frame;
- joint rotations, `rotations="fit"` (default): fitted to the generated joint positions, so the BVH
  shows what the video shows (exactly when the generated bones keep their lengths);
  `rotations="6d"`: the generated local 6D rotations (Gram-Schmidt), which may disagree with the
  generated positions (both come from the network). See `utils.bvh_fit`.
"""
import os

import numpy as np

from data.skeleton import JOINT_NAMES, PARENTS, FPS
from utils.bvh_fit import (SMPL_REST_JOINTS, bone_lengths, children_of, forward_kinematics,  # noqa: F401
                           local_rotations, rest_offsets)
from utils.quaternion import euler_to_matrix, matrix_to_euler

ROT_ORDER = "ZYX"


# ------------------------------------------------------------------------------------------ writer
def _dfs_order(parents):
    kids = children_of(parents)
    order, stack = [], [j for j, p in enumerate(parents) if p < 0][::-1]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(kids[j][::-1])
    return order


def _hierarchy_lines(names, parents, offsets, end_sites, scale):
    kids = children_of(parents)
    lines = []

    def emit(j, depth):
        ind = "\t" * depth
        kind = "ROOT" if parents[j] < 0 else "JOINT"
        o = np.zeros(3) if parents[j] < 0 else offsets[j] * scale
        lines.append(f"{ind}{kind} {names[j]}")
        lines.append(f"{ind}{{")
        lines.append(f"{ind}\tOFFSET {o[0]:.6f} {o[1]:.6f} {o[2]:.6f}")
        rot = " ".join(f"{a}rotation" for a in ROT_ORDER)
        if parents[j] < 0:
            lines.append(f"{ind}\tCHANNELS 6 Xposition Yposition Zposition {rot}")
        else:
            lines.append(f"{ind}\tCHANNELS 3 {rot}")
        for c in kids[j]:
            emit(c, depth + 1)
        if not kids[j]:
            e = end_sites[j] * scale
            lines.extend([f"{ind}\tEnd Site", f"{ind}\t{{",
                          f"{ind}\t\tOFFSET {e[0]:.6f} {e[1]:.6f} {e[2]:.6f}", f"{ind}\t}}"])
        lines.append(f"{ind}}}")

    for r in (j for j, p in enumerate(parents) if p < 0):
        emit(r, 0)
    return lines


def _channel_block(root_pos, local_R, parents, scale):
    """(T, C) motion values in the file's DFS order: root xyz then Euler degrees per joint."""
    order = _dfs_order(parents)
    eul = np.degrees(matrix_to_euler(local_R[:, order], ROT_ORDER))            # (T, J, 3)
    eul = np.unwrap(eul, period=360.0, axis=0)                                 # no 360-degree jumps
    return np.concatenate([root_pos * scale, eul.reshape(len(eul), -1)], axis=1)


def write_bvh(path, people, fps=FPS, scale=1.0, parents=PARENTS, names=JOINT_NAMES):
    """Write one BVH holding every person in `people` (one ROOT hierarchy each; joint names get a
    `person<k>_` prefix when there are several). people: list of dicts with `offsets` (J, 3),
    `root_pos` (T, 3), `local_R` (T, J, 3, 3). Frames = the shortest person. scale 1 = metres,
    100 = centimetres."""
    T = min(len(p["root_pos"]) for p in people)
    J = len(parents)
    blocks, lines = [], ["HIERARCHY"]
    for k, person in enumerate(people):
        pre = f"person{k + 1}_" if len(people) > 1 else ""
        off = np.asarray(person["offsets"], dtype=np.float64)
        end = {j: 0.5 * off[j] for j in range(J) if j not in parents}
        lines += _hierarchy_lines([pre + n for n in names], parents, off, end, scale)
        blocks.append(_channel_block(person["root_pos"][:T], person["local_R"][:T], parents, scale))
    motion = np.concatenate(blocks, axis=1)                                    # (T, C)
    lines += ["MOTION", f"Frames: {T}", f"Frame Time: {1.0 / fps:.8f}"]
    body = "\n".join(" ".join(f"{v:.6f}" for v in row) for row in motion)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n" + body + "\n")
    os.replace(tmp, path)
    return path


def person_from_keypoints(keypoints, rotations="fit"):
    """(T, 22, 9) keypoints ([positions | 6D], infer.py's npy) -> the dict write_bvh takes; rotations
    'fit' (fitted to the positions) or '6d' (the generated ones)."""
    if rotations not in ("6d", "fit"):
        raise ValueError(f"BVH rotations must be '6d' or 'fit', got {rotations!r}")
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (22, 9):
        raise ValueError(f"expected (T, 22, 9) keypoints, got shape {kp.shape}")
    pos, rot6d = kp[..., :3], kp[..., 3:]
    rot6d = np.where(np.abs(rot6d).sum(-1, keepdims=True) > 0, rot6d, [1, 0, 0, 1, 0, 0])  # zero root
    R, off = local_rotations(pos, rot6d, fit=rotations == "fit")
    return {"offsets": off, "root_pos": pos[:, 0], "local_R": R}


def export_interaction(folder, base, keypoints_per_person, rotations="fit", fps=FPS, scale=1.0):
    """Write `<base>_<k>.bvh` per person and `<base>.bvh` with everyone. Returns the paths."""
    people = [person_from_keypoints(kp, rotations) for kp in keypoints_per_person]
    paths = [write_bvh(os.path.join(folder, f"{base}_{k}.bvh"), [p], fps, scale)
             for k, p in enumerate(people)]
    paths.append(write_bvh(os.path.join(folder, f"{base}.bvh"), people, fps, scale))
    return paths


def keypoint_residual(out_dir, scale=1.0):
    """How far infer.py's BVH files in `out_dir` (its output folder; scale 100 for --bvh_units cm) are
    from the keypoints they were written from: (N,) distances in metres over every joint, frame and
    person of every `bvh/<base>_<k>.bvh`, read back (parser + FK) against `keypoint_npy/<base>_<k>.npy`."""
    import glob
    dists = []
    for path in sorted(glob.glob(os.path.join(out_dir, "bvh", "*_[0-9].bvh"))):
        kp_path = os.path.join(out_dir, "keypoint_npy", os.path.basename(path)[:-4] + ".npy")
        if not os.path.isfile(kp_path):
            continue
        b = read_bvh(path)
        fk = bvh_forward_kinematics(b)[:, [b.names.index(n) for n in JOINT_NAMES]] / scale
        dists.append(np.linalg.norm(fk - np.load(kp_path)[..., :3], axis=-1).ravel())
    return np.concatenate(dists) if dists else np.zeros(0)


# ------------------------------------------------------------------------------------------ parser
class BVH:
    """A parsed BVH: joint names, parents, offsets (J, 3), per-joint channel names, motion (F, C),
    frame_time. End sites are not joints."""

    def __init__(self, names, parents, offsets, channels, motion, frame_time):
        self.names, self.parents, self.offsets = names, parents, np.asarray(offsets, dtype=np.float64)
        self.channels, self.motion, self.frame_time = channels, motion, frame_time


def read_bvh(path):
    """Parse a BVH file (any channel order, several ROOTs, End Sites)."""
    with open(path) as f:
        text = f.read()
    head, sep, tail = text.partition("MOTION")
    if not sep:
        raise ValueError(f"{path}: no MOTION section")
    tok = head.split()
    names, parents, offsets, channels, stack = [], [], [], [], []
    i, in_end = 0, 0
    while i < len(tok):
        t = tok[i]
        if t in ("ROOT", "JOINT"):
            names.append(tok[i + 1])
            parents.append(stack[-1] if stack and t == "JOINT" else -1)
            offsets.append(None)
            channels.append([])
            i += 2
        elif t == "End":
            in_end, i = 1, i + 2
        elif t == "{":
            stack.append(-2 if in_end == 1 else len(names) - 1)
            in_end = 2 if in_end == 1 else in_end
            i += 1
        elif t == "}":
            if stack.pop() == -2:
                in_end = 0
            i += 1
        elif t == "OFFSET":
            if not in_end:
                offsets[-1] = [float(x) for x in tok[i + 1:i + 4]]
            i += 4
        elif t == "CHANNELS":
            n = int(tok[i + 1])
            channels[-1] = tok[i + 2:i + 2 + n]
            i += 2 + n
        else:
            i += 1
    lines = [ln for ln in tail.strip().splitlines() if ln.strip()]
    frames = int(lines[0].split(":")[1])
    frame_time = float(lines[1].split(":")[1])
    n_ch = sum(len(c) for c in channels)
    values = np.array(" ".join(lines[2:]).split(), dtype=np.float64)
    if values.size != frames * n_ch:
        raise ValueError(f"{path}: {values.size} motion values, expected {frames} frames x {n_ch} channels")
    motion = values.reshape(frames, n_ch)
    return BVH(names, parents, offsets, channels, motion, frame_time)


def bvh_forward_kinematics(bvh):
    """Global joint positions (F, J, 3) of a parsed BVH (position channels replace the offset)."""
    F, J = len(bvh.motion), len(bvh.names)
    local_R = np.zeros((F, J, 3, 3))
    trans = np.broadcast_to(bvh.offsets, (F, J, 3)).copy()
    col = 0
    for j, chans in enumerate(bvh.channels):  # file order == DFS order, parents first
        vals = bvh.motion[:, col:col + len(chans)]
        col += len(chans)
        rot_axes = "".join(c[0].upper() for c in chans if c.endswith("rotation"))
        rot_vals = np.stack([vals[:, k] for k, c in enumerate(chans) if c.endswith("rotation")], -1)
        for k, c in enumerate(chans):
            if c.endswith("position"):
                trans[:, j, "XYZ".index(c[0].upper())] = vals[:, k]
        local_R[:, j] = euler_to_matrix(np.radians(rot_vals), rot_axes) if rot_axes else np.eye(3)
    pos = np.zeros((F, J, 3))
    glob = np.zeros((F, J, 3, 3))
    for j, p in enumerate(bvh.parents):
        if p < 0:
            glob[:, j], pos[:, j] = local_R[:, j], trans[:, j]
        else:
            glob[:, j] = glob[:, p] @ local_R[:, j]
            pos[:, j] = pos[:, p] + np.einsum("fij,fj->fi", glob[:, p], trans[:, j])
    return pos
