"""Per-feature z-score of the 262-d per-person features (InterGen's statistics).

forward(x) = (x - mean) / std and backward(x) = x * std + mean, with no epsilon (as the official
code; our own statistics are floored at compute time instead, see prepare/compute_stats.py). The same
statistics serve both persons. Works on numpy arrays and torch tensors of shape (..., D).
"""
import numpy as np
import torch


class Normalizer:
    """z-score with fixed (D,) mean and std; numpy in -> numpy out, tensor in -> tensor out on the
    tensor's device and dtype."""

    def __init__(self, mean, std):
        mean = np.asarray(mean, dtype=np.float32)
        std = np.asarray(std, dtype=np.float32)
        if mean.shape != std.shape or mean.ndim != 1:
            raise ValueError(f"mean/std must be matching (D,) vectors, got {mean.shape} and {std.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise ValueError("normalisation stats must be finite with std > 0")
        self.mean, self.std = mean, std
        self._cache = {}

    def _stats_like(self, x):
        key = (x.device, x.dtype)
        if key not in self._cache:
            self._cache[key] = (torch.from_numpy(self.mean).to(x.device, x.dtype),
                                torch.from_numpy(self.std).to(x.device, x.dtype))
        return self._cache[key]

    def _check(self, x):
        if x.shape[-1] != self.mean.shape[0]:
            raise ValueError(f"expected (..., {self.mean.shape[0]}) features, got shape {tuple(x.shape)}")

    def forward(self, x):
        """(..., D) -> (x - mean) / std."""
        self._check(x)
        if isinstance(x, torch.Tensor):
            mean, std = self._stats_like(x)
            return (x - mean) / std
        return (x - self.mean) / self.std

    def backward(self, x):
        """(..., D) -> x * std + mean (the inverse of forward)."""
        self._check(x)
        if isinstance(x, torch.Tensor):
            mean, std = self._stats_like(x)
            return x * std + mean
        return x * self.std + self.mean

    __call__ = forward
