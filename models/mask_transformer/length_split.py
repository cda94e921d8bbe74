"""`--length_split auto|N`: the plan of a training micro-batch, as parts of length-sorted clips.

Why: the network runs up to the longest clip of what it is given, so in a batch of mixed lengths every
short clip pays for the longest one (attention with the square of it). Parts of similar length, each
cropped to its own longest clip, cost less for the same objective (models/mask_transformer/train_step.py
runs a plan: same draws, each part's loss weighted by its share of the supervised positions).

`N` cuts the length-sorted micro-batch into N parts of equal count; `auto` (default) cuts it where a cost
model of one training step says it saves work: n * S * (1 + S / AUTO_ATTN_STEPS) sample-steps for n clips
at S token steps plus a fixed cost per part (`part_overhead`), minimised exactly over the cuts (dynamic
programming). A batch of equal lengths, a batch of one clip, `1`, and `auto` off the CPU (not measured
there) give the plan of one part: the whole micro-batch as it is. How the constants were measured:
docs/training.md.
"""
import math

import torch

from utils.cli import parse_length_split  # noqa: F401  (the trainer reads --length_split through here)

AUTO_ATTN_STEPS = 60        # token steps at which the attention term of a step's cost equals the linear one
AUTO_OVERHEAD_MACS = 9.6e7  # fixed cost of one more part, in per-token-per-block multiply-adds (docs/training.md)


def part_overhead(latent_dim, ff_size):
    """Fixed cost of running one more part, in sample-steps of a model of these widths (24 for the default
    model, 244 for the demo's)."""
    return AUTO_OVERHEAD_MACS / (16 * latent_dim ** 2 + 4 * latent_dim * ff_size)


def part_cost(count, steps, overhead):
    """Estimated cost of a training pass over `count` clips run at `steps` token steps (sample-steps)."""
    return count * steps * (1.0 + steps / AUTO_ATTN_STEPS) + overhead


def micro_batch_plan(m_lens, split, device_type, latent_dim, ff_size):
    """The plan of a micro-batch with token steps m_lens (B,) under --length_split `split` for a model of
    these widths on a `device_type` device: a list of two or more index tensors (`plan_parts`), or [None]
    (one part, the micro-batch as it is)."""
    if split == 1 or len(m_lens) < 2 or (split == "auto" and device_type != "cpu"):
        return [None]
    parts = plan_parts(m_lens, split, part_overhead(latent_dim, ff_size))
    return parts if len(parts) > 1 else [None]   # one part: the micro-batch in its own order


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
