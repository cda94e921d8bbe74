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
from torch.utils.data import DataLoader

from data import build_t2m_dataset, load_stats, seed_worker

from data.config import DataConfig
from models.mask_transformer.build import MODEL_OPTIONS, build_transformer, count_parameters
from models.mask_transformer.config import TransformerConfig
from models.mask_transformer.trainer import TransformerTrainer, split_batch
from models.pipeline import InterMaskGenerator
from models.vq.build import load_vq
from models.vq.trainer import setup_run_dirs
from options.common import resolve_paths
from options.opt_io import load_options, save_options
from options.trans_option import TrainT2MOptions
from utils.distributed import distributed_run
from utils.cli import run_cli
from utils.files import fixseed
from utils.resume import latest_path, read_resume_checkpoint

DATASET_SETTINGS = {  # what the official train_transformer.py sets per dataset
    "interhuman": dict(joints_num=22),
    "interx": dict(joints_num=56, motion_rep="smpl"),
}
EVAL_BATCH = {"interhuman": 96, "interx": 32}  # the official evaluation batch (R-precision pools)
DEFAULT_TEST_BATCH = 96


def make_eval_fn(opt, vq, device):
    """--do_eval: generation FID / R-precision / matching on the val split (20 steps, cfg 2, top-k 0.9,
    as the official evaluation during training). GT draws are re-seeded with --seed at every call."""
    from utils.eval_t2m import build_eval_wrapper, evaluate_motions
    wrapper = build_eval_wrapper(opt, device)
    interx = opt.dataset_name == "interx"
    eval_set = build_t2m_dataset(DataConfig.from_options(vars(opt)), "val", normalize=True)
    collate = None
    if interx:
        from data.interx import collate_fn as collate
    mean, std = load_stats(DataConfig.from_options(vars(opt)))
    log_file = os.path.join(opt.eval_dir, "evaluation_training.log")

    def eval_fn(model, epoch=None):
        gen = InterMaskGenerator(model, vq, mean, std, device, opt.dataset_name)

        def motion_fn(batch):
            texts, _, _, lengths = split_batch(batch, opt.dataset_name)
            m1, m2, out_len = gen.generate(texts, lengths, time_steps=20, cond_scale=2.0, topkr=0.9)
            if not interx:
                m1, m2 = gen.denormalize(m1), gen.denormalize(m2)
            return torch.cat([m1, m2], dim=-1), out_len

        fixseed(opt.seed)
        loader = DataLoader(eval_set, batch_size=opt.test_batch_size, shuffle=True, drop_last=True,
                            num_workers=opt.num_workers, worker_init_fn=seed_worker,
                            generator=torch.Generator().manual_seed(opt.seed), collate_fn=collate)
        with torch.no_grad():
            return evaluate_motions(motion_fn, loader, wrapper, device, mean=None if interx else mean,
                                    std=None if interx else std, log_file=log_file, epoch=epoch)
    return eval_fn


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
    for k, v in DATASET_SETTINGS[opt.dataset_name].items():
        setattr(opt, k, v)
    if opt.test_batch_size == DEFAULT_TEST_BATCH:  # official: always forced; here only when not given
        opt.test_batch_size = EVAL_BATCH[opt.dataset_name]
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
        writer = None
        if info.is_main:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(opt.log_dir)
        trainer = TransformerTrainer(opt, model, vq, device, eval_fn=eval_fn, writer=writer)
        try:
            trainer.train(train_set, val_set, resume)
        finally:
            if writer is not None:
                writer.close()
    return trainer


def cli(argv=None):
    """main() with one-line errors (exit status 1) for missing, unreadable or incomplete files and
    unusable data instead of a traceback."""
    return run_cli(main, "train_transformer.py", argv, status=1)


if __name__ == "__main__":
    sys.exit(cli())
