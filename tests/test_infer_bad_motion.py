"""infer.py --react_to / --edit given a motion file that cannot be used (NaN/inf, wrong shape, wrong
feature width, not an .npy, truncated): one stderr line naming the flag, the file and the problem,
exit status 2, and nothing written (the output folder is never created). A valid file of each kind
goes through, so the checks are not vacuous."""
import os

import numpy as np
import pytest

from tests.test_bvh import consistent_motion
from tests.test_infer import FAST, run  # noqa: F401  (module fixture: a tiny random-weight run)


def _features(T=24, seed=0):
    return np.random.default_rng(seed).normal(0, 0.1, (T, 262)).astype(np.float32)


def _write(folder, name, arr=None, raw=None):
    path = str(folder / name)
    if raw is not None:
        with open(path, "wb") as f:
            f.write(raw)
    else:
        np.save(path, arr)
    return path


def _cli(run, out_dir, *extra):
    import infer
    return infer.cli(["--checkpoints_dir", run["ckpt"], "--name", "trans_tiny", *FAST, "--text", "they answer",
                      "--format", "none", "--bvh", "False", "--out_dir", str(out_dir), *extra])


def _nan_keypoints():
    kp = consistent_motion(T=30, seed=0).astype(np.float32)
    kp[7, 3, 1] = np.nan
    return kp


def _inf_features():
    f = _features()
    f[5, 100] = np.inf
    return f


def _truncated_npy(folder):
    whole = _write(folder, "whole.npy", _features())
    with open(whole, "rb") as f:
        data = f.read()
    return data[: len(data) // 2]


REACT_CASES = [  # (file name, writer(folder) -> array or raw bytes, words the error line must hold)
    ("nan_kp.npy", lambda d: _nan_keypoints(), ["1 NaN/inf values", "frame 7"]),
    ("inf_feat.npy", lambda d: _inf_features(), ["1 NaN/inf values", "frame 5"]),
    ("width261.npy", lambda d: np.zeros((24, 261), np.float32), ["shape (24, 261)", "expected (T, 262)"]),
    ("joints3.npy", lambda d: np.zeros((24, 22, 3), np.float32), ["shape (24, 22, 3)"]),
    ("flat.npy", lambda d: np.zeros(262, np.float32), ["shape (262,)"]),
    ("text.npy", lambda d: np.array(["a", "b"]), ["holds <U1"]),
    ("random.npy", lambda d: np.random.default_rng(0).bytes(4000), ["not an .npy file"]),
    ("cut.npy", _truncated_npy, ["truncated or damaged"]),
]


@pytest.mark.parametrize("name,make,words", REACT_CASES, ids=[c[0] for c in REACT_CASES])
def test_react_to_bad_file(run, tmp_path, capsys, name, make, words):  # noqa: F811
    content = make(tmp_path)
    path = _write(tmp_path, name, raw=content) if isinstance(content, bytes) else _write(tmp_path, name, content)
    out = tmp_path / "out"
    assert _cli(run, out, "--react_to", path) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"infer.py: error: --react_to {path}: "), err[0]
    assert all(w in err[0] for w in words), err[0]
    assert not out.exists()


EDIT_CASES = [  # (files {name: content}, the file given to --edit, the file the error names, words)
    ({"pair.npy": np.concatenate([_features()[:, None], _inf_features()[:, None]], 1)}, "pair.npy", "pair.npy",
     ["1 NaN/inf values", "frame 5"]),
    ({"pair.npy": np.zeros((24, 2, 263), np.float32)}, "pair.npy", "pair.npy", ["shape (24, 2, 263)"]),
    ({"x_0.npy": _features(), "x_1.npy": np.zeros((24, 300), np.float32)}, "x_0.npy", "x_1.npy",
     ["shape (24, 300)"]),
    ({"x_0.npy": consistent_motion(T=30, seed=0), "x_1.npy": _nan_keypoints()}, "x_0.npy", "x_1.npy",
     ["NaN/inf", "frame 7"]),
    ({"x_0.npy": _inf_features(), "x_1.npy": _features()}, "x_1.npy", "x_0.npy", ["NaN/inf", "frame 5"]),
]


@pytest.mark.parametrize("files,given,named,words", EDIT_CASES, ids=["pair_inf", "pair_width", "partner_width",
                                                                     "partner_nan", "first_inf"])
def test_edit_bad_file(run, tmp_path, capsys, files, given, named, words):  # noqa: F811
    for name, arr in files.items():
        _write(tmp_path, name, arr)
    out = tmp_path / "out"
    assert _cli(run, out, "--edit", str(tmp_path / given), "--edit_span", "0.1", "0.3") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"infer.py: error: --edit {tmp_path / named}: "), err[0]
    assert all(w in err[0] for w in words), err[0]
    assert not out.exists()


def test_valid_files_go_through(run, tmp_path):  # noqa: F811
    """The same calls with usable files write their outputs (the checks above are not vacuous)."""
    kp = _write(tmp_path, "kp_0.npy", consistent_motion(T=30, seed=0).astype(np.float32))
    _write(tmp_path, "kp_1.npy", consistent_motion(T=30, seed=1, shift=(0.8, 0.0, 1.0)).astype(np.float32))
    pair = _write(tmp_path, "pair.npy", np.stack([_features(), _features(seed=1)], 1))
    for extra in (["--react_to", kp], ["--edit", kp, "--edit_span", "0.1", "0.3"],
                  ["--edit", pair, "--edit_span", "0.1", "0.3"]):
        out = tmp_path / f"out{len(os.listdir(tmp_path))}"
        assert _cli(run, out, *extra) == 0
        feats = np.load(out / "feats" / "infer_best_fid_ts2_cs2.0_topkr0.9_00_00.npy")
        assert feats.shape[1:] == (2, 262) and np.isfinite(feats).all()
