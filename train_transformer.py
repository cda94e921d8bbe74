"""Train the Inter-M masked transformer on the tokens of a trained VQ-VAE.

    python train_transformer.py --name trans_default --vq_name vq_default                # official recipe
    python train_transformer.py --name trans_default --batch_size 13 --grad_accum 4      # effective batch 52
    python train_transformer.py --name trans_minilm --text_encoder minilm                # offline text tower
    python train_transformer.py --name trans_default --do_eval                           # + best_fid/best_top1
    python train_transformer.py --name trans_default --is_continue                       # exact resume
    torchrun --nproc_per_node 4 train_transformer.py --name trans_default --batch_size 13  # 4 GPUs, 4 x 13 = 52

--batch_size is per process; the global batch (one iteration) is batch_size x ranks x --grad_accum,
and the official numbers need 52. N ranks x grad_accum A give the weights of one process with
grad_accum N*A (to float rounding); a run resumes on any number of ranks with the same global batch.

Needs <checkpoints_dir>/<dataset_name>/<vq_name>/model/<vq_which_epoch>.tar (train_vq.py --do_eval)
and, for --text_encoder clip, the CLIP weights (--clip_path, default
<checkpoints_dir>/clip/ViT-L-14-336px.pt, fetched by `python prepare/download_models.py --clip`).
Writes <checkpoints_dir>/<dataset_name>/<name>/{opt.txt, opt.yaml, model/{latest, finest, best_acc,
best_fid, best_top1}.tar, log/ (TensorBoard), eval/evaluation_training.log}.
"""
import os
import sys

import torch

from data import build_t2m_dataset, load_stats
from data.batches import split_batch
from data.config import DataConfig
from models.mask_transformer.build import MODEL_OPTIONS, build_transformer, count_parameters
from models.mask_transformer.config import TransformerConfig
from models.mask_transformer.trainer import TransformerTrainer
from models.pipeline import InterMaskGenerator
from models.training_setup import (apply_dataset_settings, setup_run_dirs, tensorboard_writer, train_then_close,
                                   training_eval_fn)
from models.vq.build import load_vq
from options.common import resolve_paths
from options.opt_io import load_options, save_options
from options.trans_option import TrainT2MOptions
from utils.distributed import distributed_run
from utils.cli import run_cli
from utils.files import fixseed
from utils.training.checkpoint import latest_path, read_resume_checkpoint


def make_eval_fn(opt, vq, device):
    """--do_eval: generation FID / R-precision / matching on the val split (20 steps, cfg 2, top-k 0.9,
    as the official evaluation during training; models/training_setup.py)."""
    interx = opt.dataset_name == "interx"
    mean, std = load_stats(DataConfig.from_options(vars(opt)))

    def motions_of(model):
        gen = InterMaskGenerator(model, vq, mean, std, device, opt.dataset_name)

        def motion_fn(batch):
            texts, _, _, lengths = split_batch(batch, opt.dataset_name)
            m1, m2, out_len = gen.generate(texts, lengths, time_steps=20, cond_scale=2.0, topkr=0.9)
            if not interx:
                m1, m2 = gen.denormalize(m1), gen.denormalize(m2)
            return torch.cat([m1, m2], dim=-1), out_len
        return motion_fn
    return training_eval_fn(opt, device, motions_of)


def check_resume_options(opt):
    """--is_continue must rebuild the same model: model-defining options must match the saved run."""
    saved = load_options(opt.save_root)
    for key in list(MODEL_OPTIONS) + ["text_encoder"]:
        if key in saved and getattr(opt, key, None) is not None and saved[key] != getattr(opt, key):
            raise SystemExit(f"--is_continue: {key} is {getattr(opt, key)!r} but the run was trained with "
                             f"{saved[key]!r} ({os.path.join(opt.save_root, 'opt.yaml')})")


def main(argv=None):
    opt = TrainT2MOptions().parse(argv)
    resolve_paths(opt)
    apply_dataset_settings(opt, "transformer")
    with distributed_run(opt) as info:
        device = info.device
        fixseed(opt.seed)
        # --is_continue never starts over: latest.tar is read and checked before anything is written
        resume = read_resume_checkpoint(latest_path(opt), TransformerTrainer.RESUME_KEYS) if opt.is_continue else None
        vq, vq_opt = load_vq(opt.checkpoints_dir, opt.dataset_name, opt.vq_name, opt.vq_which_epoch, device)
        setup_run_dirs(opt)
        opt.num_tokens, opt.code_dim = int(vq_opt.nb_code), int(vq_opt.code_dim)  # as the official script
        if opt.is_continue and os.path.isfile(os.path.join(opt.save_root, "opt.yaml")):
            check_resume_options(opt)
        model = build_transformer(TransformerConfig.from_options(vars(opt)), device, with_text_tower=True)
        train_set = build_t2m_dataset(DataConfig.from_options(vars(opt)), "train")
        val_set = build_t2m_dataset(DataConfig.from_options(vars(opt)), "val")
        if info.is_main:
            save_options(opt, opt.save_root)
            n_all = count_parameters(model)
            n_head = sum(p.numel() for n, p in model.named_parameters()
                         if n.startswith(("clipTrans", "clipln", "text_proj")))
            print(f"Total parameters of t2m_transformer (without the frozen text tower): {n_all / 1e6:.6f}M "
                  f"(text head {n_head / 1e6:.6f}M); text encoder: {opt.text_encoder}")
            print(f"train items {len(train_set)}, val items {len(val_set)}, device {device}, ranks "
                  f"{info.world_size}, global batch {opt.batch_size * info.world_size * opt.grad_accum}")
        eval_fn = make_eval_fn(opt, vq, device) if opt.do_eval and info.is_main else None
        trainer = TransformerTrainer(opt, model, vq, device, eval_fn=eval_fn,
                                     writer=tensorboard_writer(info, opt.log_dir))
        return train_then_close(trainer, train_set, val_set, resume)


def cli(argv=None):
    """main() with one-line errors (exit status 1) for missing, unreadable or incomplete files and
    unusable data instead of a traceback."""
    return run_cli(main, "train_transformer.py", argv, status=1)


if __name__ == "__main__":
    sys.exit(cli())
