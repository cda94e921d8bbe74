"""eval.py --gen_length_split: each generation batch runs as parts of similar length and the results
come back in the batch's order, for generation and for reaction."""
import argparse

import pytest
import torch

from models.mask_transformer.length_split import plan_parts
from utils.evaluation.sources import TransformerSource


class RecordingGenerator:
    """Stands in for InterMaskGenerator: output row i is filled with the caption's number, so the caller's
    order can be checked; records the lengths of every call."""

    def __init__(self):
        self.calls = []

    def _out(self, texts, lengths):
        lengths = torch.as_tensor(lengths)
        self.calls.append(lengths.tolist())
        tag = torch.tensor([float(t.split()[-1]) for t in texts])
        motion = tag[:, None, None].expand(len(texts), int(lengths.max()), 262).clone()   # (b, T, 262)
        return motion, -motion, lengths

    def generate(self, texts, lengths, **kw):
        return self._out(texts, lengths)

    def react(self, texts, m1, lengths, **kw):
        assert torch.equal(m1[:, 0, 0], torch.tensor([float(t.split()[-1]) for t in texts]))  # m1 rows follow
        return self._out(texts, lengths)


def _source(split, react=False):
    opt = argparse.Namespace(temperature=1.0, gumbel_sample=False, gen_react=react, gen_length_split=split)
    return TransformerSource(RecordingGenerator(), opt, 20, 2.0, 0.9, plan_parts)


@pytest.mark.parametrize("react", [False, True])
def test_parts_of_similar_length_back_in_batch_order(react):
    lengths = torch.tensor([120, 40, 200, 64, 300, 36, 88])
    texts = [f"caption {i}" for i in range(7)]
    m1 = torch.arange(7.0)[:, None, None].expand(7, 300, 262).clone()
    src = _source(3, react)
    g1, g2, n = src(texts, m1, m1.clone(), lengths)
    assert src.g.calls == [[36, 40, 64], [88, 120], [200, 300]]
    assert n == lengths.tolist()
    for i, k in enumerate(lengths.tolist()):
        assert g2[i].shape == (k, 262) and float(g2[i][0, 0]) == -i
        if not react:
            assert float(g1[i][0, 0]) == i
    whole = _source(1, react)
    _, g2_whole, n_whole = whole(texts, m1, m1.clone(), lengths)
    assert whole.g.calls == [lengths.tolist()] and n_whole == n
    assert all(torch.equal(a, b) for a, b in zip(g2, g2_whole))


def test_split_must_be_positive():
    with pytest.raises(ValueError, match="--gen_length_split"):
        _source(0)
