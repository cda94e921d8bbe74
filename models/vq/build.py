"""Building the VQ-VAE from its VQConfig and loading a trained one from its run folder.

`build_vq(cfg)` builds a fresh model; `load_vq(...)` rebuilds the model from the run's own saved
options (VQConfig.from_options), so a VQ is always used exactly as it was trained.
"""
import argparse
import os
from dataclasses import asdict

import torch

from models.vq.config import VQConfig
from models.vq.model import RVQVAE
from utils.files import MissingFileError, load_checkpoint, load_state_checked
from utils.run_options import has_options, load_options


def build_vq(cfg: VQConfig):
    """RVQVAE with the official state-dict layout (fresh weights)."""
    return RVQVAE(cfg)


def vq_run_dir(checkpoints_dir, dataset_name, vq_name):
    return os.path.join(checkpoints_dir, dataset_name, vq_name)


def _how_to_get(dataset_name, vq_name):
    return (f"train it with `python train_vq.py --dataset_name {dataset_name} --name {vq_name} --do_eval`, "
            f"pass --vq_which_epoch latest (or finest) to use another checkpoint of that run, "
            f"or fetch the official checkpoint with `python prepare/download_models.py`")


def load_vq(checkpoints_dir, dataset_name, vq_name, which_epoch="best_fid", device="cpu"):
    """-> (RVQVAE in eval mode on `device`, the run's options as a namespace).

    Reads `<checkpoints_dir>/<dataset_name>/<vq_name>/opt.yaml` (or the official opt.txt) and the
    weights `model/<which_epoch>.tar` (entry 'vq_model', loaded strict). Missing files raise a one-line
    MissingFileError saying which file and what to run; an unreadable or incomplete checkpoint a
    one-line CheckpointError naming it."""
    run = vq_run_dir(checkpoints_dir, dataset_name, vq_name)
    how = _how_to_get(dataset_name, vq_name)
    if not has_options(run):
        raise MissingFileError(os.path.join(run, "opt.txt"), how)
    opts = load_options(run)
    opts.setdefault("dataset_name", dataset_name)
    ckpt_path = os.path.join(run, "model", f"{which_epoch}.tar")
    ckpt = load_checkpoint(ckpt_path, how=how, map_location="cpu", keys=("vq_model",))
    cfg = VQConfig.from_options(opts)
    model = build_vq(cfg)
    load_state_checked(model, ckpt["vq_model"], ckpt_path, "the 'vq_model' weights")
    if "quantizer_ema" in ckpt:
        model.load_quantizer_state(ckpt["quantizer_ema"])
    model.to(torch.device(device)).eval()
    vq_opt = argparse.Namespace(**asdict(cfg))
    for k, v in opts.items():
        if not hasattr(vq_opt, k):
            setattr(vq_opt, k, v)
    return model, vq_opt
