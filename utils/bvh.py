"""BVH export of generated interactions (ours; the official pipeline has none), a BVH parser and
forward kinematics, so the export can be checked by a round trip.

What the BVH holds (per person, Y-up, 30 fps, metres by default or centimetres with scale=100):
- the SMPL-22 hierarchy (InterHuman's joint order, DFS-ordered in the file), root channels
  `Xposition Yposition Zposition Zrotation Yrotation Xrotation`, other joints `Zrotation Yrotation
  Xrotation` (R = Rz Ry Rx, degrees), root OFFSET 0 so every reader places the root at the channels;
- OFFSETS (the rest skeleton, T-pose facing +Z, left = +X, which SMPL's local rotations refer to):
  each bone's length is the person's mean bone length in the generated positions; its direction is
  fitted to the motion: the direction in the parent's frame that best explains the generated bone
  vectors given the rotations (alternating least squares with the root orientation, started from an
  approximate SMPL neutral rest pose). When positions and rotations agree this recovers the true
  skeleton, so the BVH reproduces the positions;
- root translation = the generated pelvis; root orientation (not in the 262-d features) = the
  rotation that best maps the rest bones, turned by the generated local rotations, onto the
  generated bones (Kabsch per frame);
- joint rotations, `rotations="6d"` (default): the generated local 6D rotations (Gram-Schmidt); they
  may disagree with the generated positions (both come from the network);
  `rotations="fit"`: fitted to the positions: each joint's 6D rotation is turned by the smallest
  rotation that makes its bone point at the generated child (several children: Kabsch), so the FK of
  the BVH follows the generated positions up to bone-length changes.
"""
import os

import numpy as np

from data.skeleton import JOINT_NAMES, PARENTS, FPS
from utils.quaternion import euler_to_matrix, matrix_to_euler, rot6d_to_matrix

# Approximate SMPL neutral rest joints (metres, pelvis at the origin, Y-up, facing +Z, left = +X).
# Only the directions are used; bone lengths come from the motion.
SMPL_REST_JOINTS = np.array([
    [0.000, 0.000, 0.000], [0.070, -0.091, -0.004], [-0.068, -0.091, -0.007], [-0.001, 0.114, -0.027],
    [0.104, -0.453, -0.011], [-0.105, -0.449, -0.013], [0.006, 0.248, 0.000], [0.089, -0.866, -0.056],
    [-0.092, -0.871, -0.053], [0.000, 0.303, 0.003], [0.120, -0.920, 0.056], [-0.118, -0.923, 0.060],
    [-0.012, 0.515, -0.046], [0.075, 0.425, -0.040], [-0.078, 0.425, -0.044], [0.012, 0.603, 0.010],
    [0.175, 0.447, -0.050], [-0.176, 0.447, -0.052], [0.433, 0.434, -0.071], [-0.431, 0.431, -0.067],
    [0.691, 0.443, -0.077], [-0.689, 0.445, -0.073],
], dtype=np.float64)
ROT_ORDER = "ZYX"
LEAVES = [j for j in range(len(PARENTS)) if j not in PARENTS]


def children_of(parents):
    return [[c for c, p in enumerate(parents) if p == j] for j in range(len(parents))]


def rest_offsets(bone_lengths=None, rest_joints=SMPL_REST_JOINTS, parents=PARENTS):
    """(J, 3) parent->joint offsets of the rest pose, each scaled to `bone_lengths[j]` if given."""
    par = np.asarray(parents)
    off = rest_joints - rest_joints[np.maximum(par, 0)]                        # (J, 3)
    off[par < 0] = 0.0
    if bone_lengths is not None:
        norm = np.linalg.norm(off, axis=-1, keepdims=True)
        off = np.where(norm > 0, off / np.maximum(norm, 1e-12), 0.0) * np.asarray(bone_lengths)[:, None]
    return off


def bone_lengths(positions, parents=PARENTS):
    """Mean over frames of each joint's distance to its parent (0 for the root). (T, J, 3) -> (J,)."""
    par = np.asarray(parents)
    d = np.linalg.norm(positions - positions[:, np.maximum(par, 0)], axis=-1)  # (T, J)
    return np.where(par < 0, 0.0, d.mean(axis=0))


def forward_kinematics(local_R, root_pos, offsets, parents=PARENTS):
    """Global positions from local rotations: G_j = G_parent R_j, p_j = p_parent + G_parent o_j.
    local_R (T, J, 3, 3) (the root's is its global orientation), root_pos (T, 3), offsets (J, 3)
    -> positions (T, J, 3), global rotations (T, J, 3, 3). Parents must precede children."""
    T, J = local_R.shape[:2]
    pos = np.zeros((T, J, 3))
    glob = np.zeros((T, J, 3, 3))
    for j, p in enumerate(parents):  # along the hierarchy; each step is vectorised over time
        if p < 0:
            glob[:, j], pos[:, j] = local_R[:, j], root_pos
        else:
            glob[:, j] = glob[:, p] @ local_R[:, j]
            pos[:, j] = pos[:, p] + glob[:, p] @ offsets[j]
    return pos, glob


def kabsch(src, dst):
    """Rotations R (T, 3, 3) minimising sum_k |R src_k - dst_t,k|^2; src (K, 3) or (T, K, 3), dst
    (T, K, 3)."""
    H = np.einsum("...ki,...kj->...ij", np.broadcast_to(src, dst.shape), dst)  # (T, 3, 3)
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.swapaxes(Vt, -1, -2) @ np.swapaxes(U, -1, -2)))
    D = np.zeros_like(H)
    D[..., 0, 0] = D[..., 1, 1] = 1.0
    D[..., 2, 2] = np.where(d == 0, 1.0, d)
    return np.swapaxes(Vt, -1, -2) @ D @ np.swapaxes(U, -1, -2)


def _swing(a, b):
    """Smallest rotation (T, 3, 3) turning directions a onto b (T, 3) (Rodrigues; 180 degrees about a
    perpendicular axis when opposite)."""
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    v = np.cross(a, b)
    c = np.sum(a * b, axis=-1)
    K = np.zeros(a.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    K = K - np.swapaxes(K, -1, -2)
    R = np.eye(3) + K + K @ K / np.maximum(1.0 + c, 1e-12)[..., None, None]
    opposite = c < -1.0 + 1e-9
    if opposite.any():
        perp = np.cross(a[opposite], np.eye(3)[np.argmin(np.abs(a[opposite]), axis=-1)])
        perp /= np.linalg.norm(perp, axis=-1, keepdims=True)
        R[opposite] = 2.0 * perp[:, :, None] * perp[:, None, :] - np.eye(3)
    return R


def root_orientation(positions, offsets, parents=PARENTS):
    """Root rotation (T, 3, 3) from positions: Kabsch of the rest offsets of the root's children
    onto their generated offsets from the pelvis."""
    kids = children_of(parents)[0]
    return kabsch(offsets[kids], positions[:, kids] - positions[:, :1])


def fit_skeleton(positions, local_R, parents=PARENTS, cycles=25, init=None):
    """Rest offsets (J, 3) and root orientations (T, 3, 3) explaining `positions` (T, J, 3) given the
    local rotations `local_R` (T, J, 3, 3) of joints 1.. (entry 0 ignored).

    One step alternates (a) per frame, the root rotation G0 minimising sum_j |G0 C_par(j) o_j - b_j|^2
    over all bones (C = chained local rotations below the root, b = generated bone vectors) and (b)
    per bone, the direction of mean_t (G0 C_par)^T b_j, scaled to the mean bone length. Plain
    alternation crawls along the nearly free "turn the root, counter-turn the hips" direction when
    the local rotations are small, so the steps are accelerated with SQUAREM extrapolation. Starts
    from `init` offsets (default: the SMPL-like template scaled to the bone lengths)."""
    par = np.asarray(parents)
    lengths = bone_lengths(positions, parents)                                  # (J,)
    off = rest_offsets(lengths) if init is None else np.array(init, dtype=np.float64)
    R = np.array(local_R, dtype=np.float64)
    R[:, 0] = np.eye(3)
    _, chain = forward_kinematics(R, np.zeros((len(R), 3)), off, parents)       # (T, J, 3, 3) C_j
    bones = np.flatnonzero(par >= 0)
    b = positions[:, bones] - positions[:, par[bones]]                          # (T, B, 3)
    C_par = chain[:, par[bones]]                                                 # (T, B, 3, 3)
    L = lengths[bones, None]                                                     # (B, 1)

    def root(o):                                                                 # (B, 3) -> (T, 3, 3)
        return kabsch(np.einsum("tbij,bj->tbi", C_par, o), b)

    def step(o):
        G0T = np.swapaxes(root(o), -1, -2)
        d = np.einsum("tbji,tjk,tbk->bi", C_par, G0T, b) / len(b)                # (B, 3)
        n = np.linalg.norm(d, axis=-1, keepdims=True)
        keep = np.linalg.norm(o, axis=-1, keepdims=True)
        return np.where(n > 1e-9, d / np.maximum(n, 1e-12) * L, o * L / np.maximum(keep, 1e-12))

    def cost(o):
        a = np.einsum("tbij,bj->tbi", C_par, o)
        return np.sum((np.einsum("tij,tbj->tbi", kabsch(a, b), a) - b) ** 2)

    x = step(off[bones])
    best, best_cost = x, cost(x)
    for _ in range(cycles):
        x1 = step(x)
        x2 = step(x1)
        r, v = x1 - x, x2 - 2 * x1 + x
        if np.linalg.norm(r) < 1e-10 or np.linalg.norm(v) < 1e-12:
            x = x2
        else:
            alpha = min(-np.linalg.norm(r) / np.linalg.norm(v), -1.0)
            x = x - 2 * alpha * r + alpha * alpha * v
            x = step(x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12) * L)
        c = cost(x)
        if c < best_cost:   # SQUAREM may overshoot: keep the best offsets seen
            best, best_cost = x, c
        if np.linalg.norm(r) < 1e-10:
            break
    off = off.copy()
    off[bones] = best
    return off, root(best)


def local_rotations(positions, rot6d, offsets=None, fit=False, parents=PARENTS):
    """(local rotations (T, J, 3, 3), offsets (J, 3)) for the BVH. positions (T, J, 3); rot6d
    (T, J, 6) InterHuman layout (the root's entry is ignored); offsets default to `fit_skeleton`'s.
    See the module docstring for `fit`."""
    T, J = positions.shape[:2]
    R = rot6d_to_matrix(np.asarray(rot6d, dtype=np.float64))                  # (T, J, 3, 3)
    if offsets is None:
        offsets, R[:, 0] = fit_skeleton(positions, R, parents)
    else:
        R[:, 0] = root_orientation(positions, offsets, parents)
    if not fit:
        return R, offsets
    kids = children_of(parents)
    glob = np.zeros((T, J, 3, 3))
    for j, p in enumerate(parents):
        G_par = np.broadcast_to(np.eye(3), (T, 3, 3)) if p < 0 else glob[:, p]
        G = G_par @ R[:, j]
        if len(kids[j]) == 1:
            c = kids[j][0]
            G = _swing(G @ offsets[c], positions[:, c] - positions[:, j]) @ G
        elif len(kids[j]) > 1:
            G = kabsch(offsets[kids[j]], positions[:, kids[j]] - positions[:, j:j + 1])
        glob[:, j] = G
        R[:, j] = np.swapaxes(G_par, -1, -2) @ G
    return R, offsets


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


def person_from_keypoints(keypoints, rotations="6d"):
    """(T, 22, 9) keypoints ([positions | 6D], infer.py's npy) -> the dict write_bvh takes."""
    if rotations not in ("6d", "fit"):
        raise ValueError(f"BVH rotations must be '6d' or 'fit', got {rotations!r}")
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (22, 9):
        raise ValueError(f"expected (T, 22, 9) keypoints, got shape {kp.shape}")
    pos, rot6d = kp[..., :3], kp[..., 3:]
    rot6d = np.where(np.abs(rot6d).sum(-1, keepdims=True) > 0, rot6d, [1, 0, 0, 1, 0, 0])  # zero root
    R, off = local_rotations(pos, rot6d, fit=rotations == "fit")
    return {"offsets": off, "root_pos": pos[:, 0], "local_R": R}


def export_interaction(folder, base, keypoints_per_person, rotations="6d", fps=FPS, scale=1.0):
    """Write `<base>_<k>.bvh` per person and `<base>.bvh` with everyone. Returns the paths."""
    people = [person_from_keypoints(kp, rotations) for kp in keypoints_per_person]
    paths = [write_bvh(os.path.join(folder, f"{base}_{k}.bvh"), [p], fps, scale)
             for k, p in enumerate(people)]
    paths.append(write_bvh(os.path.join(folder, f"{base}.bvh"), people, fps, scale))
    return paths


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
