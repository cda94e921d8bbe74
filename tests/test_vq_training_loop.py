"""The VQ training loop drawn iteration by iteration against the official loop's rules (`train_vq.py` +
`vq_trainer.py` + `InterHumanMotion` + `QuantizeEMAReset` at the reference commit), on a tiny on-disk
dataset whose clip lengths are chosen so every number below follows from those rules by hand.

Official rules pinned here:
- windows: a clip is kept if T >= window_size; each kept clip gives 4 sequences of T-1 rows
  [person1, person1 mirrored, person2, person2 mirrored]; windows start at 0, stride, ... while
  start + window_size <= T-1; so half of all windows are mirrored;
- epoch: a fresh shuffle of all windows, cut into batch_size batches, the last partial one dropped
  (DataLoader(shuffle=True, drop_last=True)); `while epoch <= max_epoch: epoch += 1` runs max_epoch + 1
  epochs; validation in batch_size batches, the last partial one dropped;
- lr: W = iterations_per_epoch // 4; for it < W (it from 1) lr * (it + 1) / (W + 1); MultiStepLR(0.1)
  with milestones int(0.7 * T) and int(0.85 * T), T = max_epoch * iterations_per_epoch, stepped after
  each iteration with it >= W;
- codebook: initialised from the first training batch's first nb_code encoder vectors, once; one EMA
  update per training iteration on all B x tokens vectors, after the Gumbel (temperature 0.5)
  assignment; codes whose EMA count is < 1 after the update are replaced by the batch's first
  nb_code vectors; nothing is updated or re-initialised in validation (argmin assignment).
"""
import os

import numpy as np
import pytest
import torch

WINDOW, STRIDE, BATCH = 16, 10, 3
# raw clip lengths T -> windows per sequence (T-1 rows): 12 dropped (T < 16), 16 kept with 0 windows
# (15 rows), 17 -> 1, 40 -> 3 (starts 0, 10, 20), 47 -> 4 (starts 0..30)
TRAIN_LENGTHS = [12, 16, 17, 40, 47]
TRAIN_WINDOWS = 4 * (0 + 1 + 3 + 4)          # 32 windows, 16 of them mirrored
VAL_LENGTHS = [30, 45]                       # 2 + 3 windows per sequence -> 20 windows
VAL_WINDOWS = 4 * (2 + 3)
STEPS = TRAIN_WINDOWS // BATCH               # 10 iterations per epoch (30 windows, 2 dropped), W = 10 // 4 = 2
VAL_STEPS = VAL_WINDOWS // BATCH             # 6 validation batches (18 windows, 2 dropped)
MAX_EPOCH = 2                                # official loop: 3 epochs, 30 iterations
LR = 2e-4
# lr used by iterations 1..30: warm-up only at it = 1 (lr * 2/3, which then stays); schedule length
# T = 2 * 10 = 20, milestones int(0.7 T) = 14 and int(0.85 T) = 17; after iteration it (>= W) the
# scheduler has stepped it - 1 times, so the decays act from iterations 16 and 19; the extra epoch
# (21..30) runs at the final lr
GOLDEN_LR = [LR * 2 / 3] * 15 + [LR * 2 / 3 * 0.1] * 3 + [LR * 2 / 3 * 0.01] * 12
FLAGS = ["--batch_size", str(BATCH), "--window_size", str(WINDOW), "--window_stride", str(STRIDE),
         "--max_epoch", str(MAX_EPOCH), "--width", "16", "--code_dim", "8", "--output_emb_width", "8",
         "--nb_code", "32", "--depth", "1", "--mu", "0.9", "--device", "cpu", "--seed", "11"]
NB_CODE, TOKENS = 32, 5 * (WINDOW // 4)      # 20 tokens per window


def _write_dataset(root):
    """Toy clips cut to the chosen lengths (both people), split files for train and val."""
    from tests.test_eval_toydata import write_toy_interhuman
    lengths = TRAIN_LENGTHS + VAL_LENGTHS
    write_toy_interhuman(root, n_clips=len(lengths), seed=3, min_len=60, max_len=60)
    for cid, T in enumerate(lengths, start=1):
        for person in ("person1", "person2"):
            path = os.path.join(root, "motions_processed", person, f"{cid}.npy")
            np.save(path, np.load(path)[:T])
    ids = [str(i) for i in range(1, len(lengths) + 1)]
    for split, part in (("train", ids[:len(TRAIN_LENGTHS)]), ("val", ids[len(TRAIN_LENGTHS):]), ("test", ids[-1:])):
        with open(os.path.join(root, "split", f"{split}.txt"), "w") as f:
            f.write("".join(i + "\n" for i in part))


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """One tiny train_vq.py run with every window read and every quantiser call recorded."""
    import data.interhuman as di
    import models.vq.quantizer as q
    import train_vq
    root = str(tmp_path_factory.mktemp("loop") / "toy")
    _write_dataset(root)
    rec = {"items": [], "init": [], "update": [], "quantize": []}
    patches = pytest.MonkeyPatch()
    get_item = di.InterHumanMotion.__getitem__
    patches.setattr(di.InterHumanMotion, "__getitem__",
                    lambda self, i: rec["items"].append((self.split, i)) or get_item(self, i))
    init, update, quantize = (q.QuantizeEMAReset.init_codebook, q.QuantizeEMAReset.update_codebook,
                              q.QuantizeEMAReset.quantize)

    def rec_init(self, x):
        rec["init"].append(x.shape[0])
        return init(self, x)

    def rec_update(self, x, code_idx):
        before = self.codebook.clone()
        out = update(self, x, code_idx)
        rec["update"].append(dict(n=x.shape[0], x=x.clone(), before=before, after=self.codebook.clone(),
                                  count=self.code_count.clone(), idx=code_idx.clone()))
        return out

    def rec_quantize(self, x, temperature=0.0):
        out = quantize(self, x, temperature)
        nearest = torch.cdist(x, self.codebook).argmin(dim=-1)
        rec["quantize"].append((self.training, float(temperature or 0.0), float((out == nearest).float().mean())))
        return out

    patches.setattr(q.QuantizeEMAReset, "init_codebook", rec_init)
    patches.setattr(q.QuantizeEMAReset, "update_codebook", rec_update)
    patches.setattr(q.QuantizeEMAReset, "quantize", rec_quantize)
    torch.set_num_threads(1)
    try:
        trainer = train_vq.main(["--data_root", root, "--checkpoints_dir", str(root) + "_ck", "--name", "loop",
                                 *FLAGS])
    finally:
        patches.undo()
    return trainer, rec


def test_windows_per_epoch_and_mirrored_fraction(traced):
    trainer, rec = traced
    train = [i for s, i in rec["items"] if s == "train"]
    val = [i for s, i in rec["items"] if s == "val"]
    epochs = MAX_EPOCH + 1
    assert len(train) == epochs * STEPS * BATCH == 90                  # 10 batches of 3 windows, 3 epochs
    from data import build_vq_dataset
    from data.config import DataConfig
    ds = build_vq_dataset(DataConfig.from_options(vars(trainer.opt)), "train")
    assert len(ds) == TRAIN_WINDOWS and len(ds.motion_list) == 4 * 4   # the T = 12 clip is not kept
    assert sum(ds.indices[i][0] % 2 for i in range(len(ds))) == TRAIN_WINDOWS // 2  # odd sequences: mirrored
    assert min(s for s, _ in ds.indices) == 4                          # T = 16 kept (sequences 0-3), no window
    orders = [train[e * 30:(e + 1) * 30] for e in range(epochs)]
    for order in orders:
        assert len(set(order)) == 30 and set(order) <= set(range(TRAIN_WINDOWS))  # each window at most once
    assert orders[0] != orders[1] != orders[2]                         # a fresh shuffle each epoch
    # validation: 20 windows in batches of 3, the partial last batch dropped as the official loader does
    assert len(val) == epochs * VAL_STEPS * BATCH == 54
    assert len(build_vq_dataset(DataConfig.from_options(vars(trainer.opt)), "val")) == VAL_WINDOWS


def test_lr_at_every_iteration_and_the_extra_epoch(traced):
    trainer, _ = traced
    assert len(trainer.lr_history) == 30
    assert np.allclose(trainer.lr_history, GOLDEN_LR, rtol=1e-12, atol=0), trainer.lr_history
    assert len(trainer.val_history) == MAX_EPOCH + 1


def test_codebook_init_update_and_dead_code_resets(traced):
    _, rec = traced
    assert rec["init"] == [BATCH * TOKENS]                             # once, from the first batch (60 vectors)
    assert len(rec["update"]) == 30                                    # one EMA update per iteration, none in val
    assert all(u["n"] == BATCH * TOKENS for u in rec["update"])
    n_reset = []
    for u in rec["update"]:
        dead = u["count"] < 1.0                                        # EMA count after this update
        # dead codes take the batch's first nb_code vectors (in sample, token order) ...
        assert torch.equal(u["after"][dead], u["x"][:NB_CODE][dead])
        # ... the others the EMA mean, which for a code used by this batch is not its old value
        n_reset.append(int(dead.sum()))
    # iteration 1: every code starts with count 1; an unused one falls to mu * 1 = 0.9 < 1 and is reset
    first = rec["update"][0]
    unused = torch.ones(NB_CODE, dtype=torch.bool)
    unused[first["idx"].unique()] = False
    assert torch.equal(first["count"] < 1.0, unused)
    assert max(n_reset) > 0                                            # resets do happen in this run


def test_gumbel_in_training_argmin_in_validation(traced):
    _, rec = traced
    training = [(t, near) for tr, t, near in rec["quantize"] if tr]
    evaluating = [(t, near) for tr, t, near in rec["quantize"] if not tr]
    assert [t for t, _ in training] == [0.5] * 30                      # Gumbel assignment at temperature 0.5 ...
    assert np.mean([near for _, near in training]) < 0.99              # ... which is not always the nearest code
    assert len(evaluating) == (MAX_EPOCH + 1) * VAL_STEPS                # validation: the nearest code
    assert all(near == 1.0 for _, near in evaluating)
