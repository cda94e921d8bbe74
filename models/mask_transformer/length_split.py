"""`--length_split auto|N`: a training micro-batch run as parts of length-sorted clips.

Why: the network runs up to the longest clip of what it is given, so in a batch of mixed lengths every
short clip pays for the longest one, and attention pays with the square of it. Run as parts of similar
length (each cropped to its own longest clip) the same micro-batch costs much less: on 8 clips of
30..300 frames, 4 parts do 1012 instead of 1913 GFLOP per step (bench.py trans_mix_split).

Same batch, same objective: the masking draws are made for the whole micro-batch and handed to each
part (`MaskingDraws.subset`, which keeps each sample's interaction-masking choice); each part's
mean cross-entropy is weighted by its share of the batch's supervised positions (known before any
part runs: `supervised_count`, `unroll_supervised_count`), so the loss and gradients equal the unsplit
micro-batch's up to float summation order. Dropout and condition-dropout draws come in another order.

How the parts are chosen: `N` cuts the length-sorted micro-batch into N parts of equal count; `auto` (the
default) cuts it where that saves work, by a cost model of one training step on a part of n clips run at
S token steps, in sample-steps: n * S * (1 + S / AUTO_ATTN_STEPS) (the linear layers grow with S, attention
with S^2) plus a fixed cost per part, minimised exactly over the cuts of the sorted lengths (dynamic
programming). The fixed cost of a part (dispatching its few hundred operators, its own text-head pass)
does not shrink with the model while a sample-step does, so it is
AUTO_OVERHEAD_MACS / (16 D^2 + 4 D F) sample-steps for latent width D and feed-forward width F (the
multiply-adds of one token in one block). Measured on 2 CPU cores: with the default model (D 384, F 1024;
uniform batches of 1/4/8 clips at 40/120/300 frames, one training step each) S^2 weighs like S at S ~ 60
steps and a fit puts a part's fixed cost near 6 sample-steps (8 parts of one clip ran no slower than 4 parts
of two); but the demo's trainer (D 128, F 256, length-bucketed batches of 32) ran 8 % slower per epoch with
its batches cut in two (26 s against 24 s, two runs each) than whole, so the constant is set 4x that fit:
24 sample-steps for the default model (its 8-clip length mix still runs as 4 parts), 244 for the demo's
(its bucketed batches stay whole). A batch of equal lengths stays whole (one part: exactly the unsplit
step, same random draws). Off the CPU (CUDA and others), where small parts leave the device idle and
nothing was measured here, `auto` keeps every micro-batch whole; pass N to split there.
"""
import math

import torch

from models.mask_transformer.transformer import MaskingDraws, crop_layout
from utils.cli import parse_length_split  # noqa: F401  (the trainer reads --length_split through here)
from utils.distributed import no_sync


AUTO_ATTN_STEPS = 60        # token steps at which the attention term of a step's cost equals the linear one
AUTO_OVERHEAD_MACS = 9.6e7  # fixed cost of one more part, in per-token-per-block multiply-adds (see above)


def part_overhead(latent_dim, ff_size):
    """Fixed cost of running one more part, in sample-steps of a model of these widths (24 for the default
    model, 244 for the demo's)."""
    return AUTO_OVERHEAD_MACS / (16 * latent_dim ** 2 + 4 * latent_dim * ff_size)


def part_cost(count, steps, overhead):
    """Estimated cost of a training pass over `count` clips run at `steps` token steps (sample-steps)."""
    return count * steps * (1.0 + steps / AUTO_ATTN_STEPS) + overhead


def plan_parts(m_lens, split, overhead=None):
    """Parts of a micro-batch: a list of index tensors (B,) into it, each part's clips of similar length,
    together every clip once. m_lens (B,) token steps; `split` = N (equal-count parts of the length-sorted
    batch, 1 = one part) or "auto" (the cuts minimising the summed `part_cost` with `overhead` per part,
    default that of the default model)."""
    if overhead is None:
        overhead = part_overhead(384, 1024)
    order = torch.argsort(m_lens.detach().cpu(), stable=True)
    if split != "auto":
        return [p for p in order.tensor_split(int(split)) if len(p)]
    steps = m_lens.detach().cpu()[order].tolist()                  # ascending
    best, cut = [0.0] + [math.inf] * len(steps), [0] * (len(steps) + 1)
    for j in range(1, len(steps) + 1):                             # best[j]: the first j clips, cut optimally
        for i in range(j):                                         # last part = clips i..j-1, run at steps[j-1]
            cost = best[i] + part_cost(j - i, steps[j - 1], overhead)
            if cost < best[j]:
                best[j], cut[j] = cost, i
    bounds, j = [], len(steps)
    while j > 0:
        bounds.append((cut[j], j))
        j = cut[j]
    return [order[i:j] for i, j in reversed(bounds)]


def split_micro_step(trainer, net, ids, texts, m_lens, steps_full, draws, scale, sync, parts):
    """micro_step on `parts` (index tensors from `plan_parts`) of the batch, each part cropped
    to its own longest clip: the same samples, draws and loss (each part's mean cross-entropy weighted
    by its share of the batch's supervised positions), so the same gradients up to float summation
    order, with less padding (a short clip no longer runs at the batch's longest length; attention
    cost grows with the square of it). Only the order in which dropout and condition-dropout draws
    are taken differs. Parts run first pass then backward, one at a time; then the step-unroll passes."""
    model, unroll = trainer.model, float(trainer.model.step_unroll or 0.0)
    bsz, steps = ids.shape[0], ids.shape[1] // 10
    if draws is None:
        draws = MaskingDraws.sample(bsz, steps_full, model.num_tokens, model.interaction_mask_prob, trainer.device)
    n1_total = model.supervised_count(m_lens, steps_full, draws)
    ce1 = acc1 = 0.0
    states = []
    for k, idx in enumerate(parts):
        m_part, part = m_lens[idx.to(m_lens.device)], draws.subset(idx)
        ids_part = crop_layout(ids[idx.to(ids.device)], steps, int(m_part.max()))  # (b, 10 * its steps)
        texts_part = [texts[i] for i in idx]
        last = k == len(parts) - 1 and not unroll
        with no_sync(net, not (last and sync)), trainer._autocast():
            if unroll:
                ce, acc, state = net("first", ids_part, texts_part, m_part, steps_full, part)
                states.append(state)
            else:
                ce, acc = net("both", ids_part, texts_part, m_part, steps_full, part)
        w = model.supervised_count(m_part, steps_full, part) / n1_total
        (ce.float() * (scale * w)).backward()
        ce1, acc1 = ce1 + ce.float().detach() * w, acc1 + acc * w
    if not unroll:
        return ce1, acc1
    counts = [model.unroll_supervised_count(st) for st in states]
    n2_total = max(sum(counts), 1)
    ce2 = acc2 = 0.0
    for k, (state, n) in enumerate(zip(states, counts)):
        w = n / n2_total
        with no_sync(net, not (k == len(states) - 1 and sync)):
            with trainer._autocast():
                ce, acc = net("second", state=state)
            text_grad = state["text_leaf"].grad  # d(scale * w1 * ce1 of the part) / d text feature
            (ce.float() * (unroll * scale * w) + (state["text_feat"].float() * text_grad.float()).sum()).backward()
        ce2, acc2 = ce2 + ce.float().detach() * w, acc2 + acc * w
    return ce1 + unroll * ce2, (acc1 + unroll * acc2) / 2
