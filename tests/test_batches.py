"""data/batches.py: the named view of each loader's tuple reads the official fields in place and writes
the same tuple back; the pair view splits Inter-X's motion into its two persons."""
import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from data.batches import InterHumanBatch, InterXBatch, loader_batch, pair_batch, split_batch
from data.interx import collate_fn


def _interhuman(B=3, T=300):
    rng = np.random.default_rng(0)
    items = [(f"clip{i}", f"caption {i}", rng.normal(size=(T, 262)).astype(np.float32),
              rng.normal(size=(T, 262)).astype(np.float32), 40 + 10 * i) for i in range(B)]
    return default_collate(items)


def _interx(B=3, T=150):
    rng = np.random.default_rng(1)
    items = [(rng.normal(size=(37, 300)).astype(np.float32), np.eye(15, dtype=np.float32)[rng.integers(15, size=37)],
              f"caption {i}", 5 + i, rng.normal(size=(T, 56, 12)).astype(np.float32), 60 + 4 * i, f"tok{i}/NOUN")
             for i in range(B)]
    return collate_fn(items)


def test_interhuman_fields_in_the_official_order():
    batch = _interhuman()
    b = loader_batch(batch, "interhuman")
    assert isinstance(b, InterHumanBatch) and list(b.names) == ["clip0", "clip1", "clip2"]
    assert list(b.texts) == ["caption 0", "caption 1", "caption 2"] and b.lengths.tolist() == [40, 50, 60]
    assert b.motion1 is batch[2] and b.motion2 is batch[3]
    back = b.to_tuple()
    assert len(back) == 5 and all(x is y for x, y in zip(back, batch))
    texts, m1, m2, lengths = split_batch(batch, "interhuman")
    assert texts == list(batch[1]) and torch.equal(m1, batch[2]) and torch.equal(m2, batch[3])
    assert lengths.dtype == torch.int64 and lengths.tolist() == [40, 50, 60]
    assert pair_batch(batch, "interhuman").names == ["clip0", "clip1", "clip2"]


def test_interx_fields_and_persons():
    batch = _interx()
    b = loader_batch(batch, "interx")
    assert isinstance(b, InterXBatch)
    assert b.sent_lens.tolist() == [7, 6, 5] and list(b.captions) == ["caption 2", "caption 1", "caption 0"]  # collate sorts
    assert list(b.tokens) == ["tok2/NOUN", "tok1/NOUN", "tok0/NOUN"] and b.lengths.tolist() == [68, 64, 60]
    back = b.to_tuple()
    assert len(back) == 7 and all(x is y for x, y in zip(back, batch))
    texts, m1, m2, lengths = split_batch(batch, "interx")
    assert texts == list(b.captions) and m1.shape == m2.shape == (3, 150, 56, 6)
    assert torch.equal(m1, batch[4][..., :6]) and torch.equal(m2, batch[4][..., 6:])
    assert torch.equal(torch.cat([m1, m2], -1), batch[4])
    p1, p2 = b.persons()
    assert torch.equal(p1, batch[4][..., :6]) and torch.equal(p2, batch[4][..., 6:])
    assert pair_batch(batch, "interx").names is None


def test_interx_new_motion_keeps_the_text_fields():
    b = loader_batch(_interx(), "interx")
    b.motion, b.lengths = torch.zeros(3, 150, 56, 12), torch.tensor([8, 8, 8])
    out = b.to_tuple()
    assert out[2] == b.captions and out[6] == b.tokens and out[5].tolist() == [8, 8, 8]


def test_unknown_dataset_is_named():
    with pytest.raises(ValueError, match="'hml3d'"):
        loader_batch(_interhuman(), "hml3d")
