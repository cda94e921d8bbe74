"""File helpers every component uses: atomic checkpoint writes and one-line errors for missing files
that name the command fetching them."""
import os
import random

import numpy as np
import torch


class MissingFileError(FileNotFoundError):
    """A required file is absent. The message is one line naming the file and how to get it."""

    def __init__(self, path, how):
        super().__init__(f"missing {path}: {how}")
        self.path = path


def require_file(path, how):
    """Raise MissingFileError(path, how) unless `path` exists. `how` is e.g.
    'run `python prepare/download_models.py`'."""
    if not os.path.exists(path):
        raise MissingFileError(path, how)
    return path


def atomic_torch_save(obj, path):
    """torch.save to a temp file in the same folder, fsync, then rename: a kill mid-save never leaves
    a truncated checkpoint behind."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path, how="train it first", map_location="cpu"):
    """torch.load with a one-line error when the file is missing or unreadable."""
    require_file(path, how)
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # corrupt / truncated file
        raise RuntimeError(f"cannot read checkpoint {path}: {type(e).__name__}: {e}") from e


def fixseed(seed):
    """Seed python, numpy and torch (the official fixseed)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False


def rng_state():
    """Everything needed to continue a run's random stream exactly (for bit-exact resume)."""
    st = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st):
    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])
