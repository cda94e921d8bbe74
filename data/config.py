"""DataConfig: what the datasets read, with the data paths resolved.

Built once from options: `DataConfig.from_options(mapping)` takes the command line (`vars(opt)`) or a run's
saved options. data_root defaults to data/InterHuman or data/InterX by dataset_name, stats_dir to
<data_root>/stats if that folder exists, else data/stats (all relative to the working directory). The
mapping is only read, never changed.
"""
import os
from dataclasses import dataclass
from typing import Mapping, Optional

DATASETS = ("interhuman", "interx")
DATA_ROOT_DEFAULTS = {"interhuman": "data/InterHuman", "interx": "data/InterX"}


def data_paths(dataset_name, data_root=None, stats_dir=None):
    """-> (data_root, stats_dir) with the defaults above filled in."""
    if data_root is None:
        data_root = DATA_ROOT_DEFAULTS.get(dataset_name, os.path.join("data", dataset_name))
    if stats_dir is None:
        own = os.path.join(data_root, "stats")
        stats_dir = own if os.path.isdir(own) else os.path.join("data", "stats")
    return data_root, stats_dir


@dataclass(frozen=True)
class DataConfig:
    dataset_name: str = "interhuman"            # "interhuman" | "interx"
    data_root: str = DATA_ROOT_DEFAULTS["interhuman"]
    stats_dir: str = os.path.join("data", "stats")
    window_size: int = 64                       # VQ windows (frames) and their stride
    window_stride: int = 10
    max_motion_length: Optional[int] = None     # text-motion crop; None = the dataset's own (300 / 150)
    cache: bool = True                          # InterHuman: keep the clips in memory
    text_mirror: str = "fixed"                  # quirk switch: captions of mirrored clips
    output_swap: str = "official"               # quirk switch: person order of InterHuman training pairs
    max_text_len: int = 35                      # Inter-X evaluator text length (tokens)
    unit_length: int = 4                        # Inter-X length rounding (frames)

    @classmethod
    def from_options(cls, options: Mapping) -> "DataConfig":
        name = options.get("dataset_name", "interhuman")
        if name not in DATASETS:
            raise ValueError(f"dataset_name must be one of {DATASETS}, got {name!r}")
        data_root, stats_dir = data_paths(name, options.get("data_root"), options.get("stats_dir"))
        return cls(dataset_name=name, data_root=data_root, stats_dir=stats_dir,
                   window_size=options.get("window_size", cls.window_size),
                   window_stride=options.get("window_stride", cls.window_stride),
                   max_motion_length=options.get("max_motion_length"),
                   cache=bool(options.get("cache", True)),
                   text_mirror=options.get("text_mirror") or "fixed",
                   output_swap=options.get("output_swap") or "official",
                   max_text_len=int(options.get("max_text_len", 35)),
                   unit_length=int(options.get("unit_length", 4)))
