"""VQ-VAE training loop with the official optimisation, and exact (bit-identical on CPU) resume.

Official recipe (`vq_trainer.py`): AdamW(lr, betas (0.9, 0.99), weight_decay), gradient norm clipped
to 1.0; linear warm-up for iterations it < W (W = a quarter epoch, it counted from 1) with
lr * (it + 1) / (W + 1), so the warm-up peaks at lr * W / (W + 1) and stays there; MultiStepLR
(gamma 0.1, milestones at 70 % and 85 % of max_epoch * iterations per epoch) stepped only once
it >= W, so the decays land at iteration milestone + W - 1. Loss = rec + 0.02 commit + explicit
+ 100 vel + 5 bn + 0.01 geo + 500 fc (losses.py). Validation every epoch (eval mode, deterministic
codes); `finest.tar` at the lowest validation loss; `latest.tar` every `save_latest` iterations and
at the end of every epoch; with an evaluation function `best_fid.tar` / `best_top1.tar`.

Differences from the official loop, all deliberate:
- exactly `max_epoch` epochs (the official `while epoch <= max_epoch` runs one more);
- resume restores the codebook's EMA statistics and init flag, the RNG states and the position in
  the epoch (the official code re-initialises the codebook from the first batch on resume);
- the shuffling order is a seeded permutation per epoch, and validation/evaluation run with the
  training RNG streams saved and restored, so they never change the trained weights.
"""
import contextlib
import math
import os
import time
from collections import defaultdict

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from models.vq.losses import LOSS_NAMES, weighted_total
from utils.files import atomic_torch_save, load_checkpoint, rng_state, set_rng_state

TRAIN_LOG_KEYS = ["loss"] + LOSS_NAMES + ["loss_commit", "perplexity"]


def setup_run_dirs(opt):
    """The official run layout: <checkpoints_dir>/<dataset_name>/<name>/{model,log,eval}."""
    opt.save_root = os.path.join(opt.checkpoints_dir, opt.dataset_name, opt.name)
    opt.model_dir = os.path.join(opt.save_root, "model")
    opt.log_dir = os.path.join(opt.save_root, "log")
    opt.eval_dir = os.path.join(opt.save_root, "eval")
    for d in (opt.model_dir, opt.log_dir, opt.eval_dir):
        os.makedirs(d, exist_ok=True)
    return opt


class EpochBatchSampler(Sampler):
    """Batches of a permutation drawn from (seed, epoch) alone, startable at any batch of the epoch."""

    def __init__(self, n_items, batch_size, seed, shuffle=True, drop_last=True):
        self.n_items, self.batch_size, self.seed = n_items, batch_size, int(seed)
        self.shuffle, self.drop_last = shuffle, drop_last
        self.epoch, self.start_batch = 0, 0

    def set_position(self, epoch, start_batch=0):
        self.epoch, self.start_batch = epoch, start_batch

    def __len__(self):
        full = self.n_items // self.batch_size
        return full if self.drop_last or self.n_items % self.batch_size == 0 else full + 1

    def __iter__(self):
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
            order = torch.randperm(self.n_items, generator=g).tolist()
        else:
            order = list(range(self.n_items))
        for b in range(self.start_batch, len(self)):
            yield order[b * self.batch_size:(b + 1) * self.batch_size]


@contextlib.contextmanager
def preserved_rng():
    """Run a block (validation, evaluation) without moving the training random streams."""
    st = rng_state()
    try:
        yield
    finally:
        set_rng_state(st)


def _as_minutes(s):
    m = math.floor(s / 60)
    return f"{m}m {int(s - m * 60)}s"


def progress_line(start, it, total, epoch, inner, logs):
    """The official console line: 'ep/it: e- i niter: n  Xm Ys (- Zm Ws) completed: p%) k: v ...'."""
    frac = max(it / max(total, 1), 1e-12)
    spent = time.time() - start
    msg = (f"ep/it:{epoch:2d}-{inner:4d} niter:{it:6d}  {_as_minutes(spent)} "
           f"(- {_as_minutes(spent / frac - spent)}) completed:{frac * 100:3.0f}%)")
    return msg + "".join(f" {k}: {v:.4f} " for k, v in logs.items())


class VQTrainer:
    """Trains `model` (RVQVAE) with `losses` (a GeometricLosses-like module: forward(target, pred) ->
    dict of the six terms). `eval_fn(model, epoch) -> dict(fid=..., top1=..., matching=...)` is optional."""

    def __init__(self, opt, model, losses, device, eval_fn=None, writer=None):
        self.opt, self.model, self.device = opt, model.to(device), device
        self.losses = losses.to(device)
        self.eval_fn = eval_fn
        self.writer = writer
        self.model_dir = opt.model_dir
        self.best = {"min_val_loss": float("inf"), "fid": float("inf"), "top1": -float("inf")}
        self.amp_dtype = {"bf16": torch.bfloat16}.get(getattr(opt, "amp", "none"))
        if getattr(opt, "amp", "none") == "fp16":
            raise ValueError("--amp fp16 is not supported for VQ training (use bf16 or none)")

    # ---- schedule --------------------------------------------------------------------------------
    def warm_up_lr(self, it, warm_up_iter):
        lr = self.opt.lr * (it + 1) / (warm_up_iter + 1)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _setup(self, iters_per_epoch):
        opt = self.opt
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=opt.lr, betas=(0.9, 0.99),
                                           weight_decay=opt.weight_decay)
        total = opt.max_epoch * iters_per_epoch
        milestones = [int(f * total) for f in opt.milestones]
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, milestones=milestones,
                                                              gamma=opt.gamma)
        self.warm_up_iter = opt.warm_up_iter if opt.warm_up_iter is not None else iters_per_epoch // 4
        self.log_every = opt.log_every or max(1, iters_per_epoch // 10)
        self.save_latest = opt.save_latest or max(1, iters_per_epoch // 2)
        self.total_iters = total
        self.lr_history = []      # lr used by each iteration of this process (tests, plots)
        self.val_history = []     # validation means of each epoch ended by this process
        self.train_history = []   # the logged training means (every log_every iterations)

    # ---- checkpoints -----------------------------------------------------------------------------
    def save(self, name, epoch, batch_in_epoch, it):
        state = {
            "vq_model": self.model.state_dict(),
            "opt_vq_model": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "ep": epoch,
            "total_it": it,
            # ours: everything else an exact resume needs
            "batch_in_epoch": batch_in_epoch,
            "quantizer_ema": self.model.quantizer_state(),
            "rng": rng_state(),
            "best": dict(self.best),
        }
        atomic_torch_save(state, os.path.join(self.model_dir, f"{name}.tar"))

    def resume(self, path):
        ckpt = load_checkpoint(path, how="nothing to continue from: run without --is_continue first")
        self.model.load_state_dict(ckpt["vq_model"], strict=True)
        if "quantizer_ema" in ckpt:
            self.model.load_quantizer_state(ckpt["quantizer_ema"])
        self.optimizer.load_state_dict(ckpt["opt_vq_model"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.best.update(ckpt.get("best", {}))
        if "rng" in ckpt:
            set_rng_state(ckpt["rng"])
        return ckpt["ep"], ckpt.get("batch_in_epoch", 0), ckpt["total_it"]

    # ---- one step --------------------------------------------------------------------------------
    def _forward(self, batch):
        motions = batch.to(self.device, non_blocking=True).float()
        with torch.autocast(device_type=self.device.type, dtype=self.amp_dtype or torch.bfloat16,
                            enabled=self.amp_dtype is not None):
            recon, commit, perplexity = self.model(motions)
        terms = self.losses(motions, recon.float())
        loss = weighted_total(terms, commit, self.opt)
        logs = {k: v.detach() for k, v in
                {"loss": loss, **terms, "loss_commit": commit, "perplexity": perplexity}.items()}
        return loss, logs

    def _log(self, prefix, values, step):
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f"{prefix}/{k}", v, step)

    @torch.no_grad()
    def validate(self, loader):
        self.model.eval()
        sums, n = defaultdict(float), 0
        for batch in tqdm(loader, desc="val", leave=False, dynamic_ncols=True):
            _, logs = self._forward(batch)
            for k, v in logs.items():
                sums[k] += float(v)
            n += 1
        self.model.train()
        return {k: v / max(n, 1) for k, v in sums.items()}

    # ---- loop ------------------------------------------------------------------------------------
    def train(self, train_set, val_set):
        opt = self.opt
        sampler = EpochBatchSampler(len(train_set), opt.batch_size, opt.seed, shuffle=True, drop_last=True)
        if len(sampler) == 0:
            raise ValueError(f"training set has {len(train_set)} windows, fewer than --batch_size "
                             f"{opt.batch_size}: lower --batch_size")
        loader_gen = torch.Generator().manual_seed(opt.seed)     # keeps the global RNG untouched
        train_loader = DataLoader(train_set, batch_sampler=sampler, num_workers=opt.num_workers,
                                  generator=loader_gen, pin_memory=self.device.type == "cuda")
        val_loader = DataLoader(val_set, batch_size=opt.batch_size, shuffle=False, drop_last=False,
                                num_workers=opt.num_workers)
        self._setup(len(sampler))
        epoch, start_batch, it = 0, 0, 0
        if opt.is_continue:
            epoch, start_batch, it = self.resume(os.path.join(self.model_dir, "latest.tar"))
            tqdm.write(f"resumed from latest.tar at epoch {epoch}, batch {start_batch}, iteration {it}")
        max_iters = opt.max_iters or self.total_iters
        start = time.time()
        self.model.train()
        acc = defaultdict(float)
        while epoch < opt.max_epoch and it < max_iters:
            sampler.set_position(epoch, start_batch)
            inner = start_batch
            bar = tqdm(train_loader, total=len(sampler), initial=start_batch, dynamic_ncols=True,
                       desc=f"epoch {epoch + 1}/{opt.max_epoch}")
            for inner, batch in enumerate(bar, start=start_batch + 1):
                it += 1
                if it < self.warm_up_iter:
                    self.warm_up_lr(it, self.warm_up_iter)
                lr = self.optimizer.param_groups[0]["lr"]        # the lr this step uses
                self.lr_history.append(lr)
                loss, logs = self._forward(batch)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.optimizer.step()
                if it >= self.warm_up_iter:
                    self.scheduler.step()
                for k, v in logs.items():
                    acc[k] += float(v)
                bar.set_postfix(loss=f"{float(logs['loss']):.4f}", lr=f"{lr:.2e}")
                if it % self.log_every == 0:
                    mean = {k: acc[k] / self.log_every for k in TRAIN_LOG_KEYS}
                    self._log("Train", {**mean, "lr": lr}, it)
                    self.train_history.append(mean)
                    tqdm.write(progress_line(start, it, self.total_iters, epoch, inner, mean))
                    acc = defaultdict(float)
                if it % self.save_latest == 0 or it >= max_iters:
                    self.save("latest", epoch, inner, it)
                if it >= max_iters and inner < len(sampler):
                    break
            bar.close()
            if it >= max_iters and inner < len(sampler):
                break
            epoch, start_batch = epoch + 1, 0
            self.end_of_epoch(val_loader, epoch, it)
            self.save("latest", epoch, 0, it)
        return it

    def end_of_epoch(self, val_loader, epoch, it):
        with preserved_rng():
            val = self.validate(val_loader)
            self.val_history.append(val)
            self._log("Val", {**{k: val[k] for k in ["loss"] + LOSS_NAMES + ["loss_commit"]},
                              "loss_perplexity": val["perplexity"]}, epoch)
            tqdm.write(f"Validation epoch {epoch}: " + " ".join(f"{k}: {v:.5f}" for k, v in val.items()))
            if val["loss"] < self.best["min_val_loss"]:
                self.best["min_val_loss"] = val["loss"]
                self.save("finest", epoch, 0, it)
            if self.eval_fn is not None:
                self.run_eval(epoch, it)

    def run_eval(self, epoch, it):
        self.model.eval()
        res = self.eval_fn(self.model, epoch)
        self.model.train()
        self._log("Test", {"FID": res["fid"], "Matching": res.get("matching", float("nan")),
                           "Top1": res["top1"]}, epoch)
        tqdm.write(f"Eval epoch {epoch} it {it}: " + " ".join(
            f"{k}: {float(v):.4f}" for k, v in res.items() if isinstance(v, (int, float, np.floating))))
        if res["fid"] < self.best["fid"]:
            self.best["fid"] = res["fid"]
            self.save("best_fid", epoch, 0, it)
        if res["top1"] > self.best["top1"]:
            self.best["top1"] = res["top1"]
            self.save("best_top1", epoch, 0, it)
