"""`--length_split N`: a training micro-batch run as N parts of length-sorted clips.

Why: the network runs up to the longest clip of what it is given, so in a batch of mixed lengths every
short clip pays for the longest one, and attention pays with the square of it. Run as parts of similar
length (each cropped to its own longest clip) the same micro-batch costs much less: on 8 clips of
30..300 frames, 4 parts do 1012 instead of 1913 GFLOP per step (bench.py trans_mix_split).

Same batch, same objective: the masking draws are made for the whole micro-batch and handed to each
part (`MaskingDraws.subset`, which keeps each sample's interaction-masking choice); each part's
mean cross-entropy is weighted by its share of the batch's supervised positions (known before any
part runs: `supervised_count`, `unroll_supervised_count`), so the loss and gradients equal the unsplit
micro-batch's up to float summation order. Dropout and condition-dropout draws come in another order.
"""
import torch

from models.mask_transformer.transformer import MaskingDraws, crop_layout
from utils.distributed import no_sync


def split_micro_step(trainer, net, ids, texts, m_lens, steps_full, draws, scale, sync):
    """micro_step on `length_split` parts of the batch, its samples sorted by length, each part cropped
    to its own longest clip: the same samples, draws and loss (each part's mean cross-entropy weighted
    by its share of the batch's supervised positions), so the same gradients up to float summation
    order, with less padding (a short clip no longer runs at the batch's longest length; attention
    cost grows with the square of it). Only the order in which dropout and condition-dropout draws
    are taken differs. Parts run first pass then backward, one at a time; then the step-unroll passes."""
    model, unroll = trainer.model, float(trainer.model.step_unroll or 0.0)
    bsz, steps = ids.shape[0], ids.shape[1] // 10
    if draws is None:
        draws = MaskingDraws.sample(bsz, steps_full, model.num_tokens, model.interaction_mask_prob, trainer.device)
    parts = [p for p in torch.argsort(m_lens.cpu(), stable=True).tensor_split(trainer.length_split) if len(p)]
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
