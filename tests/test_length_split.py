"""--length_split: a micro-batch run as length-sorted parts, each cropped to its own longest clip, must
give the unsplit micro-batch's loss, accuracy and gradients (every dropout off, so every draw is shared),
in both masking modes, with and without step unroll."""
import argparse
import itertools

import pytest
import torch

from models.mask_transformer import length_split
from models.mask_transformer.length_split import parse_length_split, part_cost, part_overhead, plan_parts
from models.mask_transformer.train_step import TrainStep
from models.mask_transformer.trainer import TransformerTrainer
from models.mask_transformer.transformer import MaskingDraws, MaskTransformer
from models.vq.build import build_vq
from models.vq.config import VQConfig
from tests.test_split_backward import TINY_VQ, FixedTower, _grads
from tests.test_transformer_model import _randomise

TINY_T = dict(num_tokens=32, code_dim=16, latent_dim=32, ff_size=64, n_layers=2, n_heads=2, clip_dim=32,
              text_width=24, dropout=0.0, cond_drop_prob=0.0)
LENGTHS = (64, 24, 48, 40, 12, 72)


def _trainer(unroll, split):
    torch.manual_seed(0)
    vq = build_vq(VQConfig.from_options(TINY_VQ))
    vq.quantizer.layers[0].codebook.normal_()
    model = _randomise(MaskTransformer(**TINY_T, step_unroll=unroll), seed=1).set_text_tower(FixedTower())
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):  # including the text layers' fixed 0.1
            m.p = 0.0
        if isinstance(m, torch.nn.MultiheadAttention):  # and their attention-weight dropout
            m.dropout = 0.0
    opt = argparse.Namespace(grad_accum=1, amp="none", length_buckets=0, length_split=split, model_dir="unused")
    return TransformerTrainer(opt, model.train(), vq, "cpu")


def _batch():
    g = torch.Generator().manual_seed(2)
    bsz = len(LENGTHS)
    m1, m2 = torch.randn(bsz, 80, 262, generator=g), torch.randn(bsz, 80, 262, generator=g)
    return [str(i) for i in range(bsz)], [f"two people greet, take {i}" for i in range(bsz)], m1, m2, \
        torch.tensor(LENGTHS)


def _run(unroll, split, interaction):
    trainer = _trainer(unroll, split)
    steps_full = 20
    g = torch.Generator().manual_seed(7)
    draws = MaskingDraws.sample(len(LENGTHS), steps_full, 32, float(interaction), "cpu", generator=g)
    assert draws.interaction == interaction
    trainer.step_draws = lambda it, micro, bsz, sf: draws  # the same draws for both runs
    loss, acc = trainer.micro_step(TrainStep(trainer.model), _batch(), position=(0, 0), scale=0.5)
    return loss, acc, _grads(trainer.model)


@pytest.mark.parametrize("unroll", [1.0, 0.0])
@pytest.mark.parametrize("interaction", [0, 1])
def test_split_equals_whole_batch(unroll, interaction, monkeypatch):
    torch.set_num_threads(1)
    loss, acc, grads = _run(unroll, 1, interaction)
    # a part's fixed cost as for the default model, so that auto does split this tiny model's batch
    monkeypatch.setattr(length_split, "AUTO_OVERHEAD_MACS", part_overhead(384, 1024) * (16 * 32 ** 2 + 4 * 32 * 64))
    assert len(_trainer(unroll, "auto").plan(torch.tensor(LENGTHS) // 4)) > 1
    for split in (2, 4, "auto"):  # 4 parts of 6 clips: 2, 2, 1, 1 (odd parts under interaction masking)
        loss_s, acc_s, grads_s = _run(unroll, split, interaction)
        assert torch.allclose(loss_s, loss, rtol=1e-5, atol=1e-6), (split, loss_s, loss)
        assert abs(float(acc_s) - float(acc)) < 1e-5
        assert grads_s.keys() == grads.keys() and "text_proj.weight" in grads
        for name, g in grads.items():
            assert torch.allclose(grads_s[name], g, rtol=1e-4, atol=1e-6), (split, name, (grads_s[name] - g).abs().max())


def test_counts_match_the_passes():
    """supervised_count / unroll_supervised_count predict what the passes supervise, on any part."""
    trainer = _trainer(1.0, 1)
    model = trainer.model
    ids, texts, m_lens, steps_full, _ = trainer._inputs(_batch(), None)
    draws = MaskingDraws.sample(len(LENGTHS), steps_full, 32, 0.0, "cpu", generator=torch.Generator().manual_seed(3))
    idx = torch.tensor([4, 1, 3])
    part = draws.subset(idx)
    m_part = m_lens[idx]
    from models.mask_transformer.transformer import crop_layout
    ids_part = crop_layout(ids[idx], ids.shape[1] // 10, int(m_part.max()))
    with torch.no_grad():
        _, _, state = model.first_pass(ids_part, model.encode_text([texts[i] for i in idx]), m_part, steps_full, part)
        model.second_pass(state, model.encode_text([texts[i] for i in idx]))
    assert model.supervised_count(m_part, steps_full, part) == int(state["pass1"]["labels"].ne(model.mask_id).sum())
    assert model.unroll_supervised_count(state) == int(state["pass2"]["labels"].ne(model.mask_id).sum())
    assert 0 < model.unroll_supervised_count(state) < model.supervised_count(m_part, steps_full, part)


def test_subset_keeps_each_samples_interaction_choice():
    draws = MaskingDraws.sample(6, 5, 32, 1.0, "cpu", generator=torch.Generator().manual_seed(0))
    full = draws.masked_persons(6, "cpu")
    idx = torch.tensor([5, 0, 3])
    assert torch.equal(draws.subset(idx).masked_persons(3, "cpu"), full[idx])
    assert full[:3, 0].eq(full[0, 0]).all() and full[3:, 0].eq(~full[0, 0]).all()   # the official halves


def test_length_split_must_be_positive():
    with pytest.raises(ValueError, match="--length_split"):
        _trainer(1.0, 0)


@pytest.mark.parametrize("bad", ["0", "-2", "2.5", "four", ""])
def test_parse_length_split_rejects(bad):
    with pytest.raises(ValueError, match="--length_split"):
        parse_length_split(bad)


def test_option_default_is_auto_and_usage_error():
    from options.trans_option import TrainT2MOptions
    assert TrainT2MOptions().parse([]).length_split == "auto"
    assert TrainT2MOptions().parse(["--length_split", "4"]).length_split == 4
    assert parse_length_split("AUTO") == "auto" and parse_length_split(1) == 1
    with pytest.raises(SystemExit):
        TrainT2MOptions().parse(["--length_split", "0"])


OVERHEAD = part_overhead(384, 1024)


def _brute_force_cost(steps):
    """Lowest summed part_cost over every way of cutting the sorted lengths into contiguous parts."""
    s = sorted(steps)
    best = float("inf")
    for k in range(len(s)):
        for cuts in itertools.combinations(range(1, len(s)), k):
            bounds = (0,) + cuts + (len(s),)
            best = min(best, sum(part_cost(b - a, s[b - 1], OVERHEAD) for a, b in zip(bounds, bounds[1:])))
    return best


def test_auto_plan_is_the_cheapest_cut_of_the_sorted_batch():
    g = torch.Generator().manual_seed(0)
    for trial in range(30):
        steps = torch.randint(2, 76, (int(torch.randint(1, 9, (1,), generator=g)),), generator=g)
        parts = plan_parts(steps, "auto")
        flat = torch.cat(parts)
        assert sorted(flat.tolist()) == list(range(len(steps)))                     # every clip once
        got = [steps[p] for p in parts]
        assert all(a.max() <= b.min() for a, b in zip(got, got[1:]))              # parts in length order
        cost = sum(part_cost(len(p), int(p.max()), OVERHEAD) for p in got)
        assert cost == pytest.approx(_brute_force_cost(steps.tolist())), steps


def test_auto_keeps_equal_lengths_whole_and_cuts_a_wide_mix():
    assert len(plan_parts(torch.full((8,), 30), "auto")) == 1
    parts = plan_parts(torch.tensor([65, 50, 42, 25, 28, 10, 12, 8]), "auto")
    assert 3 <= len(parts) <= 8
    assert [len(p) for p in plan_parts(torch.arange(10), 4)] == [3, 3, 2, 2]        # N: equal counts
    # a smaller model pays relatively more per part, so it cuts less
    assert part_overhead(128, 256) > 5 * part_overhead(384, 1024)
    close = torch.tensor([23, 24, 25, 26, 27, 28, 29, 30])
    assert len(plan_parts(close, "auto", part_overhead(128, 256))) < len(plan_parts(close, "auto"))


def test_trainer_parts_off_and_off_the_cpu(monkeypatch):
    lengths = torch.tensor([3, 18, 6, 16])
    assert _trainer(1.0, 1).plan(lengths) == [None]
    trainer = _trainer(1.0, "auto")
    assert len(trainer.plan(lengths)) == 1          # this tiny model pays more per part than it saves
    monkeypatch.setattr(length_split, "AUTO_OVERHEAD_MACS", 1e5)
    assert len(trainer.plan(lengths)) > 1
    assert trainer.plan(lengths[:1]) == [None]
    for device in ("cuda", "mps"):                       # auto splits only on CPU, where it was measured
        trainer.device = torch.device(device)
        assert trainer.plan(lengths) == [None]
    assert len(_trainer(1.0, 2).plan(lengths)) == 2
