"""Building the VQ from options / official opt.txt, loading a run with load_vq, one-line errors for
missing files, the token layout of encode/forward_decoder, and the Inter-X FK losses."""
import argparse
import os

import numpy as np
import pytest
import torch

from models.vq.build import build_vq, load_vq
from models.vq.config import VQConfig
from models.vq.losses_interx import InterXGeometricLosses, forward_kinematics
from options.opt_io import save_options
from utils.files import MissingFileError, atomic_torch_save

TINY = dict(dataset_name="interhuman", width=16, code_dim=8, output_emb_width=8, nb_code=16, depth=1)


def _run_folder(root, name="vq_tiny", **cfg):
    opt = argparse.Namespace(**{**TINY, **cfg, "name": name})
    run = os.path.join(root, opt.dataset_name, name)
    save_options(opt, run)
    torch.manual_seed(0)
    model = build_vq(VQConfig.from_options(vars(opt)))
    model.quantizer.layers[0].codebook.normal_()
    atomic_torch_save({"vq_model": model.state_dict()}, os.path.join(run, "model", "best_fid.tar"))
    return model


def test_load_vq_restores_weights_in_eval_mode(tmp_path):
    ref = _run_folder(str(tmp_path))
    model, vq_opt = load_vq(str(tmp_path), "interhuman", "vq_tiny", device="cpu")
    assert not model.training and vq_opt.width == 16 and vq_opt.nb_code == 16
    for k, v in ref.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


OFFICIAL_OPT_TXT = """------------ Options -------------
batch_size: 256
code_dim: 8
dataset_name: interhuman
depth: 1
dilation_growth_rate: 3
down_t: 2
gpu_id: 0
is_continue: False
is_train: True
lr: 0.0002
milestones: [150000, 250000]
mu: 0.99
name: official
nb_code: 16
output_emb_width: 8
stride_t: 2
vq_act: relu
vq_norm: None
width: 16
-------------- End ----------------
"""


def test_load_vq_from_official_opt_txt(tmp_path):
    """An official run folder: opt.txt only ("key: value" lines between the official header and footer,
    vq_norm spelled as the string None), no opt.yaml. Every value comes back with its type and the
    model is the saved one."""
    ref = _run_folder(str(tmp_path), name="official").eval()
    run = os.path.join(tmp_path, "interhuman", "official")
    os.remove(os.path.join(run, "opt.yaml"))
    with open(os.path.join(run, "opt.txt"), "w") as f:
        f.write(OFFICIAL_OPT_TXT)
    model, vq_opt = load_vq(str(tmp_path), "interhuman", "official")
    assert vq_opt.vq_norm is None and vq_opt.vq_act == "relu"
    assert (vq_opt.width, vq_opt.nb_code, vq_opt.code_dim, vq_opt.depth) == (16, 16, 8, 1)
    assert isinstance(vq_opt.width, int) and vq_opt.mu == 0.99 and vq_opt.lr == 2e-4
    assert vq_opt.milestones == [150000, 250000] and vq_opt.is_continue is False and vq_opt.gpu_id == 0
    assert not any(isinstance(m, torch.nn.GroupNorm) for m in model.modules())
    for k, v in ref.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    x = torch.randn(1, 32, 262)
    with torch.no_grad():
        assert torch.equal(model.encode(x)[0], ref.encode(x)[0])


def test_missing_checkpoint_is_a_one_line_error_with_the_fix(tmp_path):
    _run_folder(str(tmp_path))
    with pytest.raises(MissingFileError) as e:
        load_vq(str(tmp_path), "interhuman", "vq_tiny", which_epoch="latest")
    msg = str(e.value)
    assert "\n" not in msg and "latest.tar" in msg and "train_vq.py" in msg and "--vq_which_epoch" in msg
    with pytest.raises(MissingFileError) as e:
        load_vq(str(tmp_path), "interhuman", "no_such_run")
    assert "no_such_run" in str(e.value) and "download_models.py" in str(e.value)


def test_token_layout_row_major_and_output_length():
    torch.manual_seed(0)
    model = build_vq(VQConfig.from_options(TINY)).eval()
    model.quantizer.layers[0].codebook.normal_()
    x = torch.randn(2, 61, 262)
    ids, _ = model.encode(x)
    assert ids.shape == (2, 5 * 15, 1)
    with torch.no_grad():
        out = model.forward_decoder(ids)
    assert out.shape == (2, 60, 262) and torch.all(out[..., 258:] == 0)
    # token index = row * T' + t: changing token 14 (row 0, last column) changes only the last frames
    changed = ids.clone()
    changed[:, 14] = (changed[:, 14] + 1) % 16
    with torch.no_grad():
        diff = (model.forward_decoder(changed) - out).abs().amax(dim=(0, 2))            # (T,)
    assert diff[:40].max() == 0 and diff[-4:].max() > 0


@pytest.mark.parametrize("dataset_name", ["interhuman", "interx"])
def test_cpu_feature_maps_are_channels_last_with_the_same_values(dataset_name, monkeypatch):
    """On CPU every convolution of encoder and decoder reads a channels-last map (encdec.conv_layout),
    and the result equals the plain NCHW computation up to float summation order."""
    import models.vq.encdec as encdec
    torch.manual_seed(0)
    model = build_vq(VQConfig.from_options({**TINY, "dataset_name": dataset_name})).eval()
    model.quantizer.layers[0].codebook.normal_()
    x = torch.randn(2, 32, 262) if dataset_name == "interhuman" else torch.randn(2, 32, 56, 6)
    seen = []
    hooks = [m.register_forward_pre_hook(lambda m, a: seen.append(a[0].is_contiguous(
        memory_format=torch.channels_last))) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    ids, _ = model.encode(x)
    with torch.no_grad():
        fast, _, _ = model(x)
        fast_decoded = model.forward_decoder(ids)
    for h in hooks:
        h.remove()
    assert len(seen) > 20 and all(seen)
    monkeypatch.setattr(encdec, "conv_layout", lambda t: t.contiguous())
    with torch.no_grad():
        plain, _, _ = model(x)
        plain_decoded = model.forward_decoder(ids)
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast_decoded, plain_decoded, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("gcn_all_frames", [False, True])
def test_bf16_autocast_training_pass_close_to_fp32(gcn_all_frames):
    """--amp bf16 on CPU: the VQ's training forward and backward run under autocast (graph layers
    included) and the reconstruction stays near the fp32 one."""
    torch.manual_seed(0)
    model = build_vq(VQConfig.from_options({**TINY, "gcn_all_frames": gcn_all_frames})).eval()
    model.quantizer.layers[0].codebook.normal_()
    x = torch.randn(2, 32, 262)
    with torch.no_grad():
        ref, _, _ = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _, _ = model(x)
    out.float().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.encoder.parameters())
    err = (out.float() - ref).abs().mean() / ref.abs().mean()
    assert 1e-4 < err < 0.05, err                                   # bf16 did run, and stayed close


def _fake_smplx(path, n_verts=60, seed=0):
    rng = np.random.default_rng(seed)
    parents = np.array([-1] + [max(0, (i - 1) // 2) for i in range(1, 55)] + [0] * 0)
    np.savez(path, v_template=rng.normal(size=(n_verts, 3)),
             J_regressor=rng.dirichlet(np.ones(n_verts), size=55),
             kintree_table=np.stack([parents, np.arange(55)]))


def test_interx_losses_fk_and_terms(tmp_path):
    path = str(tmp_path / "SMPLX_NEUTRAL.npz")
    with pytest.raises(MissingFileError):
        InterXGeometricLosses("l1_smooth", path)
    _fake_smplx(path)
    losses = InterXGeometricLosses("l1_smooth", path)
    ident = torch.tensor([1.0, 0, 0, 0, 1, 0])
    motion = ident.repeat(2, 8, 56, 1)                                                   # (B, T, 56, 6)
    motion[:, :, 55] = torch.tensor([0.5, 0.0, -1.0, 0, 0, 0])
    joints = losses.joints(motion)
    assert torch.allclose(joints, losses.rest + torch.tensor([0.5, 0.0, -1.0]), atol=1e-6)
    out = losses(motion, motion.clone())
    assert all(out[k].item() == 0 for k in ["loss_rec", "loss_explicit", "loss_vel", "loss_bn", "loss_fc"])
    # rotating the root by 90 degrees about y moves every joint rigidly: the geodesic is pi/2 on row 0
    rot = motion.clone()
    rot[:, :, 0] = torch.tensor([0.0, 0, -1, 0, 1, 0])                                  # rows of R_y(90)
    same_geo = out["loss_geo"].item()                  # acos(1 - 1e-7) floor of identical rotations
    out = losses(motion, rot)
    assert abs(out["loss_geo"].item() - (np.pi / 2 + 54 * same_geo) / 55) < 1e-5
    assert out["loss_bn"].item() < 1e-10 and out["loss_explicit"].item() > 0
    rest = losses.rest
    r = torch.eye(3).expand(1, 1, 55, 3, 3)
    assert torch.allclose(forward_kinematics(r, torch.zeros(1, 1, 3), rest, losses.parents)[0, 0], rest)
