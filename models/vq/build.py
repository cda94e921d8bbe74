"""Building the VQ-VAE from options and loading a trained one from its run folder.

`build_vq(opt_like)` accepts an argparse namespace, a dict (e.g. a run's opt.yaml or a test-vector
config) and reads the model-defining options with the official defaults. `load_vq(...)` rebuilds the
model from the run's own saved options, so a VQ is always used exactly as it was trained.
"""
import argparse
import os

import torch

from models.vq.encdec import vq_layout
from models.vq.model import RVQVAE
from utils.files import MissingFileError, load_checkpoint, load_state_checked
from utils.run_options import has_options, load_options

VQ_DEFAULTS = dict(dataset_name="interhuman", nb_code=1024, code_dim=512, output_emb_width=512, down_t=2,
                   stride_t=2, width=512, depth=2, dilation_growth_rate=3, vq_act="relu", vq_norm=None,
                   num_quantizers=1, shared_codebook=False, quantize_dropout_prob=0.2, mu=0.99,
                   gcn_all_frames=False)


def _as_dict(opt_like):
    if isinstance(opt_like, dict):
        return dict(opt_like)
    return dict(vars(opt_like))


def vq_config(opt_like):
    """The model-defining options with defaults filled in; input_dim from input_dim/dim_joint or the
    dataset layout (12 InterHuman, 6 Inter-X)."""
    d = _as_dict(opt_like)
    cfg = {k: (d[k] if d.get(k) is not None else v) for k, v in VQ_DEFAULTS.items()}
    cfg["vq_norm"] = d.get("vq_norm")
    layout = vq_layout(cfg["dataset_name"])
    cfg["input_dim"] = d.get("input_dim") or d.get("dim_joint") or layout["dim_joint"]
    return cfg


def build_vq(opt_like):
    """RVQVAE with the official state-dict layout from an options namespace/dict."""
    c = vq_config(opt_like)
    return RVQVAE(c, input_dim=c["input_dim"], nb_code=c["nb_code"], code_dim=c["code_dim"],
                  output_emb_width=c["output_emb_width"], down_t=c["down_t"], stride_t=c["stride_t"],
                  width=c["width"], depth=c["depth"], dilation_growth_rate=c["dilation_growth_rate"],
                  activation=c["vq_act"], norm=c["vq_norm"])


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
    model = build_vq(opts)
    load_state_checked(model, ckpt["vq_model"], ckpt_path, "the 'vq_model' weights")
    if "quantizer_ema" in ckpt:
        model.load_quantizer_state(ckpt["quantizer_ema"])
    model.to(torch.device(device)).eval()
    vq_opt = argparse.Namespace(**vq_config(opts))
    for k, v in opts.items():
        if not hasattr(vq_opt, k):
            setattr(vq_opt, k, v)
    return model, vq_opt
