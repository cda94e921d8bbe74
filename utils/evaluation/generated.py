"""The protocol's motion sets: one generation pass over the GT set, and the GT and generated sets
as evaluator batches (shuffled, batch size fixed, drop_last, as the official DataLoaders)."""
import numpy as np
import torch


def set_normalize(dataset, normalize):
    if hasattr(dataset, "normalize"):  # InterHuman: models read normalised GT, the evaluator raw GT
        dataset.normalize = normalize


def build_generated(source, dataset, layout, opt, embed, keep_first=0):
    """One generation pass over the GT set in shuffled order (items drawn lazily: random crops,
    captions, person order) -> (generated items in that order, MultiModality embeddings
    (n_mm, mm_num_repeats, D), the first `keep_first` GT items). Each MultiModality group is
    embedded (`embed(batch)`) as soon as it is complete, so its motions are not kept.
    opt: mm_num_samples, mm_num_repeats, gen_batch_size."""
    set_normalize(dataset, True)
    perm = torch.randperm(len(dataset)).tolist()
    mm_pos = set(np.random.choice(len(perm), opt.mm_num_samples, replace=False).tolist()) \
        if opt.mm_num_samples > 0 else set()
    jobs = sorted([(p, 0) for p in range(len(perm))] +
                  [(p, r) for p in mm_pos for r in range(1, opt.mm_num_repeats)])
    gen, mm, cache, firsts = [None] * len(perm), {p: [] for p in mm_pos}, {}, []
    for s in range(0, len(jobs), opt.gen_batch_size):
        chunk = jobs[s:s + opt.gen_batch_size]
        for p, _ in chunk:
            if p not in cache:
                cache[p] = dataset[perm[p]]
                if p < keep_first:
                    firsts.append(cache[p])
        its = [cache[p] for p, _ in chunk]
        m1, m2 = (torch.stack([torch.as_tensor(layout.persons(it)[k]) for it in its]).float() for k in (0, 1))
        lengths = torch.tensor([layout.length(it) for it in its])
        g1, g2, n = source([layout.text(it) for it in its], m1, m2, lengths)
        for j, (p, r) in enumerate(chunk):
            out = layout.generated(its[j], g1[j], g2[j], n[j])
            if r == 0:
                gen[p] = out
            if p in mm_pos:
                mm[p].append(out)
                if len(mm[p]) == opt.mm_num_repeats:
                    mm[p] = embed(layout.collate(mm[p])).numpy()  # (repeats, D)
        for p in [q for q in cache if q < chunk[-1][0]]:  # jobs are sorted: earlier items are done
            del cache[p]
    mm_emb = np.stack([mm[p] for p in sorted(mm_pos)]) if mm_pos else np.zeros((0,))
    return gen, mm_emb, firsts


def batches(items, batch_size, collate):
    """Shuffled evaluator batches with drop_last (a DataLoader over the generated set)."""
    perm = torch.randperm(len(items)).tolist()
    return [collate([items[i] for i in perm[s:s + batch_size]])
            for s in range(0, len(perm) - batch_size + 1, batch_size)]


class GTLoader:
    """Re-iterable GT loader (shuffle, drop_last): every pass draws new crops, captions, person order
    and batches; items are read batch by batch."""

    def __init__(self, dataset, batch_size, collate):
        self.dataset, self.batch_size, self.collate = dataset, batch_size, collate

    def __iter__(self):
        set_normalize(self.dataset, False)
        perm = torch.randperm(len(self.dataset)).tolist()
        for s in range(0, len(perm) - self.batch_size + 1, self.batch_size):
            yield self.collate([self.dataset[i] for i in perm[s:s + self.batch_size]])
