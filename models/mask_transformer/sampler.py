"""Iterative mask-predict decoding for the Inter-M transformer, kept apart from the network.

One loop (`mask_predict`) serves the three uses: `generate` (every position of both persons is
editable), `generate_reaction` (person 2 only, person 1's tokens fixed) and `edit` (any chosen set of
positions, e.g. a time span of one or both persons). Fixed positions keep their ids and carry the
score 1e5, so they are never re-masked; this makes reaction generation exactly the official loop.

Official behaviour reproduced (section 4 of the reference):
  * step k of `steps` uses t_k = linspace(0, 1, steps)[k] (float32), n_k = round(cos(pi t_k / 2) *
    count) clamped to >= 1, count = editable non-padded positions; the n_k lowest scores are
    re-masked, in ONE joint ranking over both persons;
  * classifier-free guidance logits = u + (c - u) * cond_scale, u from the zeroed text feature; both
    passes run in one batched forward (cond_scale == 1 skips u);
  * top-k filter keeps ceil((1 - topk_filter_thres) * K) logits; categorical or Gumbel-max draw;
  * scores = softmax of the UNFILTERED guided logits at the drawn id, 1e5 everywhere else;
  * `temperature_on_logits=False` (default, official quirk): in categorical sampling the official
    code divides probabilities, not logits, so the temperature has no effect. True divides logits.
  * `half_steps=True` (default, official quirk): reaction generation runs time_steps // 2 steps.
Speed: text encoded once, inference_mode (no_grad under autocast, see `_no_grad`), the output head only
at the positions being sampled.
"""
import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from models.mask_transformer.blocks import reuse_condition
from models.mask_transformer.position_encoding import NUM_ROWS
from models.mask_transformer.transformer import lengths_to_pad

SCORE_FIXED = 1e5


@contextmanager
def _eval_mode(model):
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)


def _text_feature(model, texts_or_feat):
    if torch.is_tensor(texts_or_feat):
        return texts_or_feat.to(model.cond_emb.weight.device)
    return model.encode_text(list(texts_or_feat))


def _generator(seed, device):
    if seed is None:
        return None
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def _draw(logits, topk_filter_thres, temperature, gsample, temperature_on_logits, generator):
    """logits (M, K) guided -> drawn ids (M,) after the official top-k filter."""
    k = max(1, math.ceil((1 - topk_filter_thres) * logits.shape[-1]))
    if k == 1 and not gsample:
        return logits.argmax(dim=-1)  # the filtered softmax is one-hot: the draw is the argmax
    val, ind = logits.topk(k, dim=-1)
    filtered = torch.full_like(logits, float("-inf")).scatter_(-1, ind, val)
    if gsample:  # official gumbel_sample: argmax(logits / temperature + Gumbel noise)
        u = torch.rand(filtered.shape, device=filtered.device, generator=generator)
        gumbel = -torch.log((-torch.log(u.clamp(min=1e-20))).clamp(min=1e-20))
        return (filtered / max(temperature, 1e-10) + gumbel).argmax(dim=-1)
    if temperature_on_logits:
        filtered = filtered / max(temperature, 1e-10)
    probs = F.softmax(filtered, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def mask_predict(model, text_feat, ids, editable, pad, steps, cond_scale=2.0, topk_filter_thres=0.9,
                 temperature=1.0, gsample=False, temperature_on_logits=False, generator=None, trace=None):
    """The decoding loop. ids (B, 10S) initial ids (used where not editable), editable (B, 10S) bool,
    pad (B, 10S) bool, text_feat (B, clip_dim). Returns ids (B, 10S) with -1 at pads.

    trace: optional dict filled with per-step lists `num_masked` (B,), `input_ids` (B, 10S),
    `pred_ids` (B, 10S, -1 where not sampled) and `scores` (B, 10S)."""
    bsz, length = ids.shape
    device = ids.device
    c = model.condition(text_feat)  # (B, D)
    guided = cond_scale != 1
    if guided:
        c = torch.cat([c, model.condition(text_feat, force_mask=True)], dim=0)  # (2B, D)
    free = editable & ~pad
    ids = torch.where(pad, model.pad_id, torch.where(free, model.mask_id, ids))
    scores = torch.where(free, 0.0, SCORE_FIXED).float()  # (B, 10S)
    count = free.sum(dim=1)  # (B,)
    with reuse_condition(model):  # c is fixed for the whole loop: adaLN modulations computed once
        for t in torch.linspace(0, 1, steps):  # float32 schedule, as the official one
            n = torch.round(torch.cos(t * math.pi * 0.5) * count.float()).clamp(min=1)
            n = torch.where(count > 0, n, torch.zeros_like(n)).long().to(device)  # (B,)
            ranks = scores.argsort(dim=1).argsort(dim=1)
            is_mask = ranks < n.unsqueeze(1)  # (B, 10S)
            ids = torch.where(is_mask, model.mask_id, ids)
            fed = ids.clone() if trace is not None else None
            # positions to sample, packed to the left: (B, P) with P = max n
            width = max(int(n.max()), 1)
            positions = (~is_mask).to(torch.int8).argsort(dim=1, stable=True)[:, :width]
            valid = torch.arange(width, device=device).unsqueeze(0) < n.unsqueeze(1)  # (B, P)
            if guided:
                both = model.logits_from(ids.repeat(2, 1), c, pad.repeat(2, 1), positions.repeat(2, 1)).float()
                cond, uncond = both[:bsz], both[bsz:]  # (B, P, K)
                logits = uncond + (cond - uncond) * cond_scale
            else:
                logits = model.logits_from(ids, c, pad, positions).float()  # float32 under --amp
            drawn = _draw(logits[valid], topk_filter_thres, temperature, gsample, temperature_on_logits,
                          generator)  # (M,)
            probs_at = F.softmax(logits[valid], dim=-1).gather(-1, drawn.unsqueeze(-1)).squeeze(-1)  # (M,)
            rows = torch.arange(bsz, device=device).unsqueeze(1).expand_as(positions)[valid]
            cols = positions[valid]
            ids = ids.index_put((rows, cols), drawn)
            scores = torch.full_like(scores, SCORE_FIXED).index_put((rows, cols), probs_at.float())
            if trace is not None:
                pred = torch.full_like(ids, -1).index_put((rows, cols), drawn)
                for key, val in (("num_masked", n), ("input_ids", fed), ("pred_ids", pred), ("scores", scores)):
                    trace.setdefault(key, []).append(val.clone())
    return torch.where(pad, -1, ids)


def _no_grad(device):
    """inference_mode, or no_grad when autocast is on for `device`: autocast caches its low-precision
    copy of each weight for the whole sampling loop only outside inference_mode (it caches leaf tensors
    that require grad, which inference_mode hides); inside it every linear re-casts its fp32 weight on
    every step (timing: docs/performance.md, "Generation against the fp32 ceiling"). Values are identical."""
    device = torch.device(device)
    return torch.no_grad() if torch.is_autocast_enabled(device.type) else torch.inference_mode()


def _check_lengths(m_lens, what="m_lens"):
    if m_lens.dim() != 1 or (m_lens < 1).any():
        raise ValueError(f"{what} must be a 1-D tensor of token lengths >= 1, got {m_lens.tolist()}")


def generate(model, texts, m_lens, time_steps=20, cond_scale=2.0, topk_filter_thres=0.9, temperature=1.0,
             gsample=False, temperature_on_logits=False, seed=None, generator=None, trace=None):
    """Text -> token ids of both persons, (B, 10S) = [person 1 (5 rows x S) | person 2], -1 at pads.
    texts: list of captions or a text feature (B, clip_dim); m_lens (B,) token steps (frames // 4)."""
    device = model.cond_emb.weight.device
    m_lens = torch.as_tensor(m_lens, device=device).long()
    _check_lengths(m_lens)
    steps_max = int(m_lens.max())
    with _eval_mode(model), _no_grad(device):
        feat = _text_feature(model, texts)
        pad = lengths_to_pad(m_lens, steps_max)  # (B, 10S)
        ids = torch.zeros_like(pad, dtype=torch.long)
        return mask_predict(model, feat, ids, torch.ones_like(pad), pad, time_steps, cond_scale,
                            topk_filter_thres, temperature, gsample, temperature_on_logits,
                            generator or _generator(seed, device), trace)


def generate_reaction(model, texts, motion1_ids, m_lens, time_steps=20, cond_scale=2.0,
                      topk_filter_thres=0.9, temperature=1.0, gsample=False, temperature_on_logits=False,
                      half_steps=True, seed=None, generator=None, trace=None):
    """Person 1 given (motion1_ids (B, 5S), values at padded steps ignored), person 2 generated.
    half_steps=True is the official quirk (time_steps // 2 steps); False runs time_steps."""
    device = model.cond_emb.weight.device
    m_lens = torch.as_tensor(m_lens, device=device).long()
    _check_lengths(m_lens)
    steps_max = int(m_lens.max())
    motion1_ids = torch.as_tensor(motion1_ids, device=device).long().reshape(m_lens.shape[0], -1)
    if motion1_ids.shape[1] != NUM_ROWS * steps_max:
        raise ValueError(f"motion1_ids has {motion1_ids.shape[1]} tokens per sample, expected "
                         f"{NUM_ROWS}*max(m_lens) = {NUM_ROWS * steps_max}")
    editable = torch.zeros(m_lens.shape[0], 2 * NUM_ROWS * steps_max, dtype=torch.bool, device=device)
    editable[:, NUM_ROWS * steps_max:] = True
    steps = time_steps // 2 if half_steps else time_steps
    with _eval_mode(model), _no_grad(device):
        feat = _text_feature(model, texts)
        pad = lengths_to_pad(m_lens, steps_max)
        ids = torch.cat([motion1_ids, torch.zeros_like(motion1_ids)], dim=1)
        return mask_predict(model, feat, ids, editable, pad, steps, cond_scale, topk_filter_thres, temperature,
                            gsample, temperature_on_logits, generator or _generator(seed, device), trace)


def span_editable(m_lens, steps_max, start_step, end_step, which="both"):
    """Editable mask (B, 10S) for token steps [start_step, end_step) of person 1, person 2 or both."""
    m_lens = torch.as_tensor(m_lens)
    if which not in ("both", "person1", "person2"):
        raise ValueError(f"which must be 'both', 'person1' or 'person2', got {which!r}")
    t = torch.arange(steps_max, device=m_lens.device)
    in_span = (t >= start_step) & (t < end_step)  # (S,)
    row = in_span.repeat(NUM_ROWS)  # (5S,)
    p1 = row if which in ("both", "person1") else torch.zeros_like(row)
    p2 = row if which in ("both", "person2") else torch.zeros_like(row)
    return torch.cat([p1, p2]).unsqueeze(0).expand(m_lens.shape[0], -1).clone()


def edit(model, texts, ids, m_lens, editable, time_steps=20, cond_scale=2.0, topk_filter_thres=0.9,
         temperature=1.0, gsample=False, temperature_on_logits=False, seed=None, generator=None, trace=None):
    """Regenerate the `editable` positions (B, 10S) of existing ids (B, 10S); the rest stays fixed
    and conditions the result (temporal in-painting / editing of one or both persons)."""
    device = model.cond_emb.weight.device
    m_lens = torch.as_tensor(m_lens, device=device).long()
    _check_lengths(m_lens)
    steps_max = int(m_lens.max())
    ids = torch.as_tensor(ids, device=device).long()
    editable = torch.as_tensor(editable, device=device).bool()
    want = (m_lens.shape[0], 2 * NUM_ROWS * steps_max)
    if tuple(ids.shape) != want or tuple(editable.shape) != want:
        raise ValueError(f"ids {tuple(ids.shape)} and editable {tuple(editable.shape)} must both be {want}")
    with _eval_mode(model), _no_grad(device):
        feat = _text_feature(model, texts)
        pad = lengths_to_pad(m_lens, steps_max)
        return mask_predict(model, feat, ids.clamp(min=0), editable, pad, time_steps, cond_scale,
                            topk_filter_thres, temperature, gsample, temperature_on_logits,
                            generator or _generator(seed, device), trace)
