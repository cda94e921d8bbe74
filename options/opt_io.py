"""Writing and reading a run's options.

Each run writes `opt.txt` in the official format (readable by the official `get_opt`) and `opt.yaml`
next to its checkpoints. Evaluation and inference re-read the model-defining options from there, so a
model is always rebuilt exactly as it was trained.
"""
import os

import yaml

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


def _parse_value(s):
    """The official get_opt conversions: True/False -> bool, d.d -> float, digits -> int, else str."""
    s = s.strip()
    if s in ("True", "False"):
        return s == "True"
    if s == "None":
        return None
    try:
        if s.lstrip("-").isdigit():
            return int(s)
        return float(s)
    except ValueError:
        pass
    if s.startswith("[") and s.endswith("]"):
        try:
            return yaml.safe_load(s)
        except yaml.YAMLError:
            return s
    return s


def read_opt_txt(path):
    """Parse an official-format `opt.txt` / `eval_model.yaml` ("key: value" lines) into a dict.

    Unlike the official parser it tolerates blank lines and the header/footer lines."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"options file not found: {path}")
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("---") or line.startswith("#") or ":" not in line:
                continue
            k, v = line.split(":", 1)
            out[k.strip()] = _parse_value(v)
    return out


def load_options(folder):
    """Options of a run folder: opt.yaml when present (exact types), else opt.txt."""
    y = os.path.join(folder, "opt.yaml")
    if os.path.isfile(y):
        with open(y) as f:
            return yaml.safe_load(f) or {}
    return read_opt_txt(os.path.join(folder, "opt.txt"))
