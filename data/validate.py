"""Reading and checking dataset clips, so bad data is reported by file name instead of becoming a
silent NaN or a crash deep inside a training run.

Each problem (missing partner file, missing or empty caption file, wrong array shape, NaN/inf, a
person whose hip axis gives no facing direction, a clip too short) is a `ClipProblem`. Loaders
collect them in a `ClipReport`, which warns once per bad clip, prints one summary line, and raises
`DataError` when nothing usable is left.
"""
import os
import warnings
from collections import Counter

import numpy as np

from data import skeleton as sk
from data.process import FILE_ROT_COLUMNS, MIN_FILE_COLUMNS, Z_UP_TO_Y_UP, facing_quaternion, raw_from_person_file

MIN_HIP_WIDTH = 1e-4  # metres of horizontal hip distance below which facing is undefined
SPLIT_HOW = "create it (one clip id per line) or run `python prepare/make_synthetic_dataset.py`"


class DataError(ValueError):
    """The data on disk cannot be used; the message is one line naming the file and the problem."""


class DataWarning(UserWarning):
    """A clip was skipped; the message names the file and the reason."""


class ClipProblem(Exception):
    """Why one clip cannot be used (kind is a short category for the summary count)."""

    def __init__(self, kind, path, detail):
        super().__init__(f"{path}: {detail}")
        self.kind, self.path, self.detail = kind, path, detail


# --------------------------------------------------------------------------------- id lists
def read_id_list(path):
    """Ids of a split or ignore file: one per line, stripped, blank lines dropped, order kept,
    duplicates removed. (The official code tests `id + "\\n"` membership, which silently drops an
    unterminated last line and every id of a CRLF file; stripping fixes that.)"""
    with open(path, encoding="utf-8") as f:
        ids = [line.strip() for line in f]
    return list(dict.fromkeys(i for i in ids if i))


def read_ignore_list(root):
    """The union of both official ignore-list locations, `<root>/ignore_list.txt` (read by the
    official text-motion datasets) and `<root>/split/ignore_list.txt` (read by the official VQ
    dataset). Absent files count as empty. Returns a set of ids."""
    ignored = set()
    for path in (os.path.join(root, "ignore_list.txt"), os.path.join(root, "split", "ignore_list.txt")):
        if os.path.isfile(path):
            ignored.update(read_id_list(path))
    return ignored


def read_split_ids(root, split, split_dir="split"):
    """Ids of `<root>/<split_dir>/<split>.txt` minus the ignore list; a missing split file is a
    one-line DataError (the official code silently built an empty dataset)."""
    path = os.path.join(root, split_dir, f"{split}.txt")
    if not os.path.isfile(path):
        raise DataError(f"missing split file {path}: {SPLIT_HOW}")
    ignored = read_ignore_list(root) if split_dir == "split" else set()
    return [i for i in read_id_list(path) if i not in ignored]


# ------------------------------------------------------------------------------ InterHuman clips
def interhuman_paths(root, clip_id):
    """(person1 .npy, person2 .npy, caption .txt) of a clip in the InterHuman layout."""
    mp = os.path.join(root, "motions_processed")
    return (os.path.join(mp, "person1", f"{clip_id}.npy"), os.path.join(mp, "person2", f"{clip_id}.npy"),
            os.path.join(root, "annots", f"{clip_id}.txt"))


def load_person(path, kind_missing="missing person1 file"):
    """A person file -> raw (T, 192) float32, or ClipProblem for a missing/unreadable/misshapen file."""
    if not os.path.isfile(path):
        raise ClipProblem(kind_missing, path, "file not found")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as e:  # truncated or not an .npy
        raise ClipProblem("unreadable file", path, f"cannot read ({type(e).__name__}: {e})") from None
    if arr.ndim != 2 or arr.shape[1] < MIN_FILE_COLUMNS:
        raise ClipProblem("wrong shape", path, f"expected a (T, >={MIN_FILE_COLUMNS}) array, got shape "
                                               f"{tuple(arr.shape)}")
    return raw_from_person_file(arr)


def read_captions(path):
    """Caption lines of a clip (newline removed, blank lines dropped: the official code keeps them,
    so an empty caption could be sampled)."""
    if not os.path.isfile(path):
        raise ClipProblem("missing caption file", path, "file not found")
    with open(path, encoding="utf-8") as f:
        texts = [line.rstrip("\r\n") for line in f]
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ClipProblem("empty caption file", path, "no caption lines")
    return texts


def check_raw(raw, path, min_length, facing_frames):
    """Raise ClipProblem if raw (T, 192) is too short, not finite, or cannot define a facing at any
    of `facing_frames` (the frames that can become frame 0 of a crop)."""
    T = raw.shape[0]
    if T < min_length:
        raise ClipProblem("too short", path, f"{T} frames < minimum {min_length}")
    bad = ~np.isfinite(raw)
    if bad.any():
        t, c = np.argwhere(bad)[0]
        col = c if c < 66 else c - 66 + FILE_ROT_COLUMNS.start                      # column in the file
        raise ClipProblem("non-finite values", path, f"{int(bad.sum())} NaN/inf values (first at frame {t}, "
                                                     f"column {col})")
    pos = raw[facing_frames, :66].reshape(-1, sk.NUM_JOINTS, 3) @ Z_UP_TO_Y_UP.T   # (F, 22, 3)
    across = pos[:, 2] - pos[:, 1]                                                  # (F, 3)
    width = np.sqrt(across[:, 0] ** 2 + across[:, 2] ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        finite = np.isfinite(facing_quaternion(pos)).all(-1)
    bad_frames = np.flatnonzero((width < MIN_HIP_WIDTH) | ~finite)
    if bad_frames.size:
        f = int(np.asarray(facing_frames).reshape(-1)[bad_frames[0]])
        raise ClipProblem("degenerate facing", path, f"hip axis at frame {f} gives no facing direction "
                                                     f"(horizontal hip width {width[bad_frames[0]]:.2e} m)")


def crop_start_frames(T, max_length):
    """Frames that can start a crop: 0 .. T-max_length-1 when T > max_length (official range), else 0."""
    return np.arange(T - max_length) if max_length and T > max_length else np.array([0])


def load_interhuman_clip(root, clip_id, min_length, max_length=None, need_text=False):
    """Read and check one InterHuman clip. Returns (raw1 (T,192), raw2 (T,192), texts or None);
    raises ClipProblem naming the offending file."""
    p1, p2, txt = interhuman_paths(root, clip_id)
    raw1 = load_person(p1, "missing person1 file")
    raw2 = load_person(p2, "missing partner file")
    if raw2.shape[0] != raw1.shape[0]:
        raise ClipProblem("length mismatch", p2, f"{raw2.shape[0]} frames but person1 has {raw1.shape[0]}")
    frames = crop_start_frames(raw1.shape[0], max_length)
    check_raw(raw1, p1, min_length, frames)
    check_raw(raw2, p2, min_length, frames)
    texts = read_captions(txt) if need_text else None
    return raw1, raw2, texts


# ------------------------------------------------------------------------------------- report
class ClipReport:
    """Collects skipped clips of one dataset build: one DataWarning per corrupt clip (short clips,
    a normal filter, get one grouped warning), then `finish()` prints a one-line summary and raises
    DataError if nothing usable remains."""

    def __init__(self, what):
        self.what = what
        self.problems = []

    def skip(self, clip_id, problem):
        self.problems.append((clip_id, problem))
        if problem.kind != "too short":
            warnings.warn(f"{self.what}: skipping clip {clip_id} ({problem.kind}): {problem}", DataWarning,
                          stacklevel=3)

    def finish(self, kept, where):
        short = [cid for cid, p in self.problems if p.kind == "too short"]
        if short:
            names = ", ".join(short[:5]) + (", ..." if len(short) > 5 else "")
            warnings.warn(f"{self.what}: skipping {len(short)} clip(s) too short: {names}", DataWarning,
                          stacklevel=3)
        if self.problems:
            counts = Counter(p.kind for _, p in self.problems)
            detail = ", ".join(f"{n} {k}" for k, n in counts.most_common())
            print(f"{self.what}: {kept} clips loaded, {len(self.problems)} skipped ({detail})")
        if kept == 0:
            first = f"; first problem: {self.problems[0][1]}" if self.problems else ""
            raise DataError(f"{self.what}: no usable clips in {where}{first}")
