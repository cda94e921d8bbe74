"""Training loop of the Inter-M transformer: the official optimisation, with exact resume.

Official recipe (`transformer_trainer.py`): AdamW(lr 2e-4, betas (0.9, 0.99), weight_decay 1e-5), no
gradient clipping; warm-up for iterations it < W (W = a quarter epoch, it counted from 1) with
lr * (it + 1) / (W + 1); MultiStepLR (gamma 1/3, milestones at 50/70/85 % of max_epoch x iterations
per epoch) stepped every iteration; loss = ce1 + step_unroll * ce2 (MaskTransformer.forward).
Validation every epoch in eval mode (random masking, so noisy), `finest.tar` at the lowest val loss,
`best_acc.tar` at the highest val accuracy, `latest.tar` every `save_latest` iterations and each
epoch, `best_fid.tar`/`best_top1.tar` with an evaluation function. Checkpoint entries as official:
t2m_transformer (no clip_* keys), opt_t2m_transformer, scheduler, ep, total_it.

Ours, deliberately:
- `--grad_accum N`: N micro-batches of --batch_size per optimiser step (one "iteration"); each
  micro-batch draws its own per-sample masking; the loss is averaged over the N micro-batches.
- the network runs on each batch's own longest length instead of the padded 300 frames; masking
  ratios and step-unroll counts still use the padded length (MaskTransformer.forward, steps_full);
- VQ tokens are cached per person motion (content hash; every crop/mirror/order variant is encoded
  once, from its full padded tensor as the official code does). Each new motion is encoded behind a
  dummy sample, so it never sits at batch position 0, where the official VQ's graph layers add
  messages (the official trainer gives that variant to 1 sample in 52); `--vq_token_cache False`
  encodes every batch as the official code does;
- the frozen text tower's states are cached per caption (models/text_encoders.py);
- anomaly detection only with --detect_anomaly (the official code leaves it on);
- with step unroll, the first pass is back-propagated before the second pass runs (micro_step), so
  only one pass's graph is alive at a time: about half the peak memory, the same gradients;
- `--length_split auto|N` (default auto): each micro-batch runs as parts of length-sorted clips, each
  cropped to its own longest clip (auto: cut where a cost model says it saves work; N: N equal parts;
  1: off); parts are weighted by their share of the supervised tokens, so the loss and gradients are the
  whole batch's (dropout draws come in another order), with less padding (length_split.py);
- `--length_buckets N` (default 0, off): global batches of clips of similar length (GlobalBatchSampler's
  length bucketing), so less padding per batch; only the batch composition changes;
- exact resume (weights, optimiser, scheduler, position in the epoch), validation and evaluation
  run with the training RNG streams saved and restored;
- torchrun ranks (utils/distributed.py) are accumulation micro-batches run in parallel: one iteration
  is one optimiser step over ranks x grad_accum micro-batches of --batch_size (the global batch), the
  random draws of each micro-batch (masking, dropout, condition dropout) come from (seed, iteration,
  global micro-batch index) and each item's (crop, caption, person order) from (seed, epoch, item),
  so N ranks x A equal one process with grad_accum N*A (same draws; the official code draws all of
  them from one running stream, statistically the same);
- the interaction-masking coin and the "which person" coin are drawn once per iteration (one coin
  per batch of 52, as the official trainer) and shared by all its micro-batches, each of which masks
  person X in its first half and the other person in its second half; with an odd micro-batch the
  odd-numbered micro-batches swap the roles, so e.g. 4 x 13 masks 26 / 26 as the official 52 does.
"""
import os
import time
from collections import defaultdict

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from models.mask_transformer.build import checkpoint_state
from models.mask_transformer.length_split import (parse_length_split, part_overhead, plan_parts,
                                                      split_micro_step)
from models.mask_transformer.token_cache import TokenCache
from models.mask_transformer.transformer import MaskingDraws, crop_layout
from models.vq.trainer import preserved_rng, progress_line, say
from utils.distributed import (GlobalBatchSampler, SeededItems, all_reduce_mean, barrier, get_dist, no_sync,
                               seed_all, step_generator, wrap_ddp)
from utils.files import atomic_torch_save, rng_state
from utils.resume import read_resume_checkpoint, restore_training, resume_position


def split_batch(batch, dataset_name):
    """Loader batch -> (texts, motion1, motion2, lengths in frames).
    InterHuman: (names, texts, motion1, motion2, lengths); Inter-X: (word_emb, pos_ohot, captions,
    sent_len, motion (B, T, 56, 12), lengths, tokens) with person 1 in channels 0:6."""
    if dataset_name == "interx":
        motion = torch.as_tensor(batch[4]).float()
        return list(batch[2]), motion[..., :6], motion[..., 6:], torch.as_tensor(batch[5]).long()
    return list(batch[1]), torch.as_tensor(batch[2]).float(), torch.as_tensor(batch[3]).float(), \
        torch.as_tensor(batch[4]).long()


def item_lengths(dataset):
    """Per-item motion lengths of a training set, for --length_buckets."""
    if not hasattr(dataset, "item_lengths"):
        raise ValueError(f"--length_buckets: {type(dataset).__name__} has no item_lengths(); use --length_buckets 0")
    lengths = list(dataset.item_lengths())
    if len(lengths) != len(dataset):
        raise ValueError(f"--length_buckets: {type(dataset).__name__}.item_lengths() gives {len(lengths)} "
                         f"lengths for {len(dataset)} items")
    return lengths


class TrainStep(nn.Module):
    """The text head and the objective inside this module's own forward calls, so
    DistributedDataParallel sees every trained parameter used in the forward it synchronises.

    phase "both": text head + both passes (loss, acc), one backward.
    phase "first": text head + first pass -> (ce1, acc1, state); the pass reads a detached copy of the
      text feature (`state["text_leaf"]`), so ce1's backward frees the first pass's graph and leaves
      d ce1 / d text feature in `text_leaf.grad`, while the text head's small graph stays alive.
    phase "second": the step-unroll pass on the live text feature -> (ce2, acc2).
    The caller back-propagates step_unroll * ce2 + <text feature, text_leaf.grad>, which gives the text
    head exactly the gradient of ce1 + step_unroll * ce2 (see TransformerTrainer.micro_step)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, phase, ids=None, texts=None, m_lens=None, steps_full=None, draws=None, state=None):
        if phase == "second":
            return self.model.second_pass(state, state["text_feat"])
        text_feat = self.model.encode_text(texts)  # (B, clip_dim)
        if phase == "both":
            return self.model(ids, text_feat, m_lens, steps_full=steps_full, draws=draws)
        leaf = text_feat.detach().requires_grad_()
        ce1, acc1, state = self.model.first_pass(ids, leaf, m_lens, steps_full, draws)
        state.update(text_feat=text_feat, text_leaf=leaf)
        return ce1, acc1, state


class TransformerTrainer:
    """Trains `model` (MaskTransformer with its text tower attached) on token ids from `vq`.
    `eval_fn(model, epoch) -> dict(fid=..., top1=..., matching=...)` is optional (--do_eval).
    Under torchrun rank 0 alone validates, evaluates, logs and writes checkpoints."""

    def __init__(self, opt, model, vq, device, eval_fn=None, writer=None):
        self.opt, self.model, self.vq, self.device = opt, model.to(device), vq.eval(), torch.device(device)
        self.eval_fn, self.writer = eval_fn, writer
        self.model_dir = opt.model_dir
        self.dist = get_dist()
        self.dataset_name = getattr(opt, "dataset_name", "interhuman")
        self.tokens = TokenCache(vq, self.device, enabled=getattr(opt, "vq_token_cache", True))
        self.grad_accum = max(1, int(getattr(opt, "grad_accum", 1) or 1))
        amp = getattr(opt, "amp", "none")
        if amp == "fp16":
            raise ValueError("--amp fp16 is not supported for transformer training (use bf16 or none)")
        self.amp_dtype = torch.bfloat16 if amp == "bf16" else None
        split = getattr(opt, "length_split", None)
        self.length_split = 1 if split is None else parse_length_split(split)
        self.length_buckets = int(getattr(opt, "length_buckets", 0) or 0)
        if self.length_buckets < 0:
            raise ValueError(f"--length_buckets must be >= 0 (0 = off), got {self.length_buckets}")

    # ---- schedule ----------------------------------------------------------------------------------
    def warm_up_lr(self, it):
        lr = self.opt.lr * (it + 1) / (self.warm_up_iter + 1)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _setup(self, iters_per_epoch):
        opt = self.opt
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=opt.lr, betas=(0.9, 0.99), weight_decay=opt.weight_decay)
        self.total_iters = opt.max_epoch * iters_per_epoch
        milestones = [int(f * self.total_iters) for f in opt.milestones]
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, milestones=milestones, gamma=opt.gamma)
        self.warm_up_iter = opt.warm_up_iter if opt.warm_up_iter is not None else iters_per_epoch // 4
        self.log_every = opt.log_every or max(1, iters_per_epoch // 10)
        self.save_latest = opt.save_latest or max(1, iters_per_epoch // 2)
        self.global_batch = opt.batch_size * self.dist.world_size * self.grad_accum
        self.lr_history = []

    # ---- checkpoints -------------------------------------------------------------------------------
    def save(self, name, epoch, step_in_epoch, it):
        if not self.dist.is_main:
            return
        state = {"t2m_transformer": checkpoint_state(self.model), "opt_t2m_transformer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "ep": epoch, "total_it": it,
                 # ours: what an exact resume needs (on any number of ranks)
                 "step_in_epoch": step_in_epoch, "global_batch": self.global_batch, "rng": rng_state(),
                 "length_buckets": self.length_buckets,
                 "best": dict(self.best)}
        atomic_torch_save(state, os.path.join(self.model_dir, f"{name}.tar"))

    RESUME_KEYS = ("t2m_transformer", "opt_t2m_transformer", "scheduler", "ep", "total_it")

    def resume(self, path, ckpt=None):
        """Continue from the checkpoint at `path` (`ckpt`: its contents when already read)."""
        ckpt = read_resume_checkpoint(path, self.RESUME_KEYS) if ckpt is None else ckpt
        restore_training(self, ckpt, path, "t2m_transformer", "opt_t2m_transformer")
        if "step_in_epoch" not in ckpt and "batch_in_epoch" in ckpt:  # older files counted micro-batches
            ckpt["step_in_epoch"] = ckpt["batch_in_epoch"] // self.grad_accum
        saved = int(ckpt.get("length_buckets", 0))
        if saved != self.length_buckets and ckpt.get("step_in_epoch", 0):
            raise ValueError(f"{path} stopped inside an epoch with --length_buckets {saved}, this run has "
                             f"{self.length_buckets}: keep it to finish the epoch with the same batches")
        return resume_position(ckpt, self.global_batch, path)

    # ---- one micro-batch ---------------------------------------------------------------------------
    def step_draws(self, it, micro, bsz, steps_full):
        """Masking draws of global micro-batch `micro` of iteration `it`: the interaction coins from
        the iteration's shared generator, everything per sample from the (reseeded) global stream."""
        g = step_generator(self.opt.seed, it)
        interaction = bool(torch.rand((), generator=g).item() < self.model.interaction_mask_prob)
        person_one = bool(torch.rand((), generator=g).item() < 0.5)
        draws = MaskingDraws.sample(bsz, steps_full, self.model.num_tokens, 0.0, self.device)
        if interaction:
            draws.interaction = 1
            draws.mask_person_one = int(person_one != bool(bsz % 2 and micro % 2))
        return draws

    def _inputs(self, batch, position):
        """Loader batch -> (ids (B, 10*steps), texts, m_lens (B,), steps_full, draws or None)."""
        texts, motion1, motion2, lengths = split_batch(batch, self.dataset_name)
        steps_full = motion1.shape[1] // 4  # the padded length the official code works on
        m_lens = (lengths // 4).to(self.device)
        ids = torch.cat([self.tokens(motion1), self.tokens(motion2)], dim=1)  # (B, 10*steps_full)
        steps = int(m_lens.max())
        ids = crop_layout(ids, steps_full, steps)  # (B, 10*steps): no work on all-padding steps
        draws = None if position is None else self.step_draws(*position, ids.shape[0], steps_full)
        return ids, texts, m_lens, steps_full, draws

    def _autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp_dtype is not None)

    def _forward(self, batch):
        """One micro-batch -> (loss, acc), no backward (validation)."""
        ids, texts, m_lens, steps_full, _ = self._inputs(batch, None)
        with self._autocast():
            loss, acc = self.model(ids, self.model.encode_text(texts), m_lens, steps_full=steps_full)
        return loss.float(), acc

    def micro_step(self, net, batch, position=None, scale=1.0, sync=True):
        """Forward and backward of one micro-batch; gradients of scale * (ce1 + step_unroll * ce2)
        are added to the parameters' .grad -> (loss, acc) of the micro-batch.

        `net`: the (DDP-wrapped) TrainStep; `position` (it, micro) selects the per-iteration masking
        draws (None: the model draws them); `sync`: let DDP all-reduce in this backward (last micro-batch).
        With step unroll, ce1 is back-propagated before the second pass runs, so the two passes' graphs
        are never alive together (the peak memory of one pass, not two). The gradients equal the joint
        backward's up to float summation order: the second pass depends on the first only through its
        detached logits, and backward draws no random numbers, so every draw is the same."""
        ids, texts, m_lens, steps_full, draws = self._inputs(batch, position)
        parts = self._parts(m_lens)
        if len(parts) > 1:
            return split_micro_step(self, net, ids, texts, m_lens, steps_full, draws, scale, sync, parts)
        unroll = float(self.model.step_unroll or 0.0)
        if not unroll:
            with no_sync(net, not sync), self._autocast():
                loss, acc = net("both", ids, texts, m_lens, steps_full, draws)
            (loss.float() * scale).backward()
            return loss.float().detach(), acc
        with no_sync(net, True):
            with self._autocast():
                ce1, acc1, state = net("first", ids, texts, m_lens, steps_full, draws)
            (ce1.float() * scale).backward()
        with no_sync(net, not sync):
            with self._autocast():
                ce2, acc2 = net("second", state=state)
            text_grad = state["text_leaf"].grad  # d(scale * ce1) / d text feature
            (ce2.float() * (unroll * scale) + (state["text_feat"].float() * text_grad.float()).sum()).backward()
        return (ce1 + unroll * ce2).float().detach(), (acc1 + unroll * acc2) / 2

    def _parts(self, m_lens):
        """How this micro-batch runs (--length_split): index tensors of its parts; one part = unsplit."""
        split = self.length_split
        if split == 1 or len(m_lens) < 2 or (split == "auto" and self.device.type != "cpu"):
            return [None]
        return plan_parts(m_lens, split, part_overhead(self.model.latent_dim, self.model.ff_size))

    def _log(self, prefix, values, step):
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f"{prefix}/{k}", v, step)

    @torch.no_grad()
    def validate(self, loader):
        self.model.eval()
        loss_sum, acc_sum, n = 0.0, 0.0, 0
        for batch in tqdm(loader, desc="val", leave=False, dynamic_ncols=True):
            loss, acc = self._forward(batch)
            loss_sum, acc_sum, n = loss_sum + float(loss), acc_sum + float(acc), n + 1
        self.model.train()
        return {"loss": loss_sum / max(n, 1), "acc": acc_sum / max(n, 1)}

    # ---- loop --------------------------------------------------------------------------------------
    def _loaders(self, train_set, val_set):
        from data import seed_worker
        opt, info = self.opt, self.dist
        buckets = self.length_buckets
        sampler = GlobalBatchSampler(len(train_set), opt.batch_size, opt.seed, world_size=info.world_size,
                                     rank=info.rank, accum=self.grad_accum, bucket_batches=buckets,
                                     lengths=item_lengths(train_set) if buckets else None)
        if sampler.steps_per_epoch == 0:
            raise ValueError(f"training set has {len(train_set)} items, fewer than one global batch of "
                             f"{sampler.global_batch} (--batch_size {opt.batch_size} x {info.world_size} ranks x "
                             f"--grad_accum {self.grad_accum}): lower them")
        pin = self.device.type == "cuda"
        collate = None
        if self.dataset_name == "interx":
            from data.interx import collate_fn as collate
        items = SeededItems(train_set, opt.seed)
        train_loader = DataLoader(items, batch_sampler=sampler, num_workers=opt.num_workers, pin_memory=pin,
                                  worker_init_fn=seed_worker, generator=torch.Generator().manual_seed(opt.seed),
                                  collate_fn=collate)
        val_bs = min(opt.batch_size, len(val_set))
        val_bs -= val_bs % 2 if val_bs > 1 else 0  # the model's own interaction masking needs an even batch
        val_loader = DataLoader(val_set, batch_size=max(val_bs, 1), shuffle=False, drop_last=True,
                                num_workers=opt.num_workers, worker_init_fn=seed_worker, pin_memory=pin,
                                collate_fn=collate)
        return sampler, items, train_loader, val_loader

    def train_step(self, net, micro_batches, it, sampler):
        """One optimiser step over this rank's micro-batches -> (mean loss, mean acc) of this rank."""
        self.optimizer.zero_grad(set_to_none=True)
        step_loss, step_acc = 0.0, 0.0
        for a, batch in enumerate(micro_batches):
            micro = sampler.micro_index(a)
            seed_all(self.opt.seed, it, micro)
            loss, acc = self.micro_step(net, batch, (it, micro), 1.0 / self.grad_accum,
                                        sync=a == self.grad_accum - 1)
            step_loss += float(loss.detach()) / self.grad_accum
            step_acc += float(acc) / self.grad_accum
        self.optimizer.step()
        return step_loss, step_acc

    def train(self, train_set, val_set, resume=None):
        """Train to max_epoch / max_iters; --is_continue continues `resume` (latest.tar's contents)."""
        opt, info = self.opt, self.dist
        sampler, items, train_loader, val_loader = self._loaders(train_set, val_set)
        steps = sampler.steps_per_epoch
        self._setup(steps)
        self.best = {"min_val_loss": float("inf"), "max_acc": -float("inf"), "fid": float("inf"),
                     "top1": -float("inf")}
        epoch, start_step, it = 0, 0, 0
        if opt.is_continue:
            epoch, start_step, it = self.resume(os.path.join(self.model_dir, "latest.tar"), resume)
            say(f"resumed from latest.tar at epoch {epoch}, step {start_step}, iteration {it}")
        max_iters = min(opt.max_iters or self.total_iters, self.total_iters)
        net = wrap_ddp(TrainStep(self.model))
        start = time.time()
        self.model.train()
        logs = defaultdict(float)
        with torch.autograd.set_detect_anomaly(bool(getattr(opt, "detect_anomaly", False))):
            while epoch < opt.max_epoch and it < max_iters:
                sampler.set_position(epoch, start_step)
                items.set_epoch(epoch)
                micro = iter(train_loader)
                bar = tqdm(total=steps, initial=start_step, dynamic_ncols=True, disable=not info.is_main,
                           desc=f"epoch {epoch + 1}/{opt.max_epoch}")
                inner, stopped = start_step, False
                for inner in range(start_step + 1, steps + 1):
                    it += 1
                    if it < self.warm_up_iter:
                        self.warm_up_lr(it)
                    lr = self.optimizer.param_groups[0]["lr"]
                    self.lr_history.append(lr)
                    step_loss, step_acc = self.train_step(net, [next(micro) for _ in range(self.grad_accum)],
                                                          it, sampler)
                    self.scheduler.step()
                    logs["loss"] += step_loss
                    logs["acc"] += step_acc
                    logs["lr"] += lr
                    bar.update(1)
                    bar.set_postfix(loss=f"{step_loss:.4f}", acc=f"{step_acc:.3f}", lr=f"{lr:.2e}")
                    if it % self.log_every == 0:
                        mean = all_reduce_mean({k: v / self.log_every for k, v in logs.items()})
                        self._log("Train", mean, it)
                        say(progress_line(start, it, self.total_iters, epoch, inner, mean))
                        logs = defaultdict(float)
                    if it % self.save_latest == 0 or it >= max_iters:
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

    def end_of_epoch(self, val_loader, epoch, it):
        with preserved_rng():
            if len(val_loader):
                val = self.validate(val_loader)
                self._log("Val", val, epoch)
                tqdm.write(f"Validation epoch {epoch}: loss {val['loss']:.5f} acc {val['acc']:.5f}")
                if val["loss"] < self.best["min_val_loss"]:
                    self.best["min_val_loss"] = val["loss"]
                    self.save("finest", epoch, 0, it)
                if val["acc"] > self.best["max_acc"]:
                    self.best["max_acc"] = val["acc"]
                    self.save("best_acc", epoch, 0, it)
            every = self.opt.eval_every_e if epoch <= 200 else 4  # official: every 4 after epoch 200
            if self.eval_fn is not None and (epoch % every == 0 or epoch == self.opt.max_epoch):
                self.run_eval(epoch, it)

    def run_eval(self, epoch, it):
        self.model.eval()
        res = self.eval_fn(self.model, epoch)
        self.model.train()
        self._log("Test", {"FID": res["fid"], "Matching": res.get("matching", float("nan")), "Top1": res["top1"]},
                  epoch)
        tqdm.write(f"Eval epoch {epoch}: FID {res['fid']:.4f} top1 {res['top1']:.4f}")
        if res["fid"] < self.best["fid"]:
            self.best["fid"] = res["fid"]
            self.save("best_fid", epoch, 0, it)
        if res["top1"] > self.best["top1"]:
            self.best["top1"] = res["top1"]
            self.save("best_top1", epoch, 0, it)

