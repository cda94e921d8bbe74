"""The evaluator trainer: the InterCLIP architecture's contrastive step and checkpoint on the shared
training loop (utils/training/loop.py).

The official InterCLIP training code was never released; the objective is the one the checkpoint
implies: a symmetric CLIP cross-entropy over a batch, on cosine similarities scaled by latent_scale^2
(both embeddings have norm latent_scale). Motions are fed as the evaluation feeds them: de-normalised,
contacts dropped inside the model, [person 1 | person 2]. AdamW, linear warm-up (--warmup_iters),
gradient norm clip (--grad_clip), latent_scale clamped to [0, 10] (CLIP caps its logit scale at 100).

Under torchrun --batch_size is per rank and the contrastive batch is the GLOBAL one: every rank gathers
all ranks' embeddings and computes the loss over all of them, back-propagating through its own rows,
so the gradient equals one process with the whole batch. latest.tar is written at the end of each epoch;
interclip.ckpt (models/evaluator/build.py) at the lowest validation loss.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from models.evaluator.build import save_interclip
from models.evaluator.wrappers import InterCLIPWrapper
from utils.distributed import GlobalBatchSampler, SeededItems, all_gather_cat, get_dist
from utils.files import load_checkpoint, rng_state, set_rng_state
from utils.metrics import matching_batch
from utils.training.loop import TrainingLoop
from utils.training.schedule import LinearWarmup

RESUME_HOW = "train without --is_continue first"


class EvaluatorTrainError(ValueError):
    """Bad input; printed as one line by train_evaluator.py."""


def contrastive_loss(text_emb, motion_emb):
    """Symmetric InfoNCE over the batch; logits = <t, m> = cos * latent_scale^2."""
    logits = text_emb @ motion_emb.T  # (B, B)
    labels = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def gather_rows(local):
    """(b, E) on every rank -> (ranks*b, E) in rank order; only this rank's rows keep their graph
    (the other ranks back-propagate through theirs, and DDP sums the parts)."""
    info = get_dist()
    if not info.enabled:
        return local
    parts = list(all_gather_cat(local.detach()).split(local.shape[0]))
    parts[info.rank] = local
    return torch.cat(parts)


def pair_motions(batch, device):
    """Loader batch -> texts, motions (B, T_max, 524) cut to the longest length, lengths (B,)."""
    _, texts, m1, m2, lens = batch[:5]
    lens = torch.as_tensor(lens).long()
    motions = torch.cat([torch.as_tensor(m1), torch.as_tensor(m2)], dim=-1).float()[:, :int(lens.max())]
    return list(texts), motions.to(device), lens.to(device)


def rank_batch(batch_size, data_root, train_ds, info):
    """The per-rank batch: --batch_size, less when the train split (of `data_root`) is small; refuses a
    global batch < 2."""
    batch = min(batch_size, len(train_ds) // info.world_size)
    if batch < 1 or batch * info.world_size < 2:
        raise EvaluatorTrainError(f"{data_root}: the train split has {len(train_ds)} clips; need at least "
                                  f"{max(2, info.world_size)} ({info.world_size} ranks)")
    return batch


def check_global_batch(ck, path, global_batch):
    """A checkpoint continues only with the global batch it was trained with."""
    if ck.get("global_batch", global_batch) != global_batch:
        raise EvaluatorTrainError(f"{path} was trained with a global batch of {ck['global_batch']}, this run "
                                  f"has {global_batch} (--batch_size x ranks): keep the product")


def read_latest(path, global_batch):
    """--is_continue: latest.tar, read and checked before anything else is written."""
    ck = load_checkpoint(path, RESUME_HOW)
    check_global_batch(ck, path, global_batch)
    return ck


@torch.no_grad()
def validate(model, loader, device):
    """Mean contrastive loss and R-precision (top 1/2/3 within each batch) on the validation loader."""
    model.eval()
    wrapper = InterCLIPWrapper(model, device)
    losses, hits, n = [], np.zeros(3), 0
    for batch in loader:
        te, me = wrapper.get_co_embeddings(batch)  # rows paired (length-sorted)
        losses.append(contrastive_loss(te, me).item())
        hits += matching_batch(te.numpy(), me.numpy())[1]
        n += te.shape[0]
    model.train()
    return (float(np.mean(losses)), hits / max(n, 1)) if n else (None, None)


class EvaluatorTrainer(TrainingLoop):
    """Trains `model` (InterCLIP) with `batch` clips per rank; writes into `run_dir`."""

    VAL_BEST = EVAL_BEST = ()
    RESUME_HOW = RESUME_HOW
    RESUMED_LINE = "resumed from {path} at epoch {epoch}"

    def __init__(self, opt, model, device, batch, run_dir, writer=None):
        super().__init__(opt, model, device, writer=writer, model_dir=os.path.join(run_dir, "model"))
        self.batch, self.run_dir = batch, run_dir
        self.clip_norm = opt.grad_clip if opt.grad_clip > 0 else None
        self.best = {"val_loss": float("inf")}
        self.running = []

    def make_loaders(self, train_set, val_set):
        info = self.dist
        sampler = GlobalBatchSampler(len(train_set), self.batch, self.seed, world_size=info.world_size, rank=info.rank)
        items = SeededItems(train_set, self.seed)
        train_loader = DataLoader(items, batch_sampler=sampler, num_workers=self.opt.num_workers)
        self.val_bs = min(self.opt.eval_batch_size, len(val_set)) if len(val_set) else 1
        val_loader = DataLoader(val_set, batch_size=self.val_bs, shuffle=True, drop_last=True,
                                generator=torch.Generator().manual_seed(self.opt.seed + 1))
        return sampler, items, train_loader, val_loader

    def make_optimizer(self):
        return torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=self.opt.lr,
                                 weight_decay=self.opt.weight_decay)

    def make_schedule(self, steps):
        return LinearWarmup(self.optimizer, self.opt.lr, self.opt.warmup_iters)

    def _setup(self, iters_per_epoch):
        super()._setup(iters_per_epoch)
        self.log_every, self.save_latest = self.opt.log_every, 0   # latest.tar at epoch ends only
        self.global_batch = self.batch * self.dist.world_size

    def iteration_limit(self, steps):
        return float("inf")

    # ---- checkpoint --------------------------------------------------------------------------------
    def checkpoint_state(self, epoch, step_in_epoch, it):
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "epoch": epoch,
                "total_it": it, "best_val_loss": self.best["val_loss"], "rng": rng_state(), "seed": self.seed,
                "global_batch": self.global_batch}

    def restore_state(self, ckpt, path):
        check_global_batch(ckpt, path, self.global_batch)
        self.model.load_state_dict(ckpt["model"], strict=True)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.best["val_loss"] = ckpt["best_val_loss"]
        set_rng_state(ckpt["rng"])
        return ckpt["epoch"], 0, ckpt["total_it"]

    # ---- the step ----------------------------------------------------------------------------------
    def micro_batch_step(self, net, batch, position, sync):
        texts, motions, lens = pair_motions(batch, self.device)
        text_emb, motion_emb = net(texts, motions, lens)
        loss = contrastive_loss(gather_rows(text_emb), gather_rows(motion_emb))
        (loss * self.dist.world_size).backward()  # DDP averages over ranks; each rank holds a part
        return {"loss": loss.detach()}

    def after_optimizer_step(self):
        with torch.no_grad():
            self.model.latent_scale.clamp_(0.0, 10.0)  # CLIP caps its logit scale at 100

    # ---- what it prints and keeps ------------------------------------------------------------------
    def start_epoch(self, epoch):
        self.running = []

    def progress_bar(self, steps, start_step, epoch):
        return tqdm(total=steps, desc=f"epoch {epoch + 1}/{self.n_epochs}", leave=False,
                    disable=not (self.dist.is_main and sys.stderr.isatty()))

    def bar_postfix(self, logs, lr):
        return None

    def log_step(self, logs, lr, it, epoch, inner):
        self.running.append(logs["loss"])
        if it % self.log_every == 0 and self.writer is not None:
            self.writer.add_scalar("Train/loss", float(np.mean(self.running[-self.log_every:])), it)
            self.writer.add_scalar("Train/lr", lr, it)

    def end_of_epoch(self, val_loader, epoch, it):
        """Rank 0: validation line and scalars, interclip.ckpt at the lowest validation loss."""
        val_loss, r = validate(self.model, val_loader, self.device)
        msg = f"epoch {epoch}: train loss {np.mean(self.running):.4f}"
        if val_loss is not None:
            msg += f" | val loss {val_loss:.4f} R@1 {r[0]:.3f} R@2 {r[1]:.3f} R@3 {r[2]:.3f} (pool {self.val_bs})"
            self.writer.add_scalar("Val/loss", val_loss, epoch)
            for k in range(3):
                self.writer.add_scalar(f"Val/top{k + 1}", r[k], epoch)
        print(msg, flush=True)
        if val_loss is None or val_loss < self.best["val_loss"]:
            self.best["val_loss"] = val_loss if val_loss is not None else self.best["val_loss"]
            save_interclip(self.model, self.run_dir)
