"""EMA codebook quantiser: initialisation, EMA update and dead-code reset, Gumbel vs deterministic
assignment, exact-resume state outside the official state dict."""
import torch

from models.vq.quantizer import QuantizeEMAReset, perplexity_of
from models.vq.residual_vq import ResidualVQ


def _batch(b=2, d=4, n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, n, generator=g)


def test_init_from_first_vectors_then_dead_code_reset():
    q = QuantizeEMAReset(nb_code=8, code_dim=4, mu=0.99).train()
    x1 = _batch(b=2, d=4, n=5)                                               # 10 vectors >= 8 codes
    flat1 = x1.permute(0, 2, 1).reshape(-1, 4)
    q(x1, temperature=0.0)
    assert bool(q.initialised)
    # init: codebook = first 8 vectors, count 1; each is its own nearest -> all still used
    assert torch.equal(q.codebook, q.code_sum / q.code_count[:, None])
    assert torch.allclose(q.codebook[:8], flat1[:8], atol=0.05)  # EMA moved them slightly
    # second batch sits on code 0: every other code's EMA count falls below 1 -> dead, and dead
    # code k is replaced by the second batch's vector k ((sample, token) order), not a random one
    x2 = flat1[0].view(1, 4, 1) + 1e-3 * _batch(b=2, d=4, n=5, seed=1)
    flat2 = x2.permute(0, 2, 1).reshape(-1, 4)
    q(x2, temperature=0.0)
    dead = q.code_count < 1.0
    assert dead.sum() >= 6
    assert torch.equal(q.codebook[dead], flat2[:8][dead])


def test_ema_update_formula():
    torch.manual_seed(0)
    q = QuantizeEMAReset(nb_code=4, code_dim=3, mu=0.9).train()
    q.codebook = torch.eye(4, 3) * 10
    q.code_sum = q.codebook.clone() * 2
    q.code_count = torch.full((4,), 2.0)
    q.initialised = torch.tensor(True)
    x = torch.tensor([[[10.1, 0.2], [0.0, 9.9], [0.0, 0.0]]], requires_grad=True)  # (1, 3, 2): codes 0, 1
    z_q, idx, commit, ppl = q(x, temperature=0.0)
    assert idx.tolist() == [[0, 1]]
    flat = x[0].t().detach()
    exp_sum = torch.eye(4, 3) * 20 * 0.9
    exp_sum[0] += 0.1 * flat[0]
    exp_sum[1] += 0.1 * flat[1]
    exp_count = torch.tensor([1.9, 1.9, 1.8, 1.8])
    assert torch.allclose(q.code_sum, exp_sum) and torch.allclose(q.code_count, exp_count)
    assert torch.allclose(q.codebook, exp_sum / exp_count[:, None])          # all codes still "used"
    assert torch.allclose(ppl, torch.tensor(2.0), rtol=1e-5)
    assert torch.allclose(commit, ((flat - q.codebook.new_tensor([[10, 0, 0], [0, 10, 0]])) ** 2).mean())
    # value: the (pre-update) code vectors; gradient: straight through to the encoder output
    assert torch.allclose(z_q, torch.tensor([[[10.0, 0.0], [0.0, 10.0], [0.0, 0.0]]]))
    z_q.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


def test_eval_mode_is_deterministic_and_frozen():
    q = QuantizeEMAReset(nb_code=16, code_dim=4).eval()
    q.codebook = torch.randn(16, 4)
    before = q.codebook.clone()
    x = _batch(b=3, d=4, n=7)
    a = q(x, temperature=0.5)[1]
    b = q(x, temperature=0.5)[1]
    flat = x.permute(0, 2, 1).reshape(-1, 4)
    nearest = torch.cdist(flat, q.codebook).argmin(-1).view(3, 7)
    assert torch.equal(a, b) and torch.equal(a, nearest) and torch.equal(q.codebook, before)


def test_training_assignment_is_gumbel_stochastic():
    q = QuantizeEMAReset(nb_code=16, code_dim=4).train()
    q.codebook = torch.randn(16, 4) * 0.1                                     # near-tied distances
    x = _batch(b=4, d=4, n=16) * 0.1
    flat = x.permute(0, 2, 1).reshape(-1, 4)
    torch.manual_seed(1)
    hot = q.quantize(flat, temperature=0.5)
    cold = q.quantize(flat, temperature=0.0)
    assert not torch.equal(hot, cold)
    assert torch.equal(cold, torch.cdist(flat, q.codebook).argmin(-1))


def test_ema_state_not_in_state_dict_and_roundtrips():
    rvq = ResidualVQ(num_quantizers=1, nb_code=8, code_dim=4).train()
    torch.manual_seed(0)
    rvq(_batch(b=2, d=4, n=3), sample_codebook_temp=0.5)                     # 6 vectors < 8: tiled
    assert list(rvq.state_dict()) == ["layers.0.codebook"]
    st = rvq.ema_state()
    other = ResidualVQ(num_quantizers=1, nb_code=8, code_dim=4)
    other.load_state_dict(rvq.state_dict(), strict=True)
    other.load_ema_state(st)
    assert bool(other.layers[0].initialised)
    assert torch.equal(other.layers[0].code_sum, rvq.layers[0].code_sum)
    assert torch.equal(other.layers[0].code_count, rvq.layers[0].code_count)


def test_perplexity_of_uniform_histogram():
    assert torch.allclose(perplexity_of(torch.tensor([3.0, 3.0, 3.0, 0.0])), torch.tensor(3.0), rtol=1e-5)


def test_codebook_is_a_buffer_that_follows_the_module():
    q = QuantizeEMAReset(nb_code=8, code_dim=4)
    assert "codebook" in dict(q.named_buffers()) and not list(q.parameters())
    q = q.to(torch.float64)
    assert q.codebook.dtype == torch.float64
