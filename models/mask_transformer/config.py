"""TransformerConfig: the options that define the Inter-M transformer, plus where its frozen text tower
comes from.

Built once from options: `TransformerConfig.from_options(mapping)` takes a run's saved options (opt.yaml /
opt.txt as a dict), a test-vector config, or the training command line (`vars(opt)`). A value that is
missing or None takes the official default (e.g. text_encoder = clip for an official opt.txt); other keys
in the mapping are ignored.
"""
from dataclasses import dataclass, fields
from typing import Mapping, Optional

from models.text_encoders import TEXT_WIDTHS

# the options that define the network (MaskTransformer's arguments; text_encoder defines it too)
MODEL_OPTIONS = ("num_tokens", "code_dim", "latent_dim", "ff_size", "n_layers", "n_heads", "dropout", "clip_dim",
                 "cond_drop_prob", "double_residual", "cross_kv_pre_st", "interaction_mask_prob", "step_unroll",
                 "text_heads", "text_ff_size", "text_layers", "person_embedding")


@dataclass(frozen=True)
class TransformerConfig:
    num_tokens: int = 1024              # VQ codebook size (the VQ's nb_code)
    code_dim: int = 512                 # VQ code width
    latent_dim: int = 384
    ff_size: int = 1024
    n_layers: int = 6
    n_heads: int = 6
    dropout: float = 0.2
    clip_dim: int = 768                 # text feature / text head width
    cond_drop_prob: float = 0.1
    double_residual: bool = True        # quirk switch (official)
    cross_kv_pre_st: bool = True        # quirk switch (official)
    interaction_mask_prob: float = 0.2
    step_unroll: float = 1.0
    # the text head's shape is fixed in the official code; settable only through a config mapping
    text_heads: int = 8
    text_ff_size: int = 2048
    text_layers: int = 2
    # (ours) not in the official model; off = the released architecture
    person_embedding: bool = False
    text_encoder: str = "clip"          # frozen text tower: clip | minilm
    # where the frozen tower's weights and cache live (not part of the network's definition)
    clip_path: Optional[str] = None     # default <checkpoints_dir>/clip/ViT-L-14-336px.pt
    checkpoints_dir: str = "./checkpoints"
    text_cache_mb: int = 4096

    @classmethod
    def from_options(cls, options: Mapping) -> "TransformerConfig":
        values = {}
        for f in fields(cls):
            given = options.get(f.name)
            values[f.name] = f.default if given is None else given
        return cls(**values)

    def model_kwargs(self):
        """MaskTransformer keyword arguments; text_width from the text encoder (clip: clip_dim)."""
        if self.text_encoder not in TEXT_WIDTHS:
            raise ValueError(f"text_encoder must be one of {sorted(TEXT_WIDTHS)}, got {self.text_encoder!r}")
        kw = {name: getattr(self, name) for name in MODEL_OPTIONS}
        kw["text_width"] = TEXT_WIDTHS[self.text_encoder] if self.text_encoder != "clip" else self.clip_dim
        return kw
