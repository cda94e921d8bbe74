"""The embedded synthetic dataset: InterHuman on-disk format, kinematics (positions = FK of the stored
rotations, rigid bones, feet on the floor, separate bodies), captions whose side words match the motion,
determinism, and that the project's real loaders read it."""
import json
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import REPO

N_CLIPS = 28            # two clips of every type


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from data.synthetic.writer import write_dataset
    root = str(tmp_path_factory.mktemp("syn") / "Synthetic")
    meta = write_dataset(root, N_CLIPS, seed=0, log=None)
    return root, meta


def _person_files(root, cid):
    return [np.load(os.path.join(root, "motions_processed", p, f"{cid}.npy")) for p in ("person1", "person2")]


def _yup_positions(arr):
    from data.synthetic.skeleton_fk import zup_to_yup
    return zup_to_yup(arr[:, :66].astype(np.float64).reshape(-1, 22, 3))


def _lines(path):
    with open(path, newline="") as f:
        return f.read()


def test_layout_and_file_format(dataset):
    from data.synthetic.choreography import TYPE_NAMES
    root, meta = dataset
    splits = {s: _lines(os.path.join(root, "split", f"{s}.txt")) for s in ("train", "val", "test")}
    ids = []
    for name, text in splits.items():
        assert text.endswith("\n") and "\r" not in text and " " not in text, name
        assert text == _lines(os.path.join(root, f"{name}.txt"))            # InterGen's layout too
        ids += text.split()
    assert sorted(ids, key=int) == [str(i + 1) for i in range(N_CLIPS)]     # disjoint and complete
    assert all(len(splits[s].split()) > 0 for s in splits)
    for path in ("ignore_list.txt", "split/ignore_list.txt"):
        assert _lines(os.path.join(root, path)) == ""
    assert sorted(meta["clips"][c]["kind"] for c in ids) == sorted(TYPE_NAMES * 2)
    for cid in ids:
        assert "." not in cid
        p1, p2 = _person_files(root, cid)
        assert p1.dtype == np.float32 and p1.shape == (meta["clips"][cid]["frames"], 492) == p2.shape
        assert np.isfinite(p1).all() and np.isfinite(p2).all()
        # hand-joint positions copy the wrists; hand rotations are the 6D identity
        assert np.array_equal(p1[:, 66:69], p1[:, 60:63]) and np.array_equal(p1[:, 111:114], p1[:, 63:66])
        assert np.array_equal(p1[:, 312:318], np.tile(np.float32([1, 0, 0, 1, 0, 0]), (len(p1), 1)))
        caps = _lines(os.path.join(root, "annots", f"{cid}.txt"))
        assert caps.endswith("\n") and not caps.endswith("\n\n")
        assert len(caps.splitlines()) == 3 and all(c.strip() for c in caps.splitlines())


def test_lengths_spread():
    from data.synthetic.choreography import LONG_MAX, TYPE_NAMES, sample_length
    rng = np.random.default_rng(0)
    lengths = np.array([sample_length(rng, TYPE_NAMES[i % len(TYPE_NAMES)]) for i in range(3000)])
    assert lengths.min() >= 30 and lengths.max() <= LONG_MAX <= 330             # 1 s .. 11 s
    assert 0.02 < (lengths > 300).mean() < 0.1                                 # exercises the random crop
    assert (lengths >= 64).mean() > 0.9                                        # VQ windows exist


def test_positions_are_fk_of_stored_rotations(dataset):
    """Read back only the files: local rotations from the 6D columns, the root orientation (not stored)
    recovered from the hips/spine, the rest skeleton from the clip's body sizes -> FK == stored positions."""
    from data.synthetic.skeleton_fk import (BodyParams, forward_kinematics, rest_offsets, root_from_positions,
                                            sixd_to_matrix)
    root, meta = dataset
    worst = 0.0
    for cid, info in meta["clips"].items():
        for arr, body in zip(_person_files(root, cid), info["bodies"]):
            pos = _yup_positions(arr)                                          # (T, 22, 3)
            offsets = rest_offsets(BodyParams(**body))
            local = np.empty((len(arr), 22, 3, 3))
            d6 = arr[:, 186:312].astype(np.float64).reshape(-1, 21, 6)
            raw_cols = np.stack([d6[..., 0::2], d6[..., 1::2]], -1)           # the stored 2 columns
            assert np.abs((raw_cols ** 2).sum(-2) - 1).max() < 1e-6           # unit columns ...
            assert np.abs((raw_cols[..., 0] * raw_cols[..., 1]).sum(-1)).max() < 1e-6   # ... orthogonal
            local[:, 1:] = sixd_to_matrix(d6)
            local[:, 0] = root_from_positions(pos, offsets)
            fk, _ = forward_kinematics(local, pos[:, 0], offsets)
            worst = max(worst, float(np.abs(fk - pos).max()))
    assert worst < 1e-5, f"positions differ from FK(rotations) by {worst:.2e} m"


def test_6d_layout_is_first_two_columns():
    from data.synthetic.skeleton_fk import matrix_to_6d, rot_x, rot_y, rot_z, sixd_to_matrix
    r = rot_z(0.3) @ rot_x(-0.7) @ rot_y(1.1)
    d = matrix_to_6d(r)
    assert np.allclose(d, [r[0, 0], r[0, 1], r[1, 0], r[1, 1], r[2, 0], r[2, 1]])
    assert np.allclose(sixd_to_matrix(d), r)
    # InterHuman's mirror (negate 6D entries 1, 2, 4) equals M R M with M = diag(-1, 1, 1) in this layout
    m = np.diag([-1.0, 1.0, 1.0])
    assert np.allclose(d * np.array([1, -1, -1, 1, -1, 1]), matrix_to_6d(m @ r @ m))


def test_rigid_bones_feet_on_floor_bodies_apart(dataset):
    from data.skeleton import FOOT_JOINTS, PARENTS
    from data.synthetic.skeleton_fk import BodyParams, rest_offsets
    root, meta = dataset
    for cid, info in meta["clips"].items():
        people = [_yup_positions(a) for a in _person_files(root, cid)]
        for pos, body in zip(people, info["bodies"]):
            bones = np.linalg.norm(pos[:, 1:] - pos[:, PARENTS[1:]], axis=-1)          # (T, 21)
            rest = np.linalg.norm(rest_offsets(BodyParams(**body))[1:], axis=-1)
            assert np.abs(bones - rest).max() < 1e-5, f"clip {cid}: bone lengths vary"
            feet = pos[:, FOOT_JOINTS, 1]
            assert pos[..., 1].min() > -1e-5, f"clip {cid}: a joint goes below the floor"
            assert feet.min(1).max() < 0.01, f"clip {cid}: both feet off the floor at some frame"
            pelvis = pos[:, 0, 1]
            assert pelvis.min() > 0.6 * np.percentile(pelvis, 90), f"clip {cid}: deep crouch"
        gap = np.linalg.norm((people[0][:, 0] - people[1][:, 0])[:, [0, 2]], axis=-1)
        assert gap.min() > 0.3, f"clip {cid} ({info['kind']}): pelvises {gap.min():.2f} m apart"


def test_contacts_and_canonicalisation(dataset):
    """Through the project's processing: foot contacts take both values and some foot is planted in almost
    every frame; no clip hits the degenerate facing (NaN) at any possible crop start."""
    from data.process import canonicalise_pair, raw_from_person_file
    from data.skeleton import CONTACT
    from data.validate import load_interhuman_clip
    root, meta = dataset
    planted, lifted = [], []
    for cid in meta["clips"]:
        raw1, raw2, texts = load_interhuman_clip(root, cid, 15, 300, need_text=True)
        assert np.array_equal(raw1, raw_from_person_file(_person_files(root, cid)[0]))
        for feat in canonicalise_pair(raw1, raw2):
            assert np.isfinite(feat).all()
            contacts = feat[:, CONTACT]
            assert set(np.unique(contacts)) <= {0.0, 1.0}
            planted.append(contacts.max(1).mean())                          # some foot planted
            lifted.append(1.0 - contacts.mean())                             # a foot channel is 0
    assert min(planted) > 0.85, "a clip has many frames without any planted foot"
    assert 0.03 < np.mean(lifted) < 0.5, "contacts do not take both values"


# The smallest spread over the dataset a feature column may have. A z-score normalisation divides each
# column by its spread, so an exactly constant column is 0/0. No column of the representation is constant
# by construction (every joint's position, velocity and local rotation can change; the 4 contacts are
# binary and take both values), so the bound holds for all 262. The least moving columns are the diagonal
# 6D entries of joints that only sway by a few degrees (cos a = 1 - a^2/2 moves to second order): about
# 4e-4 here, far above the float32 resolution of an entry near 1 (6e-8).
MIN_COLUMN_STD = 1e-4


def test_no_feature_column_is_constant(dataset):
    """Every joint moves, as in motion capture: over all frames of all clips (both people, person 2 in
    person 1's frame, as the trainers read them) every one of the 262 feature columns varies."""
    from data.process import canonicalise_pair
    from data.skeleton import FEAT_DIM, JOINT_NAMES, ROT
    from data.validate import load_interhuman_clip
    root, meta = dataset
    feats = []
    for cid in meta["clips"]:
        raw1, raw2, _ = load_interhuman_clip(root, cid, 15, 300, need_text=False)
        feats += list(canonicalise_pair(raw1, raw2))
    std = np.concatenate(feats).astype(np.float64).std(0)                      # (262,)
    assert std.shape == (FEAT_DIM,)
    low = np.flatnonzero(std < MIN_COLUMN_STD)
    joints = sorted({JOINT_NAMES[1 + (c - ROT.start) // 6] for c in low if ROT.start <= c < ROT.stop})
    assert len(low) == 0, f"{len(low)} constant feature columns {low.tolist()} (rotations of {joints})"


def test_micro_motion_keeps_the_clip_and_moves_every_rotation():
    """The micro-motion has its own random stream (same length, captions, actor and side as without it),
    moves joints by centimetres, not more, and the limb roll leaves every position exactly in place."""
    from data.skeleton import PARENTS
    from data.synthetic.choreography import generate_clip
    from data.synthetic.micro_motion import MicroMotion, add_roll_and_leaves
    from data.synthetic.skeleton_fk import forward_kinematics
    for kind in ("handshake", "wave"):
        still, lively = (generate_clip(kind, 4, micro_motion=m) for m in (False, True))
        assert (still.num_frames, still.captions, still.actor, still.params) == \
            (lively.num_frames, lively.captions, lively.actor, lively.params)
        for a, b in zip(still.people, lively.people):
            moved = np.linalg.norm(a["pos"] - b["pos"], axis=-1)                # (T, 22)
            assert 0.005 < moved.max() < 0.06, f"{kind}: micro-motion moves a joint by {moved.max():.3f} m"
    person = still.people[0]
    local = person["local"].copy()
    micro = MicroMotion.sample(np.random.default_rng(0), len(local))
    add_roll_and_leaves(local, person["offsets"], micro)
    pos, _ = forward_kinematics(local, person["root"], person["offsets"])
    assert np.abs(pos - person["pos"]).max() < 1e-9
    rolled = [j for j in range(1, 22) if j in micro.roll or j in micro.leaf or PARENTS[j] in micro.roll]
    change = np.abs(local[:, rolled] - person["local"][:, rolled]).max(axis=(0, 2, 3))   # (n,)
    assert change.min() > 0.01, dict(zip(rolled, change.round(4)))


def test_real_loaders_read_it(dataset):
    from data import build_t2m_dataset, build_vq_dataset
    from data.config import DataConfig
    from prepare.compute_stats import compute_stats
    root, meta = dataset
    compute_stats(root, "train", verbose=False)
    opt = SimpleNamespace(dataset_name="interhuman", data_root=root, stats_dir=None, cache=True,
                          text_mirror="fixed", window_size=64, window_stride=10)
    train = build_t2m_dataset(DataConfig.from_options(vars(opt)), "train")
    n_train = meta["split_sizes"]["train"]
    assert len(train) == 2 * n_train                                     # originals + mirrored
    name, text, m1, m2, length = train[0]
    assert m1.shape == m2.shape == (300, 262) and 14 <= length <= 299 and text
    long_enough = sum(1 for c in meta["clips"].values() if c["split"] == "train" and c["frames"] >= 64)
    assert len(build_vq_dataset(DataConfig.from_options(vars(opt)), "train").clip_ids) == long_enough


def test_captions_match_the_motion(dataset):
    """Side words are exactly the sides the motion uses; rotation words match the dance's direction."""
    root, meta = dataset
    side_keys = ("side", "side2", "partner_side", "turn")
    for cid, info in meta["clips"].items():
        caps = _lines(os.path.join(root, "annots", f"{cid}.txt")).splitlines()
        allowed = {info["params"].get(k) for k in side_keys} - {None}
        for c in caps:
            assert set(re.findall(r"\b(left|right)\b", c.lower())) <= allowed, (info["kind"], c, allowed)
            assert "Left" not in c and "Right" not in c                         # the mirror swap is case-sensitive
            spin = re.findall(r"\b(clockwise|counterclockwise)\b", c)
            assert spin in ([], [info["params"].get("direction")]), (c, info["params"])
    sided = [c for c in meta["clips"].values() if c["kind"] in ("handshake", "punch", "kick")]
    assert all(c["params"]["side"] in ("left", "right") for c in sided)


def test_demo_prompts_are_paraphrases():
    from data.synthetic.captions import TEMPLATES, all_captions
    import yaml
    with open(os.path.join(REPO, "prompts_demo.txt")) as f:
        prompts = [line.strip() for line in f if line.strip()]
    kinds = yaml.safe_load(open(os.path.join(REPO, "configs", "demo.yaml")))["signatures"]
    assert len(prompts) == len(kinds) >= 4                      # one interaction type per prompt line

    def norm(s):
        return re.sub(r"[^a-z ]", "", s.lower()).strip()
    every = {norm(c) for kind in TEMPLATES for c in all_captions(kind)}
    assert len(every) > 1000
    for p in prompts:
        assert norm(p) not in every, f"demo prompt copies a training caption: {p}"
    words = {"handshake": ("handshake", "shake hands"), "high_five": ("high five",), "push": ("shove", "push"),
             "hug": ("embrace", "hug"), "bow": ("bow",), "wave": ("wave",), "kick": ("kick",),
             "dance": ("twirl", "dance")}
    for p, kind in zip(prompts, kinds):
        assert any(w in p.lower() for w in words[kind]), (kind, p)          # each line asks for its type


def test_deterministic_for_a_seed(tmp_path):
    from data.synthetic.writer import write_dataset

    def snapshot(root):
        out = {}
        for dirpath, _, files in os.walk(root):
            for name in files:
                with open(os.path.join(dirpath, name), "rb") as f:
                    out[os.path.relpath(os.path.join(dirpath, name), root)] = f.read()
        return out
    a, b, c = (str(tmp_path / n) for n in ("a", "b", "c"))
    write_dataset(a, 6, seed=3, log=None)
    write_dataset(b, 6, seed=3, log=None)
    write_dataset(c, 6, seed=4, log=None)
    sa, sb, sc = snapshot(a), snapshot(b), snapshot(c)
    assert sa == sb
    assert sa["motions_processed/person1/1.npy"] != sc["motions_processed/person1/1.npy"]
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_dataset(a, 6, seed=3, log=None)
    with pytest.raises(ValueError, match="person1"):
        write_dataset(str(tmp_path / "person1_data"), 2, log=None)


def test_cli_writes_dataset_and_stats(tmp_path):
    out = str(tmp_path / "cli")
    script = os.path.join(REPO, "prepare", "make_synthetic_dataset.py")
    r = subprocess.run([sys.executable, script, "--out", out, "--num_clips", "5", "--seed", "1"],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert np.load(os.path.join(out, "stats", "global_std.npy")).shape == (262,)
    with open(os.path.join(out, "synthetic_meta.json")) as f:
        assert json.load(f)["num_clips"] == 5

def test_kinds_restricts_and_balances_the_types(tmp_path):
    """--kinds: only the named interaction types, each as often as the others, every one in train, val and
    test; the default (all types) is what it was before the option existed (clip 1 of seed 3 is a push)."""
    from data.synthetic.writer import write_dataset
    kinds = ["wave", "hug", "kick"]
    meta = write_dataset(str(tmp_path / "k"), 30, seed=3, log=None, types=kinds)
    counts = {k: sum(c["kind"] == k for c in meta["clips"].values()) for k in kinds}
    assert counts == {"wave": 10, "hug": 10, "kick": 10} and meta["types"] == kinds
    for split in ("train", "val", "test"):
        assert {c["kind"] for c in meta["clips"].values() if c["split"] == split} == set(kinds), split
    default = write_dataset(str(tmp_path / "all"), 1, seed=3, log=None)
    assert default["clips"]["1"]["kind"] == "push" and len(default["types"]) == 14
    with pytest.raises(ValueError, match="--kinds"):
        write_dataset(str(tmp_path / "bad"), 3, log=None, types=["wave", "tango"])


def test_cli_rejects_bad_arguments(tmp_path, capsys):
    from prepare.make_synthetic_dataset import main
    for args, word in ((["--num_clips", "0"], "--num_clips"),
                       (["--val_frac", "0.7", "--test_frac", "0.5"], "--val_frac"),
                       (["--kinds", "wave", "tango"], "--kinds"), (["--kinds", "hug", "hug"], "--kinds")):
        with pytest.raises(SystemExit):
            main(["--out", str(tmp_path / "x"), *args])
        assert word in capsys.readouterr().err.strip().splitlines()[-1]
    assert not os.path.exists(tmp_path / "x")


@pytest.mark.slow
def test_thousand_clips_cover_every_kind_in_every_split(tmp_path):
    """A demo-sized dataset: every interaction kind in each split, the split fractions kept. (Its
    generation speed is a bench matter, not asserted here.)"""
    from data.synthetic.choreography import TYPE_NAMES
    from data.synthetic.writer import write_dataset
    meta = write_dataset(str(tmp_path / "big"), 1000, seed=0, log=None)
    assert len(meta["clips"]) == 1000
    for split in ("train", "val", "test"):
        kinds = {c["kind"] for c in meta["clips"].values() if c["split"] == split}
        assert kinds == set(TYPE_NAMES), split
    sizes = meta["split_sizes"]
    assert 760 <= sizes["train"] <= 840 and sizes["val"] >= 80 and sizes["test"] >= 80


def test_max_frames_caps_lengths_and_keeps_each_interaction():
    """A capped dataset (for training on short crops) still holds every interaction inside the clip."""
    from data.synthetic.choreography import TYPE_NAMES, generate_clip, sample_length
    from data.synthetic.signatures import check
    rng = np.random.default_rng(1)
    lengths = np.array([sample_length(rng, TYPE_NAMES[i % len(TYPE_NAMES)], max_frames=120) for i in range(2000)])
    assert lengths.max() == 120 and lengths.min() >= 30
    assert len(np.unique(lengths)) > 50                                         # still a spread of lengths
    for k, kind in enumerate(TYPE_NAMES):
        clip = generate_clip(kind, np.random.SeedSequence([3, k]), max_frames=90)
        joints = np.stack([p["pos"] for p in clip.people], 1)                   # (T, 2, 22, 3)
        assert len(joints) <= 90
        assert check(kind, joints).passed, f"{kind} at {len(joints)} frames: {check(kind, joints).values}"
    with pytest.raises(ValueError, match="max_frames 40"):
        sample_length(np.random.default_rng(0), "dance", max_frames=40)
