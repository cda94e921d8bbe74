"""The VQ-VAE's skeleton graph layers: GraphSAGE convolution (mean aggregation, projected neighbours)
written with plain torch, so torch-geometric is not needed.

Math (torch-geometric's `SAGEConv(project=True)`, which the official checkpoint was trained with):

    out_i = lin_l( mean_{j -> i} relu(lin(x_j)) ) + lin_r(x_i)

`lin` (in -> in, with bias) projects the neighbours, `lin_l` (in -> out, with bias) maps their mean and
`lin_r` (in -> out, no bias) maps the node itself. The state-dict keys are the same three Linear layers.

Edge quirk (kept by default, `all_frames=False`): the official code hands the flattened node list of
the whole batch, (B*T*22) nodes in (sample, frame, joint) order, to SAGEConv together with the 42
directed bone edges of ONE skeleton (node ids 0..21) and never offsets them. Messages therefore flow
only among the 22 joints of sample 0 / frame 0; every other node has no neighbours, its mean is 0 and
the layer reduces to `lin_l.bias + lin_r(x_i)`, a per-joint linear map. The released model was
trained that way. `all_frames=True` passes messages inside every frame of every sample (the evident
intent), which is a different model and needs its own training.
"""
import torch
import torch.nn as nn

from data.skeleton import BONES, NUM_JOINTS


def bone_edge_index():
    """(2, 42) int64 [source; target]: both directions of the 21 bones, in the official order
    (for each bone (parent, child): child -> parent, then parent -> child)."""
    src, dst = [], []
    for parent, child in BONES:
        src += [child, parent]
        dst += [parent, child]
    return torch.tensor([src, dst], dtype=torch.long)


def bone_adjacency(num_joints=NUM_JOINTS):
    """(J, J) float 0/1 matrix A with A[i, j] = 1 when j sends a message to i."""
    ei = bone_edge_index()
    adj = torch.zeros(num_joints, num_joints)
    adj[ei[1], ei[0]] = 1.0
    return adj


class SkeletonSAGEConv(nn.Module):
    """GraphSAGE layer over the 22-joint skeleton, applied to node features laid out (B, T, J, C).

    Keys `lin.*`, `lin_l.*`, `lin_r.weight` match torch-geometric's SAGEConv(project=True)."""

    def __init__(self, in_channels, out_channels, all_frames=False, num_joints=NUM_JOINTS):
        super().__init__()
        self.lin = nn.Linear(in_channels, in_channels, bias=True)
        self.lin_l = nn.Linear(in_channels, out_channels, bias=True)
        self.lin_r = nn.Linear(in_channels, out_channels, bias=False)
        self.all_frames = all_frames
        adj = bone_adjacency(num_joints)
        # Non-persistent: not part of the official state dict, rebuilt from the skeleton constants.
        self.register_buffer("adjacency", adj, persistent=False)                       # (J, J)
        self.register_buffer("inv_degree", 1.0 / adj.sum(1, keepdim=True).clamp(min=1.0),
                             persistent=False)                                           # (J, 1)

    def _neighbour_mean(self, x):
        """x (..., J, C) -> mean over each joint's bone neighbours of relu(lin(x_j)), (..., J, C)."""
        projected = torch.relu(self.lin(x))                                              # (..., J, C)
        summed = torch.matmul(self.adjacency, projected)                                 # (..., J, C)
        return summed * self.inv_degree

    def forward(self, x):
        """x (B, T, J, C_in) -> (B, T, J, C_out)."""
        if x.dim() != 4:
            raise ValueError(f"SkeletonSAGEConv expects (B, T, J, C), got shape {tuple(x.shape)}")
        root = self.lin_r(x)                                                             # (B, T, J, out)
        if self.all_frames:
            return self.lin_l(self._neighbour_mean(x)) + root
        # Official edge quirk: only (sample 0, frame 0) has neighbours; elsewhere the mean is 0 and
        # lin_l(0) is exactly its bias.
        first = self.lin_l(self._neighbour_mean(x[0, 0])) + root[0, 0]                  # (J, out)
        rest = root + self.lin_l.bias                                                    # (B, T, J, out)
        flat = rest.flatten(0, 1)                                                        # (B*T, J, out)
        flat = torch.cat([first.unsqueeze(0), flat[1:]], dim=0)
        return flat.view_as(rest)


class GraphStage(nn.Module):
    """Two SAGE layers with a ReLU between (and optionally after) them, on (B, C, J, T) feature maps.

    Used at the input of the InterHuman encoder (ReLU after both) and at the output of its decoder
    (no final activation). Keys `gcn_layer1.*`, `gcn_layer2.*` live on the encoder/decoder itself, so
    this class only holds the reshaping logic."""

    @staticmethod
    def run(x, layer1, layer2, final_relu):
        """x (B, C, J, T) -> (B, C', J, T) through layer1 -> ReLU -> layer2 [-> ReLU]."""
        nodes = x.permute(0, 3, 2, 1)                                                    # (B, T, J, C)
        nodes = torch.relu(layer1(nodes))
        nodes = layer2(nodes)
        if final_relu:
            nodes = torch.relu(nodes)
        return nodes.permute(0, 3, 2, 1).contiguous()                                    # (B, C', J, T)
