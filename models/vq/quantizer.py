"""EMA codebook quantiser with dead-code reset (the official `QuantizeEMAReset`).

- The codebook (nb_code, code_dim) is a buffer: saved in the state dict (official key
  `...codebook`), not trained by the optimiser, and it follows `.to(device)`.
- First training forward: the codebook is set to the first nb_code vectors of the batch (tiled with
  noise of std 0.01/sqrt(code_dim) if the batch is smaller).
- Assignment by squared L2 distance. In training with temperature > 0 (RVQVAE.forward passes 0.5)
  the index is argmax(-dist/temperature + Gumbel noise), i.e. stochastic; otherwise the argmin.
- EMA update in training (mu): code_sum, code_count; codes whose EMA count < 1 are "dead" and are
  replaced by the first nb_code vectors of the current batch (not random ones, as official).
- Commitment loss MSE(z_e, sg(z_q)); output z_e + sg(z_q - z_e) (straight-through).

Exact resume: the official code keeps code_sum, code_count and the init flag as plain attributes,
so they are lost on save and a resumed run re-initialises the codebook. Here they are
non-persistent buffers (so official checkpoints still load with strict=True) and `ema_state()` /
`load_ema_state()` carry them through our checkpoints.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def gumbel_noise(like):
    """-log(-log(U)), U ~ U(0,1), with the log clamped at 1e-20 as the official helper."""
    u = torch.zeros_like(like).uniform_(0, 1)
    return -torch.log((-torch.log(u.clamp(min=1e-20))).clamp(min=1e-20))


def perplexity_of(code_count):
    """exp(entropy) of a code histogram (nb_code,), with the official +1e-7 inside the log."""
    prob = code_count / torch.sum(code_count)
    return torch.exp(-torch.sum(prob * torch.log(prob + 1e-7)))


class QuantizeEMAReset(nn.Module):
    def __init__(self, nb_code, code_dim, mu=0.99):
        super().__init__()
        self.nb_code = nb_code
        self.code_dim = code_dim
        self.mu = mu
        self.register_buffer("codebook", torch.zeros(nb_code, code_dim))                 # (K, D)
        self.register_buffer("code_sum", torch.zeros(nb_code, code_dim), persistent=False)
        self.register_buffer("code_count", torch.zeros(nb_code), persistent=False)
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool), persistent=False)

    # ---- exact-resume state ----------------------------------------------------------------------
    def ema_state(self):
        return {"code_sum": self.code_sum.detach().cpu().clone(),
                "code_count": self.code_count.detach().cpu().clone(),
                "initialised": bool(self.initialised)}

    def load_ema_state(self, st):
        dev = self.codebook.device
        self.code_sum = st["code_sum"].to(dev)
        self.code_count = st["code_count"].to(dev)
        self.initialised = torch.tensor(bool(st["initialised"]), device=dev)

    # ---- codebook maintenance --------------------------------------------------------------------
    def _tile(self, x):
        """(N, D) -> at least nb_code rows: repeated with small noise when N < nb_code."""
        n, d = x.shape
        if n >= self.nb_code:
            return x
        repeats = (self.nb_code + n - 1) // n
        out = x.repeat(repeats, 1)
        return out + torch.randn_like(out) * (0.01 / np.sqrt(d))

    @torch.no_grad()
    def init_codebook(self, x):
        """x (N, D): codebook <- first nb_code (tiled) vectors; code_sum = codebook, code_count = 1."""
        self.codebook = self._tile(x)[: self.nb_code].clone()
        self.code_sum = self.codebook.clone()
        self.code_count = torch.ones(self.nb_code, device=x.device)
        self.initialised = torch.tensor(True, device=x.device)

    @torch.no_grad()
    def update_codebook(self, x, code_idx):
        """EMA update with dead-code reset; returns this batch's perplexity. x (N, D), code_idx (N,)."""
        onehot = torch.zeros(self.nb_code, x.shape[0], device=x.device)                 # (K, N)
        onehot.scatter_(0, code_idx.view(1, -1), 1)
        batch_sum = torch.matmul(onehot, x)                                              # (K, D)
        batch_count = onehot.sum(dim=-1)                                                 # (K,)
        replacements = self._tile(x)[: self.nb_code]                                     # (K, D)
        self.code_sum = self.mu * self.code_sum + (1.0 - self.mu) * batch_sum
        self.code_count = self.mu * self.code_count + (1.0 - self.mu) * batch_count
        used = (self.code_count.view(self.nb_code, 1) >= 1.0).float()                    # (K, 1)
        updated = self.code_sum.view(self.nb_code, self.code_dim) / self.code_count.view(self.nb_code, 1)
        self.codebook = used * updated + (1.0 - used) * replacements
        return perplexity_of(batch_count)

    @torch.no_grad()
    def compute_perplexity(self, code_idx):
        onehot = torch.zeros(self.nb_code, code_idx.shape[0], device=code_idx.device)
        onehot.scatter_(0, code_idx.view(1, -1), 1)
        return perplexity_of(onehot.sum(dim=-1))

    # ---- assignment ------------------------------------------------------------------------------
    def quantize(self, x, temperature=0.0):
        """x (N, D) -> code indices (N,). Gumbel-perturbed in training when temperature > 0."""
        k_w = self.codebook.t()                                                          # (D, K)
        distance = (torch.sum(x ** 2, dim=-1, keepdim=True) - 2 * torch.matmul(x, k_w)
                    + torch.sum(k_w ** 2, dim=0, keepdim=True))                          # (N, K)
        if self.training and temperature and temperature > 0:
            logits = -distance / temperature + gumbel_noise(distance)
            return logits.argmax(dim=-1)
        return torch.argmin(distance, dim=-1)

    def dequantize(self, code_idx):
        return F.embedding(code_idx, self.codebook)

    def forward(self, x, temperature=0.0):
        """x (B, D, n) -> (z_q straight-through (B, D, n), code_idx (B, n), commit_loss, perplexity)."""
        b, d, n = x.shape
        flat = x.permute(0, 2, 1).reshape(b * n, d)                                      # (B*n, D)
        if self.training and not bool(self.initialised):
            self.init_codebook(flat.detach())
        code_idx = self.quantize(flat, temperature)                                      # (B*n,)
        z_q = self.dequantize(code_idx)                                                  # (B*n, D)
        if self.training:
            perplexity = self.update_codebook(flat.detach(), code_idx)
        else:
            perplexity = self.compute_perplexity(code_idx)
        commit_loss = F.mse_loss(flat, z_q.detach())
        z_q = flat + (z_q - flat).detach()
        z_q = z_q.view(b, n, d).permute(0, 2, 1).contiguous()
        return z_q, code_idx.view(b, n), commit_loss, perplexity
