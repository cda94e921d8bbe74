"""Load the evaluators from their official files (the folder from EvaluatorConfig, never hard-coded).

InterHuman: `<model_dir>/eval_model.yaml` ("KEY: value" lines, blank lines tolerated) and
`<model_dir>/interclip.ckpt` ({'state_dict': {'model.' + key: tensor}, ...}), strict load.
Inter-X: `<hhi_dir>/Comp_v6_KLD01/opt.txt` (unit_length) and `<hhi_dir>/text_mot_match/model/finest.tar`
({'movement_encoder', 'text_encoder', 'motion_encoder', 'epoch'}), strict load.
"""
import hashlib
import os

from models.evaluator.config import EvaluatorConfig
from models.evaluator.interclip import InterCLIP, evaluator_config, strip_prefix
from models.evaluator.interx_matching import InterXMatchingModel
from models.evaluator.wrappers import InterCLIPWrapper, InterXWrapper
from utils.run_options import read_opt_txt
from utils.files import CheckpointError, load_checkpoint, require_file

HOW_INTERHUMAN = ("run `bash prepare/download_evaluator.sh` (official InterCLIP), or train one with "
                  "`python train_evaluator.py` and pass --eval_model_dir")
HOW_INTERX = "run `bash prepare/download_evaluator.sh interx` (it explains where Inter-X's evaluator files go)"


def interclip_files(model_dir):
    return os.path.join(model_dir, "eval_model.yaml"), os.path.join(model_dir, "interclip.ckpt")


def interx_files(hhi_dir):
    return (os.path.join(hhi_dir, "Comp_v6_KLD01", "opt.txt"),
            os.path.join(hhi_dir, "text_mot_match", "model", "finest.tar"))


def load_interclip(model_dir, device="cpu"):
    """-> InterCLIP in eval mode with the checkpoint's weights (strict)."""
    yaml_path, ckpt_path = interclip_files(model_dir)
    require_file(yaml_path, HOW_INTERHUMAN)
    require_file(ckpt_path, HOW_INTERHUMAN)
    cfg = evaluator_config(read_opt_txt(yaml_path))
    model = InterCLIP(cfg)
    ckpt = load_checkpoint(ckpt_path, HOW_INTERHUMAN)
    sd = ckpt["state_dict"] if isinstance(ckpt, dict) and "state_dict" in ckpt else ckpt
    try:
        model.load_state_dict(strip_prefix(sd), strict=True)
    except RuntimeError as e:
        raise CheckpointError(ckpt_path, f"does not match {yaml_path}: {str(e).splitlines()[0]}") from e
    return model.to(device).eval()


def load_interx_evaluator(hhi_dir, device="cpu"):
    """-> InterXMatchingModel in eval mode. Sizes are read from the checkpoint's tensors (the official
    wrapper hard-codes the full sizes, which the released file has); unit_length from opt.txt."""
    opt_path, ckpt_path = interx_files(hhi_dir)
    require_file(ckpt_path, HOW_INTERX)
    unit_length = 4
    if os.path.isfile(opt_path):
        unit_length = int(read_opt_txt(opt_path).get("unit_length", 4))
    ckpt = load_checkpoint(ckpt_path, HOW_INTERX, keys=("movement_encoder", "text_encoder", "motion_encoder"))
    mv, tx, mo = ckpt["movement_encoder"], ckpt["text_encoder"], ckpt["motion_encoder"]
    sizes = {"dim_pose": mv["main.0.weight"].shape[1], "dim_movement_enc_hidden": mv["main.0.weight"].shape[0],
             "dim_movement_latent": mv["main.3.weight"].shape[0], "dim_word": tx["pos_emb.weight"].shape[0],
             "dim_pos_ohot": tx["pos_emb.weight"].shape[1], "dim_text_hidden": tx["input_emb.weight"].shape[0],
             "dim_motion_hidden": mo["input_emb.weight"].shape[0],
             "dim_coemb_hidden": mo["output_net.3.weight"].shape[0], "unit_length": unit_length}
    model = InterXMatchingModel(sizes).load_checkpoint_dict(ckpt)
    return model.to(device).eval()


def build_evaluator(cfg: EvaluatorConfig, device="cpu"):
    """The dataset's evaluation wrapper (InterCLIPWrapper or InterXWrapper) from cfg.model_dir."""
    if cfg.interx:
        return InterXWrapper(load_interx_evaluator(cfg.model_dir, device), device)
    return InterCLIPWrapper(load_interclip(cfg.model_dir, device), device)


def evaluator_file_list(cfg: EvaluatorConfig):
    """The evaluator's files that exist (their hashes go into eval.py's log header)."""
    files = interx_files(cfg.model_dir) if cfg.interx else interclip_files(cfg.model_dir)
    return [f for f in files if os.path.isfile(f)]


_HASHES = {}


def sha256_file(path):
    """sha256 of a file (cached by path, size and mtime: evaluator checkpoints are large)."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def save_interclip(model, out_dir, extra_yaml=None):
    """Write <out_dir>/eval_model.yaml and <out_dir>/interclip.ckpt in the official layout, so
    load_interclip (and the official loader, for the clip text side) reads them unchanged."""
    from utils.files import atomic_torch_save
    os.makedirs(out_dir, exist_ok=True)
    lines = [f"{k}: {v}" for k, v in model.cfg.items()] + [f"{k}: {v}" for k, v in (extra_yaml or {}).items()]
    tmp = os.path.join(out_dir, "eval_model.yaml.tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, os.path.join(out_dir, "eval_model.yaml"))
    sd = {"model." + k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_torch_save({"state_dict": sd}, os.path.join(out_dir, "interclip.ckpt"))
