"""The shared 2D sinusoidal position code of the Inter-M transformer.

The official model adds `PositionalEncoding2D(latent_dim)` of the `positional-encodings` package
(v6.0.3) to each person's (5 rows x T' steps) token map. We reproduce its numbers without the
package: with C = ceil(D/4)*2 channels per axis and inv_freq_k = 10000^(-2k/C), channels [0, C)
encode the spatial row x as interleaved [sin(x f0), cos(x f0), sin(x f1), ...] and channels
[C, 2C) encode the time step y the same way; the result is cut to D channels. Both persons get the
same code (no person embedding) and SEP gets none: that is how the released model was trained.

`inv_freq` stays a persistent buffer under the official key
`position_enc.positional_encoding.inv_freq` so official checkpoints load with strict=True.
"""
import math

import torch
from torch import nn

from models.cpu_kernels.activation_dropout import Dropout

NUM_ROWS = 5  # spatial rows of the VQ token map (hard-coded `nbp` in the official model)


class SinusoidalEncoding2D(nn.Module):
    """Returns the (rows, steps, D) code; the caller adds it. Cached per (rows, steps, device)."""

    def __init__(self, channels):
        super().__init__()
        self.org_channels = channels
        per_axis = int(math.ceil(channels / 4) * 2)
        self.per_axis = per_axis
        # float32 arithmetic exactly as the package computes it
        inv_freq = 1.0 / (10000 ** (torch.arange(0, per_axis, 2).float() / per_axis))  # (per_axis/2,)
        self.register_buffer("inv_freq", inv_freq)
        self._cache = {}

    @staticmethod
    def _interleaved(angles):
        """(n, k) angles -> (n, 2k) [sin a0, cos a0, sin a1, cos a1, ...]."""
        return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2, -1)

    def encoding(self, rows, steps):
        key = (rows, steps, self.inv_freq.device, self.inv_freq.dtype, self.inv_freq._version)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        inv = self.inv_freq
        pos_x = torch.arange(rows, device=inv.device, dtype=inv.dtype)
        pos_y = torch.arange(steps, device=inv.device, dtype=inv.dtype)
        emb_x = self._interleaved(torch.einsum("i,j->ij", pos_x, inv))  # (rows, C)
        emb_y = self._interleaved(torch.einsum("i,j->ij", pos_y, inv))  # (steps, C)
        emb = torch.zeros(rows, steps, 2 * self.per_axis, device=inv.device, dtype=inv.dtype)
        emb[:, :, : self.per_axis] = emb_x[:, None, :]
        emb[:, :, self.per_axis:] = emb_y[None, :, :]
        emb = emb[:, :, : self.org_channels]  # (rows, steps, D)
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[key] = emb
        return emb

    def _apply(self, fn, *args, **kwargs):
        self._cache = {}
        return super()._apply(fn, *args, **kwargs)


class SpatioTemporalPositionEncoding(nn.Module):
    """Adds the 2D code to person A's and person B's tokens of [A (5S) | SEP | B (5S)], then dropout.

    Input/output (B, 10S+1, D), batch-first. The same code goes to both persons; SEP is untouched.

    person_embedding=True (ours, off in the official model): a learned vector per person, (2, D), is
    added as well, so the network can tell the two token maps apart even when every token is masked.
    Without it the first decoding step computes identical logits for both people. It starts at zero
    (the initial model equals the official one, no random draw is added) and only learns roles when the
    training pairs have them (`--output_swap off`: the reference person always first)."""

    def __init__(self, latent_dim, dropout, person_embedding=False):
        super().__init__()
        self.positional_encoding = SinusoidalEncoding2D(latent_dim)
        self.dropout = Dropout(dropout)
        if person_embedding:
            self.person_emb = nn.Parameter(torch.zeros(2, latent_dim))

    def forward(self, x):
        bsz, length, dim = x.shape
        n = (length - 1) // 2
        steps = n // NUM_ROWS
        pe = self.positional_encoding.encoding(NUM_ROWS, steps).reshape(1, n, dim).to(x.dtype)  # (1, 5S, D)
        a = x[:, :n] + pe
        b = x[:, n + 1:] + pe
        if hasattr(self, "person_emb"):
            emb = self.person_emb.to(x.dtype)
            a, b = a + emb[0], b + emb[1]
        return self.dropout(torch.cat([a, x[:, n:n + 1], b], dim=1))  # (B, 10S+1, D)
