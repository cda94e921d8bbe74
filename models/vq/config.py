"""VQConfig: the options that define a VQ-VAE, with the official defaults.

Built once from options: `VQConfig.from_options(mapping)` takes a run's saved options (opt.yaml /
opt.txt as a dict), a test-vector config, or the training command line (options/to_config.py passes
`vars(opt)`). A value that is missing or None takes the official default; nothing else is read, so
other keys in the mapping are ignored.
"""
from dataclasses import dataclass, fields
from typing import Mapping, Optional

from models.vq.encdec import vq_layout


@dataclass(frozen=True)
class VQConfig:
    dataset_name: str = "interhuman"    # "interhuman" (12 channels x 22 joints) | "interx" (6 x 56)
    nb_code: int = 1024                 # codebook size
    code_dim: int = 512                 # code width (= output_emb_width)
    output_emb_width: int = 512
    down_t: int = 2                     # temporal downsampling stages (stride_t ** down_t = 4 frames/token)
    stride_t: int = 2
    width: int = 512
    depth: int = 2
    dilation_growth_rate: int = 3
    vq_act: str = "relu"
    vq_norm: Optional[str] = None
    num_quantizers: int = 1
    shared_codebook: bool = False
    quantize_dropout_prob: float = 0.2
    mu: float = 0.99                    # EMA decay of the codebook
    gcn_all_frames: bool = False        # quirk switch: False = the official graph edges
    input_dim: int = 12                 # channels per joint: 12 InterHuman, 6 Inter-X

    @classmethod
    def from_options(cls, options: Mapping) -> "VQConfig":
        """The model-defining entries of `options` with defaults filled in; input_dim from input_dim or
        dim_joint, else the dataset layout (12 InterHuman, 6 Inter-X)."""
        values = {}
        for f in fields(cls):
            if f.name == "input_dim":
                continue
            given = options.get(f.name)
            values[f.name] = f.default if given is None else given
        layout = vq_layout(values["dataset_name"])
        values["input_dim"] = options.get("input_dim") or options.get("dim_joint") or layout["dim_joint"]
        return cls(**values)
