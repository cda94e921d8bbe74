"""The bulk-mask activation dropout: nn.Dropout's distribution, scaling and gradient, seeded, and used
by every dropout module of the VQ-VAE and the transformer."""
import math

import pytest
import torch
from torch import nn

from models.cpu_kernels.activation_dropout import Dropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5, 0.9])
def test_drop_rate_and_scale(p):
    torch.manual_seed(0)
    n = 1 << 22
    out = Dropout(p).train()(torch.ones(n))
    kept = out != 0
    rate = 1 - kept.float().mean().item()
    want = round(p * 65536) / 65536
    assert abs(rate - want) < 6 * math.sqrt(want * (1 - want) / n)
    assert torch.equal(out[kept], torch.full_like(out[kept], 1 / (1 - p)))


def test_mask_has_no_structure():
    """Neighbouring elements (the four 16-bit parts of one 64-bit draw) are independent."""
    torch.manual_seed(1)
    keep = keep_mask((1 << 20, 4), 0.5).float()                                 # one row = one draw
    corr = torch.corrcoef(keep.T)
    assert (corr - torch.eye(4)).abs().max() < 0.01


def test_gradient_is_the_forward_mask_scaled():
    torch.manual_seed(2)
    x = torch.randn(6, 50, 32, requires_grad=True)
    out = Dropout(0.3).train()(x)
    g = torch.randn_like(out)
    out.backward(g)
    keep = out.detach() != 0
    assert 0.6 < keep.float().mean() < 0.8
    torch.testing.assert_close(out.detach(), x.detach() * keep / 0.7)
    torch.testing.assert_close(x.grad, g * keep / 0.7)


def test_seeded_and_fresh_per_call():
    d = Dropout(0.1).train()
    x = torch.ones(1000)
    torch.manual_seed(3)
    a, b = d(x), d(x)
    torch.manual_seed(3)
    assert torch.equal(d(x), a)
    assert not torch.equal(a, b)


def test_falls_back_to_nn_dropout_where_it_does_not_apply():
    x = torch.randn(100)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))
    torch.manual_seed(4)
    y = x.clone()
    out = Dropout(0.5, inplace=True).train()(y)
    assert out is y
    assert 20 < int((out == 0).sum()) < 80


def test_bf16_input_keeps_its_dtype():
    torch.manual_seed(5)
    x = torch.randn(64, 64, dtype=torch.bfloat16, requires_grad=True)
    out = Dropout(0.1).train()(x)
    out.sum().backward()
    assert out.dtype == torch.bfloat16 and x.grad.dtype == torch.bfloat16


def test_models_use_it_for_every_dropout():
    from models.mask_transformer.build import build_transformer
    from models.mask_transformer.config import TransformerConfig
    from models.vq.build import build_vq
    from models.vq.config import VQConfig
    from benchmark_cases import TINY_TRANS, TINY_VQ
    for model in (build_vq(VQConfig.from_options(dict(dataset_name="interhuman", **TINY_VQ))),
                  build_transformer(TransformerConfig.from_options(dict(TINY_TRANS)))):
        plain = [name for name, m in model.named_modules() if type(m) is nn.Dropout]
        ours = [name for name, m in model.named_modules() if isinstance(m, Dropout)]
        assert ours
        # only the text-side encoder layers (nn.TransformerEncoderLayer, 77 tokens) keep torch's modules
        assert all(name.startswith("clipTrans.") for name in plain), plain


def test_channels_last_input_gets_a_mask_in_its_memory_order():
    """A channels-last feature map (the VQ-VAE's layout on CPU) keeps its layout through the dropout,
    its mask is the random stream laid out in memory order, and a contiguous tensor's mask is the
    stream in logical order, as before."""
    x = torch.randn(2, 8, 5, 6).contiguous(memory_format=torch.channels_last).requires_grad_()
    torch.manual_seed(6)
    out = Dropout(0.4).train()(x)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.manual_seed(6)
    stream = keep_mask((2, 5, 6, 8), 0.4)                                       # (B, H, W, C) memory order
    keep = stream.permute(0, 3, 1, 2)                                           # (B, C, H, W)
    torch.testing.assert_close(out.detach(), x.detach() * keep / 0.6)
    g = torch.randn_like(out)
    out.backward(g)
    torch.testing.assert_close(x.grad, g * keep / 0.6)
    y = x.detach().contiguous()
    torch.manual_seed(6)
    plain = Dropout(0.4).train()(y)
    torch.manual_seed(6)
    torch.testing.assert_close(plain, y * keep_mask(tuple(y.shape), 0.4) / 0.6)
