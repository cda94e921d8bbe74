"""The two InterHuman datasets.

`InterHumanMotion` (VQ training): single-person windows of the pair-canonicalised features.
`InterHumanDataset` (text-motion training, validation and evaluation): (name, caption, motion1,
motion2, gt_length) with the official random crop and the two person-order coins.

Layout under cfg.data_root: motions_processed/person{1,2}/<id>.npy (T, >=312), annots/<id>.txt,
split/{train,val,test}.txt, optional ignore_list.txt and split/ignore_list.txt (both are read).
Bad clips are skipped with a warning naming the file (data/validate.py).
"""
import random

import numpy as np
from torch.utils import data

from data.normalizer import Normalizer
from data.process import TEXT_MIRROR_MODES, canonicalise_pair, mirror_caption, swap_left_right
from data.validate import (ClipProblem, ClipReport, interhuman_paths, load_interhuman_clip, load_person,
                           read_split_ids)

SPLITS = ("train", "val", "test")
OUTPUT_SWAP_MODES = ("official", "off")   # --output_swap: the two people in random order, or reference first


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"split/mode must be one of {SPLITS}, got {split!r}")


def _normalizer(cfg):
    from data import load_stats  # late: data/__init__ imports this module lazily too
    return Normalizer(*load_stats(cfg))


class InterHumanMotion(data.Dataset):
    """VQ windows. For every clip with T >= window_size, four sequences (T-1, 262) are kept in
    memory, each canonicalised in its pair's person-1 frame: [person1, person1 mirrored, person2,
    person2 mirrored] (the mirrored pair is canonicalised on its own). Items are all windows
    (window_size, 262) starting at 0, window_stride, ... ; z-scored (float32) when `normalize`."""

    def __init__(self, cfg, split="train", normalize=True):
        _check_split(split)
        self.cfg, self.split, self.normalize = cfg, split, normalize
        self.window_size, self.window_stride = int(cfg.window_size), int(cfg.window_stride)
        self.normalizer = _normalizer(cfg)
        self.clip_ids, self.motion_list = [], []
        report = ClipReport(f"InterHumanMotion({split})")
        for clip_id in read_split_ids(cfg.data_root, split):
            try:
                raw1, raw2, _ = load_interhuman_clip(cfg.data_root, clip_id, self.window_size)
            except ClipProblem as p:
                report.skip(clip_id, p)
                continue
            p1, p2 = canonicalise_pair(raw1, raw2)
            p1m, p2m = canonicalise_pair(swap_left_right(raw1), swap_left_right(raw2))
            self.clip_ids.append(clip_id)
            self.motion_list.extend([p1, p1m, p2, p2m])
        report.finish(len(self.clip_ids), f"{cfg.data_root} split {split}")
        # (sequence, start) for every window; a clip of T frames has T-1 feature rows.
        self.indices = [(i, s) for i, seq in enumerate(self.motion_list)
                        for s in range(0, len(seq) - self.window_size + 1, self.window_stride)]

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, idx):
        seq, start = self.indices[idx]
        window = self.motion_list[seq][start:start + self.window_size]           # (W, 262)
        return self.normalizer.forward(window) if self.normalize else window.copy()


class InterHumanDataset(data.Dataset):
    """Text-motion pairs. Train mode registers each clip twice: `<id>` and `<id>_swap` (mirrored
    motion, mirrored captions, see `text_mirror`); val/test only `<id>`.

    __getitem__ draws, in the official order: the caption (python `random`), the crop start when
    T > 300 (python `random`), coin u1 (numpy; persons swapped before processing when u1 > 0.5,
    which chooses the reference person), coin u2 (numpy; outputs swapped when u2 > 0.5), then
    calls `make_item`, which is deterministic. `normalize` may be switched after construction
    (evaluation reads ground truth de-normalised). Padding rows are zeros *after* normalisation."""

    max_gt_length = 300
    min_length = 15

    def __init__(self, cfg, mode="train", normalize=True):
        _check_split(mode)
        self.cfg, self.mode, self.normalize = cfg, mode, normalize
        # (ours) --max_motion_length: crop length in raw frames (official 300); shorter crops make
        # training on long clips cheaper (attention cost grows with the square of the length)
        max_len = int(cfg.max_motion_length or type(self).max_gt_length)
        if not self.min_length < max_len <= 300:
            raise ValueError(f"max_motion_length must be in ({self.min_length}, 300], got {max_len}")
        self.max_gt_length = max_len
        self.cache = bool(cfg.cache)
        self.text_mirror = cfg.text_mirror
        if self.text_mirror not in TEXT_MIRROR_MODES:
            raise ValueError(f"text_mirror must be one of {TEXT_MIRROR_MODES}, got {self.text_mirror!r}")
        self.output_swap = cfg.output_swap
        if self.output_swap not in OUTPUT_SWAP_MODES:
            raise ValueError(f"output_swap must be one of {OUTPUT_SWAP_MODES}, got {self.output_swap!r}")
        self.normalizer = _normalizer(cfg)
        self.data_list, self.clips = [], []     # clips[k]: (raw1, raw2) (T, 192), or their paths
        report = ClipReport(f"InterHumanDataset({mode})")
        for clip_id in read_split_ids(cfg.data_root, mode):
            try:
                raw1, raw2, texts = load_interhuman_clip(cfg.data_root, clip_id, self.min_length,
                                                         self.max_gt_length, need_text=True)
            except ClipProblem as p:
                report.skip(clip_id, p)
                continue
            k, T = len(self.clips), raw1.shape[0]
            self.clips.append((raw1, raw2) if self.cache else interhuman_paths(cfg.data_root, clip_id)[:2])
            self.data_list.append(dict(name=clip_id, clip=k, swap=False, texts=texts, length=T))
            if mode == "train":
                self.data_list.append(dict(name=f"{clip_id}_swap", clip=k, swap=True, length=T,
                                           texts=[mirror_caption(t, self.text_mirror) for t in texts]))
        report.finish(len(self.clips), f"{cfg.data_root} split {mode}")

    @property
    def max_length(self):
        return self.max_gt_length

    def real_len(self):
        return len(self.data_list)

    def __len__(self):
        return len(self.data_list)

    def item_lengths(self):
        """(ours) The motion length (frames) of every item, as __getitem__ returns it: clips longer
        than max_motion_length are cropped, and T frames give T - 1 feature rows. For length bucketing."""
        return [min(e["length"], self.max_gt_length) - 1 for e in self.data_list]

    def index_of(self, name):
        """Position of the entry called `name` (a clip id, or `<id>_swap` in train mode)."""
        for i, entry in enumerate(self.data_list):
            if entry["name"] == name:
                return i
        raise KeyError(f"no entry {name!r} in InterHumanDataset({self.mode})")

    def _raw_pair(self, entry):
        """The (T, 192) arrays of an entry, mirrored for `_swap` entries. Mirroring is exact (signs
        and a permutation), so doing it here instead of caching mirrored copies halves the memory."""
        pair = self.clips[entry["clip"]]
        if not self.cache:
            pair = tuple(load_person(p) for p in pair)
        return tuple(swap_left_right(r) for r in pair) if entry["swap"] else pair

    def __getitem__(self, item):
        index = item % len(self.data_list)
        entry = self.data_list[index]
        text_index = random.randrange(len(entry["texts"]))                 # = random.choice(texts)
        T = entry["length"]
        crop_start = random.randrange(T - self.max_gt_length) if T > self.max_gt_length else None
        u1 = np.random.rand()
        u2 = np.random.rand()
        return self.make_item(index, text_index, crop_start, u1, u2)

    def make_item(self, index, text_index, crop_start, u1, u2):
        """The item with its random draws given: caption `texts[text_index]`; `crop_start` (used
        only when T > 300: frames [s, s+300)); persons swapped before processing iff u1 > 0.5 and
        outputs swapped iff u2 > 0.5 (never with `--output_swap off`). Returns (name, text, motion1 (300, 262) float32,
        motion2 (300, 262) float32, gt_length = min(T, 300) - 1)."""
        entry = self.data_list[index]
        text = entry["texts"][text_index].strip()
        raw1, raw2 = self._raw_pair(entry)
        T = raw1.shape[0]
        if T > self.max_gt_length:
            if crop_start is None or not 0 <= crop_start < T - self.max_gt_length:
                raise ValueError(f"{entry['name']}: crop_start {crop_start} outside [0, {T - self.max_gt_length})")
            raw1 = raw1[crop_start:crop_start + self.max_gt_length]
            raw2 = raw2[crop_start:crop_start + self.max_gt_length]
        if u1 > 0.5:
            raw1, raw2 = raw2, raw1
        m1, m2 = canonicalise_pair(raw1, raw2)                                  # (L, 262) x 2
        if self.normalize:
            m1, m2 = self.normalizer.forward(m1), self.normalizer.forward(m2)
        gt_length = m1.shape[0]
        out1 = np.zeros((self.max_gt_length, m1.shape[1]), np.float32)
        out2 = np.zeros_like(out1)
        out1[:gt_length], out2[:gt_length] = m1, m2
        if u2 > 0.5 and self.output_swap == "official":
            out1, out2 = out2, out1
        return entry["name"], text, out1, out2, gt_length
