"""Per-dataset layouts of the text-motion items the protocol draws, generates and batches.

An item has the fields of its dataset's batch (data.batches), unbatched. A layout reads its caption,
length and two persons, collates items into an evaluator batch, and makes the generated counterpart
of a GT item (the same caption, the generated motions)."""
import numpy as np
import torch
from torch.utils.data import default_collate

from data.batches import INTERX_PERSON_CHANNELS, InterHumanBatch, InterXBatch


class InterHumanItems:
    """(name, text, motion1 (300,262), motion2, length). Generated items keep only their valid rows
    (de-normalised); `collate` zero-pads to 300. Padding rows are masked by the evaluator (the
    official pads in normalised space, i.e. with the mean pose: same embeddings)."""
    max_length = 300

    def __init__(self, mean, std):
        self.mean, self.std = torch.from_numpy(mean), torch.from_numpy(std)

    text = staticmethod(lambda it: InterHumanBatch.from_tuple(it).texts)
    length = staticmethod(lambda it: int(InterHumanBatch.from_tuple(it).lengths))

    @staticmethod
    def persons(it):
        b = InterHumanBatch.from_tuple(it)
        return torch.as_tensor(b.motion1), torch.as_tensor(b.motion2)

    def collate(self, items):
        def pad(m):
            out = np.zeros((self.max_length, m.shape[-1]), np.float32)
            out[:len(m)] = m[:self.max_length]
            return out
        items = [InterHumanBatch.from_tuple(it) for it in items]
        return default_collate([InterHumanBatch(b.names, b.texts, pad(b.motion1), pad(b.motion2), b.lengths).to_tuple()
                                for b in items])

    def generated(self, it, g1, g2, n):
        """g1, g2 (n, 262) normalised -> de-normalised, valid rows only."""
        g1, g2 = ((g[:self.max_length].cpu() * self.std + self.mean).numpy() for g in (g1, g2))
        return InterHumanBatch("generated", self.text(it), g1, g2, int(n)).to_tuple()


class InterXItems:
    """(word_embs, pos_ohot, caption, sent_len, motion (150,56,12), length, tokens), raw values."""
    max_length = 150

    def __init__(self, collate=None):
        self.collate = collate or default_collate

    text = staticmethod(lambda it: InterXBatch.from_tuple(it).captions)
    length = staticmethod(lambda it: int(InterXBatch.from_tuple(it).lengths))

    @staticmethod
    def persons(it):
        motion = torch.as_tensor(InterXBatch.from_tuple(it).motion)
        return motion[..., :INTERX_PERSON_CHANNELS], motion[..., INTERX_PERSON_CHANNELS:]

    def generated(self, it, g1, g2, n):
        """g1, g2 (n, 56, 6) -> the item with motion (150, 56, 12) [g1 | g2], zero past n."""
        motion = np.zeros((self.max_length, 56, 12), np.float32)
        n = min(int(n), self.max_length)
        motion[:n] = torch.cat([g1[:n], g2[:n]], dim=-1).cpu().numpy()
        b = InterXBatch.from_tuple(it)
        b.motion, b.lengths = motion, n
        return b.to_tuple()
