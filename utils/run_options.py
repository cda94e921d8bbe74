"""Reading a run's saved options (opt.yaml, else the official opt.txt) as a plain dict.

Models, evaluation and inference rebuild a model from these files, never from the command line that
loads it; options/opt_io.py writes them.
"""
import os

import yaml


def has_options(folder):
    """True when `folder` holds a run's options: opt.yaml (ours) or opt.txt (official)."""
    return os.path.isfile(os.path.join(folder, "opt.yaml")) or os.path.isfile(os.path.join(folder, "opt.txt"))


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
