"""Building and loading the Inter-M transformer from a run's options.

Model-defining options (sizes, vocabulary, text encoder, quirk switches) always come from the run's
saved options (opt.yaml, else the official opt.txt), never from the command line of eval/infer, so
a model is rebuilt exactly as it was trained. Options missing from an old/official opt.txt take the
official defaults (e.g. text_encoder = clip).

    model = build_transformer(opt, device)                         # fresh model (training)
    model, opt = load_transformer("checkpoints/interhuman/trans_default", "best_fid", device)
"""
import argparse
import os

import torch

from models.mask_transformer.transformer import MaskTransformer
from models.text_encoders import TEXT_WIDTHS, build_text_tower
from utils.run_options import has_options, load_options
from utils.files import CheckpointError, load_checkpoint, load_state_checked, require_file

# option name -> (MaskTransformer argument, official default)
MODEL_OPTIONS = {
    "num_tokens": ("num_tokens", 1024),
    "code_dim": ("code_dim", 512),
    "latent_dim": ("latent_dim", 384),
    "ff_size": ("ff_size", 1024),
    "n_layers": ("n_layers", 6),
    "n_heads": ("n_heads", 6),
    "dropout": ("dropout", 0.2),
    "clip_dim": ("clip_dim", 768),
    "cond_drop_prob": ("cond_drop_prob", 0.1),
    "double_residual": ("double_residual", True),
    "cross_kv_pre_st": ("cross_kv_pre_st", True),
    "interaction_mask_prob": ("interaction_mask_prob", 0.2),
    "step_unroll": ("step_unroll", 1.0),
    # the text head's shape is fixed in the official code; settable only through a config dict
    "text_heads": ("text_heads", 8),
    "text_ff_size": ("text_ff_size", 2048),
    "text_layers": ("text_layers", 2),
    # (ours) not in the official model; off = the released architecture
    "person_embedding": ("person_embedding", False),
}


def _get(opt_like, key, default=None):
    if isinstance(opt_like, dict):
        val = opt_like.get(key, default)
    else:
        val = getattr(opt_like, key, default)
    return default if val is None else val


def model_kwargs(opt_like):
    """MaskTransformer keyword arguments from options (dict or namespace); missing = official."""
    kw = {arg: _get(opt_like, key, default) for key, (arg, default) in MODEL_OPTIONS.items()}
    kind = _get(opt_like, "text_encoder", "clip")
    if kind not in TEXT_WIDTHS:
        raise ValueError(f"text_encoder must be one of {sorted(TEXT_WIDTHS)}, got {kind!r}")
    kw["text_width"] = TEXT_WIDTHS[kind] if kind != "clip" else kw["clip_dim"]
    return kw


def build_transformer(opt_like, device="cpu", with_text_tower=False):
    """A fresh MaskTransformer on `device` (official init). with_text_tower=True also attaches the
    frozen tower chosen by `text_encoder` (CLIP needs its local weights file, see --clip_path)."""
    model = MaskTransformer(**model_kwargs(opt_like)).to(device)
    if with_text_tower:
        model.set_text_tower(text_tower_for(opt_like, device))
    return model


def text_tower_for(opt_like, device="cpu"):
    return build_text_tower(_get(opt_like, "text_encoder", "clip"), clip_path=_get(opt_like, "clip_path"),
                            checkpoints_dir=_get(opt_like, "checkpoints_dir", "./checkpoints"), device=device,
                            cache_mb=_get(opt_like, "text_cache_mb", 4096))


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


def load_transformer(run_dir_or_opt, ckpt_file="best_fid", device="cpu", with_text_tower=True,
                     overrides=None):
    """(model in eval mode, opt) from a run folder (or its options with `save_root`/`checkpoints_dir`).

    The state dict is the checkpoint's `t2m_transformer` entry (the official layout: no `clip_*`
    keys) and is loaded with strict=True. `overrides`: non-model options to replace (e.g.
    {"clip_path": ...} when the weights live elsewhere on this machine)."""
    if isinstance(run_dir_or_opt, (str, os.PathLike)):
        run_dir = str(run_dir_or_opt)
        opt = load_run_options(run_dir)
    else:
        opt = run_dir_or_opt
        run_dir = _get(opt, "save_root") or os.path.join(opt.checkpoints_dir, opt.dataset_name, opt.name)
    for k, v in (overrides or {}).items():
        if k in MODEL_OPTIONS or k == "text_encoder":
            raise ValueError(f"{k} defines the model and comes from the run's options, not an override")
        setattr(opt, k, v)
    path = resolve_ckpt_file(run_dir, ckpt_file)
    ckpt = load_checkpoint(path, how=f"train it with train_transformer.py --name {os.path.basename(run_dir)} "
                                     "or fetch it with `python prepare/download_models.py`")
    state = ckpt["t2m_transformer"] if "t2m_transformer" in ckpt else ckpt
    if not state or not all(torch.is_tensor(v) for v in state.values()):  # neither the entry nor a state dict
        raise CheckpointError(path, f"has no 't2m_transformer' entry (entries: {', '.join(sorted(map(str, ckpt)))})")
    state = {k: v for k, v in state.items() if not k.startswith("clip_")}
    model = build_transformer(opt, "cpu", with_text_tower=False)
    load_state_checked(model, state, path, "the 't2m_transformer' weights")
    model = model.to(device).eval()
    if with_text_tower:
        model.set_text_tower(text_tower_for(opt, device))
    return model, opt


def count_parameters(model):
    """Trainable parameters (the official `parameters_wo_clip`: the frozen tower is not a submodule)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def checkpoint_state(model):
    """The official checkpoint entry: the state dict without `clip_*` keys."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith("clip_")}

