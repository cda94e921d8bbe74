"""What train_vq.py and train_transformer.py share: the per-dataset settings the official scripts set,
the run layout, the --do_eval hook over the validation split and the TensorBoard writer's lifetime."""
import os

import torch
from torch.utils.data import DataLoader

from data import build_t2m_dataset, load_stats, seed_worker
from data.config import DataConfig
from utils.files import fixseed

DATASET_SETTINGS = {  # what each official training script sets per dataset (plus Inter-X's missing dim_joint)
    "vq": {"interhuman": dict(joints_num=22, dim_joint=12),
           "interx": dict(joints_num=56, dim_joint=6, motion_rep="smpl")},
    "transformer": {"interhuman": dict(joints_num=22),
                    "interx": dict(joints_num=56, motion_rep="smpl")},
}
EVAL_BATCH = {"interhuman": 96, "interx": 32}   # the official evaluation batch (R-precision pools)
DEFAULT_TEST_BATCH = 96


def apply_dataset_settings(opt, script):
    """The settings of `script` ("vq" or "transformer") for opt.dataset_name, and the official evaluation
    batch (the official scripts always force it; here only when --test_batch_size is not given)."""
    for k, v in DATASET_SETTINGS[script][opt.dataset_name].items():
        setattr(opt, k, v)
    if opt.test_batch_size == DEFAULT_TEST_BATCH:
        opt.test_batch_size = EVAL_BATCH[opt.dataset_name]
    return opt


def setup_run_dirs(opt):
    """The official run layout: <checkpoints_dir>/<dataset_name>/<name>/{model,log,eval}."""
    opt.save_root = os.path.join(opt.checkpoints_dir, opt.dataset_name, opt.name)
    opt.model_dir = os.path.join(opt.save_root, "model")
    opt.log_dir = os.path.join(opt.save_root, "log")
    opt.eval_dir = os.path.join(opt.save_root, "eval")
    for d in (opt.model_dir, opt.log_dir, opt.eval_dir):
        os.makedirs(d, exist_ok=True)
    return opt


def training_eval_fn(opt, device, motions_of):
    """--do_eval: FID / R-precision / matching on the val split through the dataset's evaluator, logged to
    <eval_dir>/evaluation_training.log. `motions_of(model)` -> motion_fn(batch) -> (motions (B, T, D)
    de-normalised for InterHuman, lengths). The GT draws (crops, captions, person order) are re-seeded
    with --seed at every call, so epochs are compared on the same samples. Returns eval_fn(model, epoch)."""
    from models.evaluator.build import build_evaluator
    from models.evaluator.config import EvaluatorConfig
    from utils.evaluation.during_training import evaluate_motions
    wrapper = build_evaluator(EvaluatorConfig.from_options(vars(opt)), device)
    interx = opt.dataset_name == "interx"
    data_cfg = DataConfig.from_options(vars(opt))
    eval_set = build_t2m_dataset(data_cfg, "val", normalize=True)
    collate = None
    if interx:
        from data.interx import collate_fn as collate
    mean, std = load_stats(data_cfg)
    log_file = os.path.join(opt.eval_dir, "evaluation_training.log")

    def eval_fn(model, epoch=None):
        motion_fn = motions_of(model)
        fixseed(opt.seed)
        loader = DataLoader(eval_set, batch_size=opt.test_batch_size, shuffle=True, drop_last=True,
                            num_workers=opt.num_workers, worker_init_fn=seed_worker,
                            generator=torch.Generator().manual_seed(opt.seed), collate_fn=collate)
        with torch.no_grad():
            return evaluate_motions(motion_fn, loader, wrapper, device, mean=None if interx else mean,
                                    std=None if interx else std, log_file=log_file, epoch=epoch)
    return eval_fn


def tensorboard_writer(info, log_dir):
    """A SummaryWriter on rank 0, None on the other ranks."""
    if not info.is_main:
        return None
    from torch.utils.tensorboard import SummaryWriter
    return SummaryWriter(log_dir)


def train_then_close(trainer, train_set, val_set, resume):
    """trainer.train(...), closing its TensorBoard writer whatever happens; returns the trainer."""
    try:
        trainer.train(train_set, val_set, resume)
    finally:
        if trainer.writer is not None:
            trainer.writer.close()
    return trainer
