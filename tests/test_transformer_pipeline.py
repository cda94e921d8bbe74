"""InterMaskGenerator: loading a run (transformer + the VQ its options name + statistics), batched
generation with per-sample lengths, reaction and editing, seeding, de-normalisation."""
import argparse
import os

import numpy as np
import pytest
import torch

from models.mask_transformer.build import build_transformer, checkpoint_state
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
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("pipe")
    ckpt, stats = root / "checkpoints", root / "stats"
    os.makedirs(stats)
    np.save(stats / "global_mean.npy", np.linspace(-1, 1, 262).astype(np.float32))
    np.save(stats / "global_std.npy", np.linspace(0.5, 2, 262).astype(np.float32))
    vq_run = ckpt / "interhuman" / "vq_tiny"
    save_options(argparse.Namespace(**TINY_VQ, name="vq_tiny"), str(vq_run))
    torch.manual_seed(0)
    vq = build_vq(TINY_VQ)
    vq.quantizer.layers[0].codebook.normal_()
    atomic_torch_save({"vq_model": vq.state_dict()}, str(vq_run / "model" / "best_fid.tar"))
    run = ckpt / "interhuman" / "trans_tiny"
    save_options(argparse.Namespace(**TINY_T), str(run))
    model = _randomise(build_transformer(TINY_T), seed=3)
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
    torch.set_num_threads(1)
    torch.manual_seed(0)
    vq = build_vq(dict(TINY_VQ, dataset_name="interx")).eval()
    vq.quantizer.layers[0].codebook.normal_()
    g = InterMaskGenerator(gen.transformer, vq, None, None, "cpu", "interx")
    m1, m2, out_len = g.generate(TEXTS[:2], [48, 30], time_steps=3, topkr=0.5, seed=0)
    assert m1.shape == (2, 48, 56, 6) and out_len.tolist() == [48, 28] and (m2[1, 28:] == 0).all()
    r1, r2, _ = g.react(TEXTS[:2], torch.randn(2, 48, 56, 6), [48, 30], time_steps=2, topkr=0.5, seed=0)
    assert r2.shape == (2, 48, 56, 6) and torch.equal(g.denormalize(r1), r1)
