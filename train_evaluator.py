"""Train an InterCLIP-architecture text-motion evaluator on any dataset in the InterHuman format.

The official InterCLIP training code was never released; this trains the same architecture with the
objective the checkpoint implies: a symmetric CLIP cross-entropy over a batch, on cosine similarities
scaled by latent_scale^2 (both embeddings have norm latent_scale). Motions are fed as the evaluation
feeds them: de-normalised, contacts dropped inside the model, [person 1 | person 2].

    python train_evaluator.py --name evaluator_demo --data_root <dataset> --text_encoder minilm \
        --latent_dim 128 --num_layers 2 --ff_size 256 --text_latent_dim 128 --text_num_layers 2

    torchrun --nproc_per_node 2 train_evaluator.py --name evaluator_demo --batch_size 32 ...   # 2 x 32 = 64

Output: <checkpoints_dir>/<dataset_name>/<name>/{eval_model.yaml, interclip.ckpt (lowest val loss),
opt.txt, model/latest.tar (resume state), log/ (TensorBoard)}. Use it with
`python eval.py --eval_model_dir <that folder> ...`.

Under torchrun --batch_size is per rank; the contrastive batch is the GLOBAL one (batch_size x ranks):
every rank gathers all ranks' embeddings and computes the loss over all of them, back-propagating
through its own rows, so the gradient equals one process with the whole batch. Item draws (caption,
crop, person order) come from (seed, epoch, item) and the data order from (seed, epoch), so with
--dropout 0 N ranks x b equal one process x N*b to float rounding (with dropout each rank draws its
own masks). Rank 0 alone validates, logs and writes files.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from models.evaluator.build import save_interclip
from models.evaluator.interclip import InterCLIP, count_parameters, evaluator_config
from models.evaluator.wrappers import InterCLIPWrapper
from options.common import resolve_paths
from options.evaluator_option import EvaluatorTrainOptions
from options.opt_io import save_options
from utils.distributed import (GlobalBatchSampler, SeededItems, all_gather_cat, barrier, distributed_run, get_dist,
                               seed_all, wrap_ddp)
from utils.cli import run_cli
from utils.files import atomic_torch_save, fixseed, load_checkpoint, rng_state, set_rng_state
from utils.metrics import matching_batch


class EvaluatorTrainError(ValueError):
    """Bad input; printed as one line by `cli`."""


def model_config(opt):
    return evaluator_config({
        "NUM_LAYERS": opt.num_layers, "NUM_HEADS": opt.num_heads, "DROPOUT": opt.dropout, "INPUT_DIM": 258,
        "LATENT_DIM": opt.latent_dim, "FF_SIZE": opt.ff_size, "ACTIVATION": "gelu",
        "TEXT_ENCODER": opt.text_encoder, "TEXT_LATENT_DIM": opt.text_latent_dim,
        "TEXT_NUM_LAYERS": opt.text_num_layers, "TEXT_NUM_HEADS": opt.text_num_heads, "EMB_DIM": opt.emb_dim})


def init_from_clip(model, clip_path):
    """Copy CLIP's token and positional embeddings (the frozen part of the official text side)."""
    import clip
    from utils.files import require_file
    require_file(clip_path, "put the CLIP ViT-L/14@336px weights there (see prepare/download_models.py)")
    clip_model, _ = clip.load(clip_path, device="cpu", jit=False)
    w = clip_model.token_embedding.weight
    if w.shape != model.token_embedding.weight.shape:
        raise EvaluatorTrainError(f"--clip_path embeddings are {tuple(w.shape)}, the evaluator's text width needs "
                         f"{tuple(model.token_embedding.weight.shape)} (use --text_latent_dim {w.shape[1]})")
    with torch.no_grad():
        model.token_embedding.weight.copy_(w.float())
        model.positional_embedding.copy_(clip_model.positional_embedding.float())
    print(f"text embeddings initialised from {clip_path}")


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


def make_dataset(opt, split):
    from data import build_t2m_dataset
    from data.config import DataConfig
    ds = build_t2m_dataset(DataConfig.from_options(vars(opt)), split)
    ds.normalize = False  # the evaluator always sees de-normalised motion
    return ds


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


def main(argv=None):
    opt = EvaluatorTrainOptions().parse(argv)
    resolve_paths(opt)
    with distributed_run(opt) as info:
        return train(opt, info)


def train(opt, info):
    device = info.device
    fixseed(opt.seed)
    run_dir = os.path.join(opt.checkpoints_dir, opt.dataset_name, opt.name)
    os.makedirs(os.path.join(run_dir, "model"), exist_ok=True)
    if info.is_main:
        save_options(opt, run_dir)
    say = print if info.is_main else (lambda *a, **k: None)

    train_ds, val_ds = make_dataset(opt, "train"), make_dataset(opt, "val")
    batch = min(opt.batch_size, len(train_ds) // info.world_size)  # per rank
    if batch < 1 or batch * info.world_size < 2:
        raise EvaluatorTrainError(f"{opt.data_root}: the train split has {len(train_ds)} clips; need at least "
                                  f"{max(2, info.world_size)} ({info.world_size} ranks)")
    val_bs = min(opt.eval_batch_size, len(val_ds)) if len(val_ds) else 1
    val_loader = DataLoader(val_ds, batch_size=val_bs, shuffle=True, drop_last=True,
                            generator=torch.Generator().manual_seed(opt.seed + 1))

    model = InterCLIP(model_config(opt))
    with torch.no_grad():
        model.latent_scale.fill_(opt.init_latent_scale)
    if opt.text_encoder == "clip" and opt.clip_path:
        init_from_clip(model, opt.clip_path)
    elif opt.text_encoder == "clip":
        say("text embeddings start random (no --clip_path given)")
    model.to(device).train()
    say(f"InterCLIP evaluator: {count_parameters(model) / 1e6:.3f}M parameters; {info.world_size} rank(s), "
        f"global batch {batch * info.world_size}")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=opt.lr,
                                  weight_decay=opt.weight_decay)

    epoch, it, best, seed = 0, 0, float("inf"), opt.seed
    latest = os.path.join(run_dir, "model", "latest.tar")
    if opt.is_continue:
        ck = load_checkpoint(latest, "train without --is_continue first")
        if ck.get("global_batch", batch * info.world_size) != batch * info.world_size:
            raise EvaluatorTrainError(f"{latest} was trained with a global batch of {ck['global_batch']}, this run "
                                      f"has {batch * info.world_size} (--batch_size x ranks): keep the product")
        model.load_state_dict(ck["model"], strict=True)
        optimizer.load_state_dict(ck["optimizer"])
        epoch, it, best = ck["epoch"], ck["total_it"], ck["best_val_loss"]
        seed = ck.get("seed", seed)  # data order and draws continue the saved run's streams
        set_rng_state(ck["rng"])
        say(f"resumed from {latest} at epoch {epoch}")
    sampler = GlobalBatchSampler(len(train_ds), batch, seed, world_size=info.world_size, rank=info.rank)
    items = SeededItems(train_ds, seed)
    train_loader = DataLoader(items, batch_sampler=sampler, num_workers=opt.num_workers)
    net = wrap_ddp(model)

    writer = None
    if info.is_main:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(os.path.join(run_dir, "log"))
    while epoch < opt.max_epoch:
        running = []
        sampler.set_position(epoch)
        items.set_epoch(epoch)
        for batch_data in tqdm(train_loader, desc=f"epoch {epoch + 1}/{opt.max_epoch}", leave=False,
                               disable=not (info.is_main and sys.stderr.isatty())):
            lr = opt.lr * min(1.0, (it + 1) / max(opt.warmup_iters, 1))
            for g in optimizer.param_groups:
                g["lr"] = lr
            texts, motions, lens = pair_motions(batch_data, device)
            seed_all(seed, it + 1, info.rank)  # dropout masks of this rank's rows
            text_emb, motion_emb = net(texts, motions, lens)
            loss = contrastive_loss(gather_rows(text_emb), gather_rows(motion_emb))
            optimizer.zero_grad(set_to_none=True)
            (loss * info.world_size).backward()  # DDP averages over ranks; each rank holds a part
            if opt.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), opt.grad_clip)
            optimizer.step()
            with torch.no_grad():
                model.latent_scale.clamp_(0.0, 10.0)  # CLIP caps its logit scale at 100
            it += 1
            running.append(loss.item())
            if it % opt.log_every == 0 and writer is not None:
                writer.add_scalar("Train/loss", float(np.mean(running[-opt.log_every:])), it)
                writer.add_scalar("Train/lr", lr, it)
        epoch += 1
        if info.is_main:
            best = end_of_epoch(model, val_loader, device, writer, run_dir, epoch, running, best, val_bs)
            atomic_torch_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                               "total_it": it, "best_val_loss": best, "rng": rng_state(), "seed": seed,
                               "global_batch": batch * info.world_size}, latest)
        barrier()
    if writer is not None:
        writer.close()
    say(f"evaluator written to {run_dir} (eval_model.yaml + interclip.ckpt)")
    return run_dir


def end_of_epoch(model, val_loader, device, writer, run_dir, epoch, running, best, val_bs):
    """Rank 0: validation line and scalars, interclip.ckpt at the lowest validation loss -> new best."""
    val_loss, r = validate(model, val_loader, device)
    msg = f"epoch {epoch}: train loss {np.mean(running):.4f}"
    if val_loss is not None:
        msg += f" | val loss {val_loss:.4f} R@1 {r[0]:.3f} R@2 {r[1]:.3f} R@3 {r[2]:.3f} (pool {val_bs})"
        writer.add_scalar("Val/loss", val_loss, epoch)
        for k in range(3):
            writer.add_scalar(f"Val/top{k + 1}", r[k], epoch)
    print(msg, flush=True)
    if val_loss is None or val_loss < best:
        best = val_loss if val_loss is not None else best
        save_interclip(model, run_dir)
    return best


def cli(argv=None):
    """Command-line entry: missing files and bad input end with a one-line error and exit status 2."""
    return run_cli(main, "train_evaluator.py", argv, errors=(EvaluatorTrainError,))


if __name__ == "__main__":
    sys.exit(cli())
