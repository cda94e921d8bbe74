"""VQ-VAE training loop with the official optimisation, and exact (bit-identical on CPU) resume.

Official recipe (`vq_trainer.py`): AdamW(lr, betas (0.9, 0.99), weight_decay), gradient norm clipped
to 1.0; linear warm-up for iterations it < W (W = a quarter epoch, it counted from 1) with
lr * (it + 1) / (W + 1), so the warm-up peaks at lr * W / (W + 1) and stays there; MultiStepLR
(gamma 0.1, milestones at 70 % and 85 % of max_epoch * iterations per epoch) stepped only once
it >= W, so the decays land at iteration milestone + W - 1. Loss = rec + 0.02 commit + explicit
+ 100 vel + 5 bn + 0.01 geo + 500 fc (losses.py). Validation every epoch (eval mode, deterministic
codes); `finest.tar` at the lowest validation loss; `latest.tar` every `save_latest` iterations and
at the end of every epoch; with an evaluation function `best_fid.tar` / `best_top1.tar`.

Epochs (`--extra_epoch`, default official): the official loop `while epoch <= max_epoch: epoch += 1`
runs max_epoch + 1 epochs while its milestones are placed on max_epoch epochs, so the last epoch runs
at the final lr; `--extra_epoch False` stops after exactly max_epoch epochs (same schedule).
Validation batches as official: batch_size windows, the last partial batch dropped (kept only when the
validation set is smaller than one batch, where the official loop divides by zero).

Differences from the official loop, all deliberate:
- resume restores the codebook's EMA statistics and init flag, the RNG states and the position in
  the epoch (the official code re-initialises the codebook from the first batch on resume);
- the shuffling order is a seeded permutation per epoch, and validation/evaluation run with the
  training RNG streams saved and restored, so they never change the trained weights;
- `--grad_accum A` and torchrun ranks N (utils/distributed.py): one iteration is one optimiser step
  over N x A micro-batches of --batch_size windows (global batch batch_size x N x A), the loss is
  averaged over them, and the codebook's EMA update (and first-batch initialisation) runs once per
  step on everything quantised in that step, gathered over the ranks in global order
  (`GlobalBatchCodebook`), so the codebooks stay identical on all ranks. With N = A = 1 this is the
  official per-batch update. Each micro-batch's random draws (Gumbel noise, quantiser-dropout coin)
  come from (seed, iteration, micro-batch index), so N ranks x A equal 1 process x N*A.
"""
import contextlib
import math
import os
import time
from collections import defaultdict

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from models.vq.losses import LOSS_NAMES, weighted_total
from utils.distributed import (GlobalBatchSampler, SeededItems, all_gather_cat, all_reduce_mean, barrier,
                               broadcast_, get_dist, no_sync, seed_all, wrap_ddp)
from utils.files import atomic_torch_save, rng_state, set_rng_state
from utils.resume import read_resume_checkpoint, restore_training, resume_position

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


# the seeded epoch sampler; with ranks / accumulation it yields this rank's share of global batches
EpochBatchSampler = GlobalBatchSampler


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


def say(msg):
    """tqdm-safe console line, from rank 0 only."""
    if get_dist().is_main:
        tqdm.write(msg)


class GlobalBatchCodebook:
    """Defers the EMA codebook updates of every quantiser layer to the end of the optimiser step and
    runs them on the step's GLOBAL batch: the vectors and code ids of all micro-batches, gathered over
    the ranks in global micro-batch order. The first-batch initialisation takes rank 0's first
    micro-batch (the global first) and is broadcast. Codebooks and EMA statistics therefore stay
    identical on every rank, and equal to one process accumulating the same micro-batches.
    Installed by VQTrainer.train only when ranks x grad_accum > 1 (else the official per-forward
    update runs untouched); `remove()` restores the layers."""

    def __init__(self, model):
        self.layers = list(dict.fromkeys(model.quantizer.layers))       # shared codebook: once
        self.seen = {id(layer): [] for layer in self.layers}
        for layer in self.layers:
            layer.update_codebook = self._collector(layer)
            layer.init_codebook = self._initialiser(layer)

    def _collector(self, layer):
        def collect(x, code_idx):                                        # x (N, D), code_idx (N,)
            self.seen[id(layer)].append((x.detach(), code_idx.detach()))
            return layer.compute_perplexity(code_idx)                    # this micro-batch's, as official
        return collect

    def _initialiser(self, layer):
        cls_init = type(layer).init_codebook

        @torch.no_grad()
        def init(x):
            if get_dist().is_main:
                cls_init(layer, x)
            else:
                layer.codebook = torch.empty_like(layer.codebook)
                layer.code_sum = torch.empty_like(layer.codebook)
                layer.code_count = torch.empty(layer.nb_code, device=layer.codebook.device)
                layer.initialised = torch.tensor(True, device=layer.codebook.device)
            for buf in (layer.codebook, layer.code_sum, layer.code_count):
                broadcast_(buf, src=0)
        return init

    @torch.no_grad()
    def flush(self):
        """Apply one EMA update per layer with everything it quantised since the last flush."""
        for layer in self.layers:
            seen = self.seen[id(layer)]
            if not seen:
                continue
            x = all_gather_cat(torch.cat([v for v, _ in seen]))           # (N_global, D)
            idx = all_gather_cat(torch.cat([i for _, i in seen]))        # (N_global,)
            type(layer).update_codebook(layer, x, idx)
            seen.clear()

    def remove(self):
        for layer in self.layers:
            for name in ("update_codebook", "init_codebook"):
                layer.__dict__.pop(name, None)


class VQTrainer:
    """Trains `model` (RVQVAE) with `losses` (a GeometricLosses-like module: forward(target, pred) ->
    dict of the six terms). `eval_fn(model, epoch) -> dict(fid=..., top1=..., matching=...)` is optional.
    Under torchrun (utils/distributed.py) rank 0 alone validates, evaluates, logs and writes
    checkpoints; the other ranks wait at a barrier."""

    def __init__(self, opt, model, losses, device, eval_fn=None, writer=None):
        self.opt, self.model, self.device = opt, model.to(device), device
        self.losses = losses.to(device)
        self.eval_fn = eval_fn
        self.writer = writer
        self.model_dir = opt.model_dir
        self.dist = get_dist()
        self.grad_accum = max(1, int(getattr(opt, "grad_accum", 1) or 1))
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
        total = opt.max_epoch * iters_per_epoch           # the schedule's length (official: max_epoch epochs)
        self.n_epochs = opt.max_epoch + (1 if getattr(opt, "extra_epoch", True) else 0)
        milestones = [int(f * total) for f in opt.milestones]
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, milestones=milestones,
                                                              gamma=opt.gamma)
        self.warm_up_iter = opt.warm_up_iter if opt.warm_up_iter is not None else iters_per_epoch // 4
        self.log_every = opt.log_every or max(1, iters_per_epoch // 10)
        self.save_latest = opt.save_latest or max(1, iters_per_epoch // 2)
        self.total_iters = total
        self.global_batch = opt.batch_size * self.dist.world_size * self.grad_accum
        self.lr_history = []      # lr used by each iteration of this process (tests, plots)
        self.val_history = []     # validation means of each epoch ended by this process
        self.train_history = []   # the logged training means (every log_every iterations)

    # ---- checkpoints -----------------------------------------------------------------------------
    def save(self, name, epoch, step_in_epoch, it):
        if not self.dist.is_main:
            return
        state = {
            "vq_model": self.model.state_dict(),
            "opt_vq_model": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "ep": epoch,
            "total_it": it,
            # ours: everything else an exact resume needs (on any number of ranks)
            "batch_in_epoch": step_in_epoch,
            "step_in_epoch": step_in_epoch,
            "global_batch": self.global_batch,
            "quantizer_ema": self.model.quantizer_state(),
            "rng": rng_state(),
            "best": dict(self.best),
        }
        atomic_torch_save(state, os.path.join(self.model_dir, f"{name}.tar"))

    RESUME_KEYS = ("vq_model", "opt_vq_model", "scheduler", "ep", "total_it")

    def resume(self, path, ckpt=None):
        """Continue from the checkpoint at `path` (`ckpt`: its contents when already read)."""
        ckpt = read_resume_checkpoint(path, self.RESUME_KEYS) if ckpt is None else ckpt
        restore_training(self, ckpt, path, "vq_model", "opt_vq_model")
        if "quantizer_ema" in ckpt:
            self.model.load_quantizer_state(ckpt["quantizer_ema"])
        return resume_position(ckpt, self.global_batch, path)

    # ---- one step --------------------------------------------------------------------------------
    def _forward(self, batch, net=None):
        """One micro-batch through `net` (the DDP wrapper in training; default the model itself)."""
        net = self.model if net is None else net
        motions = batch.to(self.device, non_blocking=True).float()
        with torch.autocast(device_type=self.device.type, dtype=self.amp_dtype or torch.bfloat16,
                            enabled=self.amp_dtype is not None):
            recon, commit, perplexity = net(motions)
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

    def train_step(self, net, micro_batches, it, sampler, codebook):
        """One optimiser step over this rank's micro-batches; returns the step's mean logs."""
        self.optimizer.zero_grad(set_to_none=True)
        logs = defaultdict(float)
        for a, batch in enumerate(micro_batches):
            seed_all(self.opt.seed, it, sampler.micro_index(a))
            with no_sync(net, a < self.grad_accum - 1):
                loss, micro_logs = self._forward(batch, net)
                (loss / self.grad_accum).backward()
            for k, v in micro_logs.items():
                logs[k] += float(v) / self.grad_accum
        if codebook is not None:
            codebook.flush()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        return logs

    # ---- loop ------------------------------------------------------------------------------------
    def train(self, train_set, val_set, resume=None):
        """Train to max_epoch / max_iters. With --is_continue it continues `resume` (latest.tar's
        contents, when the caller has read them already) or reads latest.tar."""
        opt, info = self.opt, self.dist
        sampler = GlobalBatchSampler(len(train_set), opt.batch_size, opt.seed, world_size=info.world_size,
                                     rank=info.rank, accum=self.grad_accum)
        if sampler.steps_per_epoch == 0:
            raise ValueError(f"training set has {len(train_set)} windows, fewer than one global batch of "
                             f"{sampler.global_batch} (--batch_size {opt.batch_size} x {info.world_size} ranks "
                             f"x --grad_accum {self.grad_accum}): lower --batch_size")
        items = SeededItems(train_set, opt.seed)
        loader_gen = torch.Generator().manual_seed(opt.seed)     # keeps the global RNG untouched
        train_loader = DataLoader(items, batch_sampler=sampler, num_workers=opt.num_workers,
                                  generator=loader_gen, pin_memory=self.device.type == "cuda")
        val_loader = DataLoader(val_set, batch_size=opt.batch_size, shuffle=False,
                                drop_last=len(val_set) >= opt.batch_size, num_workers=opt.num_workers)
        steps = sampler.steps_per_epoch
        self._setup(steps)
        epoch, start_step, it = 0, 0, 0
        if opt.is_continue:
            epoch, start_step, it = self.resume(os.path.join(self.model_dir, "latest.tar"), resume)
            say(f"resumed from latest.tar at epoch {epoch}, step {start_step}, iteration {it}")
        max_iters = opt.max_iters or self.n_epochs * steps
        net = wrap_ddp(self.model)
        codebook = GlobalBatchCodebook(self.model) if sampler.global_batch > opt.batch_size else None
        start = time.time()
        self.model.train()
        acc = defaultdict(float)
        try:
            while epoch < self.n_epochs and it < max_iters:
                sampler.set_position(epoch, start_step)
                items.set_epoch(epoch)
                micro = iter(train_loader)
                bar = tqdm(total=steps, initial=start_step, dynamic_ncols=True, disable=not info.is_main,
                           desc=f"epoch {epoch + 1}/{self.n_epochs}")
                inner = start_step
                for inner in range(start_step + 1, steps + 1):
                    it += 1
                    if it < self.warm_up_iter:
                        self.warm_up_lr(it, self.warm_up_iter)
                    lr = self.optimizer.param_groups[0]["lr"]        # the lr this step uses
                    self.lr_history.append(lr)
                    logs = self.train_step(net, [next(micro) for _ in range(self.grad_accum)], it, sampler,
                                           codebook)
                    if it >= self.warm_up_iter:
                        self.scheduler.step()
                    for k, v in logs.items():
                        acc[k] += v
                    bar.update(1)
                    bar.set_postfix(loss=f"{logs['loss']:.4f}", lr=f"{lr:.2e}")
                    if it % self.log_every == 0:
                        mean = all_reduce_mean({k: acc[k] / self.log_every for k in TRAIN_LOG_KEYS})
                        self._log("Train", {**mean, "lr": lr}, it)
                        self.train_history.append(mean)
                        say(progress_line(start, it, self.total_iters, epoch, inner, mean))
                        acc = defaultdict(float)
                    if it % self.save_latest == 0 or it >= max_iters:
                        self.save("latest", epoch, inner, it)
                    if it >= max_iters and inner < steps:
                        break
                bar.close()
                if it >= max_iters and inner < steps:
                    break
                epoch, start_step = epoch + 1, 0
                if info.is_main:
                    self.end_of_epoch(val_loader, epoch, it)
                    self.save("latest", epoch, 0, it)
                barrier()
        finally:
            if codebook is not None:
                codebook.remove()
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
