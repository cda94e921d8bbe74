"""Dilated 2D residual units of the VQ-VAE (joints x time feature maps).

Each unit is pre-activation: norm -> act -> 3x3 conv (dilation d in both the joint and time axes)
-> norm -> act -> 1x1 conv -> Dropout(0.2) -> + input. The dropout rate is hard-wired in the official
code and is active in training. A `Resnet` stacks `depth` units with dilations growth**k and, as the
official code (reverse_dilation=True in both encoder and decoder), runs them largest dilation first:
with depth 2 and growth 3 that is dilation 3, then 1.
"""
import torch.nn as nn

from models.cpu_kernels.activation_dropout import Dropout

RESBLOCK_DROPOUT = 0.2


def make_activation(name):
    """The residual units' activation (`--vq_act`); every other activation of the VQ is a fixed ReLU."""
    table = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU}
    if name not in table:
        raise ValueError(f"--vq_act must be one of {sorted(table)}, got {name!r}")
    return table[name]()


def make_norm(name, channels):
    """`--vq_norm`: None (official default) or GN. The official LN and BN variants crash on the 2D
    (B, C, J, T) maps (a LayerNorm over the wrong axis, a BatchNorm1d), so they are refused here."""
    if name in (None, "None", "none", ""):
        return nn.Identity()
    if name == "GN":
        return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)
    raise ValueError(f"--vq_norm {name!r} is not supported by the 2D VQ-VAE (use None or GN)")


class ResConvBlock(nn.Module):
    """One pre-activation residual unit; keys conv1 (3x3 dilated) and conv2 (1x1)."""

    def __init__(self, channels, dilation, activation="relu", norm=None, dropout=RESBLOCK_DROPOUT):
        super().__init__()
        self.norm1 = make_norm(norm, channels)
        self.norm2 = make_norm(norm, channels)
        self.activation1 = make_activation(activation)
        self.activation2 = make_activation(activation)
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=dilation,
                               dilation=dilation)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=1)
        self.dropout = Dropout(dropout)

    def forward(self, x):
        """x (B, C, J, T) -> same shape."""
        h = self.conv1(self.activation1(self.norm1(x)))
        h = self.conv2(self.activation2(self.norm2(h)))
        return x + self.dropout(h)


class Resnet(nn.Module):
    """`depth` residual units, key `model.<k>`; dilations growth**k, reversed (largest first)."""

    def __init__(self, channels, depth, dilation_growth_rate, activation="relu", norm=None,
                 reverse_dilation=True):
        super().__init__()
        blocks = [ResConvBlock(channels, dilation_growth_rate ** k, activation, norm) for k in range(depth)]
        if reverse_dilation:
            blocks = blocks[::-1]
        self.model = nn.Sequential(*blocks)

    def forward(self, x):
        return self.model(x)
