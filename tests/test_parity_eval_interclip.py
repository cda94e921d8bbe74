"""Parity of the InterCLIP evaluator with the official code (evaluator.npz): strict state-dict load,
tokenizer ids, motion and text embeddings, and the evaluation wrapper's sort order."""
import fnmatch

import numpy as np
import torch

from tests.conftest import assert_close

FNAME = "evaluator.npz"


def _tol(vectors):
    t = vectors.entry(FNAME)["suggested_tolerance"]
    return t["rel"], t["abs"], t.get("exact", [])


def _build(vectors):
    from models.evaluator.interclip import InterCLIP
    cfg = vectors.config(FNAME)
    text = cfg["text_encoder"]
    model_cfg = {k: cfg[k] for k in ("NUM_LAYERS", "NUM_HEADS", "DROPOUT", "INPUT_DIM", "LATENT_DIM",
                                     "FF_SIZE", "ACTIVATION")}
    model_cfg.update(TEXT_LATENT_DIM=text["d_model"], TEXT_NUM_LAYERS=text["num_layers"],
                     TEXT_NUM_HEADS=text["nhead"], MAX_MOTION_LEN=cfg["motion_encoder"]["pe_max_len"])
    z = vectors.npz(FNAME)
    model_cfg["EMB_DIM"] = int(z["motion_emb"].shape[1])
    model = InterCLIP(model_cfg)
    sd = vectors.state_dict(z)
    # the official checkpoint layout: {'state_dict': {'model.' + key}}; load through the same path
    from models.evaluator.interclip import strip_prefix
    model.load_state_dict(strip_prefix({"model." + k: v for k, v in sd.items()}), strict=True)
    return model.eval(), z, cfg


def test_interclip_embeddings(vectors):
    torch.set_num_threads(1)
    model, z, cfg = _build(vectors)
    rel, abs_, exact = _tol(vectors)
    assert any(fnmatch.fnmatch("token_ids", p) for p in exact)
    ids = model.tokenize(cfg["captions"])
    np.testing.assert_array_equal(ids.numpy(), z["token_ids"])
    with torch.no_grad():
        motion_emb = model.encode_motion(torch.from_numpy(z["motions"]), torch.from_numpy(z["motion_lens"]))
        text_emb = model.encode_text(cfg["captions"])
    assert_close(motion_emb.numpy(), z["motion_emb"], rel, abs_, "motion_emb")
    assert_close(text_emb.numpy(), z["text_emb"], rel, abs_, "text_emb")
    # ours: every embedding is normalised, then scaled by the loaded latent_scale
    for name, emb in (("motion_emb", motion_emb), ("text_emb", text_emb)):
        np.testing.assert_allclose(np.linalg.norm(emb.numpy(), axis=1), cfg["latent_scale"], rtol=1e-5,
                                   err_msg=f"{name} norms")


def test_interclip_padding_does_not_matter(vectors):
    """Frames at or past the length are masked: replacing them changes nothing."""
    torch.set_num_threads(1)
    model, z, cfg = _build(vectors)
    m = torch.from_numpy(z["motions"]).clone()
    lens = torch.from_numpy(z["motion_lens"])
    for b, n in enumerate(lens.tolist()):
        m[b, n:] = torch.randn_like(m[b, n:]) * 5
    with torch.no_grad():
        emb = model.encode_motion(m, lens)
    rel, abs_, _ = _tol(vectors)
    assert_close(emb.numpy(), z["motion_emb"], rel, abs_, "motion_emb with noisy padding")


def test_interclip_wrapper_order(vectors):
    torch.set_num_threads(1)
    from models.evaluator.wrappers import InterCLIPWrapper
    model, z, cfg = _build(vectors)
    wrapper = InterCLIPWrapper(model, torch.device("cpu"))
    rel, abs_, _ = _tol(vectors)
    motions = torch.from_numpy(z["motions"])
    lens = torch.from_numpy(z["motion_lens"])
    batch = (["x"] * len(lens), list(cfg["captions"]), motions[..., :262], motions[..., 262:], lens)
    text_emb, motion_emb = wrapper.get_co_embeddings(batch)
    np.testing.assert_array_equal(wrapper.last_align_idx, z["wrapper/align_idx"])
    assert_close(text_emb.numpy(), z["wrapper/text_emb"], rel, abs_, "wrapper/text_emb")
    assert_close(motion_emb.numpy(), z["wrapper/motion_emb"], rel, abs_, "wrapper/motion_emb")
    only_motion = wrapper.get_motion_embeddings(batch)
    assert_close(only_motion.numpy(), z["wrapper/motion_emb"], rel, abs_, "get_motion_embeddings")
