"""The Inter-M masked transformer: network, text head and the official training objective.

Token layout: ids (B, 2n) = [person A: 5 rows x S steps | person B: 5 rows x S steps], n = 5S,
token index = row*S + t inside each person. Vocabulary: 0..K-1 codes, K = [MASK], K+1 = [PAD],
K+2 = [SEP] (inserted between the persons inside the network).

The frozen text tower (CLIP or MiniLM, see models/text_encoders.py) is attached with
`set_text_tower` and is deliberately *not* a submodule: the state dict then holds exactly the
official `t2m_transformer` entry (no `clip_*` keys), so official checkpoints load with strict=True.

The training objective (`forward`) takes its random draws from `MaskingDraws`, which can be sampled
(training) or given (parity tests). Draws are made on the *official padded layout* (S_full steps,
e.g. 75 for 300 frames) and cropped to the batch's own S, so masking ratios and step-unroll
quantities are computed exactly as the official code does on the padded length while the network
only runs on S <= S_full steps (outputs at non-padded positions do not depend on the padding).
"""
import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from models.mask_transformer.blocks import InputProcess, InterMTransformer, OutputProcess, official_init_
from models.mask_transformer.position_encoding import NUM_ROWS, SpatioTemporalPositionEncoding

STEP_UNROLL_TOTAL_STEPS = 20  # the official step unroll moves t by 1/(20+1)


def lengths_to_pad(m_lens, steps, persons=2):
    """Token lengths (B,) -> padding mask (B, persons*5*steps), True where t >= m_lens[b] in every row."""
    t = torch.arange(steps, device=m_lens.device)
    step_pad = t[None, :] >= m_lens[:, None]  # (B, S)
    return step_pad.repeat(1, persons * NUM_ROWS)  # (B, persons*5*S)


def crop_layout(x, steps_full, steps):
    """(B, 2*5*steps_full, ...) in the full padded layout -> (B, 2*5*steps, ...) for the first steps."""
    if steps == steps_full:
        return x
    bsz = x.shape[0]
    rest = x.shape[2:]
    return x.reshape(bsz, 2 * NUM_ROWS, steps_full, *rest)[:, :, :steps].reshape(bsz, 2 * NUM_ROWS * steps, *rest)


@dataclass
class MaskingDraws:
    """Every random draw of the official objective. Per-position tensors use the full padded layout
    (B, 2*5*steps_full). `interaction` and `mask_person_one` are python ints (0/1)."""
    interaction: int
    mask_person_one: int = 0
    rand_time: Optional[torch.Tensor] = None  # (B,) t ~ U(0,1); ratio = cos(pi t / 2)
    rand_noise: Optional[torch.Tensor] = None  # (B, L_full) its argsort picks the masked positions
    rid: Optional[torch.Tensor] = None  # (B, L_full) bool, Bernoulli(0.1): random-id subset
    mid: Optional[torch.Tensor] = None  # (B, L_full) bool, Bernoulli(0.88): [MASK] subset
    rand_id: Optional[torch.Tensor] = None  # (B, L_full) uniform ids in [0, K)
    person_b: Optional[torch.Tensor] = None  # (B, 2) bool, interaction mode: the masked person of each sample

    def masked_persons(self, bsz, device):
        """Interaction mode: (B, 2) bool, which person each sample masks. The official rule is by batch
        half (the first half masks person B when mask_person_one, the second half the other one);
        `subset` stores it per sample, so a part of a batch keeps its samples' choices."""
        if self.person_b is not None:
            return self.person_b.to(device)
        half = bsz // 2
        person_b = torch.zeros(bsz, 2, device=device, dtype=torch.bool)
        first = 1 if self.mask_person_one else 0
        person_b[:half, first] = True
        person_b[half:, 1 - first] = True
        return person_b

    def subset(self, idx):
        """The draws of samples `idx` (1-D index tensor) of this batch, usable as a batch of their own
        with the same masking as inside the whole batch."""
        pick = (lambda t: None if t is None else t[idx.to(t.device)])
        person_b = self.masked_persons(self.rid.shape[0], self.rid.device) if self.interaction else None
        return MaskingDraws(self.interaction, self.mask_person_one, pick(self.rand_time), pick(self.rand_noise),
                            pick(self.rid), pick(self.mid), pick(self.rand_id), pick(person_b))

    @staticmethod
    def sample(bsz, steps_full, num_tokens, interaction_mask_prob, device, generator=None):
        """Draw in the same order and with the same probabilities as the official code."""
        length = 2 * NUM_ROWS * steps_full
        kw = dict(device=device, generator=generator)
        inter = int(torch.rand((), **kw).item() < interaction_mask_prob)
        if inter:
            if bsz % 2:
                raise ValueError(f"interaction masking needs an even batch size, got {bsz}")
            d = MaskingDraws(1, int(torch.rand((), **kw).item() < 0.5))
        else:
            d = MaskingDraws(0, 0, torch.rand(bsz, **kw), torch.rand(bsz, length, **kw))
        d.rid = torch.rand(bsz, length, **kw) < 0.1
        d.mid = torch.rand(bsz, length, **kw) < 0.88
        d.rand_id = torch.randint(0, num_tokens, (bsz, length), **kw)
        return d


class MaskTransformer(nn.Module):
    """Inter-M transformer. Sizes as the official defaults: K=1024 codes, code_dim 512, latent 384,
    6 layers, 6 heads, ff 1024, dropout 0.2, text feature 768, condition dropout 0.1.

    The text head (official, hard-coded there): text_layers=2 post-LN encoder layers of width clip_dim,
    text_heads=8, text_ff_size=2048, GELU, dropout 0.1, then LayerNorm.
    text_width: width of the frozen tower's token states (768 CLIP; 384 MiniLM, which adds a
    trainable `text_proj` Linear(384 -> 768) in front of the official 2-layer text head)."""

    def __init__(self, num_tokens=1024, code_dim=512, latent_dim=384, ff_size=1024, n_layers=6, n_heads=6,
                 dropout=0.2, clip_dim=768, cond_drop_prob=0.1, text_width=768, double_residual=True,
                 cross_kv_pre_st=True, interaction_mask_prob=0.2, step_unroll=1.0, text_heads=8, text_ff_size=2048,
                 text_layers=2, person_embedding=False):
        super().__init__()
        self.num_tokens, self.latent_dim, self.clip_dim, self.ff_size = num_tokens, latent_dim, clip_dim, ff_size
        self.mask_id, self.pad_id, self.sep_id = num_tokens, num_tokens + 1, num_tokens + 2
        self.cond_drop_prob = cond_drop_prob
        self.interaction_mask_prob = interaction_mask_prob
        self.step_unroll = step_unroll
        # registration order = the official state-dict order
        self.input_process = InputProcess(code_dim, latent_dim)
        self.position_enc = SpatioTemporalPositionEncoding(latent_dim, dropout, person_embedding)
        self.Transformer = InterMTransformer(n_layers, dim=latent_dim, heads=n_heads, ff_size=ff_size,
                                             dropout=dropout, double_residual=double_residual,
                                             cross_kv_pre_st=cross_kv_pre_st, rows=NUM_ROWS)
        self.cond_emb = nn.Linear(clip_dim, latent_dim)
        self.output_process = OutputProcess(latent_dim, num_tokens)
        self.token_emb = nn.Embedding(num_tokens + 3, code_dim)
        official_init_(self)
        # created after the init (PyTorch defaults), as the official text head
        if text_width != clip_dim:
            self.text_proj = nn.Linear(text_width, clip_dim)
        layer = nn.TransformerEncoderLayer(d_model=clip_dim, nhead=text_heads, dim_feedforward=text_ff_size,
                                           dropout=0.1, activation="gelu", batch_first=True)
        self.clipTrans = nn.TransformerEncoder(layer, num_layers=text_layers, enable_nested_tensor=False)
        self.clipln = nn.LayerNorm(clip_dim)
        self._text_tower = None

    # ---------------------------------------------------------------- text
    def set_text_tower(self, tower):
        """Attach the frozen tower (not a submodule: never saved, never optimised)."""
        self._text_tower = tower
        return self

    @property
    def text_tower(self):
        return self._text_tower

    def text_head(self, hidden, pick, key_padding=None):
        """Trainable head on the frozen states: hidden (B, L, W), pick (B,) row to read,
        key_padding (B, L) True = padding or None (CLIP: the official head uses no mask).
        Returns the text feature (B, clip_dim)."""
        x = hidden
        if hasattr(self, "text_proj"):
            x = self.text_proj(x)
        x = self.clipln(self.clipTrans(x, src_key_padding_mask=key_padding))  # (B, L, clip_dim)
        return x[torch.arange(x.shape[0], device=x.device), pick]

    def encode_text(self, texts):
        """Captions -> text feature (B, clip_dim): frozen tower (cached, no grad) + trainable head."""
        if self._text_tower is None:
            raise RuntimeError("no text tower attached: build the model with build_transformer(..., "
                               "with_text_tower=True) or call set_text_tower()")
        dev = self.cond_emb.weight.device
        hidden, pick, key_padding = self._text_tower.encode(list(texts), device=dev)
        return self.text_head(hidden, pick, key_padding)

    def mask_cond(self, feat, force_mask=False):
        """Condition dropout on the text feature (before cond_emb): zero per sample with probability
        cond_drop_prob in training; all zeros for the unconditional branch."""
        if force_mask:
            return torch.zeros_like(feat)
        if self.training and self.cond_drop_prob > 0:
            keep = torch.bernoulli(torch.full((feat.shape[0], 1), 1 - self.cond_drop_prob, device=feat.device))
            return feat * keep
        return feat

    def condition(self, text_feat, force_mask=False):
        """text feature (B, clip_dim) -> adaLN condition c (B, latent)."""
        return self.cond_emb(self.mask_cond(text_feat, force_mask))

    # ---------------------------------------------------------------- network
    def features(self, ids, c, pad):
        """ids (B, 2n), c (B, D), pad (B, 2n) True = padded -> hidden states (B, 2n, D) (SEP removed)."""
        bsz, length = ids.shape
        n = length // 2
        sep = torch.full((bsz, 1), self.sep_id, dtype=ids.dtype, device=ids.device)
        ids = torch.cat([ids[:, :n], sep, ids[:, n:]], dim=1)  # (B, 2n+1)
        pad = torch.cat([pad[:, :n], pad.new_zeros(bsz, 1), pad[:, n:]], dim=1)
        x = self.position_enc(self.input_process(self.token_emb(ids)))  # (B, 2n+1, D)
        x = self.Transformer(x, c, pad)
        return torch.cat([x[:, :n], x[:, n + 1:]], dim=1)  # (B, 2n, D)

    def logits_from(self, ids, c, pad, positions=None):
        """Logits (B, 2n, K) or, with positions (B, P) indices, only there: (B, P, K)."""
        h = self.features(ids, c, pad)
        if positions is not None:
            h = h.gather(1, positions.unsqueeze(-1).expand(-1, -1, h.shape[-1]))  # (B, P, D)
        return self.output_process(h, c)

    def trans_forward(self, ids, text_feat, padding_mask, force_mask=False):
        """The official trans_forward: logits (B, K, 2n)."""
        c = self.condition(text_feat, force_mask)
        return self.logits_from(ids, c, padding_mask).permute(0, 2, 1)

    # ---------------------------------------------------------------- training objective
    def forward(self, ids, text_feat, m_lens, steps_full=None, draws=None, generator=None, details=False):
        """The official masked-modelling loss with step unroll.

        ids (B, 2*5*S) codes (padded positions are replaced by PAD here), text_feat (B, clip_dim),
        m_lens (B,) token steps. steps_full: the official padded step count (75 for InterHuman's 300
        frames); default S. Returns (loss, acc[, details dict])."""
        ce1, acc1, state = self.first_pass(ids, text_feat, m_lens, steps_full, draws, generator)
        out = {"pass1": state["pass1"]}
        if not self.step_unroll:
            loss, acc = ce1, acc1
        else:
            ce2, acc2 = self.second_pass(state, text_feat)
            out["pass2"] = state["pass2"]
            loss = ce1 + self.step_unroll * ce2
            acc = (acc1 + self.step_unroll * acc2) / 2
        return (loss, acc, out) if details else (loss, acc)

    def first_pass(self, ids, text_feat, m_lens, steps_full=None, draws=None, generator=None):
        """Masking, corruption and the first pass -> (ce1, acc1, state for `second_pass`).

        The second pass reads only the first pass's *detached* logits, so a trainer may back-propagate
        ce1 before running it (the first pass's graph is then freed: about half the peak memory) and
        get the gradients of ce1 + step_unroll * ce2 (see TransformerTrainer)."""
        bsz, length = ids.shape
        steps = length // (2 * NUM_ROWS)
        steps_full = steps if steps_full is None else steps_full
        length_full = 2 * NUM_ROWS * steps_full
        if draws is None:
            draws = MaskingDraws.sample(bsz, steps_full, self.num_tokens, self.interaction_mask_prob,
                                        ids.device, generator)
        pad = lengths_to_pad(m_lens, steps)  # (B, 2n)
        ids = torch.where(pad, self.pad_id, ids)
        mask = self._select_mask(draws, bsz, steps, steps_full, length_full, ids.device) & ~pad
        labels = torch.where(mask, ids, self.mask_id)
        # BERT-style corruption: 10% random ids, then 88% of the rest [MASK], the rest unchanged
        mask_rid = crop_layout(draws.rid.bool(), steps_full, steps) & mask
        x_ids = torch.where(mask_rid, crop_layout(draws.rand_id, steps_full, steps), ids)
        mask_mid = crop_layout(draws.mid.bool(), steps_full, steps) & mask & ~mask_rid
        x_ids = torch.where(mask_mid, self.mask_id, x_ids)

        logits1 = self.trans_forward(x_ids, text_feat, pad)  # (B, K, 2n)
        ce1, pred1, acc1 = self._ce_acc(logits1, labels)
        state = {"pass1": dict(x_ids=x_ids, labels=labels, logits=logits1, ce=ce1, acc=acc1, pred_id=pred1),
                 "pad": pad, "mask_mid": mask_mid, "length_full": length_full}
        return ce1, acc1, state

    def second_pass(self, state, text_feat):
        """The step-unroll pass from `first_pass`'s state -> (ce2, acc2)."""
        first = state["pass1"]
        x_ids2, labels2 = self._step_unroll_inputs(first["logits"].detach(), first["x_ids"], first["labels"],
                                                   state["mask_mid"], state["length_full"])
        logits2 = self.trans_forward(x_ids2, text_feat, state["pad"])
        ce2, pred2, acc2 = self._ce_acc(logits2, labels2)
        state["pass2"] = dict(x_ids=x_ids2, labels=labels2, logits=logits2, ce=ce2, acc=acc2, pred_id=pred2)
        return ce2, acc2

    def _select_mask(self, draws, bsz, steps, steps_full, length_full, device):
        """Random cosine masking, or interaction masking (one whole person) for the batch."""
        if draws.interaction:
            person_b = draws.masked_persons(bsz, device)  # (B, 2) which person is masked
            return person_b.repeat_interleave(NUM_ROWS * steps, dim=1)  # (B, 2n)
        ratio = torch.cos(draws.rand_time.to(device) * math.pi * 0.5)  # (B,)
        k = (length_full * ratio).round().clamp(min=1)
        order = draws.rand_noise.to(device).argsort(dim=-1)  # (B, L_full): a random permutation
        full = order < k.unsqueeze(-1)
        return crop_layout(full, steps_full, steps)

    def supervised_count(self, m_lens, steps_full, draws):
        """Number of positions the first pass supervises over the batch (its cross-entropy is their
        mean). It does not depend on how far the batch is cropped, so parts of a batch can be weighted
        by it before they run."""
        bsz, steps = m_lens.shape[0], int(m_lens.max())
        pad = lengths_to_pad(m_lens, steps)
        mask = self._select_mask(draws, bsz, steps, steps_full, 2 * NUM_ROWS * steps_full, pad.device) & ~pad
        return int(mask.sum())

    def unroll_supervised_count(self, state):
        """Number of positions the step-unroll pass of `first_pass`'s state supervises: the first pass's,
        less the [MASK] positions it retains (max(|mask_mid| - k_new, 0) per sample, whatever the logits)."""
        mask_mid = state["mask_mid"]
        retained = (mask_mid.sum(-1) - self._unroll_k_new(mask_mid, state["length_full"])).clamp(min=0)
        return int(state["pass1"]["labels"].ne(self.mask_id).sum() - retained.sum())

    @staticmethod
    def _unroll_k_new(mask_mid, length_full):
        """(B,) how many positions stay masked in the step-unroll pass."""
        p_prev = mask_mid.sum(dim=-1) / length_full  # (B,) pads count in the denominator
        t_prev = torch.acos(p_prev) / (math.pi * 0.5)
        t_new = (t_prev + 1 / (STEP_UNROLL_TOTAL_STEPS + 1)).clamp(max=1)
        return (torch.cos(t_new * math.pi * 0.5) * length_full).round().clamp(min=1)

    def _step_unroll_inputs(self, logits, x_ids, labels, mask_mid, length_full):
        """Second-pass inputs: the least confident [MASK] positions stay masked, the others take the
        first-pass argmax and stop being supervised."""
        k_new = self._unroll_k_new(mask_mid, length_full)
        scores, pred = F.softmax(logits, dim=1).max(dim=1)  # (B, 2n)
        scores = scores.masked_fill(~mask_mid, 1e5)
        ranks = scores.argsort(dim=-1).argsort(dim=-1)
        still_masked = ranks < k_new.unsqueeze(-1)
        retained = mask_mid & ~still_masked
        return torch.where(retained, pred, x_ids), torch.where(retained, self.mask_id, labels)

    def _ce_acc(self, logits, labels):
        ce = F.cross_entropy(logits, labels, ignore_index=self.mask_id)
        pred = logits.argmax(dim=1)
        sup = labels.ne(self.mask_id)
        acc = (pred.eq(labels) & sup).sum().float() / sup.sum().clamp(min=1).float()
        return ce, pred, acc

