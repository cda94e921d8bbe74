"""InterHuman and Inter-X loaders on tiny datasets written here: window counts and contents, the
text-motion item (lengths, padding, person order, canonical frame, mirrored entries, draw order),
ignore lists, statistics, the factories, and Inter-X's representation and length rules."""
import os
import random
from types import SimpleNamespace

import numpy as np
import pytest

from data import build_t2m_dataset, build_vq_dataset, load_stats

from data.config import DataConfig
from data.process import canonicalise_pair, mirror_caption, swap_left_right
from utils.files import MissingFileError
from utils.quaternion import axis_angle_to_matrix, matrix_to_rot6d

# Approximate SMPL-22 rest pose, Y-up, facing +Z, the person's left at +x (metres).
REST = np.array([
    [0, .93, 0], [.06, .85, 0], [-.06, .85, 0], [0, 1.05, 0], [.08, .48, 0], [-.08, .48, 0], [0, 1.18, 0],
    [.08, .08, -.02], [-.08, .08, -.02], [0, 1.23, 0], [.09, .02, .1], [-.09, .02, .1], [0, 1.45, 0],
    [.07, 1.38, 0], [-.07, 1.38, 0], [0, 1.6, .03], [.18, 1.4, 0], [-.18, 1.4, 0], [.45, 1.4, 0],
    [-.45, 1.4, 0], [.7, 1.4, 0], [-.7, 1.4, 0]])
CAPTIONS = ["one person waves the left hand while the other turns clockwise.",
            "Right away, two people step to the right and bow.",
            "they circle counterclockwise, holding right hands."]


def person_file(T, yaw, offset, rng):
    """A (T, 492) person file: the rest pose walking along its facing with swinging legs (Z-up
    positions), random small local rotations in the InterHuman 6D layout, zeros elsewhere."""
    t = np.arange(T)[:, None]
    pose = np.broadcast_to(REST, (T, 22, 3)).copy()
    swing = 0.15 * np.sin(t * 0.2)                                        # (T, 1)
    pose[:, [4, 7, 10], 2] += swing
    pose[:, [5, 8, 11], 2] -= swing
    pose[:, [7, 10], 1] += np.clip(swing, 0, None) * 0.5
    pose[:, [8, 11], 1] += np.clip(-swing, 0, None) * 0.5
    pose[:, :, 2] += 0.01 * t                                             # walk forward (+Z)
    c, s = np.cos(yaw), np.sin(yaw)
    rot_y = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    yup = pose @ rot_y.T + np.array([offset[0], 0.02, offset[1]])
    zup = np.stack([yup[..., 0], -yup[..., 2], yup[..., 1]], -1)         # (x, y, z)_raw = (x, -z, y)
    rot6d = matrix_to_rot6d(axis_angle_to_matrix(rng.normal(0, 0.2, (T, 21, 3))))
    out = np.zeros((T, 492), np.float32)
    out[:, :66] = zup.reshape(T, 66)
    out[:, 186:312] = rot6d.reshape(T, 126)
    return out


def write_interhuman(root, lengths, seed=0, splits=None, ignore_root=(), ignore_split=()):
    """InterHuman-layout dataset with clips "1".."N" of the given lengths; `splits` maps split ->
    ids (default: every clip in train, val and test). Stats computed with compute_stats."""
    rng = np.random.default_rng(seed)
    for sub in ("motions_processed/person1", "motions_processed/person2", "annots", "split"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    ids = [str(i + 1) for i in range(len(lengths))]
    for cid, T in zip(ids, lengths):
        yaw1, yaw2 = rng.uniform(-2.5, 2.5, 2)
        np.save(os.path.join(root, "motions_processed/person1", f"{cid}.npy"), person_file(T, yaw1, (0, 0), rng))
        np.save(os.path.join(root, "motions_processed/person2", f"{cid}.npy"),
                person_file(T, yaw2, rng.uniform(0.6, 1.2, 2), rng))
        with open(os.path.join(root, "annots", f"{cid}.txt"), "w") as f:
            f.write("".join(c + "\n" for c in CAPTIONS))
    splits = splits or {s: ids for s in ("train", "val", "test")}
    for name, members in splits.items():
        with open(os.path.join(root, "split", f"{name}.txt"), "w") as f:
            f.write("".join(i + "\n" for i in members))
    for path, members in ((os.path.join(root, "ignore_list.txt"), ignore_root),
                          (os.path.join(root, "split", "ignore_list.txt"), ignore_split)):
        if members:
            with open(path, "w") as f:
                f.write("\n".join(members))   # last line deliberately unterminated
    from prepare.compute_stats import compute_stats
    compute_stats(root, "train", verbose=False)
    return ids


def ih_opt(root, **kw):
    base = dict(dataset_name="interhuman", data_root=root, stats_dir=None, cache=True, text_mirror="fixed",
                window_size=16, window_stride=5)
    base.update(kw)
    return SimpleNamespace(**base)


@pytest.fixture(scope="module")
def ih_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("ih") / "InterHuman")
    write_interhuman(root, [40, 75, 330, 12])   # 12 frames: too short for everything
    return root


def _raw(root, cid):
    return [np.load(os.path.join(root, "motions_processed", p, f"{cid}.npy"))[:, list(range(66)) +
            list(range(186, 312))] for p in ("person1", "person2")]


# ------------------------------------------------------------------------------------ InterHuman
def test_vq_windows_count_and_content(ih_root):
    opt = ih_opt(ih_root)
    with pytest.warns(UserWarning, match="too short"):
        ds = build_vq_dataset(DataConfig.from_options(vars(opt)), "train")
    lens = {"1": 40, "2": 75, "3": 330}
    expected = sum(4 * len(range(0, T - 1 - 16 + 1, 5)) for T in lens.values())
    assert len(ds) == expected and ds.clip_ids == ["1", "2", "3"]
    mean, std = load_stats(DataConfig.from_options(vars(opt)))
    r1, r2 = _raw(ih_root, "2")
    f1, f2 = canonicalise_pair(r1, r2)
    m1, m2 = canonicalise_pair(swap_left_right(r1), swap_left_right(r2))
    seq_start = 4                                    # clip "2"'s sequences follow clip "1"'s four
    for k, ref in enumerate((f1, m1, f2, m2)):
        i = ds.indices.index((seq_start + k, 10))
        item = ds[i]
        assert item.shape == (16, 262) and item.dtype == np.float32
        np.testing.assert_allclose(item, (ref[10:26] - mean) / std, rtol=1e-6, atol=1e-6)


def test_t2m_train_entries_mirror_and_items(ih_root):
    ds = build_t2m_dataset(DataConfig.from_options(vars(ih_opt(ih_root))), "train")
    assert [e["name"] for e in ds.data_list] == ["1", "1_swap", "2", "2_swap", "3", "3_swap"]
    swap_entry = ds.data_list[ds.index_of("1_swap")]
    assert swap_entry["texts"] == [mirror_caption(c, "fixed") for c in CAPTIONS]
    assert swap_entry["texts"][2] == "they circle clockwise, holding left hands."
    mean, std = load_stats(ds.cfg)
    r1, r2 = _raw(ih_root, "2")
    for name, (a, b) in (("2", (r1, r2)), ("2_swap", (swap_left_right(r1), swap_left_right(r2)))):
        idx = ds.index_of(name)
        for u1, u2 in ((0.2, 0.9), (0.7, 0.1)):
            _, text, m1, m2, L = ds.make_item(idx, 1, None, u1, u2)
            ref1, ref2 = canonicalise_pair(*((b, a) if u1 > 0.5 else (a, b)))
            if u2 > 0.5:
                ref1, ref2 = ref2, ref1
            assert L == 74 and m1.shape == (300, 262)
            np.testing.assert_allclose(m1[:L] * std + mean, ref1, atol=2e-5)
            np.testing.assert_allclose(m2[:L] * std + mean, ref2, atol=2e-5)
            assert not m1[L:].any() and not m2[L:].any()
    # Switching normalisation off after construction gives raw features with raw zero padding.
    ds.normalize = False
    _, _, m1, m2, L = ds.make_item(ds.index_of("2"), 0, None, 0.0, 0.0)
    np.testing.assert_allclose(m1[:L], canonicalise_pair(r1, r2)[0], atol=1e-6)
    assert m1[0, 0] == 0 and m1[0, 2] == 0                      # reference pelvis at the xz origin
    assert set(np.unique(m1[:L, 258:262])) <= {0.0, 1.0}


def test_t2m_crop_and_draw_order(ih_root):
    ds = build_t2m_dataset(DataConfig.from_options(vars(ih_opt(ih_root, text_mirror="official"))), "test")
    assert [e["name"] for e in ds.data_list] == ["1", "2", "3"]
    idx = ds.index_of("3")
    random.seed(7)
    np.random.seed(7)
    item = ds[idx]
    random.seed(7)
    np.random.seed(7)
    text_index = random.randrange(3)
    crop = random.randrange(330 - 300)
    u1, u2 = np.random.rand(), np.random.rand()
    ref = ds.make_item(idx, text_index, crop, u1, u2)
    assert item[1] == ref[1] and item[4] == ref[4] == 299
    np.testing.assert_array_equal(item[2], ref[2])
    np.testing.assert_array_equal(item[3], ref[3])
    _, _, a, _, _ = ds.make_item(idx, 0, 0, 0.0, 0.0)
    _, _, b, _, _ = ds.make_item(idx, 0, 29, 0.0, 0.0)
    assert not np.allclose(a, b)                                # the crop start matters
    with pytest.raises(ValueError, match="crop_start"):
        ds.make_item(idx, 0, 30, 0.0, 0.0)                      # last start 29 (official range)


def test_output_swap_off_keeps_the_reference_person_first(ih_root):
    """--output_swap off: the person whose first frame defines the frame (chosen by coin u1) comes first
    whatever coin u2 says; the coin is still drawn, so the stream of later draws is the official one."""
    on = build_t2m_dataset(DataConfig.from_options(vars(ih_opt(ih_root))), "train")
    off = build_t2m_dataset(DataConfig.from_options(vars(ih_opt(ih_root, output_swap="off"))), "train")
    idx = on.index_of("2")
    for u1 in (0.2, 0.7):
        a1, a2 = on.make_item(idx, 0, None, u1, 0.9)[2:4]                # official: swapped outputs
        b1, b2 = off.make_item(idx, 0, None, u1, 0.9)[2:4]
        np.testing.assert_array_equal(b1, a2)
        np.testing.assert_array_equal(b2, a1)
        np.testing.assert_array_equal(off.make_item(idx, 0, None, u1, 0.1)[2], on.make_item(idx, 0, None, u1, 0.1)[2])
    off.normalize = False
    for u2 in (0.1, 0.9):
        m1 = off.make_item(idx, 0, None, 0.7, u2)[2]
        assert m1[0, 0] == 0 and m1[0, 2] == 0                  # the reference pelvis at the xz origin
    for ds in (on, off):
        random.seed(3)
        np.random.seed(3)
        ds[idx]
        assert np.random.rand() == pytest.approx(_after_two_coins(3))
    with pytest.raises(ValueError, match="output_swap"):
        build_t2m_dataset(DataConfig.from_options(vars(ih_opt(ih_root, output_swap="sometimes"))), "train")


def test_output_swap_is_a_training_option_only():
    """The trainer takes it (default official); eval.py keeps the official protocol and has no such flag."""
    from options.eval_option import EvalT2MOptions
    from options.trans_option import TrainT2MOptions
    assert TrainT2MOptions().parse([]).output_swap == "official"
    assert TrainT2MOptions().parse(["--output_swap", "off"]).output_swap == "off"
    assert not hasattr(EvalT2MOptions().parse([]), "output_swap")


def _after_two_coins(seed):
    np.random.seed(seed)
    np.random.rand(2)
    return np.random.rand()


def test_cache_off_reads_the_same(ih_root):
    on = build_t2m_dataset(DataConfig.from_options(vars(ih_opt(ih_root))), "train")
    off = build_t2m_dataset(DataConfig.from_options(vars(ih_opt(ih_root, cache=False))), "train")
    for name in ("2_swap", "3"):
        a = on.make_item(on.index_of(name), 2, 5, 0.8, 0.3)
        b = off.make_item(off.index_of(name), 2, 5, 0.8, 0.3)
        np.testing.assert_array_equal(a[2], b[2])
        np.testing.assert_array_equal(a[3], b[3])


def test_ignore_lists_are_united(tmp_path):
    root = str(tmp_path / "ih")
    write_interhuman(root, [30, 30, 30, 30], ignore_root=["2"], ignore_split=["4"])
    ds = build_t2m_dataset(DataConfig.from_options(vars(ih_opt(root))), "val")
    assert [e["name"] for e in ds.data_list] == ["1", "3"]
    assert build_vq_dataset(DataConfig.from_options(vars(ih_opt(root))), "val").clip_ids == ["1", "3"]


def test_stats_mirror_symmetric_and_missing_stats_error(ih_root, tmp_path):
    mean, std = load_stats(DataConfig.from_options(vars(ih_opt(ih_root))))
    assert mean.shape == std.shape == (262,) and mean.dtype == np.float32 and std.min() >= 1e-3
    # Mirrored copies are included: pelvis x and x-velocity average to 0, hips are opposite.
    assert abs(mean[0]) < 1e-6 and abs(mean[66]) < 1e-7
    np.testing.assert_allclose(mean[3], -mean[6], atol=1e-6)
    opt = ih_opt(ih_root, stats_dir=str(tmp_path / "nowhere"))
    with pytest.raises(MissingFileError, match="compute_stats.py --data_root"):
        load_stats(DataConfig.from_options(vars(opt)))
    with pytest.raises(ValueError, match="dataset_name"):
        build_vq_dataset(DataConfig.from_options(vars(ih_opt(ih_root, dataset_name="humanml"))), "train")


def test_compute_stats_matches_direct_computation(ih_root, tmp_path):
    from prepare.compute_stats import compute_stats, crop_starts
    mean, std = compute_stats(ih_root, "val", out_dir=str(tmp_path), verbose=False)
    rows = []
    for cid in ("1", "2", "3"):
        r1, r2 = _raw(ih_root, cid)
        for a, b in ((r1, r2), (swap_left_right(r1), swap_left_right(r2))):
            for s in crop_starts(a.shape[0]):
                for x, y in ((a[s:s + 300], b[s:s + 300]), (b[s:s + 300], a[s:s + 300])):
                    rows.extend(canonicalise_pair(x, y))
    rows = np.concatenate(rows).astype(np.float64)
    np.testing.assert_allclose(mean, rows.mean(0), atol=1e-6)
    np.testing.assert_allclose(std, np.maximum(rows.std(0), 1e-3), rtol=1e-5, atol=1e-7)
    assert np.array_equal(np.load(tmp_path / "global_std.npy"), std)
    assert crop_starts(330) == [0, 29] and crop_starts(300) == [0]
