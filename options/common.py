"""Option helpers shared by every script: booleans without distutils, the options this project adds
to the official CLI (data root, stats location, device, workers, mixed precision), and resolution of
their defaults once the dataset is known."""
import argparse

from data.config import data_paths
from utils.distributed import resolve_device  # noqa: F401  (the scripts' import)

DEFAULT_SEED = 3407  # --seed of every trainer; eval/infer fall back to it when the run saved no seed


def str2bool(v):
    """argparse type for True/False flags (the official code used distutils.strtobool, gone in 3.12)."""
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "t", "yes", "y", "on"):
        return True
    if s in ("0", "false", "f", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (True/False), got {v!r}")


def given_on_command_line(argv, flag):
    """True when `flag` was typed in `argv` (as `flag value` or `flag=value`), so it was not left at its
    default: e.g. --vq_which_epoch overrides the run's saved choice only when given."""
    return any(a.startswith(flag) for a in argv)


def add_project_args(parser):
    """Flags that are not in the official code but every script here accepts."""
    g = parser.add_argument_group("project")
    g.add_argument("--data_root", type=str, default=None,
                   help="dataset folder; default data/InterHuman or data/InterX by --dataset_name")
    g.add_argument("--stats_dir", type=str, default=None,
                   help="folder with global_mean.npy/global_std.npy (InterHuman) or interx_mean/std.npy; "
                        "default: <data_root>/stats if it exists, else data/stats")
    g.add_argument("--device", type=str, default=None,
                   help="torch device; default cuda (cuda:<gpu_id>) when available, else cpu")
    g.add_argument("--num_workers", type=int, default=0, help="DataLoader workers")
    g.add_argument("--amp", type=str, default="none", choices=["none", "bf16", "fp16"],
                   help="mixed precision for training and generation (off by default)")
    return parser


def resolve_paths(opt):
    """Fill the script's data_root / stats_dir defaults in place (data/config.py's data_paths), so that a
    run's opt.txt / opt.yaml records the folders it used."""
    opt.data_root, opt.stats_dir = data_paths(opt.dataset_name, getattr(opt, "data_root", None),
                                              getattr(opt, "stats_dir", None))
    return opt
