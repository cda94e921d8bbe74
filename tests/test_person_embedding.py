"""`--person_embedding` (ours): without it the two people's token maps are indistinguishable when every
token is masked (the released model's symmetry, the cause of the demo's pairs standing on one spot);
with it they are not, and a fresh model still equals the official one."""
import argparse

import torch

from models.mask_transformer.build import build_transformer, checkpoint_state, load_transformer

from models.mask_transformer.config import TransformerConfig
from models.mask_transformer.transformer import lengths_to_pad

TINY = dict(num_tokens=32, code_dim=16, latent_dim=32, ff_size=64, n_layers=2, n_heads=4, dropout=0.0,
            clip_dim=64, cond_drop_prob=0.0)
S = 6


def _build(person_embedding, seed=0):
    torch.manual_seed(seed)
    return build_transformer(TransformerConfig.from_options(dict(TINY, person_embedding=person_embedding))).eval()


def _randomise(model, seed=1):
    """Official init zeroes every adaLN gate (the blocks would pass tokens through): redraw all weights."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) / (p.shape[-1] ** 0.5 if p.dim() > 1 else 10))
    return model


def _first_step_logits(model):
    """Logits (B, 10S, K) of the first decoding step: every token masked."""
    m_lens = torch.tensor([S, 4])
    ids = torch.full((2, 10 * S), model.mask_id)
    c = model.condition(torch.randn(2, TINY["clip_dim"], generator=torch.Generator().manual_seed(2)))
    with torch.no_grad():
        return model.logits_from(ids, c, lengths_to_pad(m_lens, S))


def test_official_model_cannot_tell_the_people_apart_when_all_is_masked():
    logits = _first_step_logits(_randomise(_build(False)))
    assert torch.equal(logits[:, :5 * S], logits[:, 5 * S:])


def test_learned_person_embedding_tells_them_apart():
    logits = _first_step_logits(_randomise(_build(True)))
    assert (logits[:, :5 * S] - logits[:, 5 * S:]).abs().max() > 1e-2


def test_fresh_model_equals_the_official_one_and_keys_are_unchanged_without_it():
    plain, with_pe = _build(False), _build(True)
    extra = set(with_pe.state_dict()) - set(plain.state_dict())
    assert extra == {"position_enc.person_emb"}
    assert not with_pe.position_enc.person_emb.any()                   # starts at zero
    for k, v in plain.state_dict().items():                             # no random draw added
        assert torch.equal(v, with_pe.state_dict()[k]), k
    missing, unexpected = with_pe.load_state_dict(_randomise(plain).state_dict(), strict=False)
    assert missing == ["position_enc.person_emb"] and not unexpected
    assert torch.equal(_first_step_logits(plain), _first_step_logits(with_pe))


def test_it_learns_from_ordered_pairs_and_survives_save_and_load(tmp_path):
    """Pairs whose person 1 and person 2 differ give the two embeddings different gradients."""
    model = _randomise(_build(True)).train()
    with torch.no_grad():
        model.position_enc.person_emb.zero_()
    g = torch.Generator().manual_seed(3)
    ids = torch.cat([torch.randint(0, 8, (4, 5 * S), generator=g),                   # person 1: codes 0-7
                     torch.randint(24, 32, (4, 5 * S), generator=g)], dim=1)         # person 2: codes 24-31
    loss, _ = model(ids, torch.randn(4, TINY["clip_dim"], generator=g), torch.tensor([S, S, 5, 4]), generator=g)
    loss.backward()
    grad = model.position_enc.person_emb.grad                                           # (2, D)
    assert grad is not None and (grad[0] - grad[1]).abs().max() > 1e-6
    with torch.no_grad():
        model.position_enc.person_emb.copy_(torch.randn(2, TINY["latent_dim"], generator=g))
    from options.opt_io import save_options
    save_options(argparse.Namespace(**TINY, person_embedding=True, text_encoder="clip", name="t",
                                    dataset_name="interhuman"), tmp_path)
    (tmp_path / "model").mkdir()
    torch.save({"t2m_transformer": checkpoint_state(model)}, tmp_path / "model" / "latest.tar")
    loaded, _ = load_transformer(str(tmp_path), "latest", "cpu", with_text_tower=False)
    assert torch.equal(loaded.position_enc.person_emb, model.position_enc.person_emb)
