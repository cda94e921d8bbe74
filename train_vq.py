"""Train the per-person motion VQ-VAE.

    python train_vq.py --name vq_default --do_eval                        # official recipe, InterHuman
    python train_vq.py --dataset_name interx --name vq_default --do_eval  # Inter-X
    python train_vq.py --data_root DIR --name vq_tiny --batch_size 8 --width 64 --code_dim 32 \\
        --output_emb_width 32 --nb_code 64 --max_epoch 2                   # small CPU run
    python train_vq.py --name vq_default --is_continue                    # resume latest.tar exactly
    torchrun --nproc_per_node 4 train_vq.py --name vq_default --batch_size 64 --do_eval   # 4 x 64 = 256

--batch_size is per process; the global batch (one iteration) is batch_size x ranks x --grad_accum
(the official recipe: 256). Under torchrun rank 0 alone logs, evaluates and writes checkpoints, and a
run resumes on any number of ranks with the same global batch (utils/distributed.py).

Writes <checkpoints_dir>/<dataset_name>/<name>/{opt.txt, opt.yaml, model/{latest,finest,best_fid,
best_top1}.tar, log/ (TensorBoard), eval/evaluation_training.log}. Downstream scripts load
`model/best_fid.tar` by default (--vq_which_epoch), which exists only after a `--do_eval` run.
"""
import sys

import torch

from data import build_vq_dataset, load_stats
from data.batches import loader_batch
from data.config import DataConfig
from data.skeleton import FRAMES_PER_TOKEN
from models.training_setup import (apply_dataset_settings, setup_run_dirs, tensorboard_writer, train_then_close,
                                   training_eval_fn)
from models.vq.build import build_vq
from models.vq.config import VQConfig
from models.vq.losses import GeometricLosses
from models.vq.trainer import VQTrainer
from options.common import resolve_paths
from options.opt_io import save_options
from options.vq_option import arg_parse
from utils.distributed import distributed_run
from utils.cli import run_cli
from utils.files import fixseed
from utils.training.checkpoint import latest_path, read_resume_checkpoint


def make_losses(opt):
    if opt.dataset_name == "interx":
        from models.vq.losses_interx import InterXGeometricLosses
        return InterXGeometricLosses(opt.recons_loss, opt.smplx_path)
    mean, std = load_stats(DataConfig.from_options(vars(opt)))
    return GeometricLosses(opt.recons_loss, mean, std, num_joints=opt.joints_num)


def _reconstruct(model, person, length):
    """One person (T, ...) of a padded evaluation batch -> reconstruction of its first `length`
    frames, 4*(length//4) frames long, zero-padded back to T (zeros = mean pose when normalised).
    One sample per forward, as the official VQ-only evaluation does."""
    out = torch.zeros_like(person)
    rec = model(person[None, :length])[0][0]                                           # (4*(len//4), ...)
    out[: rec.shape[0]] = rec
    return out


def make_eval_fn(opt, device):
    """--do_eval: reconstruction FID / R-precision / matching of the val split, every epoch
    (models/training_setup.py). Returns eval_fn(model, epoch) -> metrics dict."""
    interx = opt.dataset_name == "interx"
    mean, std = load_stats(DataConfig.from_options(vars(opt)))

    def motions_of(model):
        def motion_fn(batch):
            b = loader_batch(batch, opt.dataset_name)  # persons (B, 150, 56, 6) raw / (B, 300, 262) normalised
            lengths, halves = b.lengths, list(b.persons())
            recs = []
            for h in halves:
                h = h.to(device).float()
                rec = torch.stack([_reconstruct(model, h[i], int(lengths[i])) for i in range(h.shape[0])])
                if not interx:
                    rec = rec * torch.as_tensor(std, device=device) + torch.as_tensor(mean, device=device)
                recs.append(rec)
            usable = [FRAMES_PER_TOKEN * (int(n) // FRAMES_PER_TOKEN) for n in lengths]
            return torch.cat(recs, dim=-1).cpu(), torch.as_tensor(usable)
        return motion_fn
    return training_eval_fn(opt, device, motions_of)


def main(argv=None):
    opt = arg_parse(True, argv)
    resolve_paths(opt)
    apply_dataset_settings(opt, "vq")
    with distributed_run(opt) as info:
        device = info.device
        fixseed(opt.seed)
        # --is_continue never starts over: latest.tar is read and checked before anything is written
        resume = read_resume_checkpoint(latest_path(opt), VQTrainer.RESUME_KEYS) if opt.is_continue else None
        setup_run_dirs(opt)
        if info.is_main:
            save_options(opt, opt.save_root)

        train_set = build_vq_dataset(DataConfig.from_options(vars(opt)), "train")
        val_set = build_vq_dataset(DataConfig.from_options(vars(opt)), "val")
        model = build_vq(VQConfig.from_options(vars(opt)))
        n_enc = sum(p.numel() for p in model.encoder.parameters())
        n_dec = sum(p.numel() for p in model.decoder.parameters())
        if info.is_main:
            print(f"Total parameters of VQVAE: {(n_enc + n_dec) / 1e6:.6f}M "
                  f"(encoder {n_enc / 1e6:.6f}M, decoder {n_dec / 1e6:.6f}M)")
            print(f"train windows {len(train_set)}, val windows {len(val_set)}, device {device}, ranks "
                  f"{info.world_size}, global batch {opt.batch_size * info.world_size * opt.grad_accum}")
        losses = make_losses(opt)
        eval_fn = make_eval_fn(opt, device) if opt.do_eval and info.is_main else None
        trainer = VQTrainer(opt, model, losses, device, eval_fn=eval_fn, writer=tensorboard_writer(info, opt.log_dir))
        return train_then_close(trainer, train_set, val_set, resume)


def cli(argv=None):
    """main() with one-line errors (exit status 1) for missing, unreadable or incomplete files and
    unusable data."""
    return run_cli(main, "train_vq.py", argv, status=1)


if __name__ == "__main__":
    sys.exit(cli())
