"""Length bucketing (GlobalBatchSampler bucket_batches / train_transformer.py --length_buckets):
every item once per epoch, length-sorted pools, much narrower within-batch length ranges, the same
global batches for any split over ranks and accumulation, resume, the unchanged order when off,
determinism per (seed, epoch); the datasets' per-item lengths; a short training run."""
import argparse
import os

import numpy as np
import pytest
import torch

from data.batches import split_batch
from tests.test_train_transformer import _main, setup  # noqa: F401  (module fixture, reused)
from utils.distributed import GlobalBatchSampler

N, SEED = 203, 11                                         # 203 items: a dropped remainder for most G


def random_lengths(n=N, seed=0):
    """Clip lengths as InterHuman's (30-300 frames), with ties."""
    return np.random.default_rng(seed).integers(30, 301, n).tolist()


def global_batches(sampler, epoch=0, start=0):
    """Every global batch the ranks of `sampler`'s kind yield, rebuilt from each rank's micro-batches."""
    ranks = []
    for r in range(sampler.world_size):
        s = GlobalBatchSampler(sampler.n_items, sampler.batch_size, sampler.seed, world_size=sampler.world_size,
                               rank=r, accum=sampler.accum, lengths=sampler.lengths,
                               bucket_batches=sampler.bucket_batches)
        s.set_position(epoch, start)
        ranks.append(list(s))
    steps, per = len(ranks[0]) // sampler.accum, sampler.accum
    return [sum((ranks[r][k * per + a] for r in range(sampler.world_size) for a in range(per)), [])
            for k in range(steps)]


def bucketed(batch_size=8, buckets=4, lengths=None, **kw):
    lengths = random_lengths() if lengths is None else lengths
    return GlobalBatchSampler(len(lengths), batch_size, SEED, lengths=lengths, bucket_batches=buckets, **kw)


def test_every_item_once_per_epoch_minus_the_same_dropped_tail():
    lengths = random_lengths()
    for buckets in (1, 3, 4, 100):
        s = bucketed(8, buckets, lengths)
        for epoch in (0, 1):
            s.set_position(epoch)
            batches = list(s)
            items = [i for b in batches for i in b]
            assert len(batches) == N // 8 and all(len(b) == 8 for b in batches)
            assert len(items) == len(set(items)) == (N // 8) * 8
            dropped = set(range(N)) - set(items)
            plain = GlobalBatchSampler(N, 8, SEED)
            plain.set_position(epoch)
            assert dropped == set(plain.order()[(N // 8) * 8:])     # the same tail as without bucketing


def test_pools_are_sorted_and_batches_narrow():
    lengths = random_lengths()
    s = bucketed(8, 4, lengths)
    s.set_position(2)
    batches = s.global_batches()
    pools = {}
    perm = s.order()
    for b in batches:  # each batch is sorted, and is a slice of its pool sorted by length (stable)
        assert [lengths[i] for i in b] == sorted(lengths[i] for i in b)
        pools.setdefault(perm.index(b[0]) // 32, []).append(b)
    for p, members in pools.items():
        pool = perm[p * 32:min((p + 1) * 32, 200)]                 # 25 batches: the last pool has 1
        assert sorted(i for b in members for i in b) == sorted(pool)
        want = sorted(pool, key=lambda i: lengths[i])              # python's sort is stable
        assert sorted(members, key=lambda b: want.index(b[0])) == [want[k:k + 8] for k in range(0, len(pool), 8)]
    assert len(pools) == 7
    spread_on = np.mean([np.ptp([lengths[i] for i in b]) for b in batches])
    spread_off = np.mean([np.ptp([lengths[i] for i in b]) for b in GlobalBatchSampler(N, 8, SEED).global_batches()])
    print("mean within-batch length range, bucketed / random:", spread_on, spread_off)
    assert spread_on < 0.4 * spread_off, (spread_on, spread_off)
    # the batch order is shuffled: not simply pool by pool in ascending length
    firsts = [lengths[b[0]] for b in batches]
    assert firsts != sorted(firsts) and [perm.index(b[0]) // 32 for b in batches] != sorted(
        perm.index(b[0]) // 32 for b in batches)


def test_ties_keep_the_random_order():
    s = bucketed(4, 2, [7] * 40)                                   # all lengths equal
    for epoch in (0, 3):
        s.set_position(epoch)
        plain = GlobalBatchSampler(40, 4, SEED)
        plain.set_position(epoch)
        assert sorted(s.global_batches()) == sorted(plain.global_batches())


def test_same_global_batches_for_any_split_over_ranks_and_accumulation():
    lengths = random_lengths()
    want = global_batches(bucketed(12, 3, lengths), epoch=1)
    assert len(want) == N // 12
    for world, accum, b in ((2, 1, 6), (1, 2, 6), (3, 2, 2), (2, 3, 2)):
        got = global_batches(bucketed(b, 3, lengths, world_size=world, accum=accum), epoch=1)
        assert got == want, (world, accum)


def test_resume_mid_epoch_gives_the_remaining_batches():
    lengths = random_lengths()
    full = global_batches(bucketed(4, 5, lengths, world_size=2), epoch=3)
    for start in (1, 7, len(full) - 1):
        assert global_batches(bucketed(4, 5, lengths, world_size=2), epoch=3, start=start) == full[start:]
    s = bucketed(8, 5, lengths)
    s.set_position(3, 6)
    assert list(s) == full[6:]


def test_off_is_the_previous_order():
    """bucket_batches=0 (with or without lengths) yields exactly the plain permutation slices."""
    lengths = random_lengths()
    for world, accum, b, drop_last in ((1, 1, 8, True), (2, 2, 3, True), (1, 1, 8, False)):
        for rank in range(world):
            for epoch, start in ((0, 0), (4, 3)):
                kw = dict(world_size=world, rank=rank, accum=accum, drop_last=drop_last)
                off = GlobalBatchSampler(N, b, SEED, lengths=lengths, bucket_batches=0, **kw)
                off.set_position(epoch, start)
                g = torch.Generator().manual_seed(SEED * 100003 + epoch)    # the original recipe
                perm = torch.randperm(N, generator=g).tolist()
                G = b * world * accum
                steps = N // G + (0 if drop_last else int(N % G > 0))
                want = [perm[s * G + m * b: s * G + (m + 1) * b] for s in range(start, steps)
                        for m in range(rank * accum, rank * accum + accum)]
                assert list(off) == want
                plain = GlobalBatchSampler(N, b, SEED, **kw)             # no lengths at all
                plain.set_position(epoch)
                assert list(plain)[start * accum:] == want


def test_deterministic_per_seed_and_epoch():
    lengths = random_lengths()
    a, b = bucketed(8, 4, lengths), bucketed(8, 4, lengths)
    a.set_position(5)
    b.set_position(5)
    assert list(a) == list(b)
    b.set_position(6)
    assert list(a) != list(b)
    other_seed = GlobalBatchSampler(N, 8, SEED + 1, lengths=lengths, bucket_batches=4)
    other_seed.set_position(5)
    assert list(other_seed) != list(a)


def test_matches_the_documented_recipe():
    """Pools of bucket_batches global batches of the epoch permutation, each sorted by length (stable),
    cut into global batches, whose order is shuffled by a generator seeded from (seed, epoch)."""
    from utils.distributed import BUCKET_TAG, derived_seed
    lengths = random_lengths()
    s = bucketed(6, 3, lengths, world_size=2)                       # G = 12, pools of 36
    for epoch in (0, 1, 7):
        s.set_position(epoch)
        perm = torch.randperm(N, generator=torch.Generator().manual_seed(SEED * 100003 + epoch)).tolist()
        used = perm[:(N // 12) * 12]
        batches = []
        for p in range(0, len(used), 36):
            pool = sorted(used[p:p + 36], key=lambda i: lengths[i])
            batches += [pool[k:k + 12] for k in range(0, len(pool), 12)]
        g = torch.Generator().manual_seed(derived_seed(SEED, epoch, BUCKET_TAG))
        assert s.global_batches() == [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
    fixed = GlobalBatchSampler(40, 4, SEED, shuffle=False, lengths=list(range(40, 0, -1)), bucket_batches=5)
    assert fixed.global_batches() == [list(range(k + 3, k - 1, -1)) for k in range(16, -1, -4)] + \
        [list(range(k + 3, k - 1, -1)) for k in range(36, 19, -4)]     # shuffle=False: sorted pools in order


def test_bad_arguments():
    with pytest.raises(ValueError, match="lengths"):
        GlobalBatchSampler(10, 2, 0, bucket_batches=2)
    with pytest.raises(ValueError, match="entries"):
        GlobalBatchSampler(10, 2, 0, lengths=[3] * 9, bucket_batches=2)
    with pytest.raises(ValueError, match=">= 0"):
        GlobalBatchSampler(10, 2, 0, lengths=[3] * 10, bucket_batches=-1)


# ---- the datasets' per-item lengths ------------------------------------------------------------------
@pytest.mark.parametrize("max_len", [None, 90])
def test_interhuman_item_lengths_are_the_items_lengths(setup, max_len):  # noqa: F811
    from data import build_t2m_dataset
    from data.config import DataConfig
    opt = argparse.Namespace(dataset_name="interhuman", data_root=setup["data"], stats_dir=None,
                             max_motion_length=max_len)
    ds = build_t2m_dataset(DataConfig.from_options(vars(opt)), "train")
    got = ds.item_lengths()
    assert len(got) == len(ds) and len(set(got)) >= 3
    assert got == [int(ds[i][4]) for i in range(len(ds))]
    if max_len:                                              # longer clips are cropped
        assert max(got) == max_len - 1 and sum(n == max_len - 1 for n in got) > len(got) // 2


def test_interx_item_lengths_estimate_the_items_lengths(tmp_path):
    import warnings
    from data import build_t2m_dataset
    from data.config import DataConfig
    from tests.test_data_interx import ix_opt, write_interx
    root = write_interx(str(tmp_path / "InterX"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = build_t2m_dataset(DataConfig.from_options(vars(ix_opt(root))), "train")
    got = ds.item_lengths()
    assert got == [60, 96, 150]                          # 61, 97, 170 frames: multiples of 4, at most 150
    for i in range(len(ds)):
        drawn = {int(ds[i][5]) for _ in range(12)}       # the item's length is drawn (4 less 1 time in 3)
        assert drawn <= {got[i], got[i] - 4}
    ds.reset_max_len(90)
    assert ds.item_lengths() == [96, 150] and len(ds) == 2


# ---- end to end ----------------------------------------------------------------------------------
def test_training_with_length_buckets(setup, monkeypatch):  # noqa: F811
    from models.mask_transformer import trainer as trainer_mod
    seen, losses = [], []
    micro_step, train_step = trainer_mod.TransformerTrainer.micro_step, trainer_mod.TransformerTrainer.train_step

    def record_micro_step(self, net, batch, position=None, *a, **k):
        if position is not None:
            seen.append(split_batch(batch, self.dataset_name)[3].tolist())
        return micro_step(self, net, batch, position, *a, **k)

    def record_step(self, *a, **k):
        out = train_step(self, *a, **k)
        losses.append(out["loss"])
        return out

    monkeypatch.setattr(trainer_mod.TransformerTrainer, "micro_step", record_micro_step)
    monkeypatch.setattr(trainer_mod.TransformerTrainer, "train_step", record_step)
    t = _main(setup, "buckets", "--batch_size", "4", "--grad_accum", "2", "--length_buckets", "2", "--lr", "1e-3",
              "--max_iters", "5")
    assert len(losses) == 5 and all(np.isfinite(losses)) and len(seen) == 10
    run = os.path.join(setup["ckpt"], "interhuman", "buckets", "model")
    ck = torch.load(os.path.join(run, "latest.tar"), weights_only=False)
    assert ck["total_it"] == 5 and ck["length_buckets"] == 2
    # the trained batches are the sampler's bucketed global batches (each split into 2 micro-batches)
    from data import build_t2m_dataset
    from data.config import DataConfig
    ds = build_t2m_dataset(DataConfig.from_options(dict(dataset_name="interhuman", data_root=setup["data"])), "train")
    lengths = ds.item_lengths()
    s = GlobalBatchSampler(len(ds), 8, 3407, lengths=lengths, bucket_batches=2)
    assert s.steps_per_epoch < 5 == t.total_iters // 100 + 1    # the run crosses an epoch boundary
    want = []
    for epoch in (0, 1):
        s.set_position(epoch)
        want += [[lengths[i] for i in b] for b in s.global_batches()]
    want = want[:5]
    assert [seen[2 * k] + seen[2 * k + 1] for k in range(5)] == want
    assert all(b == sorted(b) for b in want)
    # resuming mid-epoch with another setting is refused (the remaining batches would differ)
    with pytest.raises(ValueError, match="length_buckets"):
        _main(setup, "buckets", "--batch_size", "4", "--grad_accum", "2", "--lr", "1e-3", "--max_iters", "6",
              "--is_continue")
