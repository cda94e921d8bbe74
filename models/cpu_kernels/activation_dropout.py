"""nn.Dropout with a cheaper mask on CPU: the drop-in for every activation dropout of the models.

Why: on CPU, `nn.Dropout` draws its mask with `bernoulli_`, one float random number per element, which
makes the dropout modules a large share of a training step (measurements: docs/performance.md,
"Activation dropout"). Here the mask comes from bulk
64-bit draws cut into four 16-bit integers each, the same scheme as `attention_dropout.py`: an element
is dropped when its uniform 16-bit integer is below t = round(p * 65536), so the drop probability is
t / 65536 (p to a resolution of 2^-16), and survivors are scaled by 1 / (1 - p) as nn.Dropout does.
The integers come from torch's default CPU generator, so `torch.manual_seed` reproduces a run. The
bool mask is kept for backward (1 byte per element, as nn.Dropout keeps).

Eval mode, p = 0 or 1, in-place dropout and non-CPU tensors (CUDA has a fused kernel) use
nn.Dropout unchanged. The module has no parameters, so state dicts are unaffected.
"""
import math

import torch
from torch import nn

_RES = 1 << 16  # mask resolution: drop probability = round(p * 65536) / 65536


def draw_keep(shape, p, generator=None, bits=None, out=None):
    """Keep mask of `shape` (True / 1 = kept), each element dropped with probability
    round(p * 2^16) / 2^16: four 16-bit integers per 64-bit draw from `generator` (default: torch's),
    dropped when below the threshold. `bits`: optional int64 scratch of at least ceil(numel / 4)
    elements; `out`: optional bool or float tensor to write the mask into. Shared with
    `attention_dropout.py`, which keeps its own generator, scratch and float output."""
    n = math.prod(shape)
    words = (n + 3) // 4
    bits = torch.empty(words, dtype=torch.int64) if bits is None else bits[:words]
    bits.random_(-(1 << 63), None, generator=generator)                           # the full 64-bit range
    threshold = int(round(p * _RES)) - _RES // 2  # int16 r uniform on [-32768, 32767]: keep if r >= it
    return torch.ge(bits.view(torch.int16)[:n].view(shape), threshold, out=out)


def keep_mask(shape, p, generator=None):
    """Bool mask of `shape`, True = kept (see `draw_keep`)."""
    return draw_keep(shape, p, generator)


def _mask_in_memory_order(x, p):
    """Keep mask shaped like x and laid out like it in memory (e.g. channels-last feature maps), so the
    masking pass reads both tensors in one order. The random stream fills the mask in x's memory order:
    for a contiguous x that is the logical order, unchanged."""
    order = sorted(range(x.dim()), key=lambda d: -x.stride(d))      # dims from outermost to innermost
    if order == list(range(x.dim())):
        return keep_mask(tuple(x.shape), p)
    keep = keep_mask(tuple(x.shape[d] for d in order), p)                          # physical order
    return keep.permute([order.index(d) for d in range(x.dim())])


class _DropoutFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p):
        keep = _mask_in_memory_order(x, p)                                        # same shape as x, bool
        scale = 1.0 / (1.0 - p)
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return _masked_scale(x, keep, scale)

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved_tensors
        return _masked_scale(grad, keep, ctx.scale), None


def _masked_scale(x, keep, scale):
    """x * keep * scale in one pass (addcmul on a 0 scalar; a bool operand in `mul` takes a slow
    promotion path, see docs/performance.md). Exact: each element is 0 or x * scale."""
    return torch.addcmul(x.new_zeros(()), x, keep.to(x.dtype), value=scale)


class Dropout(nn.Dropout):
    """nn.Dropout whose CPU training-mode mask is drawn in bulk (see the module docstring)."""

    def forward(self, x):
        if self.training and 0.0 < self.p < 1.0 and not self.inplace and x.device.type == "cpu":
            return _DropoutFn.apply(x, self.p)
        return super().forward(x)
