"""Motion sources: a chunk of GT items (captions, both persons, lengths) -> per-sample motions to be
evaluated. Each wraps a model built by the caller."""
import torch


class VQSource:
    """VQ reconstruction of both persons (normalised in, normalised out)."""

    def __init__(self, vq, per_sample):
        self.vq, self.per_sample = vq, per_sample

    @torch.no_grad()
    def __call__(self, texts, m1, m2, lengths):
        dev = next(self.vq.parameters()).device
        if self.per_sample:  # official: batch 1, each sample cut to its own length
            outs = [[self.vq(m[i:i + 1, :n].to(dev))[0][0] for i, n in enumerate(lengths.tolist())] for m in (m1, m2)]
        else:
            T = int(lengths.max())
            outs = [[r[:4 * (n // 4)] for r, n in zip(self.vq(m[:, :T].to(dev))[0], lengths.tolist())]
                    for m in (m1, m2)]
        return outs[0], outs[1], [4 * (n // 4) for n in lengths.tolist()]  # 4 frames per token step


class TransformerSource:
    """InterMask generation (or reaction to the GT person 1) with one sampling setting.

    generator: has generate(texts, lengths, **kw) and react(texts, motion1, lengths, **kw);
    plan_parts(lengths, n) -> index tensors of n parts of similar length (training's --length_split);
    opt: temperature, gumbel_sample, gen_react, gen_length_split."""

    def __init__(self, generator, opt, ts, cs, topkr, plan_parts):
        self.g, self.opt, self.kw = generator, opt, dict(time_steps=ts, cond_scale=cs, topkr=topkr,
                                                         temperature=opt.temperature, gsample=opt.gumbel_sample)
        self.plan_parts = plan_parts
        self.length_split = int(opt.gen_length_split)
        if self.length_split < 1:
            raise ValueError(f"--gen_length_split must be >= 1 (1 = off), got {self.length_split}")

    @torch.no_grad()
    def __call__(self, texts, m1, m2, lengths):
        """One generation chunk -> per-sample lists (motion1, motion2, lengths), in the chunk's order.
        With --gen_length_split N the chunk runs as N parts of similar length, so a short clip is not
        sampled at the chunk's longest length (each sample's draws then differ from the unsplit run's;
        their distribution does not, as no sample's tokens depend on another's)."""
        split = self.length_split
        if split == 1 or len(texts) < 2:
            return self._generate(texts, m1, m2, lengths)
        lengths = torch.as_tensor(lengths)
        g1, g2, n = [None] * len(texts), [None] * len(texts), [None] * len(texts)
        for idx in self.plan_parts(lengths, split):  # N parts of the length-sorted chunk
            p1, p2, pn = self._generate([texts[i] for i in idx], m1[idx], m2[idx], lengths[idx])
            for j, i in enumerate(idx.tolist()):
                g1[i], g2[i], n[i] = p1[j], p2[j], pn[j]
        return g1, g2, n

    def _generate(self, texts, m1, m2, lengths):
        if self.opt.gen_react:  # official: the GT person 1 is paired with the generated person 2
            _, g2, n = self.g.react(list(texts), m1, lengths, **self.kw)
            g1 = m1
        else:
            g1, g2, n = self.g.generate(list(texts), lengths, **self.kw)
        n = torch.as_tensor(n).tolist()
        return [g1[i, :k] for i, k in enumerate(n)], [g2[i, :k] for i, k in enumerate(n)], n
