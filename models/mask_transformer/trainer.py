"""The transformer trainer: its step and its checkpoint on the shared training loop (utils/training/loop.py).

Official recipe (`transformer_trainer.py`): AdamW(lr 2e-4, betas (0.9, 0.99), weight_decay 1e-5), no
gradient clipping; the official warm-up, then MultiStepLR (gamma 1/3, milestones at 50/70/85 % of
max_epoch x iterations per epoch) stepped every iteration; loss = ce1 + step_unroll * ce2
(MaskTransformer.forward). Validation every epoch in eval mode (random masking, so noisy): `finest.tar`
at the lowest val loss, `best_acc.tar` at the highest val accuracy; `best_fid.tar` / `best_top1.tar`
with an evaluation function (every eval_every_e epochs, every 4 after epoch 200, as official).
Checkpoint entries as official: t2m_transformer (no clip_* keys), opt_t2m_transformer, scheduler, ep,
total_it, plus what an exact resume needs.

The step of a micro-batch: its VQ token ids (cached per motion, token_cache.py), the iteration's masking
draws (`step_draws`), its plan (--length_split, length_split.py) and the forward and backward of that
plan (train_step.py). What differs from the official trainer and why: docs/training.md.
"""
import torch
from torch.utils.data import DataLoader

from data.batches import pair_batch
from models.mask_transformer.build import checkpoint_state as transformer_weights
from models.mask_transformer.length_split import micro_batch_plan, parse_length_split
from models.mask_transformer.token_cache import TokenCache
from models.mask_transformer.train_step import TrainStep, backward_plan
from models.mask_transformer.transformer import MaskingDraws, crop_layout
from utils.distributed import GlobalBatchSampler, SeededItems, step_generator
from utils.files import rng_state
from utils.training.checkpoint import restore_training, resume_position
from utils.training.loop import TrainingLoop, amp_dtype


def item_lengths(dataset):
    """Per-item motion lengths of a training set, for --length_buckets."""
    if not hasattr(dataset, "item_lengths"):
        raise ValueError(f"--length_buckets: {type(dataset).__name__} has no item_lengths(); use --length_buckets 0")
    lengths = list(dataset.item_lengths())
    if len(lengths) != len(dataset):
        raise ValueError(f"--length_buckets: {type(dataset).__name__}.item_lengths() gives {len(lengths)} "
                         f"lengths for {len(dataset)} items")
    return lengths


class TransformerTrainer(TrainingLoop):
    """Trains `model` (MaskTransformer with its text tower attached) on token ids from `vq`.
    `eval_fn(model, epoch) -> dict(fid=..., top1=..., matching=...)` is optional (--do_eval)."""

    AVERAGE_LR = True
    VAL_BEST = (("loss", "min", "min_val_loss", "finest"), ("acc", "max", "max_acc", "best_acc"))
    RESUME_KEYS = ("t2m_transformer", "opt_t2m_transformer", "scheduler", "ep", "total_it")

    def __init__(self, opt, model, vq, device, eval_fn=None, writer=None):
        super().__init__(opt, model, device, eval_fn=eval_fn, writer=writer)
        self.vq = vq.eval()
        self.dataset_name = getattr(opt, "dataset_name", "interhuman")
        self.tokens = TokenCache(vq, self.device, enabled=getattr(opt, "vq_token_cache", True))
        self.amp_dtype = amp_dtype(opt, "transformer training")
        split = getattr(opt, "length_split", None)
        self.length_split = 1 if split is None else parse_length_split(split)
        self.length_buckets = int(getattr(opt, "length_buckets", 0) or 0)
        if self.length_buckets < 0:
            raise ValueError(f"--length_buckets must be >= 0 (0 = off), got {self.length_buckets}")

    # ---- data and optimiser ------------------------------------------------------------------------
    def make_loaders(self, train_set, val_set):
        from data import seed_worker
        opt, info = self.opt, self.dist
        buckets = self.length_buckets
        sampler = GlobalBatchSampler(len(train_set), opt.batch_size, self.seed, world_size=info.world_size,
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
        items = SeededItems(train_set, self.seed)
        train_loader = DataLoader(items, batch_sampler=sampler, num_workers=opt.num_workers, pin_memory=pin,
                                  worker_init_fn=seed_worker, generator=torch.Generator().manual_seed(self.seed),
                                  collate_fn=collate)
        val_bs = min(opt.batch_size, len(val_set))
        val_bs -= val_bs % 2 if val_bs > 1 else 0  # the model's own interaction masking needs an even batch
        val_loader = DataLoader(val_set, batch_size=max(val_bs, 1), shuffle=False, drop_last=True,
                                num_workers=opt.num_workers, worker_init_fn=seed_worker, pin_memory=pin,
                                collate_fn=collate)
        return sampler, items, train_loader, val_loader

    def make_optimizer(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.opt.lr, betas=(0.9, 0.99), weight_decay=self.opt.weight_decay)

    # ---- checkpoint --------------------------------------------------------------------------------
    def checkpoint_state(self, epoch, step_in_epoch, it):
        return {"t2m_transformer": transformer_weights(self.model), "opt_t2m_transformer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "ep": epoch, "total_it": it,
                # ours: what an exact resume needs (on any number of ranks)
                "step_in_epoch": step_in_epoch, "global_batch": self.global_batch, "rng": rng_state(),
                "length_buckets": self.length_buckets,
                "best": dict(self.best)}

    def restore_state(self, ckpt, path):
        restore_training(self, ckpt, path, "t2m_transformer", "opt_t2m_transformer")
        if "step_in_epoch" not in ckpt and "batch_in_epoch" in ckpt:  # older files counted micro-batches
            ckpt["step_in_epoch"] = ckpt["batch_in_epoch"] // self.grad_accum
        saved = int(ckpt.get("length_buckets", 0))
        if saved != self.length_buckets and ckpt.get("step_in_epoch", 0):
            raise ValueError(f"{path} stopped inside an epoch with --length_buckets {saved}, this run has "
                             f"{self.length_buckets}: keep it to finish the epoch with the same batches")
        return resume_position(ckpt, self.global_batch, path)

    # ---- the step ----------------------------------------------------------------------------------
    def step_draws(self, it, micro, bsz, steps_full):
        """Masking draws of global micro-batch `micro` of iteration `it`: the interaction coins from
        the iteration's shared generator (one coin per iteration, as the official one per batch of 52;
        with an odd micro-batch the odd-numbered micro-batches swap the masked person), everything per
        sample from the (reseeded) global stream."""
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
        b = pair_batch(batch, self.dataset_name)
        steps_full = b.motion1.shape[1] // 4  # the padded length the official code works on
        m_lens = (b.lengths // 4).to(self.device)
        ids = torch.cat([self.tokens(b.motion1), self.tokens(b.motion2)], dim=1)  # (B, 10*steps_full)
        steps = int(m_lens.max())
        ids = crop_layout(ids, steps_full, steps)  # (B, 10*steps): no work on all-padding steps
        draws = None if position is None else self.step_draws(*position, ids.shape[0], steps_full)
        return ids, b.texts, m_lens, steps_full, draws

    def plan(self, m_lens):
        """How this micro-batch runs (--length_split): its parts; [None] = the whole micro-batch."""
        return micro_batch_plan(m_lens, self.length_split, self.device.type, self.model.latent_dim,
                                self.model.ff_size)

    def micro_step(self, net, batch, position=None, scale=1.0, sync=True):
        """Forward and backward of one micro-batch; gradients of scale * (ce1 + step_unroll * ce2)
        are added to the parameters' .grad -> (loss, acc) of the micro-batch.
        `net`: the (DDP-wrapped) TrainStep; `position` (it, micro) selects the per-iteration masking
        draws (None: the model draws them); `sync`: let DDP all-reduce in this backward."""
        ids, texts, m_lens, steps_full, draws = self._inputs(batch, position)
        return backward_plan(net, self.model, ids, texts, m_lens, steps_full, draws, self.plan(m_lens),
                             scale, sync, self.autocast)

    def micro_batch_step(self, net, batch, position, sync):
        loss, acc = self.micro_step(net, batch, position, 1.0 / self.grad_accum, sync=sync)
        return {"loss": loss.detach(), "acc": acc}

    def _forward(self, batch):
        """One micro-batch -> (loss, acc), no backward (validation)."""
        ids, texts, m_lens, steps_full, _ = self._inputs(batch, None)
        with self.autocast():
            loss, acc = self.model(ids, self.model.encode_text(texts), m_lens, steps_full=steps_full)
        return loss.float(), acc

    def validation_step(self, batch):
        loss, acc = self._forward(batch)
        return {"loss": loss, "acc": acc}

    # ---- hooks of the loop -------------------------------------------------------------------------
    def train_module(self):
        return TrainStep(self.model)

    def training_context(self, sampler):
        return torch.autograd.set_detect_anomaly(bool(getattr(self.opt, "detect_anomaly", False)))

    def bar_postfix(self, logs, lr):
        return {"loss": f"{logs['loss']:.4f}", "acc": f"{logs['acc']:.3f}", "lr": f"{lr:.2e}"}

    def validates(self, val_loader):
        return len(val_loader) > 0

    def val_line(self, epoch, val):
        return f"Validation epoch {epoch}: loss {val['loss']:.5f} acc {val['acc']:.5f}"

    def eval_due(self, epoch):
        every = self.opt.eval_every_e if epoch <= 200 else 4  # official: every 4 after epoch 200
        return epoch % every == 0 or epoch == self.opt.max_epoch
