"""Inter-X VQ training losses: the official recipe's terms on SMPL-X forward-kinematics joints.

Inter-X's "smpl" representation is raw (no normalisation): per frame 56 rows x 6, rows 0..54 the
6D rotations (first two matrix rows, pytorch3d convention) of the SMPL-X joints (0 root, 1..21 body,
22 jaw, 23..24 eyes, 25..54 hands) and row 55 [root translation (3), its velocity (3)].

- loss_rec      crit over the whole (B, T, 56, 6);
- loss_explicit crit on the 55 FK joint positions (rest skeleton of SMPLX_NEUTRAL with zero shape,
                posed by the 55 rotations, plus the root translation);
- loss_vel      crit on their frame differences;
- loss_bn       crit on the bone lengths of FK joints 0..21 (SMPL-22 chains);
- loss_geo      mean geodesic angle over rows 0..54 (the official column reading of row-stored 6D
                gives transposed matrices, whose relative angle is the true one);
- loss_fc       predicted foot velocity at the ground-truth contacts (joints 7, 10, 8, 11, y up).

The official loss object needs `data/body_model/smplx/SMPLX_NEUTRAL.npz` (SMPL-X licence; not
downloadable by script); a missing file is a one-line error.
"""
import numpy as np
import torch
import torch.nn as nn

from data.skeleton import KINEMATIC_CHAIN
from models.vq.losses import (_bone_index, bone_lengths, cont6d_columns_to_matrix, foot_velocity_loss,
                              geodesic, make_criterion, rotation_6d_rows_to_matrix)
from utils.files import require_file

SMPLX_DEFAULT = "data/body_model/smplx/SMPLX_NEUTRAL.npz"
SMPLX_JOINTS = 55


def load_smplx_skeleton(path):
    """-> (rest joints (55, 3) float32 with zero shape, parents list of 55 ints, -1 for the root)."""
    require_file(path, "download SMPLX_NEUTRAL.npz from https://smpl-x.is.tue.mpg.de (registration "
                       "required) and pass --smplx_path, needed only for Inter-X VQ training")
    with np.load(path, allow_pickle=True) as z:
        v_template = np.asarray(z["v_template"], dtype=np.float64)                      # (V, 3)
        j_reg = z["J_regressor"]
        j_reg = np.asarray(j_reg.todense() if hasattr(j_reg, "todense") else j_reg, dtype=np.float64)
        parents = np.asarray(z["kintree_table"])[0].astype(np.int64)
    rest = (j_reg @ v_template)[:SMPLX_JOINTS].astype(np.float32)                       # (55, 3)
    parents = [int(p) if i > 0 else -1 for i, p in enumerate(parents[:SMPLX_JOINTS])]
    return rest, parents


def forward_kinematics(rot, trans, rest, parents):
    """rot (B, T, 55, 3, 3) local rotations, trans (B, T, 3), rest (55, 3) -> joints (B, T, 55, 3)."""
    offsets = rest.clone()
    offsets[1:] = rest[1:] - rest[parents[1:]]
    glob_rot = [rot[..., 0, :, :]]
    glob_pos = [rest[0].expand_as(trans)]
    for j in range(1, rest.shape[0]):
        p = parents[j]
        glob_rot.append(glob_rot[p] @ rot[..., j, :, :])
        glob_pos.append(glob_pos[p] + (glob_rot[p] @ offsets[j].unsqueeze(-1)).squeeze(-1))
    return torch.stack(glob_pos, dim=-2) + trans.unsqueeze(-2)


class InterXGeometricLosses(nn.Module):
    """`forward(target, pred)` with (B, T, 56, 6) raw Inter-X motions -> dict of the six terms."""

    def __init__(self, recons_loss, smplx_path=SMPLX_DEFAULT):
        super().__init__()
        self.crit = make_criterion(recons_loss)
        rest, parents = load_smplx_skeleton(smplx_path)
        self.register_buffer("rest", torch.from_numpy(rest), persistent=False)
        self.parents = parents
        bp, bc = _bone_index(KINEMATIC_CHAIN, 22)
        self.register_buffer("bone_parents", bp, persistent=False)
        self.register_buffer("bone_children", bc, persistent=False)

    def joints(self, motion):
        rot = rotation_6d_rows_to_matrix(motion[:, :, :SMPLX_JOINTS])                   # (B, T, 55, 3, 3)
        return forward_kinematics(rot, motion[:, :, SMPLX_JOINTS, :3], self.rest, self.parents)

    def forward(self, target, pred):
        t = min(target.shape[1], pred.shape[1])
        target, pred = target[:, :t].float(), pred[:, :t].float()
        crit = self.crit
        jt, jp = self.joints(target), self.joints(pred)                                  # (B, T, 55, 3)
        return {
            "loss_rec": crit(pred, target),
            "loss_explicit": crit(jp, jt),
            "loss_vel": crit(jp[:, 1:] - jp[:, :-1], jt[:, 1:] - jt[:, :-1]),
            "loss_bn": crit(bone_lengths(jp[:, :, :22], self.bone_parents, self.bone_children),
                            bone_lengths(jt[:, :, :22], self.bone_parents, self.bone_children)),
            "loss_geo": geodesic(cont6d_columns_to_matrix(target[:, :, :SMPLX_JOINTS]),
                                 cont6d_columns_to_matrix(pred[:, :, :SMPLX_JOINTS])),
            "loss_fc": foot_velocity_loss(crit, jt, jp),
        }
