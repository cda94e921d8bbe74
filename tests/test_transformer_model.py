"""Invariants of the Inter-M network and objective that the speed-ups and the samplers rely on."""
import copy

import pytest
import torch

from models.mask_transformer.build import build_transformer, load_transformer, checkpoint_state

from models.mask_transformer.config import TransformerConfig
from models.mask_transformer.transformer import MaskingDraws, crop_layout, lengths_to_pad

TINY = dict(num_tokens=32, code_dim=16, latent_dim=32, ff_size=64, n_layers=2, n_heads=4, dropout=0.2,
            clip_dim=64, cond_drop_prob=0.1)


def _randomise(model, seed=0):
    """Official init zeroes every adaLN gate; redraw everything so all paths matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) / (p.shape[-1] ** 0.5 if p.dim() > 1 else 10))
    return model


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return _randomise(build_transformer(TransformerConfig.from_options(TINY))).eval()


def _inputs(bsz, steps, m_lens, seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, TINY["num_tokens"], (bsz, 10 * steps), generator=g)
    feat = torch.randn(bsz, TINY["clip_dim"], generator=g)
    return ids, feat, torch.tensor(m_lens)


def test_outputs_do_not_depend_on_padding(model):
    """Logits at real positions are the same whether the batch is padded to its own longest length or
    to the official 300-frame layout with junk in the padding (so training may skip the padding)."""
    torch.set_num_threads(1)
    ids, feat, m_lens = _inputs(3, 12, [12, 7, 3])
    steps = int(m_lens.max())
    pad = lengths_to_pad(m_lens, steps)
    with torch.no_grad():
        short = model.trans_forward(torch.where(pad, model.pad_id, ids), feat, pad)  # (B, K, 10S)
        big_steps = 19
        big_ids = torch.randint(0, TINY["num_tokens"], (3, 10 * big_steps))
        big_ids.view(3, 10, big_steps)[:, :, :steps] = ids.view(3, 10, steps)
        big_pad = lengths_to_pad(m_lens, big_steps)
        big = model.trans_forward(torch.where(big_pad, model.pad_id, big_ids), feat, big_pad)
    big = crop_layout(big.permute(0, 2, 1), big_steps, steps).permute(0, 2, 1)
    real = ~pad
    diff = (short - big).abs().permute(0, 2, 1)[real].max()
    assert diff < 1e-5 * short.abs().max()


def test_objective_on_cropped_layout_equals_padded_layout(model):
    """forward(ids cropped to S, steps_full) == forward(ids on the full padded layout) for the same
    draws: masking ratios and step-unroll counts use the padded length either way."""
    torch.set_num_threads(1)
    bsz, steps_full = 4, 15
    ids_full, feat, m_lens = _inputs(bsz, steps_full, [9, 4, 6, 9], seed=3)
    steps = int(m_lens.max())
    for interaction in (0, 1):
        g = torch.Generator().manual_seed(10 + interaction)
        draws = MaskingDraws.sample(bsz, steps_full, TINY["num_tokens"], float(interaction), "cpu", g)
        with torch.no_grad():
            loss_f, acc_f, det_f = model(ids_full, feat, m_lens, draws=draws, details=True)
            loss_c, acc_c, det_c = model(crop_layout(ids_full, steps_full, steps), feat, m_lens,
                                         steps_full=steps_full, draws=draws, details=True)
        assert torch.equal(crop_layout(det_f["pass2"]["labels"], steps_full, steps), det_c["pass2"]["labels"])
        assert torch.equal(crop_layout(det_f["pass2"]["x_ids"], steps_full, steps), det_c["pass2"]["x_ids"])
        assert abs(float(loss_f) - float(loss_c)) < 1e-5 * float(loss_f)
        assert abs(float(acc_f) - float(acc_c)) < 1e-6


def test_person_swap_equivariance(model):
    torch.set_num_threads(1)
    ids, feat, m_lens = _inputs(2, 8, [8, 5], seed=4)
    pad = lengths_to_pad(m_lens, 8)
    ids = torch.where(pad, model.pad_id, ids)
    swap = lambda x: torch.cat([x[..., 40:], x[..., :40]], dim=-1)  # noqa: E731
    with torch.no_grad():
        a = model.trans_forward(ids, feat, pad)
        b = model.trans_forward(swap(ids), feat, pad)
    assert (swap(a) - b).abs().max() < 1e-5 * a.abs().max()
    assert (a - b).abs().max() > 1e-2  # and the two persons do differ


def test_double_residual_switch_at_official_init():
    """Official init: gates are zero, so a block doubles the person tokens (quirk) and leaves SEP."""
    torch.manual_seed(0)
    m = build_transformer(TransformerConfig.from_options(dict(TINY, n_layers=1)))
    block = m.Transformer.blocks[0]
    x = torch.randn(2, 2 * 5 * 3 + 1, TINY["latent_dim"])
    c = torch.randn(2, TINY["latent_dim"])
    pad = torch.zeros(2, x.shape[1], dtype=torch.bool)
    with torch.no_grad():
        y = block.eval()(x, c, pad)
        block.spa_temp_attn.double_residual = False
        y_plain = block(x, c, pad)
    assert torch.allclose(y[:, :15], 2 * x[:, :15]) and torch.allclose(y[:, 16:], 2 * x[:, 16:])
    assert torch.equal(y[:, 15], x[:, 15])
    assert torch.allclose(y_plain, x)


def test_cross_kv_switch_changes_the_model(model):
    ids, feat, m_lens = _inputs(2, 6, [6, 4], seed=5)
    pad = lengths_to_pad(m_lens, 6)
    other = copy.deepcopy(model)
    for blk in other.Transformer.blocks:
        blk.cross_kv_pre_st = False
    with torch.no_grad():
        assert (model.trans_forward(ids, feat, pad) - other.trans_forward(ids, feat, pad)).abs().max() > 1e-3


def test_masking_draw_statistics():
    g = torch.Generator().manual_seed(0)
    n_inter, rid, mid, tot = 0, 0.0, 0.0, 0
    for _ in range(400):
        d = MaskingDraws.sample(4, 5, 32, 0.2, "cpu", g)
        n_inter += d.interaction
        rid += d.rid.float().mean().item()
        mid += d.mid.float().mean().item()
        tot += 1
        assert d.rand_id.max() < 32 and d.rid.shape == (4, 50)
    assert 0.14 < n_inter / 400 < 0.26
    assert abs(rid / tot - 0.1) < 0.01 and abs(mid / tot - 0.88) < 0.01


def test_condition_dropout_and_null_condition(model):
    feat = torch.randn(2000, TINY["clip_dim"])
    m = copy.deepcopy(model).train()
    torch.manual_seed(0)
    dropped = (m.mask_cond(feat).abs().sum(dim=1) == 0).float().mean().item()
    assert 0.08 < dropped < 0.12
    assert torch.equal(model.mask_cond(feat), feat)  # eval mode: unchanged
    assert torch.allclose(model.condition(feat[:3], force_mask=True), model.cond_emb.bias.expand(3, -1))


def test_save_and_load_run_roundtrip(tmp_path, model):
    from options.opt_io import save_options
    import argparse
    opt = argparse.Namespace(**TINY, text_encoder="clip", name="t", dataset_name="interhuman")
    save_options(opt, tmp_path)
    (tmp_path / "model").mkdir()
    torch.save({"t2m_transformer": checkpoint_state(model)}, tmp_path / "model" / "best_fid.tar")
    loaded, lopt = load_transformer(str(tmp_path), "best_fid", "cpu", with_text_tower=False)
    assert not loaded.training and lopt.latent_dim == TINY["latent_dim"]
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    with pytest.raises(FileNotFoundError, match="train_transformer.py"):
        load_transformer(str(tmp_path), "latest", "cpu", with_text_tower=False)
