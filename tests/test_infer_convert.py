"""data/motion_files.py and its command line prepare/convert_motion.py: InterHuman person files <-> infer.py
keypoints <-> 262-d features."""
import os

import numpy as np
import pytest

from data.process import Z_UP_TO_Y_UP, canonicalise_pair
from data.motion_files import (features_to_keypoints, interhuman_to_features, keypoints_to_features,
                               keypoints_to_person_file, load_person_features, person_file_to_raw)
from prepare.convert_motion import main
from tests.test_bvh import consistent_motion


def person_file(kp, extra=180):
    """An InterHuman-like person file (T, 312 + extra) from Y-up keypoints (Z-up positions, the 40
    unused hand joints filled with noise, trailing columns too)."""
    rng = np.random.default_rng(0)
    T = len(kp)
    arr = rng.normal(size=(T, 312 + extra)).astype(np.float32)
    arr[:, :66] = (kp[..., :3] @ Z_UP_TO_Y_UP).reshape(T, 66)
    arr[:, 186:312] = kp[:, 1:, 3:].reshape(T, 126)
    return arr


@pytest.fixture(scope="module")
def pair():
    a = consistent_motion(T=40, seed=0)
    b = consistent_motion(T=40, seed=1, shift=(0.8, 0.0, 1.0))
    return a, b


def test_person_file_round_trip(pair):
    kp = pair[0]
    f = keypoints_to_person_file(kp)
    assert f.shape == (40, 312) and f.dtype == np.float32
    assert np.all(f[:, 66:186] == 0)
    raw = person_file_to_raw(f)
    back = (raw[:, :66].reshape(40, 22, 3) @ Z_UP_TO_Y_UP.T)
    np.testing.assert_allclose(back, kp[..., :3], atol=1e-6)
    np.testing.assert_array_equal(raw[:, 66:], kp[:, 1:, 3:].reshape(40, 126))
    np.testing.assert_array_equal(person_file_to_raw(person_file(kp)), raw)


def test_interhuman_to_ours_is_the_dataset_processing(pair):
    f1, f2 = person_file(pair[0]), person_file(pair[1])
    ours = interhuman_to_features(f1, f2)
    ref = canonicalise_pair(person_file_to_raw(f1), person_file_to_raw(f2))
    for o, r in zip(ours, ref):
        np.testing.assert_array_equal(o, r)
    kp = features_to_keypoints(ours[1])
    assert kp.shape == (39, 22, 9)
    np.testing.assert_array_equal(kp[..., :3].reshape(39, 66), ours[1][:, :66])


def test_keypoints_to_features_same_frame(pair):
    kp = pair[0]
    feat = keypoints_to_features(kp)
    assert feat.shape == (39, 262)
    np.testing.assert_allclose(feat[:, :66], kp[:-1, :, :3].reshape(39, 66))
    np.testing.assert_allclose(feat[:, 66:132], (kp[1:, :, :3] - kp[:-1, :, :3]).reshape(39, 66), atol=1e-6)
    np.testing.assert_array_equal(feat[:, 132:258], kp[:-1, 1:, 3:].reshape(39, 126))
    assert set(np.unique(feat[:, 258:])) <= {0.0, 1.0}


def test_canonical_round_trip(pair):
    """InterHuman -> ours -> InterHuman -> ours gives the same canonical motion (one frame shorter
    per pass, floor re-measured)."""
    feats = interhuman_to_features(person_file(pair[0]), person_file(pair[1]))
    kps = [features_to_keypoints(f) for f in feats]
    again = interhuman_to_features(*[keypoints_to_person_file(k) for k in kps])
    for f, g in zip(feats, again):
        p = f[:-1, :66].reshape(-1, 22, 3)
        q = g[:, :66].reshape(-1, 22, 3)
        p[..., 1] -= p[..., 1].min()
        q[..., 1] -= q[..., 1].min()
        np.testing.assert_allclose(q, p, atol=2e-5)
        np.testing.assert_array_equal(g[:, 132:258], f[:-1, 132:258])


def test_load_person_features_every_format(tmp_path, pair):
    kp = pair[0]
    feats = interhuman_to_features(person_file(kp))[0]
    cases = {"feat.npy": feats, "pair.npy": np.stack([feats, feats + 1], 1), "kp.npy": kp,
             "file.npy": person_file(kp), "raw.npy": person_file_to_raw(person_file(kp))}
    for name, arr in cases.items():
        np.save(tmp_path / name, arr)
    np.testing.assert_array_equal(load_person_features(str(tmp_path / "feat.npy")), feats)
    np.testing.assert_array_equal(load_person_features(str(tmp_path / "pair.npy"), which=1), feats + 1)
    assert load_person_features(str(tmp_path / "kp.npy")).shape == (39, 262)
    np.testing.assert_array_equal(load_person_features(str(tmp_path / "file.npy")), feats)
    np.testing.assert_array_equal(load_person_features(str(tmp_path / "raw.npy")), feats)
    np.save(tmp_path / "bad.npy", np.zeros((10, 50)))
    with pytest.raises(ValueError, match=r"bad\.npy: unrecognised motion array of shape \(10, 50\)"):
        load_person_features(str(tmp_path / "bad.npy"))
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        load_person_features(str(tmp_path / "nope.npy"))


def test_cli_both_directions(tmp_path, pair, capsys):
    src = tmp_path / "motions_processed"
    for k, kp in enumerate(pair):
        os.makedirs(src / f"person{k + 1}")
        np.save(src / f"person{k + 1}" / "77.npy", person_file(kp))
    out = tmp_path / "ours"
    main(["interhuman2ours", "--person1", str(src / "person1" / "77.npy"), "--out_dir", str(out), "--features"])
    assert sorted(os.listdir(out)) == ["77_0.npy", "77_1.npy", "77_feats_0.npy", "77_feats_1.npy"]
    kp1 = np.load(out / "77_1.npy")
    assert kp1.shape == (39, 22, 9)
    back = tmp_path / "ih"
    main(["ours2interhuman", str(out / "77_0.npy"), str(out / "77_1.npy"), "--out_dir", str(back)])
    f = np.load(back / "person2" / "77.npy")
    assert f.shape == (39, 312)
    np.testing.assert_allclose(f[:, :66], keypoints_to_person_file(kp1)[:, :66])
    assert "wrote 2 person file(s)" in capsys.readouterr().out


def test_bad_shapes():
    with pytest.raises(ValueError, match="person 1: expected an InterHuman person array"):
        interhuman_to_features(np.zeros((10, 100)))
    with pytest.raises(ValueError, match="differ in length"):
        interhuman_to_features(np.zeros((10, 312)), np.zeros((11, 312)))
    with pytest.raises(ValueError, match=r"\(T, 22, 9\)"):
        keypoints_to_person_file(np.zeros((10, 22, 3)))


def test_cli_missing_file_is_one_line(tmp_path):
    with pytest.raises(SystemExit, match=r"convert_motion: missing .*nope_0\.npy"):
        main(["ours2interhuman", str(tmp_path / "nope_0.npy"), "--out_dir", str(tmp_path)])
