"""models/cpu_kernels/attention_dropout.py: the CPU training attention with attention-weight
dropout equals SDPA at p = 0, equals an explicit reference with the same mask at p > 0, draws its
mask with the right keep rate and reproducibly, and ignores padded keys; PackedAttention uses it only
in training mode with dropout > 0."""
import math

import pytest
import torch
import torch.nn.functional as F

import models.cpu_kernels.attention_dropout as ad
from models.mask_transformer import blocks
from models.cpu_kernels.attention_dropout import attention_dropout, dropout_keep_mask

# (B, H, Lq, Lk, E): self-attention and cross-attention (Lq != Lk)
SHAPES = [(3, 2, 9, 9, 8), (2, 3, 5, 11, 4)]


def _qkv(bsz, heads, lq, lk, dim, seed=0):
    """q, k, v as PackedAttention makes them: non-contiguous head views of projected tensors."""
    g = torch.Generator().manual_seed(seed)
    xq = torch.randn(bsz, lq, heads * dim, generator=g, dtype=torch.float64).float().requires_grad_()
    xkv = torch.randn(bsz, lk, 2 * heads * dim, generator=g).requires_grad_()
    q = xq.view(bsz, lq, heads, dim).transpose(1, 2)  # (B, H, Lq, E)
    k, v = xkv.view(bsz, lk, 2, heads, dim).permute(2, 0, 3, 1, 4)  # (B, H, Lk, E) each
    return q, k, v


def _padding(bsz, lk):
    pad = torch.zeros(bsz, lk, dtype=torch.bool)  # item 0 unpadded, the others lose 2, 4, ... keys
    for b in range(1, bsz):
        pad[b, lk - 2 * b:] = True
    return pad


def _reference(q, k, v, pad, keep, p):
    """Explicit attention with dropout: softmax(q k^T / sqrt(E), padded keys -inf) * keep / (1-p) @ v."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if pad is not None:
        scores = scores.masked_fill(pad[:, None, None, :], float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    if keep is not None:
        probs = probs * keep / (1 - p)
    return probs @ v


def _grads(out, tensors, seed=7):
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed))
    return torch.autograd.grad(out, tensors, g)


@pytest.fixture(params=[None, 40], ids=["one_chunk", "small_chunks"])
def chunk_elems(request, monkeypatch):
    """Default chunking, and chunks of a few heads / part of an item's heads."""
    if request.param is not None:
        monkeypatch.setattr(ad, "CHUNK_ELEMS", request.param)
    return request.param


@pytest.mark.parametrize("shape", SHAPES, ids=["self", "cross"])
@pytest.mark.parametrize("padded", [False, True], ids=["no_mask", "mask"])
def test_p0_equals_sdpa(shape, padded, chunk_elems):
    bsz, heads, lq, lk, dim = shape
    q, k, v = _qkv(*shape)
    pad = _padding(bsz, lk) if padded else None
    ours = attention_dropout(q, k, v, pad, 0.0)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=None if pad is None else (~pad)[:, None, None, :])
    assert ours.shape == ref.shape == (bsz, heads, lq, dim)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    for a, b in zip(_grads(ours, (q, k, v)), _grads(ref, (q, k, v))):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES, ids=["self", "cross"])
@pytest.mark.parametrize("padded", [False, True], ids=["no_mask", "mask"])
def test_dropout_equals_reference_with_same_mask(shape, padded, chunk_elems):
    bsz, heads, lq, lk, dim = shape
    p, seed = 0.3, 1234
    q, k, v = _qkv(*shape)
    pad = _padding(bsz, lk) if padded else None
    keep = dropout_keep_mask(seed, (bsz, heads, lq, lk), p)  # (B, H, Lq, Lk) bool
    assert 0 < keep.sum() < keep.numel()  # the mask does drop something
    ours = attention_dropout(q, k, v, pad, p, seed=seed)
    ref = _reference(q, k, v, pad, keep, p)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    for a, b in zip(_grads(ours, (q, k, v)), _grads(ref, (q, k, v))):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # and the mask matters: another mask gives another output
    assert not torch.allclose(ours, _reference(q, k, v, pad, dropout_keep_mask(seed + 1, keep.shape, p), p))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_keep_rate(p):
    shape = (4, 4, 128, 128)  # 262144 draws
    keep = dropout_keep_mask(99, shape, p)
    rate = 1 - round(p * 65536) / 65536  # exact keep probability (16-bit resolution)
    assert abs(rate - (1 - p)) <= 0.5 / 65536
    se = math.sqrt(rate * (1 - rate) / keep.numel())
    assert abs(keep.float().mean().item() - rate) < 4 * se
    # every 16-bit lane of the 64-bit draws is uniform (a lane without its top bit would keep far
    # more or less often), as is every query row position
    lanes = keep.flatten()[: keep.numel() // 4 * 4].view(-1, 4).float().mean(0)
    assert ((lanes - rate).abs() < 4 * se * 2).all(), lanes
    halves = keep.view(-1, 2, 128).float().mean((0, 2))  # first vs second half of the columns
    assert ((halves - rate).abs() < 4 * se * math.sqrt(2)).all(), halves


def test_masks_differ_between_calls_and_repeat_under_manual_seed():
    q, k, v = _qkv(2, 2, 16, 16, 4)
    torch.manual_seed(3)
    a, b = attention_dropout(q, k, v, None, 0.5), attention_dropout(q, k, v, None, 0.5)
    assert not torch.equal(a, b)
    torch.manual_seed(3)
    assert torch.equal(attention_dropout(q, k, v, None, 0.5), a)
    assert torch.equal(attention_dropout(q, k, v, None, 0.5), b)
    assert not torch.equal(dropout_keep_mask(1, (2, 2, 16, 16), 0.5), dropout_keep_mask(2, (2, 2, 16, 16), 0.5))


def test_backward_regenerates_the_forward_mask_after_other_draws():
    """Backward regenerates the mask from the call's own seed: random draws between forward and
    backward (other layers, other calls) do not change the gradients."""
    q, k, v = _qkv(2, 3, 8, 8, 4)
    torch.manual_seed(11)
    g1 = _grads(attention_dropout(q, k, v, None, 0.4), (q, k, v))
    torch.manual_seed(11)
    out = attention_dropout(q, k, v, None, 0.4)
    torch.rand(1000)
    attention_dropout(q, k, v, None, 0.4).sum().backward()  # another call's forward and backward
    for a, b in zip(g1, _grads(out, (q, k, v))):
        assert torch.equal(a, b)


@pytest.mark.parametrize("p", [0.0, 0.3])
def test_padded_keys_get_no_attention_and_no_gradient(p, chunk_elems):
    bsz, heads, lq, lk, dim = 3, 2, 6, 8, 4
    q, k, v = _qkv(bsz, heads, lq, lk, dim)
    pad = _padding(bsz, lk)
    pad[2] = True  # item 2: every key padded -> zero output and gradients, as SDPA
    out = attention_dropout(q, k, v, pad, p, seed=4)
    # junk in the padded keys and values changes nothing
    k2 = k.detach().clone()
    v2 = v.detach().clone()
    k2[pad[:, None, :, None].expand_as(k2)] = 1e4
    v2[pad[:, None, :, None].expand_as(v2)] = -1e4
    out2 = attention_dropout(q, k2, v2, pad, p, seed=4)
    torch.testing.assert_close(out, out2, rtol=0, atol=0)
    assert torch.isfinite(out).all() and (out[2] == 0).all() and (out[:2] != 0).any()
    gq, gk, gv = _grads(out, (q, k, v))
    keymask = pad[:, None, :, None].expand_as(gk)
    assert (gk[keymask] == 0).all() and (gv[keymask] == 0).all()
    assert (gk[~keymask] != 0).any() and (gv[~keymask] != 0).any()
    assert (gq[2] == 0).all() and (gq[:2] != 0).any()
    if p == 0.0:
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=(~pad)[:, None, None, :])
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)


def test_bfloat16_inputs_compute_in_float32():
    q, k, v = _qkv(2, 2, 8, 8, 4)
    qb, kb, vb = (t.detach().bfloat16().requires_grad_() for t in (q, k, v))
    out = attention_dropout(qb, kb, vb, None, 0.2, seed=8)
    assert out.dtype == torch.bfloat16
    ref = attention_dropout(qb.float(), kb.float(), vb.float(), None, 0.2, seed=8)
    torch.testing.assert_close(out.float(), ref, rtol=1e-2, atol=1e-2)
    out.float().sum().backward()
    assert qb.grad.dtype == torch.bfloat16 and torch.isfinite(qb.grad.float()).all()


def test_rejects_p_one():
    q, k, v = _qkv(1, 1, 2, 2, 2)
    with pytest.raises(ValueError):
        attention_dropout(q, k, v, None, 1.0)


def test_packed_attention_uses_it_only_when_training_with_dropout(monkeypatch):
    calls = []
    real = blocks.attention_dropout
    monkeypatch.setattr(blocks, "attention_dropout", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    torch.manual_seed(0)
    attn = blocks.PackedAttention(16, 4, 0.2)
    x, kv = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1, 4:] = True
    attn.eval()
    ev = attn(x, kv, key_padding_mask=pad)
    assert not calls
    # eval = plain SDPA without dropout
    sdpa = blocks.PackedAttention(16, 4, 0.0)
    sdpa.load_state_dict(attn.state_dict(), strict=True)
    torch.testing.assert_close(ev, sdpa(x, kv, key_padding_mask=pad), rtol=0, atol=0)
    sdpa.train()
    torch.testing.assert_close(ev, sdpa(x, kv, key_padding_mask=pad), rtol=0, atol=0)  # dropout 0: SDPA
    assert not calls
    attn.train()
    torch.manual_seed(1)
    tr = attn(x, kv, key_padding_mask=pad)
    assert calls and not torch.allclose(tr, ev)
    torch.manual_seed(1)
    torch.testing.assert_close(attn(x, kv, key_padding_mask=pad), tr, rtol=0, atol=0)
    tr.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in attn.parameters())
