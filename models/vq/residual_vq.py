"""Residual-VQ wrapper (the official `ResidualVQ`, inherited from MoMask).

Each layer quantises the running residual; the quantised parts are summed. With the InterMask
setting (num_quantizers = 1) this is a plain single-codebook VQ, but the wrapper is kept because the
official state-dict keys are `quantizer.layers.<q>.codebook`.

Quantiser dropout (training only, probability `quantize_dropout_prob`): layers above a random index
are skipped and report index -1. With one quantiser it never skips anything, but the coin is still
drawn from Python's `random` as in the official code.
"""
import random

import torch
import torch.nn as nn

from models.vq.quantizer import QuantizeEMAReset


class ResidualVQ(nn.Module):
    def __init__(self, num_quantizers=1, shared_codebook=False, quantize_dropout_prob=0.2,
                 quantize_dropout_cutoff_index=0, nb_code=1024, code_dim=512, mu=0.99):
        super().__init__()
        self.num_quantizers = num_quantizers
        self.quantize_dropout_prob = quantize_dropout_prob
        self.quantize_dropout_cutoff_index = quantize_dropout_cutoff_index
        if shared_codebook:
            layer = QuantizeEMAReset(nb_code, code_dim, mu)
            self.layers = nn.ModuleList([layer for _ in range(num_quantizers)])
        else:
            self.layers = nn.ModuleList([QuantizeEMAReset(nb_code, code_dim, mu)
                                         for _ in range(num_quantizers)])

    @property
    def codebooks(self):
        return torch.stack([layer.codebook for layer in self.layers], dim=0)            # (Q, K, D)

    def ema_state(self):
        return [layer.ema_state() for layer in self.layers]

    def load_ema_state(self, states):
        if len(states) != len(self.layers):
            raise ValueError(f"quantizer EMA state has {len(states)} layers, model has {len(self.layers)}")
        for layer, st in zip(self.layers, states):
            layer.load_ema_state(st)

    def forward(self, x, sample_codebook_temp=0.0):
        """x (B, D, n) -> (quantized (B, D, n), indices (B, n, Q), commit loss, perplexity), the loss
        and perplexity averaged over the layers that ran."""
        residual = x
        quantized_out = torch.zeros_like(x)
        indices, losses, perplexities = [], [], []
        drop = self.training and random.random() < self.quantize_dropout_prob
        start_drop = self.num_quantizers
        if drop:
            start_drop = random.randrange(self.quantize_dropout_cutoff_index, self.num_quantizers)
        for q, layer in enumerate(self.layers):
            if drop and q > start_drop:
                indices.append(torch.full((x.shape[0], x.shape[-1]), -1, dtype=torch.long, device=x.device))
                continue
            quantized, idx, loss, perplexity = layer(residual, temperature=sample_codebook_temp)
            residual = residual - quantized.detach()
            quantized_out = quantized_out + quantized
            indices.append(idx)
            losses.append(loss)
            perplexities.append(perplexity)
        commit = sum(losses) / len(losses)
        perplexity = sum(perplexities) / len(perplexities)
        return quantized_out, torch.stack(indices, dim=-1), commit, perplexity

    @torch.no_grad()
    def quantize(self, x):
        """Deterministic nearest-code assignment without touching the EMA state (used by `encode`).
        x (B, D, n) -> (indices (B, n, Q), codes (Q, B, D, n))."""
        b, d, n = x.shape
        residual = x.permute(0, 2, 1).reshape(b * n, d)                                  # (B*n, D)
        indices, codes = [], []
        for layer in self.layers:
            was_training = layer.training
            layer.eval()
            idx = layer.quantize(residual)                                               # (B*n,)
            layer.train(was_training)
            z_q = layer.dequantize(idx)                                                  # (B*n, D)
            residual = residual - z_q
            indices.append(idx.view(b, n))
            codes.append(z_q.view(b, n, d).permute(0, 2, 1))
        return torch.stack(indices, dim=-1), torch.stack(codes, dim=0)

    def get_codes_from_indices(self, indices):
        """indices (B, n, Q) with -1 for dropped layers -> codes (Q, B, n, D), zeros where -1."""
        q = indices.shape[-1]
        books = self.codebooks[:q]                                                       # (Q, K, D)
        safe = indices.clamp(min=0).permute(2, 0, 1)                                     # (Q, B, n)
        codes = torch.stack([books[i][safe[i]] for i in range(q)], dim=0)                # (Q, B, n, D)
        return codes.masked_fill((indices.permute(2, 0, 1) < 0).unsqueeze(-1), 0.0)
