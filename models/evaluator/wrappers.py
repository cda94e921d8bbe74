"""Evaluation wrappers: turn a loader batch into (text, motion) embeddings exactly as the official
`EvaluatorModelWrapper`s do.

Batch formats: the text-motion loaders' tuples, read through `data.batches` (InterHumanBatch:
names, texts, motion1/motion2 (B,T,262) de-normalised, lengths; InterXBatch: word_embs, pos_ohot,
captions, sent_lens, motion (B,T,56,12), lengths, tokens, sorted by sent_len by the collate function).

Both wrappers sort each batch by motion length (descending, `np.argsort(lengths)[::-1]`) and return
the text embeddings re-ordered the same way, so row i of both outputs is one pair. The order used is
kept in `last_align_idx`.
"""
import numpy as np
import torch

from data.batches import InterHumanBatch, InterXBatch


def _align_idx(lengths):
    return np.argsort(np.asarray(lengths.tolist() if torch.is_tensor(lengths) else lengths))[::-1].copy()


class InterCLIPWrapper:
    """InterGen's InterCLIP evaluator (InterHuman). emb_scale 6, divide_by 2 in the metrics."""

    dataset_name = "interhuman"
    emb_scale = 6
    divide_by = 2

    def __init__(self, model, device):
        self.model = model.to(device).eval()
        self.device = device
        self.last_align_idx = None

    def _prepare(self, batch):
        b = InterHumanBatch.from_tuple(batch)
        texts, lengths = b.texts, torch.as_tensor(b.lengths).long()
        motions = torch.cat([torch.as_tensor(b.motion1), torch.as_tensor(b.motion2)], dim=-1).float()  # (B,T,524)
        align = _align_idx(lengths)
        self.last_align_idx = align
        motions, lengths = motions[align], lengths[align]
        T = motions.shape[1]
        cut = int(min(T, int(lengths.max())))  # cut the time axis to the longest length
        return list(texts), motions[:, :cut].to(self.device), lengths.clamp(max=T).to(self.device), align

    @torch.no_grad()
    def get_co_embeddings(self, batch):
        """-> text_emb (B, D), motion_emb (B, D), both in length-sorted order."""
        texts, motions, lengths, align = self._prepare(batch)
        motion_emb = self.model.encode_motion(motions, lengths)
        text_emb = self.model.encode_text(texts)[torch.as_tensor(align, device=self.device)]
        return text_emb.cpu(), motion_emb.cpu()

    @torch.no_grad()
    def get_motion_embeddings(self, batch):
        _, motions, lengths, _ = self._prepare(batch)
        return self.model.encode_motion(motions, lengths).cpu()

    @staticmethod
    def batch_with_motions(batch, motions, lengths):
        """Same texts, other motions: motions (B, T, 524) de-normalised [person 1 | person 2]."""
        b = InterHumanBatch.from_tuple(batch)
        return InterHumanBatch(b.names, b.texts, motions[..., :262], motions[..., 262:],
                               torch.as_tensor(lengths).long()).to_tuple()


class InterXWrapper:
    """Inter-X's GRU text-motion matching evaluator. emb_scale 1, divide_by 1 in the metrics."""

    dataset_name = "interx"
    emb_scale = 1
    divide_by = 1

    def __init__(self, model, device):
        self.model = model.to(device).eval()
        self.device = device
        self.unit_length = model.unit_length
        self.last_align_idx = None

    def _motion_emb(self, motions, m_lens):
        align = _align_idx(m_lens)
        self.last_align_idx = align
        motions = torch.as_tensor(motions).float()[align]
        m_lens = torch.as_tensor(m_lens).long()[align]
        movements = self.model.movement_encoder(self.model.prepare_motion(motions).to(self.device))
        emb = self.model.motion_encoder(movements, m_lens // self.unit_length)
        return emb, align

    @torch.no_grad()
    def get_co_embeddings(self, batch):
        b = InterXBatch.from_tuple(batch)
        motion_emb, align = self._motion_emb(b.motion, b.lengths)
        text_emb = self.model.text_encoder(torch.as_tensor(b.word_embs).float().to(self.device),
                                           torch.as_tensor(b.pos_ohot).float().to(self.device),
                                           torch.as_tensor(b.sent_lens).long())
        text_emb = text_emb[torch.as_tensor(align, device=self.device)]
        return text_emb.cpu(), motion_emb.cpu()

    @torch.no_grad()
    def get_motion_embeddings(self, batch):
        b = InterXBatch.from_tuple(batch)
        return self._motion_emb(b.motion, b.lengths)[0].cpu()

    @staticmethod
    def batch_with_motions(batch, motions, lengths):
        """Same captions, other motions: motions (B, T, 56, 12) in the loader layout, zero past the
        length (the conv receptive field reads up to 3 frames past it, as with the real loader)."""
        lengths = torch.as_tensor(lengths).long()
        motions = torch.as_tensor(motions).float().clone()
        valid = torch.arange(motions.shape[1])[None] < lengths[:, None]  # (B, T)
        motions[~valid] = 0
        b = InterXBatch.from_tuple(batch)
        b.motion, b.lengths = motions, lengths
        return b.to_tuple()
