"""File helpers every component uses: atomic checkpoint writes, and one-line errors for missing files
(naming the command fetching them) and for unreadable or incomplete checkpoints."""
import os
import random

import numpy as np
import torch


class MissingFileError(FileNotFoundError):
    """A required file is absent. The message is one line naming the file and how to get it."""

    def __init__(self, path, how):
        super().__init__(f"missing {path}: {how}")
        self.path = path


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be used (truncated, not a checkpoint, an entry or a weight missing,
    shapes of another model). The message is one line naming the file and what is wrong."""

    def __init__(self, path, problem):
        super().__init__(f"checkpoint {path}: {problem}")
        self.path = path


def first_line(err):
    """'<ExceptionType>: <first sentence of its message>' (torch's load errors run over many lines)."""
    lines = str(err).strip().splitlines()
    text = lines[0].split(". ")[0] if lines else ""
    return f"{type(err).__name__}: {text}".rstrip(": ")


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


def load_checkpoint(path, how="train it first", map_location="cpu", keys=()):
    """torch.load -> the checkpoint dict. One-line errors: MissingFileError when the file is absent,
    CheckpointError when it is unreadable (truncated, random bytes), not a dict, or lacks one of the
    top-level entries `keys`."""
    require_file(path, how)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # truncated / corrupt / not a torch file
        raise CheckpointError(path, f"cannot be read, the file is truncated or corrupt ({first_line(e)})") from e
    if not isinstance(ckpt, dict):
        raise CheckpointError(path, f"holds a {type(ckpt).__name__}, not a checkpoint dict")
    missing = [k for k in keys if k not in ckpt]
    if missing:
        raise CheckpointError(path, f"has no {', '.join(repr(k) for k in missing)} entry "
                                    f"(entries: {', '.join(sorted(map(str, ckpt)))})")
    return ckpt


def load_state_checked(module, state, path, what, strict=True):
    """module.load_state_dict(state, strict) with a one-line CheckpointError naming `path` and the
    first missing / unexpected / mis-shaped weights instead of torch's many-line report. `what`
    names the weights, e.g. "the 'vq_model' weights"."""
    try:
        return module.load_state_dict(state, strict=strict)
    except RuntimeError as e:
        details = [ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()]
        detail = "; ".join(details)[:300] if details else first_line(e)
        raise CheckpointError(path, f"{what} do not fit this model: {detail}") from e


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
