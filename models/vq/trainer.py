"""The VQ-VAE trainer: its step and its checkpoint on the shared training loop (utils/training/loop.py).

Official recipe (`vq_trainer.py`): AdamW(lr, betas (0.9, 0.99), weight_decay), gradient norm clipped
to 1.0; the official warm-up, then MultiStepLR (gamma 0.1, milestones at 70 % and 85 % of max_epoch x
iterations per epoch) stepped only once the warm-up is over (utils/training/schedule.py). Loss = rec
+ 0.02 commit + explicit + 100 vel + 5 bn + 0.01 geo + 500 fc (losses.py). Validation every epoch;
`finest.tar` at the lowest validation loss, `best_fid.tar` / `best_top1.tar` with an evaluation function.
`--extra_epoch` (default official) runs max_epoch + 1 epochs on a schedule placed on max_epoch.

The step is one micro-batch's weighted loss; what else differs from the official loop (resume of the
codebook's EMA state, the codebook update on the global batch under ranks / --grad_accum) and why is
in docs/training.md.
"""
import contextlib

import numpy as np
import torch
from torch.utils.data import DataLoader

from models.vq.losses import LOSS_NAMES, weighted_total
from utils.distributed import (GlobalBatchSampler, SeededItems, all_gather_cat, broadcast_, get_dist, no_sync)
from utils.files import rng_state
from utils.training.checkpoint import restore_training, resume_position
from utils.training.loop import TrainingLoop, amp_dtype

TRAIN_LOG_KEYS = ["loss"] + LOSS_NAMES + ["loss_commit", "perplexity"]


class GlobalBatchCodebook:
    """Defers the EMA codebook updates of every quantiser layer to the end of the optimiser step and
    runs them on the step's GLOBAL batch: the vectors and code ids of all micro-batches, gathered over
    the ranks in global micro-batch order. The first-batch initialisation takes rank 0's first
    micro-batch (the global first) and is broadcast. Codebooks and EMA statistics therefore stay
    identical on every rank, and equal to one process accumulating the same micro-batches.
    Installed by VQTrainer's training_context only when ranks x grad_accum > 1 (else the official per-forward
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


class VQTrainer(TrainingLoop):
    """Trains `model` (RVQVAE) with `losses` (a GeometricLosses-like module: forward(target, pred) ->
    dict of the six terms). `eval_fn(model, epoch) -> dict(fid=..., top1=..., matching=...)` is optional."""

    STEP_LR_IN_WARM_UP = False
    TRAIN_LOG_KEYS = TRAIN_LOG_KEYS
    RESUME_KEYS = ("vq_model", "opt_vq_model", "scheduler", "ep", "total_it")

    def __init__(self, opt, model, losses, device, eval_fn=None, writer=None):
        super().__init__(opt, model, device, eval_fn=eval_fn, writer=writer)
        self.losses = losses.to(device)
        self.clip_norm = 1.0
        self.amp_dtype = amp_dtype(opt, "VQ training")
        self.codebook = None

    # ---- data and optimiser ----------------------------------------------------------------------
    def make_loaders(self, train_set, val_set):
        opt, info = self.opt, self.dist
        sampler = GlobalBatchSampler(len(train_set), opt.batch_size, self.seed, world_size=info.world_size,
                                     rank=info.rank, accum=self.grad_accum)
        if sampler.steps_per_epoch == 0:
            raise ValueError(f"training set has {len(train_set)} windows, fewer than one global batch of "
                             f"{sampler.global_batch} (--batch_size {opt.batch_size} x {info.world_size} ranks "
                             f"x --grad_accum {self.grad_accum}): lower --batch_size")
        items = SeededItems(train_set, self.seed)
        loader_gen = torch.Generator().manual_seed(self.seed)     # keeps the global RNG untouched
        train_loader = DataLoader(items, batch_sampler=sampler, num_workers=opt.num_workers,
                                  generator=loader_gen, pin_memory=self.device.type == "cuda")
        val_loader = DataLoader(val_set, batch_size=opt.batch_size, shuffle=False,
                                drop_last=len(val_set) >= opt.batch_size, num_workers=opt.num_workers)
        return sampler, items, train_loader, val_loader

    def make_optimizer(self):
        return torch.optim.AdamW(self.model.parameters(), lr=self.opt.lr, betas=(0.9, 0.99),
                                 weight_decay=self.opt.weight_decay)

    def epochs(self):
        return self.opt.max_epoch + (1 if getattr(self.opt, "extra_epoch", True) else 0)

    def iteration_limit(self, steps):
        return self.opt.max_iters or self.n_epochs * steps

    # ---- checkpoint ------------------------------------------------------------------------------
    def checkpoint_state(self, epoch, step_in_epoch, it):
        return {
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

    def restore_state(self, ckpt, path):
        restore_training(self, ckpt, path, "vq_model", "opt_vq_model")
        if "quantizer_ema" in ckpt:
            self.model.load_quantizer_state(ckpt["quantizer_ema"])
        return resume_position(ckpt, self.global_batch, path)

    # ---- the step --------------------------------------------------------------------------------
    def _forward(self, batch, net=None):
        """One micro-batch through `net` (the DDP wrapper in training; default the model itself)
        -> (weighted loss, detached logs)."""
        net = self.model if net is None else net
        motions = batch.to(self.device, non_blocking=True).float()
        with self.autocast():
            recon, commit, perplexity = net(motions)
        terms = self.losses(motions, recon.float())
        loss = weighted_total(terms, commit, self.opt)
        logs = {k: v.detach() for k, v in
                {"loss": loss, **terms, "loss_commit": commit, "perplexity": perplexity}.items()}
        return loss, logs

    def micro_batch_step(self, net, batch, position, sync):
        with no_sync(net, not sync):
            loss, logs = self._forward(batch, net)
            (loss / self.grad_accum).backward()
        return logs

    def validation_step(self, batch):
        return self._forward(batch)[1]

    @contextlib.contextmanager
    def training_context(self, sampler):
        """With ranks x grad_accum > 1 the codebooks update once per step on the global batch."""
        self.codebook = GlobalBatchCodebook(self.model) if sampler.global_batch > self.opt.batch_size else None
        try:
            yield
        finally:
            if self.codebook is not None:
                self.codebook.remove()
                self.codebook = None

    def before_optimizer_step(self):
        if self.codebook is not None:
            self.codebook.flush()

    # ---- end of an epoch -------------------------------------------------------------------------
    def val_scalars(self, val):
        return {**{k: val[k] for k in ["loss"] + LOSS_NAMES + ["loss_commit"]}, "loss_perplexity": val["perplexity"]}

    def eval_line(self, epoch, it, res):
        return f"Eval epoch {epoch} it {it}: " + " ".join(
            f"{k}: {float(v):.4f}" for k, v in res.items() if isinstance(v, (int, float, np.floating)))

