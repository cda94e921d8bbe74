"""InterMaskGenerator: loading a run (transformer + the VQ its options name + statistics), batched
generation with per-sample lengths, reaction and editing, seeding, de-normalisation."""
import argparse
import os

import numpy as np
import pytest
import torch

from models.mask_transformer.build import build_transformer, checkpoint_state

from models.mask_transformer.config import TransformerConfig
from models.pipeline import InterMaskGenerator
from options.opt_io import save_options
from tests.test_transformer_model import _randomise
from utils.files import atomic_torch_save

TINY_VQ = dict(dataset_name="interhuman", nb_code=32, code_dim=16, output_emb_width=16, width=16, depth=1)
TINY_T = dict(num_tokens=32, code_dim=16, latent_dim=32, ff_size=64, n_layers=1, n_heads=2, clip_dim=64,
              text_encoder="minilm", vq_name="vq_tiny", dataset_name="interhuman", name="trans_tiny")


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    from models.vq.build import build_vq
    from models.vq.config import VQConfig
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("pipe")
    ckpt, stats = root / "checkpoints", root / "stats"
    os.makedirs(stats)
    np.save(stats / "global_mean.npy", np.linspace(-1, 1, 262).astype(np.float32))
    np.save(stats / "global_std.npy", np.linspace(0.5, 2, 262).astype(np.float32))
    vq_run = ckpt / "interhuman" / "vq_tiny"
    save_options(argparse.Namespace(**TINY_VQ, name="vq_tiny"), str(vq_run))
    torch.manual_seed(0)
    vq = build_vq(VQConfig.from_options(TINY_VQ))
    vq.quantizer.layers[0].codebook.normal_()
    atomic_torch_save({"vq_model": vq.state_dict()}, str(vq_run / "model" / "best_fid.tar"))
    run = ckpt / "interhuman" / "trans_tiny"
    save_options(argparse.Namespace(**TINY_T), str(run))
    model = _randomise(build_transformer(TransformerConfig.from_options(TINY_T)), seed=3)
    atomic_torch_save({"t2m_transformer": checkpoint_state(model)}, str(run / "model" / "best_fid.tar"))
    return InterMaskGenerator.from_run(str(ckpt), "interhuman", "trans_tiny", "best_fid", "cpu",
                                       stats_dir=str(stats))


TEXTS = ["two people shake hands", "one person pushes the other", "they dance"]


def test_generate_batched_lengths_and_seed(gen):
    torch.set_num_threads(1)
    m1, m2, out_len = gen.generate(TEXTS, [90, 41, 64], time_steps=4, topkr=0.5, seed=0)
    assert out_len.tolist() == [88, 40, 64]
    assert m1.shape == (3, 88, 262) and m2.shape == (3, 88, 262)
    for b, n in enumerate(out_len.tolist()):
        assert (m1[b, n:] == 0).all() and (m2[b, n:] == 0).all()
        assert m1[b, :n].abs().sum() > 0 and (m1[b, :n, 258:] == 0).all()  # contacts 0 as the VQ outputs
    again = gen.generate(TEXTS, [90, 41, 64], time_steps=4, topkr=0.5, seed=0)
    assert torch.equal(again[0], m1) and torch.equal(again[1], m2)
    # a sample's result does not depend on the others in its batch (per-sample decoding)
    alone = gen.generate(TEXTS[:1], [90], time_steps=4, topkr=1.0)
    batch = gen.generate(TEXTS, [90, 41, 64], time_steps=4, topkr=1.0)
    assert torch.allclose(alone[0][0], batch[0][0], atol=1e-5)


def test_react_keeps_person_one_tokens(gen):
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(1)
    motion1 = torch.randn(2, 300, 262, generator=g)
    r1, r2, out_len = gen.react(TEXTS[:2], motion1, [80, 60], time_steps=4, topkr=0.5, seed=2)
    for b, frames in enumerate([80, 60]):
        ids, _ = gen.vq.encode(motion1[b:b + 1])
        steps = frames // 4
        tok = ids[0, :, 0].view(5, -1)[:, :steps].reshape(1, -1, 1)
        want = gen.vq.forward_decoder(tok)[0]
        assert torch.allclose(r1[b, :frames], want, atol=1e-5)
    assert r2.shape == r1.shape and out_len.tolist() == [80, 60]


def test_edit_regenerates_only_inside_the_span(gen):
    torch.set_num_threads(1)
    m1, m2, _ = gen.generate(TEXTS[:2], [64, 64], time_steps=3, topkr=1.0)
    ids = torch.cat([gen.encode_person(m1, torch.tensor([16, 16]), 16),
                     gen.encode_person(m2, torch.tensor([16, 16]), 16)], dim=1)
    e1, e2, _ = gen.edit(TEXTS[:2], m1, m2, [64, 64], (20, 40), which_person="person2", time_steps=3,
                         topkr=0.0, seed=4)
    ref1, ref2 = gen.decode(ids, torch.tensor([16, 16]))  # what editing nothing would give
    assert torch.allclose(e1, ref1, atol=1e-6)  # person 1 is not edited
    assert not torch.allclose(e2, ref2)  # person 2's span is regenerated
    with pytest.raises(ValueError, match="span_frames"):
        gen.edit(TEXTS[:1], m1[:1], m2[:1], [64], (30, 10))


def test_denormalize_and_errors(gen):
    x = torch.zeros(1, 4, 262)
    raw = gen.denormalize(x)
    assert torch.allclose(raw[0, 0], gen.mean) and torch.allclose(gen.normalize(raw), x, atol=1e-6)
    with pytest.raises(ValueError, match="4 frames"):
        gen.generate(TEXTS[:1], [3])


def test_interx_layout(gen):
    """Inter-X: (B, T, 56, 6) per person, not normalised; the same transformer and loop."""
    from models.vq.build import build_vq
    from models.vq.config import VQConfig
    torch.set_num_threads(1)
    torch.manual_seed(0)
    vq = build_vq(VQConfig.from_options(dict(TINY_VQ, dataset_name="interx"))).eval()
    vq.quantizer.layers[0].codebook.normal_()
    g = InterMaskGenerator(gen.transformer, vq, None, None, "cpu", "interx")
    m1, m2, out_len = g.generate(TEXTS[:2], [48, 30], time_steps=3, topkr=0.5, seed=0)
    assert m1.shape == (2, 48, 56, 6) and out_len.tolist() == [48, 28] and (m2[1, 28:] == 0).all()
    r1, r2, _ = g.react(TEXTS[:2], torch.randn(2, 48, 56, 6), [48, 30], time_steps=2, topkr=0.5, seed=0)
    assert r2.shape == (2, 48, 56, 6) and torch.equal(g.denormalize(r1), r1)


def test_bf16_autocast_within_tolerance(gen):
    """--amp bf16 (the stated tolerance): the transformer's logits differ from float32 by at most 6% of their
    spread (1% on average), the argmax agrees wherever float32 has a clear winner, and greedy generation
    picks (nearly) the same tokens; the VQ decode stays float32, so the outputs are float32 motion."""
    torch.set_num_threads(1)
    model = gen.transformer
    g = torch.Generator().manual_seed(5)
    ids = torch.randint(0, 32, (3, 10 * 16), generator=g)                       # (B, 10S)
    pad = torch.zeros_like(ids, dtype=torch.bool)
    pad[1, 5 * 16 - 30:] = True
    with torch.no_grad():
        c = model.condition(model.encode_text(TEXTS))                          # (B, D)
        ref = model.logits_from(ids, c, pad)                                    # (B, 10S, K) float32
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model.logits_from(ids, c, pad)
    err = (low.float() - ref).abs()
    assert low.dtype == torch.bfloat16
    assert float(err.max() / ref.std()) < 0.06 and float(err.mean() / ref.std()) < 0.01
    margin = ref.topk(2, dim=-1).values.diff(dim=-1).abs().squeeze(-1)          # top-1 vs top-2 gap
    clear = margin > 0.1 * ref.std()
    assert (low.float().argmax(-1) == ref.argmax(-1))[clear].float().mean() > 0.99

    bf16 = InterMaskGenerator(model, gen.vq, gen.mean, gen.std, "cpu", amp="bf16")
    from models.mask_transformer import sampler
    m_lens = torch.tensor([16, 12, 16])
    with torch.no_grad():
        a = sampler.generate(model, TEXTS, m_lens, time_steps=4, topk_filter_thres=1.0)   # (B, 10S) greedy
        with bf16._autocast():
            b = sampler.generate(model, TEXTS, m_lens, time_steps=4, topk_filter_thres=1.0)
    print("token agreement", float((a == b).float().mean()))
    assert float((a == b).float().mean()) > 0.9
    b1, b2, _ = bf16.generate(TEXTS, [64, 48, 64], time_steps=4, topkr=0.5, seed=0)
    assert b1.dtype == torch.float32 and b1.shape == (3, 64, 262)
    with pytest.raises(ValueError, match="amp must be one of"):
        InterMaskGenerator(model, gen.vq, gen.mean, gen.std, "cpu", amp="fp8")


def test_bf16_generation_casts_each_weight_once(gen):
    """Under --amp bf16 the sampling loop runs outside inference_mode, so autocast casts each trainable
    weight to bf16 once per generation instead of once per step: the number of weight casts does not
    grow with the number of steps."""
    from torch.profiler import profile
    torch.set_num_threads(1)
    model = gen.transformer
    d = model.latent_dim
    # cross-attention reads the packed in-projection through views (D x D queries, 2D x D keys/values);
    # autocast caches whole leaf tensors only, so those are re-cast per step (3 D^2 per block, negligible)
    views = {repr([d, d]), repr([2 * d, d])}
    weight_shapes = {repr(list(m.weight.shape)) for m in model.modules()
                     if isinstance(m, torch.nn.Linear) and m.weight.requires_grad} - views
    bf16 = InterMaskGenerator(model, gen.vq, gen.mean, gen.std, "cpu", amp="bf16")

    def weight_casts(steps):
        with profile(record_shapes=True) as prof:
            # one token step: at most 2 x 10 activation rows, fewer than any weight's rows (no shape clash)
            bf16.generate(TEXTS[:1], [4], time_steps=steps, topkr=0.5, seed=0)
        return sum(e.count for e in prof.key_averages(group_by_input_shape=True)
                   if e.key == "aten::_to_copy" and e.input_shapes and repr(e.input_shapes[0]) in weight_shapes)

    few, many = weight_casts(2), weight_casts(6)
    assert 0 < few and many == few, (few, many)


def test_sampling_computes_each_modulation_once(gen):
    """The condition is fixed during sampling, so every adaLN modulator runs once per generation (not
    once per step), with the same result as recomputing it; outside sampling it runs on every call."""
    from models.mask_transformer.blocks import Modulator, reuse_condition
    torch.set_num_threads(1)
    model = gen.transformer
    mods = [m for m in model.modules() if isinstance(m, Modulator)]
    calls = []
    hooks = [m.model.register_forward_hook(lambda mod, i, o: calls.append(1)) for m in mods]
    try:
        for steps in (2, 5):
            calls.clear()
            gen.generate(TEXTS[:2], [32, 20], time_steps=steps, topkr=0.5, seed=0)
            assert len(calls) == len(mods), (steps, len(calls), len(mods))
        c = torch.randn(2, model.latent_dim)
        calls.clear()
        fresh = [mods[0](c), mods[0](c)]
        with reuse_condition(model):
            memo = [mods[0](c), mods[0](c)]
        assert len(calls) == 3 and mods[0]._memo is None
        assert all(torch.equal(a, b) for a, b in zip(fresh[0], memo[1]))
    finally:
        for h in hooks:
            h.remove()
