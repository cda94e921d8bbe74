"""The training loop every trainer runs on (VQ-VAE, transformer, evaluator).

One iteration is one optimiser step over a global batch of batch_size x ranks x grad_accum items
(utils/distributed.py): this rank's grad_accum micro-batches each run `micro_batch_step` (forward and
backward, its loss weighted 1 / grad_accum) after the global RNGs are reseeded from (seed, iteration,
global micro-batch index), so N ranks x A equal one process x N*A. Around it the loop owns what every
trainer needs and nothing else:
- the lr of each iteration (`make_schedule`, utils/training/schedule.py), gradient clipping, the
  optimiser step;
- the epoch loop with the exact position (epoch, step in epoch, iteration): `latest` every
  `save_latest` iterations, at the last iteration and at the end of every epoch, so --is_continue
  resumes bit for bit (weights, optimiser, scheduler, RNG states, position; same global batch only);
- rank gating: rank 0 alone validates, evaluates, logs and writes; the other ranks wait at a barrier;
- logging: the official progress line every `log_every` iterations (means over them and the ranks)
  and TensorBoard scalars `Train/*`, `Val/*`, `Test/*`;
- validation and evaluation at the end of each epoch with the training RNG streams saved and restored
  (so they never change the trained weights), and the best checkpoints (`VAL_BEST`, `EVAL_BEST`).

A trainer subclasses `TrainingLoop` and supplies its data (`make_loaders`), its optimiser
(`make_optimizer`), its step (`micro_batch_step`, `validation_step`) and its checkpoint
(`checkpoint_state`, `restore_state`: the checkpoint's entries, out and in). The other methods are
hooks with the common behaviour as default.
"""
import contextlib
import math
import os
import time
from collections import defaultdict

import torch
from tqdm import tqdm

from utils.distributed import all_reduce_mean, barrier, get_dist, seed_all, wrap_ddp
from utils.training.checkpoint import CONTINUE_HOW, preserved_rng, read_resume_checkpoint, save_checkpoint
from utils.training.progress import log_scalars, progress_line, say
from utils.training.schedule import WarmupMultiStep


def amp_dtype(opt, what):
    """--amp -> torch.bfloat16 or None; fp16 (needs a gradient scaler) is refused naming `what`."""
    amp = getattr(opt, "amp", "none")
    if amp == "fp16":
        raise ValueError(f"--amp fp16 is not supported for {what} (use bf16 or none)")
    return torch.bfloat16 if amp == "bf16" else None


class TrainingLoop:
    """Base of the trainers (see the module docstring). `eval_fn(model, epoch) -> dict(fid=..., top1=...,
    matching=...)` is optional; `writer` is a TensorBoard SummaryWriter (rank 0) or None."""

    STEP_LR_IN_WARM_UP = True  # the MultiStepLR counter also advances during the warm-up
    TRAIN_LOG_KEYS = None      # the logs averaged into the progress line (None: all the step returns)
    AVERAGE_LR = False         # the lr is averaged into the progress line (else logged as is)
    VAL_BEST = (("loss", "min", "min_val_loss", "finest"),)  # (value, better, best key, checkpoint)
    EVAL_BEST = (("fid", "min", "fid", "best_fid"), ("top1", "max", "top1", "best_top1"))
    RESUME_KEYS = ()           # entries latest.tar must hold for --is_continue
    RESUME_HOW = CONTINUE_HOW
    RESUMED_LINE = "resumed from latest.tar at epoch {epoch}, step {step}, iteration {it}"

    def __init__(self, opt, model, device, eval_fn=None, writer=None, model_dir=None):
        self.opt, self.model, self.device = opt, model.to(device), torch.device(device)
        self.eval_fn, self.writer = eval_fn, writer
        self.model_dir = opt.model_dir if model_dir is None else model_dir   # where <name>.tar files go
        self.dist = get_dist()
        self.seed = getattr(opt, "seed", None)   # of the data order and the draws (a resumed run: its own)
        self.grad_accum = max(1, int(getattr(opt, "grad_accum", 1) or 1))
        self.clip_norm = None      # gradient norm clipping (None: off)
        self.amp_dtype = None      # torch.bfloat16 with --amp bf16 (`amp_dtype`)
        self.best = {key: math.inf if better == "min" else -math.inf
                     for _, better, key, _ in self.VAL_BEST + self.EVAL_BEST}

    # ---- supplied by each trainer ------------------------------------------------------------------
    def make_loaders(self, train_set, val_set):
        """-> (GlobalBatchSampler, SeededItems, train loader on them, validation loader)."""
        raise NotImplementedError

    def make_optimizer(self):
        raise NotImplementedError

    def micro_batch_step(self, net, batch, position, sync):
        """Forward and backward of one micro-batch (loss x 1 / grad_accum) -> dict of logged values.
        `position` = (iteration, global micro-batch index); `sync`: DDP all-reduces in this backward."""
        raise NotImplementedError

    def validation_step(self, batch):
        """One validation batch (eval mode, no gradients) -> dict of values averaged over the batches."""
        raise NotImplementedError

    def checkpoint_state(self, epoch, step_in_epoch, it):
        """The checkpoint's entries at this position."""
        raise NotImplementedError

    def restore_state(self, ckpt, path):
        """Load the entries of `ckpt` (read from `path`) -> (epoch, step in epoch, iteration)."""
        raise NotImplementedError

    # ---- hooks with the common behaviour -------------------------------------------------------------
    def epochs(self):
        return self.opt.max_epoch

    def iteration_limit(self, steps):
        return min(self.opt.max_iters or self.total_iters, self.total_iters)

    def make_schedule(self, steps):
        opt = self.opt
        self.warm_up_iter = opt.warm_up_iter if opt.warm_up_iter is not None else steps // 4
        return WarmupMultiStep(self.optimizer, opt.lr, self.warm_up_iter, self.total_iters, opt.milestones,
                               opt.gamma, self.STEP_LR_IN_WARM_UP)

    def train_module(self):
        """The module DDP wraps (its forward must use every trained parameter)."""
        return self.model

    def training_context(self, sampler):
        return contextlib.nullcontext()

    def before_optimizer_step(self):
        pass

    def after_optimizer_step(self):
        pass

    def start_epoch(self, epoch):
        pass

    def bar_postfix(self, logs, lr):
        return {"loss": f"{logs['loss']:.4f}", "lr": f"{lr:.2e}"}

    def progress_bar(self, steps, start_step, epoch):
        return tqdm(total=steps, initial=start_step, dynamic_ncols=True, disable=not self.dist.is_main,
                    desc=f"epoch {epoch + 1}/{self.n_epochs}")

    def validates(self, val_loader):
        return True

    def val_scalars(self, val):
        return val

    def val_line(self, epoch, val):
        return f"Validation epoch {epoch}: " + " ".join(f"{k}: {v:.5f}" for k, v in val.items())

    def eval_due(self, epoch):
        return True

    def eval_line(self, epoch, it, res):
        return f"Eval epoch {epoch}: FID {res['fid']:.4f} top1 {res['top1']:.4f}"

    def autocast(self):
        """bf16 autocast with --amp bf16, else a no-op."""
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16,
                              enabled=self.amp_dtype is not None)

    # ---- the loop --------------------------------------------------------------------------------------
    def _setup(self, iters_per_epoch):
        opt, steps = self.opt, iters_per_epoch
        self.optimizer = self.make_optimizer()
        self.total_iters = opt.max_epoch * steps   # the schedule's length
        self.n_epochs = self.epochs()
        self.schedule = self.make_schedule(steps)
        self.scheduler = getattr(self.schedule, "scheduler", None)
        self.log_every = opt.log_every or max(1, steps // 10)
        self.save_latest = getattr(opt, "save_latest", None) or max(1, steps // 2)
        self.global_batch = opt.batch_size * self.dist.world_size * self.grad_accum
        self.lr_history = []      # lr used by each iteration of this process (tests, plots)
        self.val_history = []     # validation means of each epoch ended by this process
        self.train_history = []   # the logged training means (every log_every iterations)

    def save(self, name, epoch, step_in_epoch, it):
        """<model_dir>/<name>.tar from rank 0, atomically."""
        if self.dist.is_main:
            save_checkpoint(self.checkpoint_state(epoch, step_in_epoch, it), os.path.join(self.model_dir, f"{name}.tar"))

    def train(self, train_set, val_set, resume=None):
        """Train to the last epoch / iteration. With --is_continue it continues `resume` (latest.tar's
        contents, when the caller has read them already) or reads latest.tar. Returns the iteration."""
        opt, info = self.opt, self.dist
        latest, ckpt = os.path.join(self.model_dir, "latest.tar"), None
        if opt.is_continue:
            ckpt = read_resume_checkpoint(latest, self.RESUME_KEYS, self.RESUME_HOW) if resume is None else resume
            self.seed = ckpt.get("seed", self.seed)  # a saved seed (the evaluator's) continues its streams
        sampler, items, train_loader, val_loader = self.make_loaders(train_set, val_set)
        steps = sampler.steps_per_epoch
        self._setup(steps)
        epoch, start_step, it = 0, 0, 0
        if ckpt is not None:
            epoch, start_step, it = self.restore_state(ckpt, latest)
            say(self.RESUMED_LINE.format(path=latest, epoch=epoch, step=start_step, it=it))
        max_iters = self.iteration_limit(steps)
        net = wrap_ddp(self.train_module())
        self._start, self._sums = time.time(), defaultdict(float)
        self.model.train()
        with self.training_context(sampler):
            while epoch < self.n_epochs and it < max_iters:
                sampler.set_position(epoch, start_step)
                items.set_epoch(epoch)
                self.start_epoch(epoch)
                micro = iter(train_loader)
                bar = self.progress_bar(steps, start_step, epoch)
                inner, stopped = start_step, False
                for inner in range(start_step + 1, steps + 1):
                    it += 1
                    lr = self.schedule.before(it)   # the lr this step uses
                    self.lr_history.append(lr)
                    logs = self.train_step(net, [next(micro) for _ in range(self.grad_accum)], it, sampler)
                    self.schedule.after(it)
                    bar.update(1)
                    postfix = self.bar_postfix(logs, lr)
                    if postfix:
                        bar.set_postfix(**postfix)
                    self.log_step(logs, lr, it, epoch, inner)
                    if self.save_latest and (it % self.save_latest == 0 or it >= max_iters):
                        self.save("latest", epoch, inner, it)
                    if it >= max_iters:
                        stopped = inner < steps
                        break
                bar.close()
                if stopped:
                    break
                epoch, start_step = epoch + 1, 0
                if info.is_main:
                    self.end_of_epoch(val_loader, epoch, it)
                    self.save("latest", epoch, 0, it)
                barrier()
        return it

    def train_step(self, net, micro_batches, it, sampler):
        """One optimiser step over this rank's micro-batches -> the step's mean logs on this rank."""
        self.optimizer.zero_grad(set_to_none=True)
        logs = defaultdict(float)
        for a, batch in enumerate(micro_batches):
            micro = sampler.micro_index(a)
            seed_all(self.seed, it, micro)
            for k, v in self.micro_batch_step(net, batch, (it, micro), a == self.grad_accum - 1).items():
                logs[k] += float(v) / self.grad_accum
        self.before_optimizer_step()
        if self.clip_norm:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_norm)
        self.optimizer.step()
        self.after_optimizer_step()
        return logs

    def log_step(self, logs, lr, it, epoch, inner):
        """Every log_every iterations: the means over them (and the ranks) to TensorBoard and the
        progress line."""
        for k, v in logs.items():
            self._sums[k] += v
        if self.AVERAGE_LR:
            self._sums["lr"] += lr
        if it % self.log_every == 0:
            keys = self.TRAIN_LOG_KEYS or list(self._sums)
            mean = all_reduce_mean({k: self._sums[k] / self.log_every for k in keys})
            log_scalars(self.writer, "Train", mean if self.AVERAGE_LR else {**mean, "lr": lr}, it)
            self.train_history.append(mean)
            say(progress_line(self._start, it, self.total_iters, epoch, inner, mean))
            self._sums = defaultdict(float)

    # ---- end of an epoch (rank 0) -----------------------------------------------------------------
    def end_of_epoch(self, val_loader, epoch, it):
        with preserved_rng():
            if self.validates(val_loader):
                val = self.validate(val_loader)
                self.val_history.append(val)
                log_scalars(self.writer, "Val", self.val_scalars(val), epoch)
                tqdm.write(self.val_line(epoch, val))
                self.keep_best(val, self.VAL_BEST, epoch, it)
            if self.eval_fn is not None and self.eval_due(epoch):
                self.run_eval(epoch, it)

    @torch.no_grad()
    def validate(self, loader):
        self.model.eval()
        sums, n = defaultdict(float), 0
        for batch in tqdm(loader, desc="val", leave=False, dynamic_ncols=True):
            for k, v in self.validation_step(batch).items():
                sums[k] += float(v)
            n += 1
        self.model.train()
        return {k: v / max(n, 1) for k, v in sums.items()}

    def run_eval(self, epoch, it):
        self.model.eval()
        res = self.eval_fn(self.model, epoch)
        self.model.train()
        log_scalars(self.writer, "Test", {"FID": res["fid"], "Matching": res.get("matching", float("nan")),
                                          "Top1": res["top1"]}, epoch)
        tqdm.write(self.eval_line(epoch, it, res))
        self.keep_best(res, self.EVAL_BEST, epoch, it)

    def keep_best(self, values, rules, epoch, it):
        """Save checkpoint `name` whenever `values[value]` beats `best[key]` (rules as VAL_BEST)."""
        for value, better, key, name in rules:
            v = values[value]
            if (v < self.best[key]) if better == "min" else (v > self.best[key]):
                self.best[key] = v
                self.save(name, epoch, 0, it)
