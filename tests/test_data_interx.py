"""Inter-X loaders on a tiny h5 written here: the "smpl" representation (6D rows, translation and
its velocity), VQ windows, the text-motion item (length rounding, crop, truncation to 150, padding,
token wrapping, draw order), the collate order and the bad-data paths."""
import os
import pickle
import random
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from data import build_t2m_dataset, build_vq_dataset, load_stats

from data.config import DataConfig
from data.interx import collate_fn
from data.validate import DataError, DataWarning

LENGTHS = {"G001T000A000R000": 170, "G001T000A001R000": 20, "G001T001A002R001": 61, "G002T000A003R000": 97}
VOCAB = ["sos", "eos", "unk", "person", "wave", "left", "hand", "the", "other", "step"]
TEXT = ("one person waves the left hand#person/NOUN wave/VERB the/DET left/ADJ hand/NOUN#0.0#0.0\n"
        "two people step#the/DET other/ADJ step/VERB#0.0#nan\n")


def write_interx(root, split="train", extra_text=None):
    rng = np.random.default_rng(0)
    for sub in ("motions", "splits", "texts_processed", "glove"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    with h5py.File(os.path.join(root, "motions", f"{split}.h5"), "w") as h5:
        for cid, T in LENGTHS.items():
            h5[cid] = rng.normal(0, 0.6, (T, 56, 6)).astype(np.float32)
    with open(os.path.join(root, "splits", f"{split}.txt"), "w") as f:
        f.write("".join(c + "\n" for c in LENGTHS) + "G009T000A000R000\n")   # last id not in the h5
    for cid in LENGTHS:
        with open(os.path.join(root, "texts_processed", f"{cid}.txt"), "w") as f:
            f.write(extra_text if (extra_text and cid.endswith("R001")) else TEXT)
    np.save(os.path.join(root, "glove", "hhi_vab_data.npy"), rng.normal(size=(len(VOCAB), 300)).astype(np.float32))
    with open(os.path.join(root, "glove", "hhi_vab_words.pkl"), "wb") as f:
        pickle.dump(VOCAB, f)
    with open(os.path.join(root, "glove", "hhi_vab_idx.pkl"), "wb") as f:
        pickle.dump({w: i for i, w in enumerate(VOCAB)}, f)
    return root


def ix_opt(root, **kw):
    return SimpleNamespace(dataset_name="interx", data_root=root, stats_dir=None, window_size=32,
                           window_stride=16, **kw)


@pytest.fixture(scope="module")
def ix_root(tmp_path_factory):
    return write_interx(str(tmp_path_factory.mktemp("ix") / "InterX"))


def _rows6d(aa):
    """Independent reference: scipy's matrix, first two rows."""
    R = Rotation.from_rotvec(aa.reshape(-1, 3).astype(np.float64)).as_matrix()
    return R[:, :2, :].reshape(aa.shape[:-1] + (6,))


def test_vq_windows(ix_root):
    with pytest.warns(DataWarning):
        ds = build_vq_dataset(DataConfig.from_options(vars(ix_opt(ix_root))), "train")
    kept = {c: T for c, T in LENGTHS.items() if T >= 32}
    assert ds.clip_ids == list(kept)
    assert len(ds) == sum(2 * len(range(0, T - 32 + 1, 16)) for T in kept.values())
    with h5py.File(os.path.join(ix_root, "motions", "train.h5")) as h5:
        raw = h5["G001T001A002R001"][:]
    i = ds.indices.index((2 * 1 + 1, 16))                       # clip 2 of the kept list, person 2
    item = ds[i]
    assert item.shape == (32, 56, 6) and item.dtype == np.float32
    window = raw[16:48, :, 3:]
    np.testing.assert_allclose(item[:, :55], _rows6d(window[:, :55]), atol=2e-6)
    np.testing.assert_array_equal(item[:, 55, :3], window[:, 55])
    np.testing.assert_allclose(item[:-1, 55, 3:], window[1:, 55] - window[:-1, 55], atol=1e-6)
    np.testing.assert_array_equal(item[-1, 55, 3:], 0)          # velocity restarts in each window


def test_t2m_items_and_draw_order(ix_root):
    with pytest.warns(DataWarning, match="G009T000A000R000"):
        ds = build_t2m_dataset(DataConfig.from_options(vars(ix_opt(ix_root))), "train")
    assert ds.name_list == ["G001T001A002R001", "G002T000A003R000", "G001T000A000R000"]   # sorted by length
    assert len(ds) == 3 and load_stats(ds.cfg) == (None, None)
    with h5py.File(os.path.join(ix_root, "motions", "train.h5")) as h5:
        raw = {c: h5[c][:] for c in ds.name_list}
    for index, seed in ((0, 1), (1, 2), (2, 3), (2, 4)):
        random.seed(seed)
        np.random.seed(seed)
        item = ds[index]
        random.seed(seed)
        np.random.seed(seed)
        entry = ds.data_dict[ds.name_list[index]]
        text = random.choice(entry["text"])
        T = entry["length"]
        m = (T // 4 - (np.random.choice(["single", "single", "double"]) == "double")) * 4
        start = random.randint(0, T - m)
        word, pos, caption, sent_len, motion, m_len, tokens = item
        assert caption == text["caption"] and sent_len == len(text["tokens"]) + 2
        assert word.shape == (37, 300) and pos.shape == (37, 15) and motion.shape == (150, 56, 12)
        assert tokens.split("_")[0] == "sos/OTHER" and tokens.split("_")[-1] == "unk/OTHER"
        assert m_len == min(m, 150) and m % 4 == 0
        crop = raw[ds.name_list[index]][start:start + m]
        k = m_len
        np.testing.assert_allclose(motion[:k, :55, :6], _rows6d(crop[:k, :55, :3]), atol=2e-6)
        np.testing.assert_allclose(motion[:k, :55, 6:], _rows6d(crop[:k, :55, 3:]), atol=2e-6)
        np.testing.assert_array_equal(motion[:k, 55, 0:3], crop[:k, 55, :3])
        np.testing.assert_array_equal(motion[:k, 55, 6:9], crop[:k, 55, 3:])
        vel = np.diff(crop[:, 55], axis=0)
        np.testing.assert_allclose(motion[:min(k, m - 1), 55, 3:6], vel[:k, :3], atol=1e-6)
        np.testing.assert_allclose(motion[:min(k, m - 1), 55, 9:12], vel[:k, 3:], atol=1e-6)
        if m <= 150:
            np.testing.assert_array_equal(motion[k - 1, 55, [3, 4, 5, 9, 10, 11]], 0)
        assert not motion[k:].any()


def test_collate_sorts_by_sentence_length(ix_root):
    ds = build_t2m_dataset(DataConfig.from_options(vars(ix_opt(ix_root))), "train")
    w = ds.w_vectorizer
    items = [ds.make_item(0, {"caption": "a", "tokens": ["person/NOUN"] * n}, 20, 0) for n in (2, 40, 5)]
    batch = collate_fn(items)
    assert ds.collate_fn is collate_fn
    assert batch[3].tolist() == [37, 7, 4]                      # 40 tokens are cut to 35 + sos/eos
    np.testing.assert_array_equal(batch[0][2, 1].numpy(), w["person/NOUN"][0])
    np.testing.assert_array_equal(batch[0][2, 4].numpy(), w["unk/OTHER"][0])  # padding


def test_subclip_captions_are_an_error(tmp_path):
    root = write_interx(str(tmp_path / "ix"), extra_text="a person#person/NOUN#0.5#2.0\n")
    with pytest.raises(DataError, match=r"G001T001A002R001\.txt: line 1 .*sub-clip"):
        build_t2m_dataset(DataConfig.from_options(vars(ix_opt(str(tmp_path / "ix")))), "train")
    assert os.path.isdir(root)


def test_missing_h5_is_named(tmp_path):
    with pytest.raises(DataError, match=r"motions/val\.h5"):
        build_vq_dataset(DataConfig.from_options(vars(ix_opt(str(tmp_path)))), "val")
