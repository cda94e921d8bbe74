"""Attention with attention-weight dropout for CPU training, without SDPA's math-path cost.

Why this exists: `F.scaled_dot_product_attention(..., dropout_p > 0)` has no fused CPU kernel, so it
falls back to its math path, which materialises the (B, H, Lq, Lk) scores, probabilities and a float
dropout mask drawn with `bernoulli_`, and keeps them for backward: for the default Inter-M model at
full length, gigabytes of saved tensors and most of a training step (docs/performance.md, "Attention
dropout").

`attention_dropout(q, k, v, key_padding_mask, p)` computes the same as SDPA with a bool key-padding
mask and dropout_p = p:

    out = (softmax(q k^T / sqrt(E) + bias) * keep / (1 - p)) @ v,   bias = -inf at padded keys,

walking the B*H heads in chunks of about CHUNK_ELEMS scores (whole batch items, or heads of one
item). Forward keeps only q, k, v (the caller's views, as SDPA's fused kernels do) and the output;
backward recomputes each chunk's probabilities and regenerates its mask (flash-attention style:
dP = dO v^T, dS = P * (dP - rowsum(dO * O)), with the dropout folded into dP and dV). Items whose
keys are all padded give zero output and zero gradients, as SDPA does. Every chunk-sized tensor lives
in one per-thread workspace, so a call allocates nothing but its output (and its gradients).

Dropout mask: an element is dropped when a uniform 16-bit random integer is below
t = round(p * 65536), so the drop probability is t / 65536, i.e. p to a resolution of 2^-16
(p = 0.2 drops with probability 0.19999695); survivors are scaled by 1 / (1 - p) as nn.Dropout and
SDPA do. The integers come in bulk (one 64-bit draw = four 16-bit numbers, several times cheaper than
`bernoulli_` on a float tensor) from a private mt19937 generator seeded per call with a seed drawn
from torch's default CPU generator, so `torch.manual_seed` reproduces a run exactly and backward
regenerates the forward's mask from the seed. `dropout_keep_mask` returns the mask of a given seed.
"""
import math
import threading

import torch

from models.cpu_kernels.activation_dropout import draw_keep

CHUNK_ELEMS = 1 << 22  # target scores per chunk (16 MiB in float32)
_MASKED = -1e30  # score bias of a padded key: exp(-1e30 - max) is exactly 0, as with -inf, without inf * 0
_CACHE = threading.local()  # per-thread workspace buffer (see _workspace)


def _chunks(bsz, heads, lq, lk, chunk_elems=None):
    """Head ranges [(b0, b1, h0, h1)] covering the B*H heads in order: whole items b0:b1 when a
    chunk holds at least one item's heads, else heads h0:h1 of item b0 (b1 = b0 + 1)."""
    per_chunk = max(1, (chunk_elems or CHUNK_ELEMS) // max(1, lq * lk))  # heads
    if per_chunk >= heads:
        step = per_chunk // heads
        return [(b, min(bsz, b + step), 0, heads) for b in range(0, bsz, step)]
    return [(b, b + 1, h, min(heads, h + per_chunk)) for b in range(bsz) for h in range(0, heads, per_chunk)]


def _part(t, c):
    """The (nb, nh, ...) view of a (B, H, ...) tensor for chunk c = (b0, b1, h0, h1)."""
    return t[c[0]:c[1], c[2]:c[3]]


def _workspace(shapes, n_bits):
    """float32 tensors of the given shapes and an int64 tensor of n_bits elements, carved from one
    buffer that each thread keeps between calls (it grows to the largest request, ~70 MB for the
    default model). Fresh chunk-sized tensors in every call page-fault each time and fragment glibc's
    heap (higher peak RSS). Forward and backward loops never interleave within a thread."""
    sizes = [math.prod(s) for s in shapes]
    start = sum(sizes) + sum(sizes) % 2  # int64 alignment of the bits, in float32 units
    need = start + 2 * n_bits
    buf = getattr(_CACHE, "buf", None)
    if buf is None or buf.numel() < need:
        _CACHE.buf = buf = None  # free the old buffer first
        _CACHE.buf = buf = torch.empty(need)
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    return [buf[o:o + n].view(s) for o, n, s in zip(offsets, sizes, shapes)] + [buf[start:need].view(torch.int64)]


class _MaskStream:
    """The dropout masks of one call, chunk after chunk, from a private generator seeded with `seed`.
    Forward, backward and `dropout_keep_mask` walk the same chunks in the same order."""

    def __init__(self, seed, p):
        self.gen = torch.Generator(device="cpu")
        self.gen.manual_seed(seed)
        self.p = p

    def next_keep(self, keep, bits):
        """Fills `keep` (g, Lq, Lk) float32 with the next mask, 1 = kept, 0 = dropped; `bits` is an
        int64 scratch of at least ceil(keep.numel() / 4) elements. Returns keep."""
        # a float output is ~2x faster than a bool one, and multiplying by it ~4x faster than masked_fill_
        return draw_keep(tuple(keep.shape), self.p, self.gen, bits=bits, out=keep)


class _Chunk:
    """Workspace views for one chunk of g heads: q (g, Lq, Eq) scaled by 1/sqrt(E), k (g, Lk, Eq),
    v (g, Lk, Ev), where Eq = E + 1 with key padding: q's last column 1, k's the bias (0 or -1e30),
    which adds the mask inside the matmul (cheaper than baddbmm or a separate add)."""

    def __init__(self, q4, k4, v4, bias, scale, extra_shapes, n_bits):
        _, _, lq, dim = q4.shape
        lk, ev = k4.shape[2], v4.shape[3]
        self.g, self.eq = 0, dim + (bias is not None)
        self.q4, self.k4, self.v4, self.bias, self.scale = q4, k4, v4, bias, scale
        self.chunks = _chunks(q4.shape[0], q4.shape[1], lq, lk)
        g = max((c[1] - c[0]) * (c[3] - c[2]) for c in self.chunks)
        base = [(g, lq, self.eq), (g, lk, self.eq), (g, lk, ev)]
        ws = _workspace(base + [(g,) + s for s in extra_shapes], n_bits(g * lq * lk))
        self.qbuf, self.kbuf, self.vbuf, self.extra, self.bits = ws[0], ws[1], ws[2], ws[3:-1], ws[-1]

    def load(self, c):
        """Copies chunk c's q, k, v into the workspace -> (q, k, v) views of g heads."""
        nb, nh = c[1] - c[0], c[3] - c[2]
        self.g = g = nb * nh
        q, k, v = self.qbuf[:g], self.kbuf[:g], self.vbuf[:g]
        q4, k4 = q.view(nb, nh, *q.shape[1:]), k.view(nb, nh, *k.shape[1:])
        torch.mul(_part(self.q4, c), self.scale, out=q4[..., :self.q4.shape[3]])
        k4[..., :self.k4.shape[3]].copy_(_part(self.k4, c))
        if self.bias is not None:
            q4[..., -1].fill_(1.0)
            k4[..., -1].copy_(self.bias[c[0]:c[1], None, :])  # (nb, 1, Lk) over the heads
        v.view(nb, nh, *v.shape[1:]).copy_(_part(self.v4, c))
        return q, k, v

    def view4(self, t, c):
        """A (g, ...) chunk tensor as (nb, nh, ...) to match _part(., c)."""
        return t.view(c[1] - c[0], c[3] - c[2], *t.shape[1:])


class _AttentionDropoutFn(torch.autograd.Function):
    """q (B, H, Lq, E), k (B, H, Lk, E), v (B, H, Lk, Ev) float32, any strides; bias (B, Lk) float32
    (0 or -1e30) or None; dead (B,) bool items with every key padded (zeroed) or None. Returns
    (B, H, Lq, Ev) as a transposed view of a contiguous (B, Lq, H, Ev) tensor, so that the output
    projection's input (B, Lq, H * Ev) is a view of the same memory, saved once."""

    @staticmethod
    def forward(ctx, q, k, v, bias, dead, p, seed):
        bsz, heads, lq, dim = q.shape
        lk = k.shape[2]
        chunk = _Chunk(q, k, v, bias, 1.0 / math.sqrt(dim), [(lq, lk)] * 3 + [(lq, v.shape[3])], lambda m: (m + 3) // 4)
        scores_buf, probs_buf, keep_buf, out_buf = chunk.extra
        stream = _MaskStream(seed, p)
        out = q.new_empty(bsz, lq, heads, v.shape[3]).transpose(1, 2)  # (B, H, Lq, Ev)
        for c in chunk.chunks:
            qc, kc, vc = chunk.load(c)  # (g, Lq, Eq), (g, Lk, Eq), (g, Lk, Ev)
            g = chunk.g
            scores = torch.bmm(qc, kc.transpose(1, 2), out=scores_buf[:g])  # (g, Lq, Lk)
            probs = torch.ops.aten._softmax.out(scores, -1, False, out=probs_buf[:g])  # (g, Lq, Lk)
            probs.mul_(stream.next_keep(keep_buf[:g], chunk.bits))
            pv = torch.bmm(probs, vc, out=out_buf[:g])  # (g, Lq, Ev)
            torch.mul(chunk.view4(pv, c), 1.0 / (1.0 - p), out=_part(out, c))
        if dead is not None:
            out[dead] = 0.0
        ctx.save_for_backward(q, k, v, out, bias, dead)
        ctx.p, ctx.seed = p, seed
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        with torch.autocast("cpu", enabled=False):  # float32 throughout, as in forward
            return _AttentionDropoutFn._backward(ctx, grad_out)

    @staticmethod
    def _backward(ctx, grad_out):
        q, k, v, out, bias, dead = ctx.saved_tensors
        p = ctx.p
        lq, dim, lk, ev = q.shape[2], q.shape[3], k.shape[2], v.shape[3]
        scale = 1.0 / math.sqrt(dim)
        chunk = _Chunk(q, k, v, bias, scale, [(lq, lk)] * 3 + [(lq, ev), (lq, 1)], lambda m: (m + 3) // 4)
        scores_buf, probs_buf, keep_buf, go_buf, delta_buf = chunk.extra
        stream = _MaskStream(ctx.seed, p)
        dq = torch.empty(q.shape)  # (B, H, Lq, E)
        dk, dv = torch.empty(k.shape), torch.empty(v.shape)  # (B, H, Lk, E), (B, H, Lk, Ev)
        for c in chunk.chunks:
            qc, kc, vc = chunk.load(c)  # (g, Lq, Eq), (g, Lk, Eq), (g, Lk, Ev)
            g = chunk.g
            go = torch.mul(_part(grad_out, c), 1.0 / (1.0 - p), out=chunk.view4(go_buf[:g], c)).view(g, lq, ev)
            delta = torch.sum(_part(grad_out, c) * _part(out, c), dim=-1, keepdim=True,
                              out=chunk.view4(delta_buf[:g], c)).view(g, lq, 1)  # rowsum(dO * O)
            scores = torch.bmm(qc, kc.transpose(1, 2), out=scores_buf[:g])  # (g, Lq, Lk)
            probs = torch.ops.aten._softmax.out(scores, -1, False, out=probs_buf[:g])  # (g, Lq, Lk)
            keep = stream.next_keep(keep_buf[:g], chunk.bits)  # (g, Lq, Lk)
            # dS = P * (keep * dO v^T / (1 - p) - delta), built in the scores' buffer
            ds = torch.bmm(go, vc.transpose(1, 2), out=scores_buf[:g])  # (g, Lq, Lk)
            ds.mul_(keep).sub_(delta).mul_(probs)
            probs.mul_(keep)  # kept probabilities: dV = (P * keep)^T dO / (1 - p)
            torch.bmm(probs.transpose(1, 2), go, out=_part(dv, c).view(g, lk, ev))
            torch.bmm(ds, kc[..., :dim], out=_part(dq, c).view(g, lq, dim)).mul_(scale)
            torch.bmm(ds.transpose(1, 2), qc[..., :dim], out=_part(dk, c).view(g, lk, dim))  # qc holds q / sqrt(E)
        if dead is not None:
            for t in (dq, dk, dv):
                t[dead] = 0.0
        return dq, dk, dv, None, None, None, None


def attention_dropout(q, k, v, key_padding_mask=None, p=0.0, seed=None):
    """SDPA with a key-padding mask and attention-weight dropout p, memory-light (see module doc).

    q (B, H, Lq, E), k (B, H, Lk, E), v (B, H, Lk, Ev) float tensors on CPU, any strides;
    key_padding_mask bool (B, Lk), True = padded key (ignored); 0 <= p < 1. seed: the mask's seed
    (default: drawn from torch's default CPU generator). Returns (B, H, Lq, Ev) in q's dtype, computed
    in float32 (as SDPA's math path does for half/bfloat16 on CPU)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout p must be in [0, 1), got {p}")
    if seed is None:
        seed = int(torch.empty((), dtype=torch.int64).random_())  # from the default generator
    dtype = q.dtype
    with torch.autocast("cpu", enabled=False):
        bias = dead = None
        if key_padding_mask is not None and key_padding_mask.any():
            pad = key_padding_mask.to(torch.bool)  # (B, Lk)
            dead = pad.all(dim=1)  # (B,) every key padded: SDPA gives zeros
            # such items attend everywhere, then are zeroed
            bias = torch.zeros(pad.shape).masked_fill_(pad & ~dead[:, None], _MASKED)  # (B, Lk)
            dead = dead if dead.any() else None
        out = _AttentionDropoutFn.apply(q.float(), k.float(), v.float(), bias, dead, float(p), seed)
    return out.to(dtype)  # (B, H, Lq, Ev)


def dropout_keep_mask(seed, shape, p):
    """The keep mask (B, H, Lq, Lk) bool (True = kept) that `attention_dropout(..., p=p, seed=seed)`
    applies for q, k of shapes (B, H, Lq, E), (B, H, Lk, E)."""
    bsz, heads, lq, lk = shape
    chunks = _chunks(bsz, heads, lq, lk)
    g = max((c[1] - c[0]) * (c[3] - c[2]) for c in chunks)
    keep_buf, bits = _workspace([(g, lq, lk)], (g * lq * lk + 3) // 4)
    stream, mask = _MaskStream(seed, p), torch.empty(shape, dtype=torch.bool)
    for c in chunks:
        n = (c[1] - c[0]) * (c[3] - c[2])
        _part(mask, c).copy_(stream.next_keep(keep_buf[:n], bits).view(c[1] - c[0], c[3] - c[2], lq, lk))
    return mask
