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
        """x (J, ..., C) -> mean over each joint's bone neighbours of relu(lin(x_j)), (J, ..., C)."""
        projected = torch.relu(self.lin(x))                                              # (J, ..., C)
        adjacency = self.adjacency.to(projected.dtype)                # tensordot is not autocast-listed
        summed = torch.tensordot(adjacency, projected, dims=1)                           # (J, ..., C)
        return summed * self.inv_degree.view(-1, *([1] * (x.dim() - 1)))

    def forward(self, x):
        """x (B, J, T, C_in) -> (B, J, T, C_out): the nodes of every (sample, frame), joints on dim 1.

        Joints sit before frames so that a channels-last feature map (B, C, J, T), which is (B, J, T, C)
        in memory, reaches the Linear layers without a transposing copy (see `GraphStage.run`)."""
        if x.dim() != 4:
            raise ValueError(f"SkeletonSAGEConv expects (B, J, T, C), got shape {tuple(x.shape)}")
        root = self.lin_r(x)                                                             # (B, J, T, out)
        if self.all_frames:
            mean = self._neighbour_mean(x.movedim(1, 0)).movedim(0, 1)                   # (B, J, T, C_in)
            return self.lin_l(mean) + root
        # Official edge quirk: only (sample 0, frame 0) has neighbours; elsewhere the mean is 0 and
        # lin_l(0) is exactly its bias.
        first = self.lin_l(self._neighbour_mean(x[0, :, 0])) + root[0, :, 0]            # (J, out)
        out = root + self.lin_l.bias                                                     # (B, J, T, out)
        out[0, :, 0] = first
        return out


class GraphStage(nn.Module):
    """Two SAGE layers with a ReLU between (and optionally after) them, on (B, C, J, T) feature maps.

    Used at the input of the InterHuman encoder (ReLU after both) and at the output of its decoder
    (no final activation). Keys `gcn_layer1.*`, `gcn_layer2.*` live on the encoder/decoder itself, so
    this class only holds the reshaping logic."""

    @staticmethod
    def run(x, layer1, layer2, final_relu):
        """x (B, C, J, T) -> (B, C', J, T) through layer1 -> ReLU -> layer2 [-> ReLU].

        Both permutes are views: for a channels-last x (as `cpu_kernels.channels_last.conv_layout`
        makes on CPU) the nodes are contiguous and the result is channels-last again. The old (B, T, J, C) node order needed
        a transposing copy of the 512-channel map at the decoder's output (0.045 s per copy for 16
        windows; the Linear on the strided view ran at half speed)."""
        nodes = x.permute(0, 2, 3, 1)                                                    # (B, J, T, C)
        nodes = torch.relu(layer1(nodes))
        nodes = layer2(nodes)
        if final_relu:
            nodes = torch.relu(nodes)
        return nodes.permute(0, 3, 1, 2)                                                 # (B, C', J, T)
