"""Dataset factories chosen by cfg.dataset_name, and the normalisation statistics. `cfg` is a DataConfig
(data/config.py; from the command line: `DataConfig.from_options(vars(opt))`).

    build_vq_dataset(cfg, split)                      -> InterHumanMotion | InterXMotion
    build_t2m_dataset(cfg, mode, normalize=True, w_vectorizer=None)
                                                      -> InterHumanDataset | InterXText2Motion
    load_stats(cfg)                                   -> (mean (262,), std (262,)) float32
    seed_worker(worker_id)                            DataLoader worker_init_fn (numpy seeding)

Dataset classes are imported lazily so that `import data` stays light.
"""
import os

import numpy as np
import torch

from data.config import DataConfig


def build_vq_dataset(cfg: DataConfig, split="train"):
    """Single-person windows for VQ training/validation (cfg.window_size, cfg.window_stride)."""
    if cfg.dataset_name == "interx":
        from data.interx import InterXMotion
        return InterXMotion(cfg, split)
    from data.interhuman import InterHumanMotion
    return InterHumanMotion(cfg, split)


def build_t2m_dataset(cfg: DataConfig, mode="train", normalize=True, w_vectorizer=None):
    """Text-motion pairs for transformer training, validation and evaluation. `normalize` applies
    to InterHuman (Inter-X's "smpl" representation is never normalised); `w_vectorizer` is the
    Inter-X evaluator's WordVectorizer (built from <data_root>/glove when None)."""
    if cfg.dataset_name == "interx":
        from data.interx import InterXText2Motion
        return InterXText2Motion(cfg, mode, w_vectorizer)
    from data.interhuman import InterHumanDataset
    return InterHumanDataset(cfg, mode, normalize=normalize)


def stats_how(cfg: DataConfig):
    """How to produce the statistics files (for one-line missing-file errors)."""
    return (f"run `python prepare/compute_stats.py --data_root {cfg.data_root}` (statistics of your data) "
            f"or `python prepare/download_models.py` (the official statistics)")


def load_stats(cfg: DataConfig):
    """InterHuman: (mean, std) (262,) float32 from <stats_dir>/global_mean.npy and global_std.npy.
    Inter-X: (None, None), because its default "smpl" representation is not normalised (the
    optional "global" representation with interx_mean/std.npy is not supported here)."""
    if cfg.dataset_name == "interx":
        return None, None
    from utils.files import require_file
    out = []
    for stem in ("global_mean", "global_std"):
        path = require_file(os.path.join(cfg.stats_dir, f"{stem}.npy"), stats_how(cfg))
        arr = np.load(path, allow_pickle=False)
        if arr.shape != (262,) or not np.isfinite(arr).all():
            from data.validate import DataError
            raise DataError(f"{path}: expected 262 finite values, got shape {arr.shape}; {stats_how(cfg)}")
        out.append(arr.astype(np.float32))
    if not (out[1] > 0).all():
        from data.validate import DataError
        raise DataError(f"{os.path.join(cfg.stats_dir, 'global_std.npy')}: std must be > 0; {stats_how(cfg)}")
    return out[0], out[1]


def seed_worker(worker_id):
    """DataLoader `worker_init_fn`: give each worker its own numpy and python random streams
    derived from torch's per-worker seed. Without it, forked workers share one numpy state and
    draw identical person-order coins (the official loaders run with this defect)."""
    import random
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    random.seed(seed)
