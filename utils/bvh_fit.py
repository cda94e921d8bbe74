"""A rigid skeleton and its joint rotations fitted to joint positions, for the BVH export.

Two ways to get a BVH's joint rotations from generated keypoints (positions + local 6D rotations):
- `rotations="6d"`: the generated 6D rotations themselves, on the skeleton `fit_skeleton` finds for them
  (it recovers the true skeleton when positions and rotations agree); the BVH then shows the network's
  rotations, which may disagree with its joint positions (the video);
- `rotations="fit"` (the default): rotations fitted to the positions, as MoMask's BVH export does, so the
  BVH shows the video's motion. The skeleton has the person's mean bone lengths; the joints with several
  children (pelvis: hips and spine; spine3: neck and collars) carry the Procrustes mean shape of those
  children over the clip; every other bone keeps `fit_skeleton`'s rest direction. Then down the tree,
  per frame: a joint with one child takes its generated rotation turned by the smallest rotation
  (swing) that points its bone from where the BVH's joint IS at the generated child, so its twist
  stays the generated one and errors do not add up along a chain; a joint with several children takes
  the rotation that best fits their generated offsets (Kabsch); a leaf keeps its generated rotation.
  When the generated bones keep their lengths (and the pelvis and chest their shapes) the BVH
  reproduces the positions exactly; otherwise a joint's error is at most the sum, along its chain, of
  how much each bone's length differs from its mean (plus the shape change of those two groups).
"""
import numpy as np

from data.skeleton import PARENTS
from utils.quaternion import rot6d_to_matrix

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


def swing_rotation(a, b):
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


def group_shape(positions, joint, kids, init):
    """Rest offsets (K, 3) of the children `kids` of `joint`, rigidly attached to it: the Procrustes mean of
    their generated offsets (T, K, 3) over the clip, turned to best match `init` (K, 3) (the rest pose's
    orientation). For a rigid group this is its exact shape."""
    X = positions[:, kids] - positions[:, joint:joint + 1]                   # (T, K, 3)
    M = np.array(init, dtype=np.float64)
    for _ in range(20):
        R = kabsch(M, X)                                                       # (T, 3, 3)
        new = np.einsum("tji,tkj->ki", R, X) / len(X)                          # mean_t R_t^T X_t
        done = np.abs(new - M).max() < 1e-12
        M = new
        if done:
            break
    return M @ kabsch(M, init[None])[0].T


def fit_offsets(positions, local_R, parents=PARENTS):
    """The 'fit' mode's rest offsets (J, 3): `fit_skeleton`'s, with every joint that has several children
    given their Procrustes mean shape. positions (T, J, 3), local_R (T, J, 3, 3)."""
    off, _ = fit_skeleton(positions, local_R, parents)
    for j, kids in enumerate(children_of(parents)):
        if len(kids) > 1:
            off[kids] = group_shape(positions, j, kids, off[kids])
    return off


def fit_rotations(positions, local_R, offsets, parents=PARENTS):
    """Local rotations (T, J, 3, 3) (the root's = its global orientation) that make FK with `offsets`,
    rooted at the generated pelvis, follow `positions` (T, J, 3); `local_R` (T, J, 3, 3) supplies the
    twist of one-child joints and the leaves' rotations (entry 0 ignored). See the module docstring."""
    T, J = positions.shape[:2]
    kids = children_of(parents)
    glob = np.zeros((T, J, 3, 3))
    fk = np.zeros((T, J, 3))
    R = np.array(local_R, dtype=np.float64)
    eye = np.broadcast_to(np.eye(3), (T, 3, 3))
    for j, p in enumerate(parents):                       # parents first
        G_par = eye if p < 0 else glob[:, p]
        fk[:, j] = positions[:, j] if p < 0 else fk[:, p] + G_par @ offsets[j]
        G = G_par @ (eye if p < 0 else R[:, j])
        if len(kids[j]) == 1:
            c = kids[j][0]
            G = swing_rotation(G @ offsets[c], positions[:, c] - fk[:, j]) @ G
        elif len(kids[j]) > 1:
            G = kabsch(offsets[kids[j]], positions[:, kids[j]] - fk[:, j:j + 1])
        glob[:, j] = G
        R[:, j] = np.swapaxes(G_par, -1, -2) @ G
    return R


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


def fit_error_bound(positions, offsets, parents=PARENTS):
    """(T, J) the most each joint of a 'fit' BVH with `offsets` (J, 3) can be off `positions`
    (T, J, 3), from how far the positions are from rigid: 0 at the root; a one-child joint's child adds
    |generated bone length - offset length| to its parent's bound (the bone points from where the BVH's
    parent is at the generated child); the children of a joint with K > 1 children get the group's
    Procrustes residual (the best rotation at the generated joint) plus sqrt(K) times the joint's bound
    (the Kabsch fit from the BVH's joint does at least as well as that rotation)."""
    kids = children_of(parents)
    bound = np.zeros(positions.shape[:2])                                      # (T, J)
    for j in range(len(parents)):                                              # parents first
        if len(kids[j]) == 1:
            c = kids[j][0]
            length = np.linalg.norm(positions[:, c] - positions[:, j], axis=-1)
            bound[:, c] = np.abs(length - np.linalg.norm(offsets[c])) + bound[:, j]
        elif len(kids[j]) > 1:
            X = positions[:, kids[j]] - positions[:, j:j + 1]                   # (T, K, 3)
            fitted = np.einsum("tij,kj->tki", kabsch(offsets[kids[j]], X), offsets[kids[j]])
            resid = np.sqrt(((fitted - X) ** 2).sum(axis=(-1, -2)))            # (T,)
            bound[:, kids[j]] = (resid + np.sqrt(len(kids[j])) * bound[:, j])[:, None]
    return bound


def local_rotations(positions, rot6d, fit=True, parents=PARENTS):
    """(local rotations (T, J, 3, 3), offsets (J, 3)) for the BVH: fitted to positions (T, J, 3)
    (`fit`), or the generated ones, rot6d (T, J, 6) in the InterHuman layout (the root's entry is
    ignored; its orientation is fitted either way)."""
    R = rot6d_to_matrix(np.asarray(rot6d, dtype=np.float64))                  # (T, J, 3, 3)
    if fit:
        offsets = fit_offsets(positions, R, parents)
        return fit_rotations(positions, R, offsets, parents), offsets
    offsets, R[:, 0] = fit_skeleton(positions, R, parents)
    return R, offsets
