"""Building the Inter-M transformer from its TransformerConfig and loading a trained one from its run folder.

Model-defining options (sizes, vocabulary, text encoder, quirk switches) always come from the run's
saved options (opt.yaml, else the official opt.txt), never from the command line of eval/infer, so
a model is rebuilt exactly as it was trained. Options missing from an old/official opt.txt take the
official defaults (e.g. text_encoder = clip).

    model = build_transformer(TransformerConfig.from_options(vars(opt)), device)   # fresh model (training)
    model, opt = load_transformer("checkpoints/interhuman/trans_default", "best_fid", device)
"""
import argparse
import os

import torch

from models.mask_transformer.config import MODEL_OPTIONS, TransformerConfig
from models.mask_transformer.transformer import MaskTransformer
from models.text_encoders import build_text_tower
from utils.files import CheckpointError, load_checkpoint, load_state_checked, require_file
from utils.run_options import has_options, load_options

def build_transformer(cfg: TransformerConfig, device="cpu", with_text_tower=False):
    """A fresh MaskTransformer on `device` (official init). with_text_tower=True also attaches the
    frozen tower chosen by `cfg.text_encoder` (CLIP needs its local weights file, see --clip_path)."""
    model = MaskTransformer(**cfg.model_kwargs()).to(device)
    if with_text_tower:
        model.set_text_tower(text_tower_for(cfg, device))
    return model


def text_tower_for(cfg: TransformerConfig, device="cpu"):
    return build_text_tower(cfg.text_encoder, clip_path=cfg.clip_path, checkpoints_dir=cfg.checkpoints_dir,
                            device=device, cache_mb=cfg.text_cache_mb)


def resolve_ckpt_file(run_dir, ckpt_file):
    """'best_fid', 'best_fid.tar', 'model/best_fid.tar' or a path -> the checkpoint path."""
    if os.path.isfile(ckpt_file):
        return ckpt_file
    name = ckpt_file if ckpt_file.endswith(".tar") else ckpt_file + ".tar"
    return os.path.join(run_dir, "model", os.path.basename(name))


def load_run_options(run_dir):
    """The run's saved options as a namespace (opt.yaml, else opt.txt)."""
    if not has_options(run_dir):
        require_file(os.path.join(run_dir, "opt.txt"), "train the model with train_transformer.py or "
                                                       "fetch it with `python prepare/download_models.py`")
    return argparse.Namespace(**load_options(run_dir))


def load_transformer(run_dir, ckpt_file="best_fid", device="cpu", with_text_tower=True, overrides=None):
    """(model in eval mode, the run's options as a namespace) from a run folder.

    The state dict is the checkpoint's `t2m_transformer` entry (the official layout: no `clip_*`
    keys) and is loaded with strict=True. `overrides`: non-model options to replace (e.g.
    {"clip_path": ...} when the weights live elsewhere on this machine)."""
    run_dir = str(run_dir)
    opt = load_run_options(run_dir)
    for k, v in (overrides or {}).items():
        if k in MODEL_OPTIONS or k == "text_encoder":
            raise ValueError(f"{k} defines the model and comes from the run's options, not an override")
        setattr(opt, k, v)
    cfg = TransformerConfig.from_options(vars(opt))
    path = resolve_ckpt_file(run_dir, ckpt_file)
    ckpt = load_checkpoint(path, how=f"train it with train_transformer.py --name {os.path.basename(run_dir)} "
                                     "or fetch it with `python prepare/download_models.py`")
    state = ckpt["t2m_transformer"] if "t2m_transformer" in ckpt else ckpt
    if not state or not all(torch.is_tensor(v) for v in state.values()):  # neither the entry nor a state dict
        raise CheckpointError(path, f"has no 't2m_transformer' entry (entries: {', '.join(sorted(map(str, ckpt)))})")
    state = {k: v for k, v in state.items() if not k.startswith("clip_")}
    model = build_transformer(cfg, "cpu", with_text_tower=False)
    load_state_checked(model, state, path, "the 't2m_transformer' weights")
    model = model.to(device).eval()
    if with_text_tower:
        model.set_text_tower(text_tower_for(cfg, device))
    return model, opt


def count_parameters(model):
    """Trainable parameters (the official `parameters_wo_clip`: the frozen tower is not a submodule)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def checkpoint_state(model):
    """The official checkpoint entry: the state dict without `clip_*` keys."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith("clip_")}

