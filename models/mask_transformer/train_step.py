"""One training micro-batch of the transformer: forward and backward over a plan of parts.

A plan is a list of parts of the micro-batch (models/mask_transformer/length_split.py): two or more
index tensors into it, or [None], the whole micro-batch as it is (the unsplit batch is a plan of one
part). Every part runs cropped to its own longest clip with the micro-batch's masking draws, and its
mean cross-entropy is weighted by its share of the micro-batch's supervised positions, so the loss and
the gradients are the whole micro-batch's up to float summation order.

With step unroll the first pass of every part is back-propagated before any second pass runs, so only
one pass's graph is alive at a time (about half the peak memory): the second pass depends on the first
only through its detached logits, and backward draws no random numbers, so the gradients equal the
joint backward's.
"""
import contextlib

from torch import nn

from models.mask_transformer.transformer import MaskingDraws, crop_layout
from utils.distributed import no_sync


class TrainStep(nn.Module):
    """The text head and the objective inside this module's own forward calls, so
    DistributedDataParallel sees every trained parameter used in the forward it synchronises.

    phase "both": text head + both passes (loss, acc), one backward.
    phase "first": text head + first pass -> (ce1, acc1, state); the pass reads a detached copy of the
      text feature (`state["text_leaf"]`), so ce1's backward frees the first pass's graph and leaves
      d ce1 / d text feature in `text_leaf.grad`, while the text head's small graph stays alive.
    phase "second": the step-unroll pass on the live text feature -> (ce2, acc2).
    The caller back-propagates step_unroll * ce2 + <text feature, text_leaf.grad>, which gives the text
    head exactly the gradient of ce1 + step_unroll * ce2 (`backward_plan`)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, phase, ids=None, texts=None, m_lens=None, steps_full=None, draws=None, state=None):
        if phase == "second":
            return self.model.second_pass(state, state["text_feat"])
        text_feat = self.model.encode_text(texts)  # (B, clip_dim)
        if phase == "both":
            return self.model(ids, text_feat, m_lens, steps_full=steps_full, draws=draws)
        leaf = text_feat.detach().requires_grad_()
        ce1, acc1, state = self.model.first_pass(ids, leaf, m_lens, steps_full, draws)
        state.update(text_feat=text_feat, text_leaf=leaf)
        return ce1, acc1, state


def backward_plan(net, model, ids, texts, m_lens, steps_full, draws, plan, scale=1.0, sync=True,
                  autocast=contextlib.nullcontext):
    """Forward and backward of one micro-batch run as `plan`; adds the gradients of
    scale * (ce1 + step_unroll * ce2) to the parameters' .grad -> (loss, acc) of the micro-batch.

    net: the (DDP-wrapped) TrainStep of `model`; ids (B, 10*steps) cropped to the batch's longest clip;
    m_lens (B,) token steps; draws: MaskingDraws of the batch or None (the model draws them; a plan of
    several parts draws them here); sync: DDP all-reduces in the last backward; autocast: a
    context factory (bf16 autocast or none)."""
    unroll = float(model.step_unroll or 0.0)
    steps = ids.shape[1] // 10
    split = len(plan) > 1
    if split and draws is None:
        draws = MaskingDraws.sample(ids.shape[0], steps_full, model.num_tokens, model.interaction_mask_prob,
                                    m_lens.device)
    n1_total = model.supervised_count(m_lens, steps_full, draws) if split else None
    ce1 = acc1 = 0.0
    states = []
    for k, idx in enumerate(plan):
        if idx is None or not split:  # one part: the whole micro-batch in its own order
            m_part, part, ids_part, texts_part = m_lens, draws, ids, texts
        else:
            m_part, part = m_lens[idx.to(m_lens.device)], draws.subset(idx)
            ids_part = crop_layout(ids[idx.to(ids.device)], steps, int(m_part.max()))  # (b, 10 * its steps)
            texts_part = [texts[i] for i in idx]
        last = k == len(plan) - 1 and not unroll
        with no_sync(net, not (last and sync)), autocast():
            if unroll:
                ce, acc, state = net("first", ids_part, texts_part, m_part, steps_full, part)
                states.append(state)
            else:
                ce, acc = net("both", ids_part, texts_part, m_part, steps_full, part)
        w = model.supervised_count(m_part, steps_full, part) / n1_total if split else 1.0
        (ce.float() * (scale * w)).backward()
        ce1, acc1 = ce1 + ce.float().detach() * w, acc1 + acc * w
    if not unroll:
        return ce1, acc1
    counts = [model.unroll_supervised_count(st) for st in states] if split else [1]
    n2_total = max(sum(counts), 1)
    ce2 = acc2 = 0.0
    for k, (state, n) in enumerate(zip(states, counts)):
        w = n / n2_total if split else 1.0
        with no_sync(net, not (k == len(states) - 1 and sync)):
            with autocast():
                ce, acc = net("second", state=state)
            text_grad = state["text_leaf"].grad  # d(scale * w1 * ce1 of the part) / d text feature
            (ce.float() * (unroll * scale * w) + (state["text_feat"].float() * text_grad.float()).sum()).backward()
        ce2, acc2 = ce2 + ce.float().detach() * w, acc2 + acc * w
    return ce1 + unroll * ce2, (acc1 + unroll * acc2) / 2
