"""Writing and reading a run's options.

Each run writes `opt.txt` in the official format (readable by the official `get_opt`) and `opt.yaml`
next to its checkpoints. Evaluation and inference re-read the model-defining options from there
(utils/run_options.py), so a model is always rebuilt exactly as it was trained.
"""
import os

import yaml

from utils.run_options import has_options, load_options, read_opt_txt  # noqa: F401  (re-exported)

HEADER = "------------ Options -------------"
FOOTER = "-------------- End ----------------"


def save_options(opt, folder):
    """Write opt.txt (official layout) and opt.yaml (typed) into `folder` atomically."""
    os.makedirs(folder, exist_ok=True)
    args = {k: v for k, v in sorted(vars(opt).items()) if _plain(v)}
    txt = HEADER + "\n" + "".join(f"{k}: {v}\n" for k, v in args.items()) + FOOTER + "\n"
    _atomic_write(os.path.join(folder, "opt.txt"), txt)
    _atomic_write(os.path.join(folder, "opt.yaml"), yaml.safe_dump(args, sort_keys=True))


def _plain(v):
    return v is None or isinstance(v, (bool, int, float, str)) or (
        isinstance(v, (list, tuple)) and all(isinstance(x, (bool, int, float, str)) for x in v))


def _atomic_write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
