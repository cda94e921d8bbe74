"""Named batches: the text-motion loaders' tuples read by field name instead of by position.

The datasets keep returning the official tuples (the golden vectors, the official collate function
and the evaluator wrappers are defined on that layout); code that consumes a batch turns it into one
of these dataclasses with the adapter of its dataset, and back with `to_tuple` where a tuple is
handed on.

    InterHumanBatch.from_tuple(batch)        (names, texts, motion1, motion2, lengths)
    InterXBatch.from_tuple(batch)            (word_embs, pos_ohot, captions, sent_lens, motion, lengths, tokens)
    loader_batch(batch, dataset_name)        -> the dataset's batch class
    pair_batch(batch, dataset_name)          -> PairBatch: texts, motion1, motion2, lengths (+ names)
    split_batch(batch, dataset_name)         -> (texts, motion1, motion2, lengths), PairBatch as a tuple
"""
from dataclasses import dataclass
from typing import Any, Optional

import torch

INTERX_PERSON_CHANNELS = 6  # Inter-X motion (.., 56, 12): person 1 in channels 0:6, person 2 in 6:12


@dataclass
class PairBatch:
    """What the generative models read from any dataset: one caption and two persons per sample."""
    texts: list                   # (B,) captions
    motion1: torch.Tensor         # (B, T, ...) float32, person 1 (InterHuman (B, T, 262); Inter-X (B, T, 56, 6))
    motion2: torch.Tensor         # (B, T, ...) float32, person 2
    lengths: torch.Tensor         # (B,) int64, valid frames
    names: Optional[list] = None  # (B,) clip names (InterHuman only)

    def as_tuple(self):
        """(texts, motion1, motion2, lengths): the layout the trainers unpack."""
        return self.texts, self.motion1, self.motion2, self.lengths


@dataclass
class InterHumanBatch:
    """The InterHuman text-motion loader's batch (`InterHumanDataset` items, default collation)."""
    names: Any                # (B,) clip names
    texts: Any                # (B,) captions
    motion1: Any              # (B, T, 262) person 1, normalised or not as the dataset was built
    motion2: Any              # (B, T, 262) person 2
    lengths: Any              # (B,) valid frames
    extra: tuple = ()         # any fields past the official five, handed on unchanged

    @classmethod
    def from_tuple(cls, batch):
        names, texts, motion1, motion2, lengths = batch[:5]
        return cls(names, texts, motion1, motion2, lengths, tuple(batch[5:]))

    def to_tuple(self):
        return (self.names, self.texts, self.motion1, self.motion2, self.lengths) + self.extra

    def persons(self):
        """-> (motion1, motion2) as given."""
        return self.motion1, self.motion2

    def pair(self):
        return PairBatch(list(self.texts), torch.as_tensor(self.motion1).float(),
                         torch.as_tensor(self.motion2).float(), torch.as_tensor(self.lengths).long(),
                         list(self.names))


@dataclass
class InterXBatch:
    """The Inter-X text-motion loader's batch (`InterXText2Motion` items, `data.interx.collate_fn`:
    sorted by sentence length, longest first). Motions are raw (never normalised)."""
    word_embs: Any            # (B, 37, 300) GloVe vectors of the caption tokens
    pos_ohot: Any             # (B, 37, 15) part-of-speech one-hot
    captions: Any             # (B,) captions
    sent_lens: Any            # (B,) tokens incl. sos/eos
    motion: Any               # (B, T, 56, 12): rows 0..54 [p1 6D | p2 6D], row 55 [t1, v1, t2, v2]
    lengths: Any              # (B,) valid frames
    tokens: Any = None        # (B,) "word/POS_..." strings
    extra: tuple = ()         # any fields past the official seven, handed on unchanged

    @classmethod
    def from_tuple(cls, batch):
        word_embs, pos_ohot, captions, sent_lens, motion, lengths = batch[:6]
        tokens = batch[6] if len(batch) > 6 else None
        return cls(word_embs, pos_ohot, captions, sent_lens, motion, lengths, tokens, tuple(batch[7:]))

    def to_tuple(self):
        head = (self.word_embs, self.pos_ohot, self.captions, self.sent_lens, self.motion, self.lengths)
        return head + ((self.tokens,) if self.tokens is not None else ()) + self.extra

    @property
    def texts(self):
        return self.captions

    def persons(self):
        """-> (person 1 (B, T, 56, 6), person 2 (B, T, 56, 6)), views of `motion`."""
        return (self.motion[..., :INTERX_PERSON_CHANNELS], self.motion[..., INTERX_PERSON_CHANNELS:])

    def pair(self):
        motion = torch.as_tensor(self.motion).float()
        return PairBatch(list(self.captions), motion[..., :INTERX_PERSON_CHANNELS],
                         motion[..., INTERX_PERSON_CHANNELS:], torch.as_tensor(self.lengths).long())


BATCHES = {"interhuman": InterHumanBatch, "interx": InterXBatch}


def loader_batch(batch, dataset_name):
    """A text-motion loader's tuple -> InterHumanBatch | InterXBatch."""
    if dataset_name not in BATCHES:
        raise ValueError(f"dataset_name must be one of {tuple(BATCHES)}, got {dataset_name!r}")
    return BATCHES[dataset_name].from_tuple(batch)


def pair_batch(batch, dataset_name):
    """A text-motion loader's tuple -> PairBatch (float32 motions, int64 lengths)."""
    return loader_batch(batch, dataset_name).pair()


def split_batch(batch, dataset_name):
    """A text-motion loader's tuple -> (texts, motion1, motion2, lengths in frames)."""
    return pair_batch(batch, dataset_name).as_tuple()
