"""Text -> two-person motion: the VQ-VAE, the Inter-M transformer and the statistics in one object.

    gen = InterMaskGenerator.from_run("./checkpoints", "interhuman", "trans_default", "best_fid", device)
    m1, m2, lengths = gen.generate(["two people shake hands"], [90], seed=0)   # (B, T, 262) normalised
    raw1 = gen.denormalize(m1)

Motions are in NORMALISED space (InterHuman: z-scored 262-d features, contact channels 0 as the VQ
outputs them; Inter-X: (B, T, 56, 6), its representation is not normalised). Lengths are frames;
generated lengths are 4 * (frames // 4) (one token step = 4 frames), T = 4 * max(frames // 4), and
rows past a sample's length are zero.

Decoding and encoding run one sample at a time, as the official evaluation does (batch size 1):
the official VQ's graph layers treat sample 0 of a batch differently (spec 2.2), so this keeps the
outputs independent of batch composition and equal to the official per-sample results. The
transformer itself runs batched, with classifier-free guidance as one doubled batch.
"""
import argparse
import os

import numpy as np
import torch

from data.skeleton import FRAMES_PER_TOKEN
from models.mask_transformer import sampler
from models.mask_transformer.build import load_transformer
from models.mask_transformer.position_encoding import NUM_ROWS

AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class InterMaskGenerator:
    def __init__(self, transformer, vq, mean=None, std=None, device="cpu", dataset_name="interhuman",
                 temperature_on_logits=False, react_half_steps=True, opt=None, vq_opt=None, amp="none"):
        if amp not in AMP_DTYPES:
            raise ValueError(f"amp must be one of {sorted(AMP_DTYPES)}, got {amp!r}")
        self.amp = amp  # mixed precision of the transformer passes; the VQ always decodes in float32
        self.transformer = transformer
        self.vq = vq.eval()
        self.device = torch.device(device)
        self.dataset_name = dataset_name
        self.mean = None if mean is None else torch.as_tensor(np.asarray(mean), dtype=torch.float32)
        self.std = None if std is None else torch.as_tensor(np.asarray(std), dtype=torch.float32)
        self.temperature_on_logits = temperature_on_logits
        self.react_half_steps = react_half_steps
        self.opt, self.vq_opt = opt, vq_opt

    @classmethod
    def from_run(cls, checkpoints_dir, dataset_name, name, which_epoch_file="best_fid", device="cpu",
                 vq_which_epoch=None, clip_path=None, stats_dir=None, data_root=None,
                 temperature_on_logits=False, react_half_steps=True, amp="none"):
        """Load `<checkpoints_dir>/<dataset_name>/<name>` (options + model/<which_epoch_file>.tar), the VQ
        run named in its options (`vq_name`, checkpoint `vq_which_epoch`, default the run's own choice,
        official best_fid) and the normalisation statistics."""
        from data import load_stats
        from data.config import DataConfig
        from models.vq.build import load_vq
        run_dir = os.path.join(checkpoints_dir, dataset_name, name)
        overrides = {"checkpoints_dir": checkpoints_dir}
        if clip_path:
            overrides["clip_path"] = clip_path
        transformer, opt = load_transformer(run_dir, which_epoch_file, device, overrides=overrides)
        vq_epoch = vq_which_epoch or getattr(opt, "vq_which_epoch", None) or "best_fid"
        vq, vq_opt = load_vq(checkpoints_dir, dataset_name, getattr(opt, "vq_name", "vq_default"), vq_epoch, device)
        stats_opt = argparse.Namespace(dataset_name=dataset_name,
                                       data_root=data_root or getattr(opt, "data_root", None),
                                       stats_dir=stats_dir or getattr(opt, "stats_dir", None))
        if stats_dir is None and stats_opt.stats_dir and not os.path.isdir(stats_opt.stats_dir):
            stats_opt.stats_dir = None  # the training machine's folder: fall back to the defaults
        mean, std = load_stats(DataConfig.from_options(vars(stats_opt)))
        return cls(transformer, vq, mean, std, device, dataset_name, temperature_on_logits, react_half_steps,
                   opt, vq_opt, amp=amp)

    # ------------------------------------------------------------------ motion <-> tokens
    def denormalize(self, x):
        """Normalised features -> raw features (identity for Inter-X)."""
        if self.mean is None:
            return x
        if isinstance(x, np.ndarray):
            return x * self.std.numpy() + self.mean.numpy()
        return x * self.std.to(x.device) + self.mean.to(x.device)

    def normalize(self, x):
        if self.mean is None:
            return x
        if isinstance(x, np.ndarray):
            return (x - self.mean.numpy()) / self.std.numpy()
        return (x - self.mean.to(x.device)) / self.std.to(x.device)

    @torch.no_grad()
    def encode_person(self, motion, m_lens, steps_max):
        """motion (B, T, ...) normalised -> ids (B, 5*steps_max): each sample encoded alone from its
        full given frames, then cut to its m_lens[b] steps (the rest is filled with 0, ignored later)."""
        motion = torch.as_tensor(motion, dtype=torch.float32)
        out = torch.zeros(motion.shape[0], NUM_ROWS, steps_max, dtype=torch.long)
        for b in range(motion.shape[0]):
            ids, _ = self.vq.encode(motion[b:b + 1].to(self.device))  # (1, 5*(T//4), 1)
            ids = ids[..., 0].view(NUM_ROWS, -1).cpu()
            length = int(m_lens[b])
            if ids.shape[1] < length:
                raise ValueError(f"sample {b}: motion has {motion.shape[1]} frames, fewer than its length "
                                 f"{length * FRAMES_PER_TOKEN}")
            out[b, :, :length] = ids[:, :length]
        return out.view(motion.shape[0], -1)

    @torch.no_grad()
    def decode(self, ids, m_lens):
        """ids (B, 10S) [person 1 | person 2], m_lens (B,) steps -> (motion1, motion2), each (B, 4S, ...)
        normalised, zero past 4*m_lens[b]. Each sample and person is decoded alone with its own length."""
        ids = torch.as_tensor(ids)
        bsz = ids.shape[0]
        steps_max = ids.shape[1] // (2 * NUM_ROWS)
        people = ids.view(bsz, 2, NUM_ROWS, steps_max)
        outs = [None, None]
        for b in range(bsz):
            length = int(m_lens[b])
            for p in range(2):
                tok = people[b, p, :, :length].reshape(1, -1, 1).to(self.device)  # (1, 5L, 1)
                if (tok < 0).any():
                    raise ValueError(f"sample {b} person {p + 1}: padded token inside its length {length}")
                motion = self.vq.forward_decoder(tok)[0].float().cpu()  # (4L, ...)
                if outs[p] is None:
                    outs[p] = torch.zeros((bsz, FRAMES_PER_TOKEN * steps_max) + tuple(motion.shape[1:]))
                outs[p][b, :motion.shape[0]] = motion
        return outs[0], outs[1]

    # ------------------------------------------------------------------ generation
    def _steps(self, lengths_frames):
        frames = torch.as_tensor(lengths_frames).long().view(-1)
        m_lens = frames // FRAMES_PER_TOKEN
        if (m_lens < 1).any():
            raise ValueError(f"every length must be >= {FRAMES_PER_TOKEN} frames, got {frames.tolist()}")
        return m_lens

    def _autocast(self):
        """--amp: the sampling loop's transformer passes under autocast (logits are read in float32)."""
        dtype = AMP_DTYPES[self.amp]
        return torch.autocast(device_type=self.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)

    def _kw(self, time_steps, cond_scale, topkr, temperature, gsample, seed):
        return dict(time_steps=time_steps, cond_scale=cond_scale, topk_filter_thres=topkr,
                    temperature=temperature, gsample=gsample, temperature_on_logits=self.temperature_on_logits,
                    seed=seed)

    def generate(self, texts, lengths_frames, time_steps=20, cond_scale=2.0, topkr=0.9, temperature=1.0,
                 gsample=False, seed=None):
        """Captions (B) and lengths in frames (B) -> (motion1, motion2, out_lengths frames)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        m_lens = self._steps(lengths_frames)
        with self._autocast():
            ids = sampler.generate(self.transformer, texts, m_lens, **self._kw(time_steps, cond_scale, topkr,
                                                                                temperature, gsample, seed))
        m1, m2 = self.decode(ids.cpu(), m_lens)
        return m1, m2, m_lens * FRAMES_PER_TOKEN

    def react(self, texts, motion1, lengths_frames, time_steps=20, cond_scale=2.0, topkr=0.9, temperature=1.0,
              gsample=False, seed=None, half_steps=None):
        """Person 1 given (B, T, ...) normalised; person 2 generated. Returns (motion1 as decoded from
        its tokens, motion2, out_lengths). The official evaluation pairs the GT motion 1 instead."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        m_lens = self._steps(lengths_frames)
        steps_max = int(m_lens.max())
        ids1 = self.encode_person(motion1, m_lens, steps_max)
        half = self.react_half_steps if half_steps is None else half_steps
        with self._autocast():
            ids = sampler.generate_reaction(self.transformer, texts, ids1, m_lens, half_steps=half,
                                            **self._kw(time_steps, cond_scale, topkr, temperature, gsample, seed))
        m1, m2 = self.decode(ids.cpu(), m_lens)
        return m1, m2, m_lens * FRAMES_PER_TOKEN

    def edit(self, texts, motion1, motion2, lengths_frames, span_frames, which_person="both", time_steps=20,
             cond_scale=2.0, topkr=0.9, temperature=1.0, gsample=False, seed=None):
        """Regenerate frames [start, end) of one person ("person1"/"person2") or both of an existing
        interaction (normalised motions); everything outside the span stays as encoded. The span is
        widened to whole token steps (4 frames). Returns (motion1, motion2, out_lengths)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        m_lens = self._steps(lengths_frames)
        steps_max = int(m_lens.max())
        start, end = span_frames
        if not 0 <= start < end:
            raise ValueError(f"span_frames must satisfy 0 <= start < end, got {span_frames}")
        first, last = int(start) // FRAMES_PER_TOKEN, -(-int(end) // FRAMES_PER_TOKEN)
        ids = torch.cat([self.encode_person(motion1, m_lens, steps_max),
                         self.encode_person(motion2, m_lens, steps_max)], dim=1)  # (B, 10S)
        editable = sampler.span_editable(m_lens, steps_max, first, last, which_person)
        with self._autocast():
            out = sampler.edit(self.transformer, texts, ids, m_lens, editable,
                               **self._kw(time_steps, cond_scale, topkr, temperature, gsample, seed))
        m1, m2 = self.decode(out.cpu(), m_lens)
        return m1, m2, m_lens * FRAMES_PER_TOKEN
