"""Channels-last feature maps for the VQ-VAE's convolutions on CPU."""
import torch


def conv_layout(x):
    """(B, C, H, W) feature map in the layout the convolutions run fastest in: channels-last on CPU,
    where oneDNN otherwise reorders every activation and the nearest up-sampling's backward runs on a
    strided NCHW path (measurements: docs/performance.md, "VQ-VAE: channels-last feature maps"). Values are
    the same up to float summation order; every layer after it keeps the layout. Other devices keep torch's
    default."""
    return x.contiguous(memory_format=torch.channels_last) if x.device.type == "cpu" else x
