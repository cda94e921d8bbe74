"""Building blocks of the Inter-M transformer, in the official state-dict layout.

Everything is batch-first here: (B, L, D). Attention keeps `nn.MultiheadAttention`'s parameter
layout (packed `in_proj_weight`/`in_proj_bias`, `out_proj`) so official checkpoints load unchanged,
but runs through `scaled_dot_product_attention` (same math, faster, no weights materialised).

Key-padding masks are bool (B, L_k), True = padded key (ignored), as in nn.MultiheadAttention.
"""
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from models.cpu_kernels.activation_dropout import Dropout
from models.cpu_kernels.attention_dropout import attention_dropout

LN_EPS = 1e-6  # LayerNorm(D, eps=1e-6, elementwise_affine=False) everywhere in the official model


def layer_norm(x):
    return F.layer_norm(x, (x.shape[-1],), eps=LN_EPS)


def modulate(x, shift, scale):
    """adaLN modulation. x (B, L, D); shift, scale (B, D)."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class PackedAttention(nn.Module):
    """Multi-head attention with nn.MultiheadAttention's parameters, computed with SDPA.

    The official model calls nn.MultiheadAttention(D, H, dropout) (sequence-first, packed qkv,
    bias). Attention-weight dropout is applied in training mode, as MHA does: inside SDPA on CUDA
    (fused kernels); on CPU, where SDPA's dropout falls back to its slow, memory-hungry math path,
    by `attention_dropout` (same math, chunked, mask regenerated in backward). Eval mode and
    dropout 0 always use plain SDPA."""

    def __init__(self, dim, heads, dropout):
        super().__init__()
        if dim % heads:
            raise ValueError(f"latent_dim {dim} is not divisible by n_heads {heads}")
        self.dim, self.heads, self.dropout = dim, heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)  # MHA's own init (kept by the official init)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, q, kv=None, key_padding_mask=None):
        """q (B, Lq, D), kv (B, Lk, D) or None for self-attention; mask (B, Lk) True = ignore."""
        bsz, lq, dim = q.shape
        hd = dim // self.heads
        if kv is None:
            qkv = F.linear(q, self.in_proj_weight, self.in_proj_bias)  # (B, L, 3D)
            qh, kh, vh = qkv.view(bsz, lq, 3, self.heads, hd).permute(2, 0, 3, 1, 4)  # 3 x (B, H, L, hd)
        else:
            w_q, w_kv = self.in_proj_weight.split([dim, 2 * dim])
            b_q, b_kv = self.in_proj_bias.split([dim, 2 * dim])
            lk = kv.shape[1]
            qh = F.linear(q, w_q, b_q).view(bsz, lq, self.heads, hd).transpose(1, 2)  # (B, H, Lq, hd)
            kh, vh = F.linear(kv, w_kv, b_kv).view(bsz, lk, 2, self.heads, hd).permute(2, 0, 3, 1, 4)
        p = self.dropout if self.training else 0.0
        if 0.0 < p < 1.0 and qh.device.type == "cpu":
            out = attention_dropout(qh, kh, vh, key_padding_mask, p)  # (B, H, Lq, hd)
        else:
            mask = None
            if key_padding_mask is not None:
                mask = (~key_padding_mask)[:, None, None, :]  # (B, 1, 1, Lk) True = attend
            out = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=mask, dropout_p=p)  # (B, H, Lq, hd)
        out = out.transpose(1, 2).reshape(bsz, lq, dim)
        return self.out_proj(out)


class AttentionWrapper(nn.Module):
    """Holds the attention under the attribute name the official checkpoint uses."""

    def __init__(self, attr, dim, heads, dropout):
        super().__init__()
        self.attr = attr
        setattr(self, attr, PackedAttention(dim, heads, dropout))

    def forward(self, *args, **kwargs):
        return getattr(self, self.attr)(*args, **kwargs)


class Modulator(nn.Module):
    """adaLN modulator: SiLU -> Linear(D, n*D) (keys `model.1.*`); returns n chunks of (B, D)."""

    def __init__(self, dim, n_chunks):
        super().__init__()
        self.n_chunks = n_chunks
        self.model = nn.Sequential(nn.SiLU(), nn.Linear(dim, n_chunks * dim))
        self._memo = None  # None: off; () or (c, chunks) inside `reuse_condition`

    def forward(self, c):
        if self._memo and self._memo[0] is c:
            return self._memo[1]
        out = self.model(c).chunk(self.n_chunks, dim=-1)
        if self._memo is not None:
            self._memo = (c, out)
        return out


@contextmanager
def reuse_condition(model):
    """Inside, each Modulator of `model` computes its modulation once per condition tensor (the same
    object): the sampling loop passes one fixed c to every step, so the adaLN projections (the largest
    is 14 D x D per block) need not be recomputed 20 times. Values are unchanged; training never
    enters this (its c changes every step and carries gradients)."""
    mods = [m for m in model.modules() if isinstance(m, Modulator)]
    for m in mods:
        m._memo = ()
    try:
        yield
    finally:
        for m in mods:
            m._memo = None


class FeedForward(nn.Module):
    """Linear -> GELU -> Dropout -> Linear (keys `model.0.*`, `model.3.*`)."""

    def __init__(self, dim, ff_size, dropout):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(dim, ff_size), nn.GELU(), Dropout(dropout),
                                   nn.Linear(ff_size, dim))

    def forward(self, x):
        return self.model(x)


class SpatioTemporalAttention(nn.Module):
    """Spatial attention over the 5 rows of each time step, temporal attention over the steps of
    each row; both read the same input.

    double_residual=True is the official quirk: the two residual branches are summed, so the output
    is 2x + gated spatial + gated temporal (each block doubles the person tokens at init).
    False gives the textbook x + gated spatial + gated temporal (a different model)."""

    def __init__(self, dim, heads, dropout, double_residual=True):
        super().__init__()
        self.spatial_attention = PackedAttention(dim, heads, dropout)
        self.temporal_attention = PackedAttention(dim, heads, dropout)
        self.dropout = Dropout(dropout)
        self.double_residual = double_residual

    def forward(self, x, mods, step_pad, rows):
        """x (B, rows*S, D); mods = (shift_s, scale_s, gate_s, shift_t, scale_t, gate_t), each (B, D);
        step_pad (B, S) True = padded step. Returns (B, rows*S, D)."""
        sh_s, sc_s, g_s, sh_t, sc_t, g_t = mods
        bsz, n, dim = x.shape
        steps = n // rows
        normed = layer_norm(x)
        # spatial: sequences of the 5 rows at each step, batch B*S, no padding mask
        hs = modulate(normed, sh_s, sc_s).view(bsz, rows, steps, dim).transpose(1, 2)  # (B, S, rows, D)
        hs = self.spatial_attention(hs.reshape(bsz * steps, rows, dim))
        hs = hs.view(bsz, steps, rows, dim).transpose(1, 2).reshape(bsz, n, dim)  # (B, rows*S, D)
        # temporal: sequences of S steps for each row, batch B*rows, key padding per step
        ht = modulate(normed, sh_t, sc_t).reshape(bsz * rows, steps, dim)  # (B*rows, S, D)
        tpad = None if step_pad is None else step_pad.repeat_interleave(rows, dim=0)  # (B*rows, S)
        ht = self.temporal_attention(ht, key_padding_mask=tpad).view(bsz, n, dim)
        out = g_s.unsqueeze(1) * self.dropout(hs) + g_t.unsqueeze(1) * self.dropout(ht)
        return (2 * x if self.double_residual else x) + out


class InterMBlock(nn.Module):
    """One Inter-M block: joint self-attention + FFN over [A | SEP | B], then per person
    spatio-temporal attention, cross-attention to the other person and an FFN (shared weights for
    both persons). All conditioning comes through adaLN of c.

    cross_kv_pre_st=True is the official quirk: the cross-attention keys/values are the other
    person's tokens *before* the spatio-temporal stage; False takes them after it."""

    def __init__(self, dim, heads, ff_size, dropout, double_residual=True, cross_kv_pre_st=True, rows=5):
        super().__init__()
        self.rows = rows
        self.cross_kv_pre_st = cross_kv_pre_st
        self.adaLN_mod_combined = Modulator(dim, 6)
        self.self_attn = AttentionWrapper("attention", dim, heads, dropout)
        self.ffn_combined = FeedForward(dim, ff_size, dropout)
        self.adaLN_mod_split = Modulator(dim, 14)
        self.spa_temp_attn = SpatioTemporalAttention(dim, heads, dropout, double_residual)
        self.local_inter_attn = AttentionWrapper("interaction_attention", dim, heads, dropout)
        self.ffn_split = FeedForward(dim, ff_size, dropout)
        self.dropout = Dropout(dropout)

    def forward(self, x, c, pad):
        """x (B, 2n+1, D) = [A (n) | SEP | B (n)]; c (B, D); pad (B, 2n+1) True = padded (SEP False)."""
        bsz, length, dim = x.shape
        n = (length - 1) // 2
        steps = n // self.rows
        # (i) joint stage over both persons and SEP
        sh1, sc1, g1, sh2, sc2, g2 = self.adaLN_mod_combined(c)
        x = x + g1.unsqueeze(1) * self.dropout(self.self_attn(modulate(layer_norm(x), sh1, sc1),
                                                               key_padding_mask=pad))
        x = x + g2.unsqueeze(1) * self.dropout(self.ffn_combined(modulate(layer_norm(x), sh2, sc2)))
        # (ii) split; both persons run stacked along the batch (shared weights, same padding)
        sep = x[:, n:n + 1]
        persons_in = torch.cat([x[:, :n], x[:, n + 1:]], dim=0)  # (2B, n, D): [A; B]
        mods = [m.repeat(2, 1) for m in self.adaLN_mod_split(c)]  # 14 x (2B, D)
        pad_a = pad[:, :n]  # both persons share the padding
        step_pad = pad_a[:, :steps].repeat(2, 1)  # (2B, S)
        # (iii) spatio-temporal attention
        persons_st = self.spa_temp_attn(persons_in, mods[0:6], step_pad, self.rows)  # (2B, n, D)
        # (iv) cross attention: queries from this person, keys/values from the other person
        sh_q, sc_q, sh_kv, sc_kv, g_x = mods[6:11]
        kv_src = persons_in if self.cross_kv_pre_st else persons_st
        other = torch.cat([kv_src[bsz:], kv_src[:bsz]], dim=0)  # (2B, n, D): [B; A]
        cross = self.local_inter_attn(modulate(layer_norm(persons_st), sh_q, sc_q),
                                      modulate(layer_norm(other), sh_kv, sc_kv),
                                      key_padding_mask=pad_a.repeat(2, 1))
        persons = persons_st + g_x.unsqueeze(1) * self.dropout(cross)
        # (v) per-person FFN
        sh_f, sc_f, g_f = mods[11:14]
        persons = persons + g_f.unsqueeze(1) * self.dropout(self.ffn_split(modulate(layer_norm(persons),
                                                                                    sh_f, sc_f)))
        return torch.cat([persons[:bsz], sep, persons[bsz:]], dim=1)  # (B, 2n+1, D)


class InterMTransformer(nn.Module):
    """The stack of blocks (official attribute `Transformer.blocks`)."""

    def __init__(self, n_layers, **block_kwargs):
        super().__init__()
        self.blocks = nn.ModuleList([InterMBlock(**block_kwargs) for _ in range(n_layers)])

    def forward(self, x, c, pad):
        for block in self.blocks:
            x = block(x, c, pad)
        return x


class InputProcess(nn.Module):
    """Linear(code_dim -> latent) applied to the token embeddings (key `poseEmbedding`)."""

    def __init__(self, code_dim, latent_dim):
        super().__init__()
        self.poseEmbedding = nn.Linear(code_dim, latent_dim)

    def forward(self, x):
        return self.poseEmbedding(x)


class OutputProcess(nn.Module):
    """Linear -> GELU -> LayerNorm (no affine) -> adaLN modulation -> Linear(latent -> num_tokens)."""

    def __init__(self, latent_dim, num_tokens):
        super().__init__()
        self.dense = nn.Linear(latent_dim, latent_dim)
        self.adaLN_mod = Modulator(latent_dim, 2)
        self.poseFinal = nn.Linear(latent_dim, num_tokens)

    def forward(self, h, c):
        """h (B, P, D), c (B, D) -> logits (B, P, num_tokens)."""
        shift, scale = self.adaLN_mod(c)
        h = layer_norm(F.gelu(self.dense(h)))
        return self.poseFinal(modulate(h, shift, scale))


def official_init_(model):
    """Every nn.Linear and nn.Embedding: normal(0, 0.02), zero bias (this includes attention
    out_proj; in_proj keeps MHA's xavier init). Then the last Linear of every adaLN modulator is
    zeroed, as in DiT, so all gates, shifts and scales start at 0."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
    for m in model.modules():
        if isinstance(m, Modulator):
            nn.init.zeros_(m.model[1].weight)
            nn.init.zeros_(m.model[1].bias)

