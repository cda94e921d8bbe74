"""Encoder and decoder of the 2D VQ-VAE: feature maps (B, C, J, T) with features as channels, joints as
height and time as width.

Layouts per dataset (`VQ_LAYOUTS`), as the official code switches them inside RVQVAE:
- InterHuman: 12 features x 22 joints; the first/last stage is a two-layer skeleton graph
  (graph.py); down-sampling kernel 4 / stride 2 over joints (22 -> 11 -> 5); the decoder's nearest
  up-sampling over joints uses factors 2.2 then 2 (5 -> 11 -> 22).
- Inter-X: 6 features x 56 rows; plain 3x3 convs at both ends; kernel 6 / stride 3 (56 -> 18 -> 5);
  up-sampling factors 3.5 then 3.3 (5 -> 17 -> 56).
Time is always halved `down_t` times (kernel 2*stride_t, padding stride_t//2) and doubled back with
nearest up-sampling, so a T-frame input yields T//4 token columns and 4*(T//4) output frames.

Module indices inside `model` follow the official Sequential layout so the state-dict keys match.
"""
import torch.nn as nn

from models.cpu_kernels.channels_last import conv_layout
from models.vq.graph import GraphStage, SkeletonSAGEConv
from models.vq.resnet import Resnet

VQ_LAYOUTS = {
    "interhuman": dict(joints_num=22, dim_joint=12, spatial_kernel=4, spatial_stride=2,
                       spatial_upsample=(2.2, 2), gcn=True),
    "interx": dict(joints_num=56, dim_joint=6, spatial_kernel=6, spatial_stride=3,
                   spatial_upsample=(3.5, 3.3), gcn=False),
}
TOKEN_ROWS = 5          # spatial rows of the token map (22 or 56 joints after two down-samplings)
TIME_UPSAMPLE = 2       # the official decoder doubles time per stage regardless of stride_t


def vq_layout(dataset_name):
    if dataset_name not in VQ_LAYOUTS:
        raise ValueError(f"dataset_name must be one of {sorted(VQ_LAYOUTS)}, got {dataset_name!r}")
    return VQ_LAYOUTS[dataset_name]


class Encoder(nn.Module):
    """(B, input_dim, J, T) -> (B, output_emb_width, 5, T//4)."""

    def __init__(self, dataset_name, input_dim, output_emb_width, down_t, stride_t, width, depth,
                 dilation_growth_rate, activation="relu", norm=None, gcn_all_frames=False):
        super().__init__()
        lay = vq_layout(dataset_name)
        if down_t != len(lay["spatial_upsample"]):
            raise ValueError(f"down_t must be {len(lay['spatial_upsample'])} for {dataset_name} "
                             f"(the joint axis is reduced to {TOKEN_ROWS} rows), got {down_t}")
        self.gcn = lay["gcn"]
        blocks = []
        if self.gcn:
            self.gcn_layer1 = SkeletonSAGEConv(input_dim, width, all_frames=gcn_all_frames)
            self.gcn_layer2 = SkeletonSAGEConv(width, width, all_frames=gcn_all_frames)
        else:
            blocks += [nn.Conv2d(input_dim, width, 3, 1, 1), nn.ReLU()]
        kernel = (lay["spatial_kernel"], stride_t * 2)
        stride = (lay["spatial_stride"], stride_t)
        pad = stride_t // 2
        for _ in range(down_t):
            blocks.append(nn.Sequential(
                nn.Conv2d(width, width, kernel, stride, (pad, pad)),
                Resnet(width, depth, dilation_growth_rate, activation=activation, norm=norm),
            ))
        blocks.append(nn.Conv2d(width, output_emb_width, 3, 1, 1))
        self.model = nn.Sequential(*blocks)

    def graph_stage(self, x):
        """InterHuman input graph: (B, input_dim, 22, T) -> (B, width, 22, T), ReLU after both layers."""
        return GraphStage.run(x, self.gcn_layer1, self.gcn_layer2, final_relu=True)

    def forward(self, x):
        x = conv_layout(x)
        if self.gcn:
            x = self.graph_stage(x)
        return self.model(x)


class Decoder(nn.Module):
    """(B, output_emb_width, 5, T') -> (B, input_dim, J, 4*T')."""

    def __init__(self, dataset_name, input_dim, output_emb_width, down_t, stride_t, width, depth,
                 dilation_growth_rate, activation="relu", norm=None, gcn_all_frames=False):
        super().__init__()
        lay = vq_layout(dataset_name)
        if down_t != len(lay["spatial_upsample"]):
            raise ValueError(f"down_t must be {len(lay['spatial_upsample'])} for {dataset_name}, got {down_t}")
        self.gcn = lay["gcn"]
        blocks = [nn.Conv2d(output_emb_width, width, 3, 1, 1), nn.ReLU()]
        for factor in lay["spatial_upsample"]:
            blocks.append(nn.Sequential(
                Resnet(width, depth, dilation_growth_rate, activation=activation, norm=norm),
                nn.Upsample(scale_factor=(factor, TIME_UPSAMPLE), mode="nearest"),
                nn.Conv2d(width, width, 3, 1, 1),
            ))
        blocks += [nn.Conv2d(width, width, 3, 1, 1), nn.ReLU()]
        if self.gcn:
            self.gcn_layer1 = SkeletonSAGEConv(width, width, all_frames=gcn_all_frames)
            self.gcn_layer2 = SkeletonSAGEConv(width, input_dim, all_frames=gcn_all_frames)
        else:
            blocks.append(nn.Conv2d(width, input_dim, 3, 1, 1))
        self.model = nn.Sequential(*blocks)

    def forward(self, x):
        x = self.model(conv_layout(x))
        if self.gcn:
            x = GraphStage.run(x, self.gcn_layer1, self.gcn_layer2, final_relu=False)
        return x
