"""--max_motion_length: the text-motion dataset crops and pads to the requested length instead of the
official 300 frames, and rejects lengths it cannot honour."""
import argparse
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    out = tmp_path_factory.mktemp("maxlen") / "synthetic_data"
    subprocess.run([sys.executable, f"{REPO}/prepare/make_synthetic_dataset.py", "--out", str(out),
                    "--num_clips", "24", "--seed", "3"], check=True, capture_output=True)
    return str(out)


def _opt(root, **kw):
    return argparse.Namespace(dataset_name="interhuman", data_root=root, stats_dir=None, cache=True,
                              text_mirror="fixed", **kw)


def test_crop_length_is_honoured(root):
    from data import build_t2m_dataset
    from data.config import DataConfig
    ds = build_t2m_dataset(DataConfig.from_options(vars(_opt(root, max_motion_length=64))), "train")
    lengths = []
    for i in range(len(ds)):
        _, _, m1, m2, n = ds[i]
        assert m1.shape == m2.shape == (64, 262)
        assert n <= 63 and np.all(m1[n:] == 0)
        lengths.append(n)
    assert max(lengths) == 63  # clips longer than 64 frames are cropped to exactly 64 - 1 features
    full = build_t2m_dataset(DataConfig.from_options(vars(_opt(root))), "train")
    assert full[0][2].shape == (300, 262)  # default: the official 300


@pytest.mark.parametrize("bad", [10, 301])
def test_out_of_range_is_refused(root, bad):
    from data import build_t2m_dataset
    from data.config import DataConfig
    with pytest.raises(ValueError, match="max_motion_length"):
        build_t2m_dataset(DataConfig.from_options(vars(_opt(root, max_motion_length=bad))), "train")
