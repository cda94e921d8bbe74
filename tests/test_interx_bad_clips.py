"""Inter-X bad clips are skipped like InterHuman's: a clip with NaN/inf, a clip id listed in the split
but absent from the h5 and an entry that cannot be read each give one DataWarning naming the clip
and the h5 file; the good clips load unchanged; nothing usable left, or an h5 that is not HDF5, is a
one-line DataError naming the file (also through train_vq.py's command line)."""
import os
import warnings

import h5py
import numpy as np
import pytest

from data import build_t2m_dataset, build_vq_dataset

from data.config import DataConfig
from data.validate import DataError, DataWarning
from tests.test_data_interx import LENGTHS, ix_opt, write_interx

GOOD = [c for c, T in LENGTHS.items() if T >= 32]          # usable as 32-frame VQ windows and as T2M clips
BAD = {"G003T000A000R000": "non-finite values", "G003T000A001R000": "non-finite values",
       "G003T000A002R000": "unreadable entry", "G009T000A000R000": "missing motion"}


def _add_bad_clips(root, split="train"):
    """NaN in one clip, inf in another, a group where a clip's array should be; G009 (listed in the
    split by write_interx) is absent from the file."""
    with h5py.File(os.path.join(root, "motions", f"{split}.h5"), "a") as h5:
        nan = np.zeros((80, 56, 6), np.float32)
        nan[40, 12, 2] = np.nan
        h5["G003T000A000R000"] = nan
        inf = np.zeros((80, 56, 6), np.float32)
        inf[3, 55, 0] = -np.inf
        h5["G003T000A001R000"] = inf
        h5.create_group("G003T000A002R000")
    with open(os.path.join(root, "splits", f"{split}.txt"), "a") as f:
        f.write("".join(c + "\n" for c in BAD if not c.startswith("G009")))
    for cid in BAD:
        with open(os.path.join(root, "texts_processed", f"{cid}.txt"), "w") as f:
            f.write("two people step#the/DET other/ADJ step/VERB#0.0#0.0\n")
    return root


def _skip_messages(build):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = build()
    return ds, [str(w.message) for w in caught if issubclass(w.category, DataWarning)]


@pytest.mark.parametrize("kind", ["vq", "t2m"])
def test_bad_clips_are_skipped_with_a_warning_naming_them(tmp_path, kind):
    root = _add_bad_clips(write_interx(str(tmp_path / "ix")))
    h5_path = os.path.join(root, "motions", "train.h5")
    build = build_vq_dataset if kind == "vq" else build_t2m_dataset
    ds, msgs = _skip_messages(lambda: build(DataConfig.from_options(vars(ix_opt(root))), "train"))
    for cid, why in BAD.items():
        named = [m for m in msgs if f"skipping clip {cid} ({why})" in m]
        assert len(named) == 1 and h5_path in named[0], (cid, msgs)
    kept = ds.clip_ids if kind == "vq" else sorted(ds.name_list)
    assert kept == (GOOD if kind == "vq" else sorted(GOOD))
    clean_cfg = DataConfig.from_options(vars(ix_opt(write_interx(str(tmp_path / "clean")))))
    clean, _ = _skip_messages(lambda: build(clean_cfg, "train"))
    assert len(ds) == len(clean)
    if kind == "vq":  # the kept clips load as they do without the bad ones
        assert all(np.array_equal(ds[i], clean[i]) for i in range(len(ds)))


@pytest.mark.parametrize("kind", ["vq", "t2m"])
def test_nothing_usable_is_one_line_data_error(tmp_path, kind):
    root = _add_bad_clips(write_interx(str(tmp_path / "ix")))
    with open(os.path.join(root, "splits", "train.txt"), "w") as f:
        f.write("".join(c + "\n" for c in BAD))
    build = build_vq_dataset if kind == "vq" else build_t2m_dataset
    with pytest.warns(DataWarning), pytest.raises(DataError) as err:
        build(DataConfig.from_options(vars(ix_opt(root))), "train")
    msg = str(err.value)
    assert "\n" not in msg and f"no usable clips in {os.path.join(root, 'motions', 'train.h5')}" in msg, msg


def test_an_h5_that_is_not_hdf5_is_named(tmp_path):
    root = write_interx(str(tmp_path / "ix"))
    h5_path = os.path.join(root, "motions", "train.h5")
    with open(h5_path, "rb") as f:
        head = f.read(4096)
    with open(h5_path, "wb") as f:   # the first 4 KiB of the file only
        f.write(head)
    with pytest.raises(DataError) as err:
        build_vq_dataset(DataConfig.from_options(vars(ix_opt(root))), "train")
    assert str(err.value).startswith(f"{h5_path}: cannot be read as HDF5") and "\n" not in str(err.value)


def test_train_vq_cli_one_line(tmp_path, capsys):
    import train_vq
    root = _add_bad_clips(write_interx(str(tmp_path / "ix")))
    with open(os.path.join(root, "splits", "train.txt"), "w") as f:
        f.write("".join(c + "\n" for c in BAD))
    with pytest.warns(DataWarning):
        rc = train_vq.cli(["--dataset_name", "interx", "--data_root", root, "--checkpoints_dir",
                           str(tmp_path / "ck"), "--name", "ix", "--window_size", "32", "--device", "cpu"])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("train_vq.py: error: InterXMotion(train): no usable clips in "), err
