"""Parity of the VQ-VAE with the official code: strict loading of the official key layout, encoder
output, graph stage, code indices (exact), decoder output, reconstruction, commitment loss and
perplexity, for every case listed in the vector set's manifest."""
import fnmatch

import numpy as np
import pytest
import torch

from models.vq.build import build_vq

from models.vq.config import VQConfig
from tests.conftest import assert_close

VQ_FILES = ["vq_interhuman.npz", "vq_interx.npz"]


def _tolerance(vectors, fname, array_name):
    tol = vectors.entry(fname)["suggested_tolerance"]
    exact = any(fnmatch.fnmatch(array_name, pat) for pat in tol.get("exact", []))
    return exact, tol["rel"], tol["abs"]


def _check(vectors, fname, z, name, ours, rel=None):
    exact, rel_default, abs_ = _tolerance(vectors, fname, name)
    ref = z[name]
    ours = ours.detach().cpu().numpy()
    if exact:
        assert ours.shape == ref.shape and np.array_equal(ours, ref), f"{fname} {name}: not equal"
    else:
        assert_close(ours, ref, rel=rel or rel_default, abs_=abs_, what=f"{fname} {name}")


def _model(vectors, fname, **overrides):
    cfg = dict(vectors.config(fname), **overrides)
    z = vectors.npz(fname)
    model = build_vq(VQConfig.from_options(cfg))
    model.load_state_dict(vectors.state_dict(z), strict=True)
    return model.eval(), cfg, z


@pytest.mark.parametrize("fname", VQ_FILES)
def test_vq_outputs_match_reference(vectors, fname):
    torch.set_num_threads(1)
    model, cfg, z = _model(vectors, fname)
    for case in vectors.items(fname, "cases"):
        n = case["name"]
        x = torch.from_numpy(z[f"{n}/x"])
        with torch.no_grad():
            encoder_out = model.encode_latent(x)
            code_idx, codes = model.encode(x)
            decoded = model.forward_decoder(code_idx)
            recon, commit_loss, perplexity = model(x)
        assert tuple(encoder_out.shape[2:]) == (5, case["T_tokens"])
        assert decoded.shape[1] == case["out_T"] and recon.shape[1] == case["out_T"]
        _check(vectors, fname, z, f"{n}/encoder_out", encoder_out)
        _check(vectors, fname, z, f"{n}/code_idx", code_idx)
        _check(vectors, fname, z, f"{n}/decoded", decoded)
        _check(vectors, fname, z, f"{n}/recon", recon)
        _check(vectors, fname, z, f"{n}/commit_loss", commit_loss, rel=1e-5)
        _check(vectors, fname, z, f"{n}/perplexity", perplexity, rel=1e-5)
        # The codes returned by encode are the codebook rows of the indices.
        book = model.quantizer.layers[0].codebook
        assert torch.equal(codes[0].permute(0, 2, 1), book[code_idx[..., 0]])
        if case.get("has_encoder_gcn_out"):
            with torch.no_grad():
                gcn = model.encoder.graph_stage(model.preprocess(x)).permute(0, 3, 2, 1)  # (B, T, 22, W)
            _check(vectors, fname, z, f"{n}/encoder_gcn_out", gcn)


def test_gcn_edge_quirk_and_all_frames_switch(vectors):
    """Official graph: messages only at (sample 0, frame 0). With --gcn_all_frames every frame gets
    them: (0, 0) is unchanged, every other node differs from the reference."""
    fname = "vq_interhuman.npz"
    cfg = vectors.config(fname)
    case = next((c for c in vectors.items(fname, "cases") if c.get("has_encoder_gcn_out")), None)
    assert case is not None, f"{fname}: no case with encoder_gcn_out in the manifest"
    model, _, z = _model(vectors, fname, gcn_all_frames=True)
    x = torch.from_numpy(z[f"{case['name']}/x"])
    ref = torch.from_numpy(z[f"{case['name']}/encoder_gcn_out"])
    with torch.no_grad():
        gcn = model.encoder.graph_stage(model.preprocess(x)).permute(0, 3, 2, 1)
    assert_close(gcn[0, 0].numpy(), ref[0, 0].numpy(), rel=2e-5, what="frame (0,0)")
    diff = (gcn - ref).abs().amax(dim=(2, 3))                                          # (B, T)
    diff[0, 0] = float("inf")
    assert diff.min() > 1e-4, "all-frames graph should change every node outside (0, 0)"


def _keyshapes(vectors):
    return vectors.load_json("keyshapes.json")


@pytest.mark.parametrize("which", ["vq_interhuman", "vq_interx"])
def test_default_config_key_layout(vectors, which):
    """A default-config model has exactly the official keys, shapes, dtypes and parameter count, so an
    official best_fid.tar['vq_model'] loads with strict=True."""
    entry = _keyshapes(vectors)[which]
    model = build_vq(VQConfig.from_options(entry["config"]))
    sd = model.state_dict()
    ours = [(k, list(v.shape), str(v.dtype).replace("torch.", "")) for k, v in sd.items()]
    ref = [(e["key"], e["shape"], e["dtype"]) for e in entry["keys"]]
    assert ours == ref
    assert sum(p.numel() for p in model.parameters()) == entry["n_parameters"]
    fake = {e["key"]: torch.zeros(e["shape"]) for e in entry["keys"]}
    model.load_state_dict(fake, strict=True)
