"""Parity of the Inter-M transformer with the official code (golden vectors transformer.npz,
keyshapes.json): text head, condition vectors, conditional/unconditional logits with padding, the
eval-mode training objective with the saved random draws, and the full-size key layout."""
import fnmatch

import numpy as np
import torch

from models.mask_transformer.build import build_transformer, checkpoint_state, count_parameters

from models.mask_transformer.config import TransformerConfig
from models.mask_transformer.transformer import MaskingDraws
from tests.conftest import assert_close

FILE = "transformer.npz"


def build_reference_model(vectors):
    """The small model of transformer.npz, strict-loaded with its official state dict."""
    z = vectors.npz(FILE)
    cfg = dict(vectors.config(FILE))
    head = cfg.get("text_head", {})
    if head:
        assert head.get("d_model", cfg["clip_dim"]) == cfg["clip_dim"] and not head.get("norm_first", False)
        cfg.update(text_heads=head["nhead"], text_ff_size=head["dim_feedforward"], text_layers=head["num_layers"])
    model = build_transformer(TransformerConfig.from_options(cfg), "cpu")
    model.load_state_dict(vectors.state_dict(z), strict=True)
    return model.eval(), z


def _tol(vectors):
    return vectors.entry(FILE)["suggested_tolerance"]


def _check(vectors, name, ours, ref):
    tol = _tol(vectors)
    ours = ours.detach().cpu().numpy() if torch.is_tensor(ours) else np.asarray(ours)
    if any(fnmatch.fnmatch(name, pat) for pat in tol["exact"]):
        assert ours.shape == ref.shape and np.array_equal(ours, ref), f"{name}: not exactly equal"
    else:
        assert_close(ours, ref, tol["rel"], tol["abs"], name)


def test_text_head_condition_and_logits(vectors):
    torch.set_num_threads(1)
    model, z = build_reference_model(vectors)
    with torch.no_grad():
        token_ids = torch.from_numpy(z["token_ids"])
        feat = model.text_head(torch.from_numpy(z["clip_hidden"]), token_ids.argmax(dim=-1))
        _check(vectors, "text_feat", feat, z["text_feat"])
        feat = torch.from_numpy(z["text_feat"])
        _check(vectors, "cond_vec", model.condition(feat), z["cond_vec"])
        _check(vectors, "cond_vec_uncond", model.condition(feat, force_mask=True), z["cond_vec_uncond"])
        pad = torch.from_numpy(z["padding_mask"]).bool()
        ids = torch.from_numpy(z["ids"])
        _check(vectors, "logits_cond", model.trans_forward(ids, feat, pad), z["logits_cond"])
        _check(vectors, "logits_uncond", model.trans_forward(ids, feat, pad, force_mask=True), z["logits_uncond"])


def _draws(z, cfg, branch):
    prefix = f"loss_{branch}/"
    coins = [int(v) for v in cfg["loss_branches"][branch]["torch.bernoulli_scalar_draws"]]
    get = lambda k: torch.from_numpy(z[prefix + k]) if prefix + k in z.files else None  # noqa: E731
    return MaskingDraws(interaction=coins[0], mask_person_one=coins[1] if len(coins) > 1 else 0,
                        rand_time=get("draw_rand_time"), rand_noise=get("draw_rand_noise"),
                        rid=get("draw_rid").bool(), mid=get("draw_mid").bool(), rand_id=get("draw_rand_id"))


def test_training_objective_eval_mode(vectors):
    torch.set_num_threads(1)
    model, z = build_reference_model(vectors)
    cfg = vectors.config(FILE)
    assert cfg["loss_branches"], "no loss branches in the manifest"
    feat = torch.from_numpy(z["text_feat"])
    m_lens = torch.from_numpy(z["m_lens"])
    for branch in cfg["loss_branches"]:
        prefix = f"loss_{branch}/"
        with torch.no_grad():
            loss, acc, det = model(torch.from_numpy(z["loss_ids"]), feat, m_lens,
                                   draws=_draws(z, cfg, branch), details=True)
        for p in ("pass1", "pass2"):
            for key in ("x_ids", "labels", "pred_id", "logits", "ce"):
                _check(vectors, f"{prefix}{p}/{key}", det[p][key], z[f"{prefix}{p}/{key}"])
            assert_close(float(det[p]["acc"]), z[f"{prefix}{p}/acc"], 1e-6, 0, f"{prefix}{p}/acc")
        assert_close(float(loss), z[prefix + "loss"], _tol(vectors)["rel"], 1e-7, prefix + "loss")
        assert_close(float(acc), z[prefix + "acc"], 1e-6, 0, prefix + "acc")


def test_default_config_key_layout_and_size(vectors):
    ref = vectors.load_json("keyshapes.json")["transformer"]
    torch.manual_seed(0)
    model = build_transformer(TransformerConfig.from_options(ref["config"]), "cpu")
    state = checkpoint_state(model)
    ours = [(k, list(v.shape)) for k, v in state.items()]
    assert ours == [(e["key"], e["shape"]) for e in ref["keys"]]
    assert all(str(v.dtype) == "torch.float32" for v in state.values())
    assert count_parameters(model) == ref["n_parameters_wo_clip"]
    model.load_state_dict(state, strict=True)
