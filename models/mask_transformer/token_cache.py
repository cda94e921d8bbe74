"""VQ code ids of every person motion the transformer trainer has seen, so each crop/mirror/order
variant is encoded once instead of every step (the VQ-VAE is frozen during transformer training).

Each new motion is encoded behind a dummy sample, so it never sits at batch position 0, where the
official VQ's graph layers add messages (the official trainer gives that variant to 1 sample in 52).
`enabled=False` encodes every batch as the official code does."""
import hashlib

import numpy as np
import torch


class TokenCache:
    """VQ code ids per person motion, keyed by a hash of its bytes. ids are (5*T//4,) int16 on CPU."""

    def __init__(self, vq, device, enabled=True, max_entries=2_000_000):
        self.vq, self.device, self.enabled, self.max_entries = vq, device, enabled, max_entries
        self._store = {}

    @staticmethod
    def key(motion):
        arr = np.ascontiguousarray(motion.numpy())
        return hashlib.blake2b(arr.tobytes(), digest_size=16).digest() + str(arr.shape).encode()

    @torch.no_grad()
    def _encode(self, motions):
        ids, _ = self.vq.encode(motions.to(self.device))  # (b, 5*T', 1)
        return ids[..., 0].cpu()

    @torch.no_grad()
    def __call__(self, motions):
        """motions (B, T, ...) normalised, CPU -> ids (B, 5*(T//4)) long on the device."""
        if not self.enabled:
            return self._encode(motions).to(self.device)
        keys = [self.key(m) for m in motions]
        missing = [i for i, k in enumerate(keys) if k not in self._store]
        if missing:
            todo = torch.stack([motions[i] for i in missing])
            dummy = torch.zeros_like(todo[:1])  # takes batch position 0 (official VQ graph quirk)
            fresh = self._encode(torch.cat([dummy, todo]))[1:]
            for row, i in enumerate(missing):
                if len(self._store) < self.max_entries:
                    self._store[keys[i]] = fresh[row].to(torch.int16)
            got = {i: fresh[row] for row, i in enumerate(missing)}
        else:
            got = {}
        out = torch.stack([got[i] if i in got else self._store[keys[i]].long() for i in range(len(keys))])
        return out.long().to(self.device)

    def __len__(self):
        return len(self._store)
