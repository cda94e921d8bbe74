"""Parity of the Inter-X matching evaluator (evaluator_interx.npz): strict load of the finest.tar
entries, word/POS lookup, motion preparation, movement encoder, both GRU encoders, wrapper order."""
import pickle

import numpy as np
import torch

from tests.conftest import assert_close

FNAME = "evaluator_interx.npz"
SIZE_KEYS = ("dim_movement_enc_hidden", "dim_movement_latent", "dim_text_hidden", "dim_motion_hidden",
             "dim_coemb_hidden", "dim_pose", "dim_word", "dim_pos_ohot", "unit_length")


def _tol(vectors):
    t = vectors.entry(FNAME)["suggested_tolerance"]
    return t["rel"], t["abs"]


def _model(vectors):
    from models.evaluator.interx_matching import InterXMatchingModel
    cfg = vectors.config(FNAME)
    z = vectors.npz(FNAME)
    ckpt = {}
    for k in z.files:
        if k.startswith("sd/"):
            entry, key = k[3:].split("/", 1)
            ckpt.setdefault(entry, {})[key] = torch.from_numpy(z[k])
    ckpt["epoch"] = 0
    model = InterXMatchingModel({k: cfg[k] for k in SIZE_KEYS}).load_checkpoint_dict(ckpt).eval()
    return model, z, cfg


def test_word_vectorizer_lookup(vectors, tmp_path):
    from data.word_vectorizer import WordVectorizer, embed_tokens, wrap_tokens
    cfg = vectors.config(FNAME)
    z = vectors.npz(FNAME)
    words = cfg["vocab_words"]
    np.save(tmp_path / "voc_data.npy", z["vocab/vectors"])
    with open(tmp_path / "voc_words.pkl", "wb") as f:
        pickle.dump(words, f)
    with open(tmp_path / "voc_idx.pkl", "wb") as f:
        pickle.dump({w: i for i, w in enumerate(words)}, f)
    wv = WordVectorizer(str(tmp_path), "voc")
    for b, toks in enumerate(vectors.items(FNAME, "tokens")):
        word, pos = embed_tokens(wv, toks)
        np.testing.assert_array_equal(word, z["word_embs"][b])
        np.testing.assert_array_equal(pos, z["pos_ohot"][b])
        inner = [t for t in toks if t.split("/")[0] not in ("sos", "eos", "unk")]
        wrapped, sent_len = wrap_tokens(inner, cfg["max_text_len"])
        assert wrapped == toks and sent_len == int(z["cap_lens"][b])
    for w in vectors.items(FNAME, "oov_words"):
        vec, pos = wv[f"{w}/NOUN"]
        np.testing.assert_array_equal(vec, z["vocab/vectors"][words.index("unk")])
        assert pos.argmax() == 14 and pos.sum() == 1


def test_interx_intermediates_and_embeddings(vectors):
    torch.set_num_threads(1)
    model, z, cfg = _model(vectors)
    rel, abs_ = _tol(vectors)
    motions = torch.from_numpy(z["motions"])
    lens = torch.from_numpy(z["motion_lens"])
    from models.evaluator.wrappers import InterXWrapper
    wrapper = InterXWrapper(model, torch.device("cpu"))
    batch = (torch.from_numpy(z["word_embs"]), torch.from_numpy(z["pos_ohot"]), cfg["captions"],
             torch.from_numpy(z["cap_lens"]), motions, lens, ["_"] * len(lens))
    text_emb, motion_emb = wrapper.get_co_embeddings(batch)
    align = wrapper.last_align_idx
    np.testing.assert_array_equal(align, z["align_idx"])
    prepared = model.prepare_motion(motions[align])
    np.testing.assert_array_equal(prepared.numpy(), z["prepared_motions"])
    np.testing.assert_array_equal((lens[align] // model.unit_length).numpy(), z["motion_lens_units"])
    with torch.no_grad():
        movements = model.movement_encoder(prepared)
        text_batch = model.text_encoder(batch[0], batch[1], batch[3])
    assert_close(movements.numpy(), z["movements"], rel, abs_, "movements")
    assert_close(text_batch.numpy(), z["text_emb_batch_order"], rel, abs_, "text_emb_batch_order")
    assert_close(text_emb.numpy(), z["text_emb"], rel, abs_, "text_emb")
    assert_close(motion_emb.numpy(), z["motion_emb"], rel, abs_, "motion_emb")
    assert_close(wrapper.get_motion_embeddings(batch).numpy(), z["motion_emb"], rel, abs_, "get_motion_embeddings")
    # batch_with_motions keeps the loader's zero padding contract
    rebuilt = wrapper.batch_with_motions(batch, motions + 0, lens)
    assert_close(wrapper.get_motion_embeddings(rebuilt).numpy(), z["motion_emb"], rel, abs_, "rebuilt batch")
