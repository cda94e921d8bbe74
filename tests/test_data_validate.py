"""Bad data is reported by file name and skipped (or refused when nothing is left), never turned
into NaN features: each corruption below is applied to a copy of one clip of a tiny dataset."""
import os
import shutil
import warnings

import numpy as np
import pytest

from data import build_t2m_dataset, build_vq_dataset

from data.config import DataConfig
from data.validate import DataError, DataWarning, read_id_list
from tests.test_data_loaders import ih_opt, write_interhuman

P1 = os.path.join("motions_processed", "person1", "2.npy")
P2 = os.path.join("motions_processed", "person2", "2.npy")
TXT = os.path.join("annots", "2.txt")


@pytest.fixture(scope="module")
def clean_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("clean") / "ih")
    write_interhuman(root, [40, 40, 40])
    return root


def _corrupt_copy(clean_root, tmp_path, edit):
    root = str(tmp_path / "ih")
    shutil.copytree(clean_root, root)
    edit(root)
    return root


def _delete(rel):
    return lambda root: os.remove(os.path.join(root, rel))


def _rewrite(rel, fn):
    def edit(root):
        path = os.path.join(root, rel)
        np.save(path, fn(np.load(path)))
    return edit


def _write_text(rel, text):
    def edit(root):
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
    return edit


def _nan(a):
    a = a.copy()
    a[5, 190] = np.nan
    return a


def _degenerate_hips(a):
    """Right hip straight above the left one at frame 0: no horizontal hip axis, facing undefined."""
    a = a.copy()
    a[0, 6:9] = a[0, 3:6] + np.array([0, 0, 0.1], np.float32)
    return a


def _facing_raw_plus_y(a):
    """Hips along raw x (right hip at +x): forward is exactly canonical -Z, where qbetween is 0/0."""
    a = a.copy()
    a[0, 3:6] = a[0, 0:3] + np.array([-0.06, 0, 0], np.float32)
    a[0, 6:9] = a[0, 0:3] + np.array([0.06, 0, 0], np.float32)
    return a


CASES = [
    ("missing partner file", _delete(P2), P2),
    ("missing caption file", _delete(TXT), TXT),
    ("empty caption file", _write_text(TXT, "\n  \n"), TXT),
    ("wrong shape", _rewrite(P1, lambda a: a[:, :200]), P1),
    ("wrong shape", _rewrite(P2, lambda a: a.reshape(-1)), P2),
    ("non-finite values", _rewrite(P2, _nan), P2),
    ("degenerate facing", _rewrite(P1, _degenerate_hips), P1),
    ("degenerate facing", _rewrite(P2, _facing_raw_plus_y), P2),
    ("length mismatch", _rewrite(P2, lambda a: a[:30]), P2),
    ("unreadable file", _write_text(P1, "not an npy"), P1),
]


@pytest.mark.parametrize("kind,edit,bad_file", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_corrupt_clip_is_skipped_with_named_warning(clean_root, tmp_path, capsys, kind, edit, bad_file):
    root = _corrupt_copy(clean_root, tmp_path, edit)
    with pytest.warns(DataWarning) as rec:
        ds = build_t2m_dataset(DataConfig.from_options(vars(ih_opt(root))), "train")
    messages = [str(w.message) for w in rec if issubclass(w.category, DataWarning)]
    assert any(os.path.join(root, bad_file) in m and f"clip 2 ({kind})" in m for m in messages), messages
    assert [e["name"] for e in ds.data_list] == ["1", "1_swap", "3", "3_swap"]
    out = capsys.readouterr().out
    assert "2 clips loaded, 1 skipped" in out and kind.split()[0] in out
    for i in range(len(ds)):                                   # nothing non-finite reaches the items
        _, _, m1, m2, _ = ds.make_item(i, 0, None, 0.9, 0.1)
        assert np.isfinite(m1).all() and np.isfinite(m2).all()


def test_vq_dataset_skips_bad_clips_too(clean_root, tmp_path):
    root = _corrupt_copy(clean_root, tmp_path, _rewrite(P2, _nan))
    with pytest.warns(DataWarning, match="non-finite"):
        ds = build_vq_dataset(DataConfig.from_options(vars(ih_opt(root))), "train")
    assert ds.clip_ids == ["1", "3"]
    assert all(np.isfinite(ds[i]).all() for i in range(len(ds)))


def test_nothing_usable_is_one_line_error(clean_root, tmp_path):
    def break_all(root):
        for cid in ("1", "2", "3"):
            os.remove(os.path.join(root, "annots", f"{cid}.txt"))
    root = _corrupt_copy(clean_root, tmp_path, break_all)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        with pytest.raises(DataError) as err:
            build_t2m_dataset(DataConfig.from_options(vars(ih_opt(root))), "train")
    msg = str(err.value)
    assert "\n" not in msg and "no usable clips" in msg and "annots" in msg


def test_too_short_clips_are_grouped_and_missing_split_is_named(clean_root, tmp_path):
    with pytest.warns(DataWarning, match=r"skipping 3 clip\(s\) too short: 1, 2, 3"):
        with pytest.raises(DataError, match="no usable clips"):
            build_vq_dataset(DataConfig.from_options(vars(ih_opt(clean_root, window_size=64))), "train")
    root = _corrupt_copy(clean_root, tmp_path, _delete(os.path.join("split", "val.txt")))
    with pytest.raises(DataError, match=r"missing split file .*val\.txt"):
        build_t2m_dataset(DataConfig.from_options(vars(ih_opt(root))), "val")


def test_id_lists_tolerate_crlf_blank_lines_and_no_final_newline(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_bytes(b"7\r\n\r\n 8 \n7\n9")
    assert read_id_list(str(path)) == ["7", "8", "9"]
