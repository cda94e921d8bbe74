"""The trainer back-propagates the first pass before running the step-unroll pass (half the live
graph): its gradients must equal one backward of ce1 + step_unroll * ce2, text head included, with
dropout on (every random draw must come out in the same order)."""
import argparse

import pytest
import torch

from models.mask_transformer.train_step import TrainStep
from models.mask_transformer.trainer import TransformerTrainer
from models.mask_transformer.transformer import MaskTransformer
from models.vq.build import build_vq
from models.vq.config import VQConfig
from tests.test_transformer_model import _randomise

TINY_VQ = dict(dataset_name="interhuman", nb_code=32, code_dim=16, output_emb_width=16, width=16, depth=1)
TINY_T = dict(num_tokens=32, code_dim=16, latent_dim=32, ff_size=64, n_layers=2, n_heads=2, clip_dim=32,
              text_width=24, dropout=0.2)


class FixedTower:
    """A frozen stand-in text tower: fixed random token states per caption (no download)."""

    def encode(self, texts, device="cpu"):
        rows = [torch.randn(6, 24, generator=torch.Generator().manual_seed(sum(map(ord, t)))) for t in texts]
        hidden = torch.stack(rows).to(device)  # (B, 6, 24)
        return hidden, torch.full((len(texts),), 5, dtype=torch.long), None


def _trainer(unroll, accum=1):
    torch.manual_seed(0)
    vq = build_vq(VQConfig.from_options(TINY_VQ))
    vq.quantizer.layers[0].codebook.normal_()
    model = _randomise(MaskTransformer(**TINY_T, step_unroll=unroll), seed=1).set_text_tower(FixedTower())
    opt = argparse.Namespace(grad_accum=accum, amp="none", length_buckets=0, model_dir="unused")
    return TransformerTrainer(opt, model.train(), vq, "cpu")


def _batch(bsz=4, lengths=(64, 48, 40, 24)):
    g = torch.Generator().manual_seed(2)
    m1, m2 = torch.randn(bsz, 80, 262, generator=g), torch.randn(bsz, 80, 262, generator=g)
    texts = [f"two people greet, take {i}" for i in range(bsz)]
    return [str(i) for i in range(bsz)], texts, m1, m2, torch.tensor(lengths)


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("unroll", [1.0, 0.5, 0.0])
def test_split_backward_equals_joint_backward(unroll):
    torch.set_num_threads(1)
    trainer = _trainer(unroll)
    model, batch = trainer.model, _batch()
    ids, texts, m_lens, steps_full, _ = trainer._inputs(batch, None)  # fills the token cache

    torch.manual_seed(5)
    loss, acc = model(ids, model.encode_text(texts), m_lens, steps_full=steps_full)
    (loss * 0.5).backward()
    joint = _grads(model)
    model.zero_grad(set_to_none=True)

    torch.manual_seed(5)
    loss_s, acc_s = trainer.micro_step(TrainStep(model), batch, scale=0.5)
    split = _grads(model)

    assert torch.allclose(loss_s, loss.detach(), rtol=1e-6, atol=1e-6) and abs(float(acc_s) - float(acc)) < 1e-6
    assert joint.keys() == split.keys()
    assert any(k.startswith("clipTrans") for k in split) and "text_proj.weight" in split
    for name, g in joint.items():
        assert torch.allclose(split[name], g, rtol=1e-4, atol=1e-6), (name, (split[name] - g).abs().max())
    # the step-unroll pass really contributes (else the test above would not see a wrong split)
    if unroll:
        model.zero_grad(set_to_none=True)
        torch.manual_seed(5)
        ce1, _, _ = model.first_pass(ids, model.encode_text(texts), m_lens, steps_full)
        (ce1 * 0.5).backward()
        first_only = _grads(model)
        assert max((first_only[n] - g).abs().max() for n, g in joint.items()) > 1e-4
