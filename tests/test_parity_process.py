"""Parity of the InterHuman processing with the official code (process.npz): per-person features,
facing quaternion, pair re-expression, mirror, the VQ dataset's mirrored pair, the text-motion
dataset item under fixed random draws, and the official caption mirroring."""
import os

import numpy as np

from data.process import (canonicalise_pair, mirror_caption, pair_relative, process_motion_np,
                          rigid_transform, swap_left_right)
from tests.conftest import assert_close

FNAME = "process.npz"


def _tol(vectors):
    t = vectors.entry(FNAME)["suggested_tolerance"]
    return t["rel"], t["abs"]


def _pairs(vectors):
    return [(f"pair{k}", pc) for k, pc in enumerate(vectors.items(FNAME, "pairs"))]


def _check_feat(ours, ref, rel, abs_, what):
    assert_close(ours, ref, rel, abs_, what)
    np.testing.assert_array_equal(ours[:, 258:262], ref[:, 258:262], err_msg=f"{what}: contacts")


def test_swap_left_right_exact(vectors):
    z = vectors.npz(FNAME)
    for name, _ in _pairs(vectors):
        for p in ("p1", "p2"):
            raw = z[f"{name}/raw_{p}"]
            ours = swap_left_right(raw)
            np.testing.assert_array_equal(ours, z[f"{name}/swap_{p}"], err_msg=f"{name} swap_{p}")
            np.testing.assert_array_equal(swap_left_right(ours), raw, err_msg=f"{name} double mirror")


def test_process_motion(vectors):
    z = vectors.npz(FNAME)
    rel, abs_ = _tol(vectors)
    for name, pc in _pairs(vectors):
        for p in ("p1", "p2"):
            feat, q, xz = process_motion_np(z[f"{name}/raw_{p}"], 0.001, 0, n_joints=22)
            assert feat.shape == (pc["feature_T"], 262) and feat.dtype == np.float32
            _check_feat(feat, z[f"{name}/feat_{p}"], rel, abs_, f"{name} feat_{p}")
            assert_close(q, z[f"{name}/qinit_{p}"], rel, abs_, f"{name} qinit_{p}")
            assert_close(xz, z[f"{name}/rootxz_{p}"], rel, abs_, f"{name} rootxz_{p}")


def test_pair_relative_and_rigid_transform(vectors):
    z = vectors.npz(FNAME)
    rel, abs_ = _tol(vectors)
    for name, _ in _pairs(vectors):
        relative = pair_relative(z[f"{name}/qinit_p1"], z[f"{name}/rootxz_p1"],
                                 z[f"{name}/qinit_p2"], z[f"{name}/rootxz_p2"])
        assert_close(relative, z[f"{name}/relative"], rel, abs_, f"{name} relative")
        feat2 = z[f"{name}/feat_p2"]
        before = feat2.copy()
        pair2 = rigid_transform(z[f"{name}/relative"], feat2)
        np.testing.assert_array_equal(feat2, before, err_msg="rigid_transform must not edit its input")
        _check_feat(pair2, z[f"{name}/pair_p2"], rel, abs_, f"{name} pair_p2")
        # From raw end to end.
        f1, f2 = canonicalise_pair(z[f"{name}/raw_p1"], z[f"{name}/raw_p2"])
        _check_feat(f1, z[f"{name}/feat_p1"], rel, abs_, f"{name} canonical p1")
        _check_feat(f2, z[f"{name}/pair_p2"], rel, abs_, f"{name} canonical p2")


def test_vq_dataset_mirrored_pair(vectors):
    z = vectors.npz(FNAME)
    rel, abs_ = _tol(vectors)
    for name, _ in _pairs(vectors):
        f1, f2 = canonicalise_pair(swap_left_right(z[f"{name}/raw_p1"]), swap_left_right(z[f"{name}/raw_p2"]))
        _check_feat(f1, z[f"{name}/vqds_p1_swap"], rel, abs_, f"{name} vqds_p1_swap")
        _check_feat(f2, z[f"{name}/vqds_p2_swap"], rel, abs_, f"{name} vqds_p2_swap")


def test_text_mirror_official_mode(vectors):
    for group in vectors.items(FNAME, "text_mirror"):
        for cap, expected in zip(group["captions"], group["mirrored"], strict=True):
            assert mirror_caption(cap, "official") == expected


def test_text_mirror_fixed_mode(vectors):
    """The fixed mode agrees with the official one wherever the official is right (lower-case whole
    words, no 'counterclockwise'), and is an involution."""
    for group in vectors.items(FNAME, "text_mirror"):
        for cap, expected in zip(group["captions"], group["mirrored"], strict=True):
            ours = mirror_caption(cap, "fixed")
            assert mirror_caption(ours, "fixed") == cap
            if "counterclockwise" not in cap and "Left" not in cap and "Right" not in cap \
                    and "bright" not in cap:
                assert ours == expected


# ------------------------------------------------------------------ dataset item with fixed draws
def _write_clip_dataset(root, vectors, z):
    """An InterHuman-layout folder holding the vector clips (person files padded to 492 columns),
    captions with the item caption at its index, a test split and the vector stats."""
    cfg = vectors.config(FNAME)
    for sub in ("motions_processed/person1", "motions_processed/person2", "annots", "split", "stats"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    ids = []
    for k, pc in enumerate(vectors.items(FNAME, "pairs")):
        cid = pc["clip_id"]
        ids.append(cid)
        for p, person in (("p1", "person1"), ("p2", "person2")):
            raw = z[f"pair{k}/raw_{p}"]
            full = np.zeros((raw.shape[0], 492), np.float32)
            full[:, 0:66], full[:, 186:312] = raw[:, :66], raw[:, 66:]
            np.save(os.path.join(root, "motions_processed", person, f"{cid}.npy"), full)
        groups = cfg.get("text_mirror", [])
        lines = list(groups[k]["captions"]) if k < len(groups) else []
        while len(lines) <= pc["item_text_index"]:
            lines.append(f"filler caption {len(lines)}")
        lines[pc["item_text_index"]] = pc["item_caption"]
        with open(os.path.join(root, "annots", f"{cid}.txt"), "w") as f:
            f.write("".join(line + "\n" for line in lines))
    with open(os.path.join(root, "split", "test.txt"), "w") as f:
        f.write("".join(i + "\n" for i in ids))
    np.save(os.path.join(root, "stats", "global_mean.npy"), z["stats/mean"])
    np.save(os.path.join(root, "stats", "global_std.npy"), z["stats/std"])
    return ids


def test_dataset_item_fixed_draws(vectors, tmp_path):
    from types import SimpleNamespace

    from data.interhuman import InterHumanDataset

    from data.config import DataConfig
    z = vectors.npz(FNAME)
    rel, abs_ = _tol(vectors)
    cfg = vectors.config(FNAME)
    root = str(tmp_path / "ih")
    ids = _write_clip_dataset(root, vectors, z)
    opt = SimpleNamespace(dataset_name="interhuman", data_root=root, stats_dir=os.path.join(root, "stats"),
                          cache=True, text_mirror="official")
    ds = InterHumanDataset(DataConfig.from_options(vars(opt)), "test")
    assert len(ds) == len(ids)
    for k, pc in enumerate(vectors.items(FNAME, "pairs")):
        index = ds.index_of(pc["clip_id"])
        crop = pc["item_crop_start"] if pc["raw_T"] > cfg["max_gt_length"] else None
        name, text, m1, m2, gt_len = ds.make_item(index, pc["item_text_index"], crop, pc["item_u1"], pc["item_u2"])
        assert name == pc["clip_id"] and text == pc["item_caption"].strip()
        assert gt_len == int(z[f"pair{k}/item_gt_length"]) == pc["item_gt_length"]
        assert m1.dtype == np.float32 and m1.shape == (cfg["max_gt_length"], 262)
        for ours, key in ((m1, "item_motion1"), (m2, "item_motion2")):
            ref = z[f"pair{k}/{key}"]
            assert_close(ours, ref, rel, abs_, f"pair{k} {key}")
            # the contract: the 4 contact columns of every feature array match exactly (here normalised)
            np.testing.assert_array_equal(ours[:, 258:262], ref[:, 258:262], err_msg=f"pair{k} {key} contacts")
            np.testing.assert_array_equal(ours[gt_len:], 0, err_msg=f"pair{k} {key} padding")
