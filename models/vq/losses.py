"""VQ-VAE training losses (the official `Geometric_Losses`), computed in the same spaces as the official
code, which is part of what the released checkpoint was trained on:

InterHuman, target x and prediction x^ both (B, T, 262) in NORMALISED (z-scored) space:
- loss_rec      crit over every feature but the 4 contacts ([:258]);
- loss_explicit crit on positions [0:66];
- loss_vel      crit on frame differences of the normalised positions (not the velocity channels);
- loss_bn       crit on the 21 bone "lengths" of the normalised positions (not metric; quirk);
- loss_geo      mean geodesic angle between rotations built from the normalised 6D values read as
                two matrix COLUMNS (InterHuman stores rows; quirk), cos clamped to +-(1 - 1e-7);
- loss_fc       de-normalised: predicted foot velocity pushed to 0 where the ground truth is in
                contact (joints 7, 10, 8, 11; displacement^2 < 0.001 and height < 0.12/0.05), 0 if
                no contact.
crit = SmoothL1 (beta 1) or L1, mean reduction. Total = rec + commit*commit_loss + w_explicit*explicit
+ w_vel*vel + w_bn*bn + w_geo*geo + w_fc*fc (defaults 0.02, 1, 100, 5, 0.01, 500).

Inter-X (raw space): the same terms on SMPL-X forward-kinematics joints (body model file needed),
see `InterXGeometricLosses`.
"""
import torch
import torch.nn as nn

from data.skeleton import FOOT_HEIGHT_THRESH, FOOT_JOINTS, FOOT_VEL_THRESH, KINEMATIC_CHAIN

LOSS_NAMES = ["loss_rec", "loss_explicit", "loss_vel", "loss_bn", "loss_geo", "loss_fc"]
GEO_EPS = 1e-7


def make_criterion(recons_loss):
    if recons_loss == "l1_smooth":
        return nn.SmoothL1Loss()
    if recons_loss == "l1":
        return nn.L1Loss()
    raise ValueError(f"--recons_loss must be l1_smooth or l1, got {recons_loss!r}")


def _bone_index(chains, num_joints):
    parents = [c[i] for c in chains for i in range(len(c) - 1) if c[i + 1] < num_joints]
    children = [c[i + 1] for c in chains for i in range(len(c) - 1) if c[i + 1] < num_joints]
    return torch.tensor(parents), torch.tensor(children)


def bone_lengths(pos, parents, children):
    """pos (..., J, 3) -> (..., n_bones) Euclidean lengths along the kinematic chains."""
    return torch.linalg.norm(pos[..., children, :] - pos[..., parents, :], dim=-1)


def _safe_unit(v):
    """v / |v|, with |v| floored at 1e-12: identical to the official division for any non-degenerate
    vector, but a zero vector (e.g. parallel 6D halves, which exact identity rotations give when the
    statistics are not real z-scores) yields 0 instead of NaN, which would poison the whole run."""
    return v / torch.linalg.norm(v, dim=-1, keepdim=True).clamp(min=1e-12)


def cont6d_columns_to_matrix(cont6d):
    """(..., 6) read as [column 0 | column 1] -> Gram-Schmidt rotation (..., 3, 3) with those columns."""
    x_raw, y_raw = cont6d[..., 0:3], cont6d[..., 3:6]
    x = _safe_unit(x_raw)
    z = _safe_unit(torch.cross(x, y_raw, dim=-1))
    y = torch.cross(z, x, dim=-1)
    return torch.stack([x, y, z], dim=-1)                                                # (..., 3, 3)


def rotation_6d_rows_to_matrix(d6):
    """pytorch3d convention: (..., 6) = first two ROWS -> (..., 3, 3). Used by Inter-X's 'smpl' data."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = _safe_unit(a1)
    b2 = _safe_unit(a2 - (b1 * a2).sum(-1, keepdim=True) * b1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-2)


def geodesic(r_target, r_pred):
    """Mean angle of R_t R_p^T over all leading dims; (..., 3, 3) each."""
    cos = ((r_target * r_pred).sum(dim=(-1, -2)) - 1.0) / 2.0                          # trace(R_t R_p^T)
    return torch.acos(torch.clamp(cos, -1.0 + GEO_EPS, 1.0 - GEO_EPS)).mean()


def foot_contact(pos, vel_thresh=FOOT_VEL_THRESH, heights=FOOT_HEIGHT_THRESH, feet=FOOT_JOINTS):
    """pos (B, T, J, 3) metric, Y up -> (B, T-1, 4) bool contacts: displacement^2 < thresh and the
    height at frame t below the joint's threshold (the same rule as the feature extraction)."""
    p = pos[:, :, feet]                                                                  # (B, T, 4, 3)
    disp2 = ((p[:, 1:] - p[:, :-1]) ** 2).sum(-1)                                        # (B, T-1, 4)
    h = torch.tensor(heights, dtype=pos.dtype, device=pos.device)
    return (disp2 < vel_thresh) & (p[:, :-1, :, 1] < h)


def foot_velocity_loss(crit, target_pos, pred_pos, feet=FOOT_JOINTS):
    """crit(predicted foot velocity, 0) over the ground-truth contact entries (x 3 coords); 0 if none."""
    contact = foot_contact(target_pos, feet=feet)                                        # (B, T-1, 4)
    p = pred_pos[:, :, feet]
    pred_vel = p[:, 1:] - p[:, :-1]                                                      # (B, T-1, 4, 3)
    selected = pred_vel[contact]                                                         # (M, 3)
    if selected.numel() == 0:
        return pred_pos.sum() * 0.0
    return crit(selected, torch.zeros_like(selected))


class GeometricLosses(nn.Module):
    """InterHuman loss terms; `forward(target, pred)` -> dict of the six terms (scalars)."""

    def __init__(self, recons_loss, mean, std, num_joints=22):
        super().__init__()
        self.crit = make_criterion(recons_loss)
        self.num_joints = num_joints
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).view(-1), persistent=False)
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).view(-1), persistent=False)
        parents, children = _bone_index(KINEMATIC_CHAIN, num_joints)
        self.register_buffer("bone_parents", parents, persistent=False)
        self.register_buffer("bone_children", children, persistent=False)

    def forward(self, target, pred):
        """target, pred (B, T, 262) normalised (pred may have fewer frames: 4*(T//4))."""
        t = min(target.shape[1], pred.shape[1])
        target, pred = target[:, :t].float(), pred[:, :t].float()
        b, j = target.shape[0], self.num_joints
        crit = self.crit
        pos_t = target[..., : j * 3].reshape(b, t, j, 3)
        pos_p = pred[..., : j * 3].reshape(b, t, j, 3)
        rot_t = target[..., j * 6: j * 6 + (j - 1) * 6].reshape(b, t, j - 1, 6)
        rot_p = pred[..., j * 6: j * 6 + (j - 1) * 6].reshape(b, t, j - 1, 6)
        rec_end = j * 6 + (j - 1) * 6                                                    # 258
        out = {
            "loss_rec": crit(pred[..., :rec_end], target[..., :rec_end]),
            "loss_explicit": crit(pos_p, pos_t),
            "loss_vel": crit(pos_p[:, 1:] - pos_p[:, :-1], pos_t[:, 1:] - pos_t[:, :-1]),
            "loss_bn": crit(bone_lengths(pos_p, self.bone_parents, self.bone_children),
                            bone_lengths(pos_t, self.bone_parents, self.bone_children)),
            "loss_geo": geodesic(cont6d_columns_to_matrix(rot_t), cont6d_columns_to_matrix(rot_p)),
        }
        denorm_t = (target * self.std + self.mean)[..., : j * 3].reshape(b, t, j, 3)
        denorm_p = (pred * self.std + self.mean)[..., : j * 3].reshape(b, t, j, 3)
        out["loss_fc"] = foot_velocity_loss(crit, denorm_t, denorm_p)
        return out


def weighted_total(terms, commit_loss, opt):
    """The recipe's total: rec + commit*commit + explicit*... (weights from the options)."""
    return (terms["loss_rec"] + opt.commit * commit_loss + opt.loss_explicit * terms["loss_explicit"]
            + opt.loss_vel * terms["loss_vel"] + opt.loss_bn * terms["loss_bn"]
            + opt.loss_geo * terms["loss_geo"] + opt.loss_fc * terms["loss_fc"])
