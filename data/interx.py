"""Inter-X datasets in InterMask's "smpl" representation (no canonicalisation, no normalisation, no
mirroring; the official scripts force motion_rep = "smpl" for Inter-X, so motion_rep is ignored).

Layout under cfg.data_root: motions/<split>.h5 (one dataset per clip id, (T, 56, 6): rows 0..54
axis-angles, row 55 root translation; channels 0:3 person 1, 3:6 person 2),
splits/<split>.txt, texts_processed/<id>.txt (lines `caption#tok/POS tok/POS ...#from#to`),
glove/hhi_vab_* (the evaluator's word vectors).

Per person the "smpl" features are (T, 56, 6): rows 0..54 the 6D rotation (first two matrix rows,
PyTorch3D convention) of each axis-angle; row 55 [translation (3), velocity (3)] with
velocity[t] = tr[t+1] - tr[t] inside the window/crop and 0 at its last frame (as official).
"""
import os
import random

import numpy as np
from torch.utils import data
from torch.utils.data._utils.collate import default_collate

from data.validate import ClipProblem, ClipReport, DataError, read_split_ids
from utils.quaternion import axis_angle_to_matrix, matrix_to_rot6d_rows

JOINTS = 56
MIN_T2M_LENGTH, MAX_T2M_LENGTH = 24, 1000   # official: keep 24 <= T < 1000


def _h5py():
    try:
        import h5py
    except ImportError as e:  # pragma: no cover - h5py is a requirement
        raise ImportError("Inter-X needs h5py: pip install h5py") from e
    return h5py


def rot6d_rows_from_axis_angle(aa):
    """(..., 3) axis-angles -> (..., 6) first two rows of the rotation matrix, float32."""
    return matrix_to_rot6d_rows(axis_angle_to_matrix(aa.astype(np.float32))).astype(np.float32)


def _translation_velocity(tr):
    """(T, C) -> forward differences with a zero last row (T, C)."""
    vel = np.zeros_like(tr)
    vel[:-1] = tr[1:] - tr[:-1]
    return vel


def person_smpl_features(motion):
    """One person (T, 56, 3) -> (T, 56, 6): 6D rows of the 55 rotations, then [tr, vel]."""
    rot = rot6d_rows_from_axis_angle(motion[:, :55])                     # (T, 55, 6)
    tr = motion[:, 55]                                                   # (T, 3)
    row = np.concatenate([tr, _translation_velocity(tr)], -1)[:, None]   # (T, 1, 6)
    return np.concatenate([rot, row], 1)


def pair_smpl_features(motion):
    """Both persons (T, 56, 6) -> (T, 56, 12): rows 0..54 [p1 6D | p2 6D], row 55 [t1, v1, t2, v2]."""
    rot = rot6d_rows_from_axis_angle(motion[:, :55].reshape(-1, 55, 2, 3)).reshape(-1, 55, 12)
    tr = motion[:, 55]                                                   # (T, 6) = [t1 | t2]
    vel = _translation_velocity(tr)
    row = np.concatenate([tr[:, :3], vel[:, :3], tr[:, 3:], vel[:, 3:]], -1)[:, None]  # (T, 1, 12)
    return np.concatenate([rot, row], 1)


def _read_clip(h5, clip_id, path):
    """(T, 56, 6) float32 of one clip, or ClipProblem."""
    if clip_id not in h5:
        raise ClipProblem("missing motion", path, f"no entry {clip_id!r}")
    try:
        arr = np.asarray(h5[clip_id][()], dtype=np.float32)
    except Exception as e:  # a group, strings, a damaged chunk
        raise ClipProblem("unreadable entry", path, f"{clip_id}: cannot read ({type(e).__name__}: "
                                                    f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if arr.ndim != 3 or arr.shape[1:] != (JOINTS, 6):
        raise ClipProblem("wrong shape", path, f"{clip_id}: expected (T, {JOINTS}, 6), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ClipProblem("non-finite values", path, f"{clip_id}: {int((~np.isfinite(arr)).sum())} NaN/inf")
    return arr


def _open_h5(path):
    """The split's h5 file, or a one-line DataError naming it when it is not readable HDF5."""
    try:
        return _h5py().File(path, "r")
    except OSError as e:
        raise DataError(f"{path}: cannot be read as HDF5 ({str(e).splitlines()[0] if str(e) else 'OSError'}); "
                        f"download the Inter-X release again") from None


def _split_h5(data_root, split):
    path = os.path.join(data_root, "motions", f"{split}.h5")
    if not os.path.isfile(path):
        raise DataError(f"missing {path}: download the Inter-X release into {data_root} "
                        f"(motions/{{train,val,test}}.h5, splits/, texts_processed/, glove/)")
    return path


class InterXMotion(data.Dataset):
    """VQ windows: each person of each clip with T >= window_size is a sequence; items are the
    "smpl" features of windows (window_size, 56, 6) float32 at starts 0, window_stride, ..."""

    def __init__(self, cfg, split="train"):
        self.cfg, self.split = cfg, split
        self.window_size, self.window_stride = int(cfg.window_size), int(cfg.window_stride)
        path = _split_h5(cfg.data_root, split)
        self.clip_ids, self.data = [], []
        report = ClipReport(f"InterXMotion({split})")
        with _open_h5(path) as h5:
            for clip_id in read_split_ids(cfg.data_root, split, split_dir="splits"):
                try:
                    motion = _read_clip(h5, clip_id, path)
                    if motion.shape[0] < self.window_size:
                        raise ClipProblem("too short", path, f"{clip_id}: {motion.shape[0]} frames < "
                                                             f"{self.window_size}")
                except ClipProblem as p:
                    report.skip(clip_id, p)
                    continue
                self.clip_ids.append(clip_id)
                self.data.extend([motion[:, :, :3], motion[:, :, 3:]])   # (T, 56, 3) per person
        report.finish(len(self.clip_ids), path)
        self.indices = [(i, s) for i, seq in enumerate(self.data)
                        for s in range(0, len(seq) - self.window_size + 1, self.window_stride)]

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, idx):
        seq, start = self.indices[idx]
        return person_smpl_features(self.data[seq][start:start + self.window_size])  # (W, 56, 6)


def read_interx_texts(path):
    """`caption#tokens#from#to` lines -> [{'caption', 'tokens'}]. Sub-clip annotations (nonzero
    from/to) are a DataError: the official loader calls exit(-1) on them."""
    if not os.path.isfile(path):
        raise ClipProblem("missing caption file", path, "file not found")
    texts = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.strip().split("#")
            if len(parts) < 4:
                raise ClipProblem("bad caption line", path, f"line {n}: expected caption#tokens#from#to")
            try:
                f_tag, to_tag = (0.0 if np.isnan(v) else v for v in (float(parts[2]), float(parts[3])))
            except ValueError:
                raise ClipProblem("bad caption line", path, f"line {n}: from/to are not numbers") from None
            if f_tag != 0.0 or to_tag != 0.0:
                raise DataError(f"{path}: line {n} annotates a sub-clip (from={f_tag}, to={to_tag}); "
                                f"Inter-X captions must cover the whole clip (#0.0#0.0)")
            texts.append({"caption": parts[0], "tokens": parts[1].split(" ")})
    if not texts:
        raise ClipProblem("empty caption file", path, "no caption lines")
    return texts


def collate_fn(batch):
    """Sort a batch by sentence length, longest first (the evaluator packs the GRU input), then
    the default collation."""
    batch = sorted(batch, key=lambda x: x[3], reverse=True)
    return default_collate(batch)


class InterXText2Motion(data.Dataset):
    """Text-motion pairs for transformer training and evaluation (the official
    Text2MotionDatasetV2HHI). Clips with 24 <= T < 1000 and captions, sorted by length.

    Item: (word_embs (37, 300), pos_onehot (37, 15), caption, sent_len, motion (150, 56, 12),
    m_length, "_".join(tokens)). Draws in the official order: the caption (python random), the
    length rounding (numpy choice of single/single/double: 4*floor(T/4), or that minus 4), the crop
    start (python random.randint). A crop of 150 frames or more is cut to its first 150 with
    m_length = 150; shorter ones are zero-padded to 150."""

    def __init__(self, cfg, split="train", w_vectorizer=None):
        self.cfg, self.split = cfg, split
        self.max_motion_length = int(150 if cfg.max_motion_length is None else cfg.max_motion_length)
        self.max_text_len = int(cfg.max_text_len)
        self.unit_length = int(cfg.unit_length)
        if w_vectorizer is None:
            from data.word_vectorizer import WordVectorizer
            w_vectorizer = WordVectorizer(os.path.join(cfg.data_root, "glove"), "hhi_vab")
        self.w_vectorizer = w_vectorizer
        path = _split_h5(cfg.data_root, split)
        text_dir = os.path.join(cfg.data_root, "texts_processed")
        entries = []
        report = ClipReport(f"InterXText2Motion({split})")
        with _open_h5(path) as h5:
            for clip_id in read_split_ids(cfg.data_root, split, split_dir="splits"):
                try:
                    motion = _read_clip(h5, clip_id, path)
                    if not MIN_T2M_LENGTH <= motion.shape[0] < MAX_T2M_LENGTH:
                        raise ClipProblem("too short" if motion.shape[0] < MIN_T2M_LENGTH else "too long", path,
                                          f"{clip_id}: {motion.shape[0]} frames outside "
                                          f"[{MIN_T2M_LENGTH}, {MAX_T2M_LENGTH})")
                    texts = read_interx_texts(os.path.join(text_dir, f"{clip_id}.txt"))
                except ClipProblem as p:
                    report.skip(clip_id, p)
                    continue
                entries.append((clip_id, motion, texts))
        report.finish(len(entries), path)
        entries.sort(key=lambda e: e[1].shape[0])                            # stable, as official
        self.name_list = [e[0] for e in entries]
        self.data_dict = {e[0]: {"motion": e[1], "length": e[1].shape[0], "text": e[2]} for e in entries}
        self.length_arr = np.array([e[1].shape[0] for e in entries])
        self.pointer = 0

    collate_fn = staticmethod(collate_fn)   # DataLoader(collate_fn=dataset.collate_fn)

    def reset_max_len(self, length):
        """Official API: skip clips shorter than `length` (the index starts at the first one)."""
        if length > self.max_motion_length:
            raise ValueError(f"length {length} > max_motion_length {self.max_motion_length}")
        self.pointer = int(np.searchsorted(self.length_arr, length))

    def __len__(self):
        return len(self.name_list) - self.pointer

    def item_lengths(self):
        """(ours) The motion length (frames) of every item: T rounded down to a multiple of
        unit_length (__getitem__ draws 4 frames less one time in three), at most max_motion_length.
        For length bucketing, where an estimate is enough."""
        return [min(self.data_dict[name]["length"] // self.unit_length * self.unit_length, self.max_motion_length)
                for name in self.name_list[self.pointer:]]

    def _embed(self, tokens):
        words, poses = [], []
        for token in tokens:
            try:
                word_emb, pos_oh = self.w_vectorizer[token]
            except Exception:  # malformed token: the official falls back to unk as well
                word_emb, pos_oh = self.w_vectorizer["unk/OTHER"]
            words.append(np.asarray(word_emb, np.float32))
            poses.append(np.asarray(pos_oh, np.float32))
        return np.stack(words), np.stack(poses)

    def __getitem__(self, item):
        entry = self.data_dict[self.name_list[self.pointer + item]]
        text = random.choice(entry["text"])
        double = np.random.choice(["single", "single", "double"]) == "double" if self.unit_length < 10 else False
        units = entry["length"] // self.unit_length - (1 if double else 0)
        start = random.randint(0, entry["length"] - units * self.unit_length)
        return self.make_item(self.pointer + item, text, units * self.unit_length, start)

    def make_item(self, index, text, m_length, start):
        """The item for clip `name_list[index]` with its draws given (caption dict, length, start)."""
        from data.word_vectorizer import wrap_tokens
        entry = self.data_dict[self.name_list[index]]
        tokens, sent_len = wrap_tokens(text["tokens"], self.max_text_len)
        word_embs, pos_onehot = self._embed(tokens)                          # (37, 300), (37, 15)
        crop = entry["motion"][start:start + m_length]                       # (m, 56, 6)
        keep = min(m_length, self.max_motion_length)
        # One extra frame when the crop is cut, so the last kept velocity is the real one (the
        # official converts the whole crop, then truncates).
        motion = np.zeros((self.max_motion_length, JOINTS, 12), np.float32)
        motion[:keep] = pair_smpl_features(crop[:keep + 1])[:keep]
        return word_embs, pos_onehot, text["caption"], sent_len, motion, keep, "_".join(tokens)
