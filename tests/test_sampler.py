"""Invariants of generate / generate_reaction / edit: lengths and pads respected, fixed tokens never
change, step counts, seeding, the temperature switch, and the model's mode restored."""
import pytest
import torch

from models.mask_transformer import sampler
from models.mask_transformer.build import build_transformer
from models.mask_transformer.config import TransformerConfig
from tests.test_transformer_model import TINY, _randomise

K = TINY["num_tokens"]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return _randomise(build_transformer(TransformerConfig.from_options(TINY)), seed=7).eval()


@pytest.fixture(scope="module")
def feat():
    return torch.randn(3, TINY["clip_dim"], generator=torch.Generator().manual_seed(2))


M_LENS = torch.tensor([7, 3, 5])
S = 7


def _pad_layout(m_lens=M_LENS, steps=S):
    t = torch.arange(steps)
    return (t[None] >= m_lens[:, None]).repeat(1, 10)  # (B, 10S)


def test_generate_respects_lengths_and_never_samples_specials(model, feat):
    torch.set_num_threads(1)
    trace = {}
    out = sampler.generate(model, feat, M_LENS, time_steps=6, cond_scale=2.5, topk_filter_thres=0.5, seed=0,
                           trace=trace)
    pad = _pad_layout()
    assert out.shape == (3, 10 * S)
    assert torch.equal(out == -1, pad)
    assert ((out[~pad] >= 0) & (out[~pad] < K)).all()
    assert len(trace["num_masked"]) == 6
    assert torch.equal(trace["num_masked"][0], 10 * M_LENS)  # first step masks everything
    assert torch.equal(trace["num_masked"][-1], torch.ones(3, dtype=torch.long))  # official last step: 1
    for ids_in in trace["input_ids"]:  # pads stay PAD in every network input
        assert (ids_in[pad] == model.pad_id).all()


def test_generate_is_seeded_and_restores_mode(model, feat):
    torch.set_num_threads(1)
    model.train()
    a = sampler.generate(model, feat, M_LENS, time_steps=5, topk_filter_thres=0.5, seed=123)
    assert model.training
    model.eval()
    b = sampler.generate(model, feat, M_LENS, time_steps=5, topk_filter_thres=0.5, seed=123)
    c = sampler.generate(model, feat, M_LENS, time_steps=5, topk_filter_thres=0.5, seed=124)
    g = sampler.generate(model, feat, M_LENS, time_steps=5, topk_filter_thres=0.5, seed=5, gsample=True)
    g2 = sampler.generate(model, feat, M_LENS, time_steps=5, topk_filter_thres=0.5, seed=5, gsample=True)
    assert torch.equal(a, b) and not torch.equal(a, c) and torch.equal(g, g2)


def test_temperature_switch(model, feat):
    """Official quirk: temperature has no effect on categorical sampling; the switch makes it divide
    the logits (very low temperature = argmax decoding)."""
    torch.set_num_threads(1)
    kw = dict(time_steps=5, topk_filter_thres=0.0, seed=3)
    base = sampler.generate(model, feat, M_LENS, temperature=1.0, **kw)
    assert torch.equal(base, sampler.generate(model, feat, M_LENS, temperature=0.01, **kw))
    cold = sampler.generate(model, feat, M_LENS, temperature=1e-4, temperature_on_logits=True, **kw)
    greedy = sampler.generate(model, feat, M_LENS, topk_filter_thres=1.0, time_steps=5)
    assert torch.equal(cold, greedy) and not torch.equal(cold, base)


def test_reaction_keeps_person_one_and_step_count(model, feat):
    torch.set_num_threads(1)
    ids1 = torch.randint(0, K, (3, 5 * S), generator=torch.Generator().manual_seed(9))
    pad = _pad_layout()
    for half, steps in ((True, 4), (False, 8)):
        trace = {}
        out = sampler.generate_reaction(model, feat, ids1, M_LENS, time_steps=8, topk_filter_thres=0.5,
                                        half_steps=half, seed=1, trace=trace)
        assert len(trace["num_masked"]) == steps
        assert torch.equal(trace["num_masked"][0], 5 * M_LENS)
        p1_pad = pad[:, :5 * S]
        assert torch.equal(out[:, :5 * S][~p1_pad], ids1[~p1_pad]) and (out[:, :5 * S][p1_pad] == -1).all()
        assert torch.equal(out == -1, pad) and (out[~pad] < K).all()
        for ids_in in trace["input_ids"]:  # person 1 is never masked
            assert (ids_in[:, :5 * S][~p1_pad] < K).all()


def test_edit_changes_only_the_span(model, feat):
    torch.set_num_threads(1)
    base = sampler.generate(model, feat, M_LENS, time_steps=4, topk_filter_thres=0.5, seed=0)
    for which in ("both", "person1", "person2"):
        editable = sampler.span_editable(M_LENS, S, 1, 4, which)
        trace = {}
        out = sampler.edit(model, feat, base, M_LENS, editable, time_steps=4, topk_filter_thres=0.0, seed=11,
                           trace=trace)
        pad = _pad_layout()
        fixed = ~editable | pad
        assert torch.equal(out[fixed], base[fixed])
        assert (out[editable & ~pad] >= 0).all()
        assert torch.equal(trace["num_masked"][0], (editable & ~pad).sum(dim=1))
        assert not torch.equal(out, base)  # full-vocabulary sampling regenerates something
    # nothing editable for a sample (span beyond its length): it stays exactly as it was
    editable = sampler.span_editable(M_LENS, S, 5, 7, "both")
    out = sampler.edit(model, feat, base, M_LENS, editable, time_steps=3, topk_filter_thres=0.0, seed=2)
    assert torch.equal(out[1], base[1])


def test_reaction_equals_edit_of_person_two(model, feat):
    """Reaction generation is the special case 'person 2 editable' of the editing loop."""
    torch.set_num_threads(1)
    ids1 = torch.randint(0, K, (3, 5 * S), generator=torch.Generator().manual_seed(4))
    react = sampler.generate_reaction(model, feat, ids1, M_LENS, time_steps=6, topk_filter_thres=0.5, seed=8,
                                      half_steps=False)
    ids = torch.cat([ids1, torch.zeros_like(ids1)], dim=1)
    editable = sampler.span_editable(M_LENS, S, 0, S, "person2")
    edited = sampler.edit(model, feat, ids, M_LENS, editable, time_steps=6, topk_filter_thres=0.5, seed=8)
    assert torch.equal(react, edited)


def test_bad_inputs_give_clear_errors(model, feat):
    with pytest.raises(ValueError, match="m_lens"):
        sampler.generate(model, feat, torch.tensor([3, 0, 2]))
    with pytest.raises(ValueError, match="motion1_ids"):
        sampler.generate_reaction(model, feat, torch.zeros(3, 4, dtype=torch.long), M_LENS)
    with pytest.raises(ValueError, match="which"):
        sampler.span_editable(M_LENS, S, 0, 2, "person3")
