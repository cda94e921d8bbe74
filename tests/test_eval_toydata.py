"""A small InterHuman-format dataset for the evaluation tests (written in seconds): two people doing one
of several actions at one of two speeds, with captions that say which. `write_toy_interhuman` is also
used by the eval.py and train_evaluator.py tests."""
import os

import numpy as np

ACTIONS = ("wave", "walk", "jump", "spin", "kick", "clap")
SPEEDS = {"slowly": 0.5, "quickly": 1.6}  # Hz


def _person(action, hz, T, yaw0, root_xz, offsets, rng):
    from data.synthetic.skeleton_fk import forward_kinematics, matrix_to_6d, rot_x, rot_y, rot_z, yup_to_zup
    t = np.arange(T) / 30.0
    phase = 2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi)
    rot = np.broadcast_to(np.eye(3), (T, 22, 3, 3)).copy()
    yaw = np.full(T, yaw0)
    root = np.zeros((T, 3))
    root[:, 0], root[:, 2], root[:, 1] = root_xz[0], root_xz[1], 0.936
    if action == "wave":
        rot[:, 17] = rot_z(-1.2 + 0.5 * np.sin(phase))
    elif action == "clap":
        rot[:, 16] = rot_y(-1.0 - 0.4 * np.sin(phase))
        rot[:, 17] = rot_y(1.0 + 0.4 * np.sin(phase))
    elif action == "walk":
        rot[:, 1], rot[:, 2] = rot_x(0.4 * np.sin(phase)), rot_x(-0.4 * np.sin(phase))
        root[:, 0] += 0.6 * hz * t * np.sin(yaw0)
        root[:, 2] += 0.6 * hz * t * np.cos(yaw0)
    elif action == "jump":
        root[:, 1] += 0.15 * np.abs(np.sin(phase))
    elif action == "spin":
        yaw = yaw0 + 0.8 * np.sin(phase)
    elif action == "kick":
        rot[:, 2] = rot_x(-0.7 * np.maximum(np.sin(phase), 0))
    rot[:, 0] = rot_y(yaw)
    pos, _ = forward_kinematics(rot, root, offsets)  # (T, 22, 3) Y-up
    out = np.zeros((T, 492), np.float32)
    out[:, :66] = yup_to_zup(pos).reshape(T, 66)
    out[:, 186:312] = matrix_to_6d(rot[:, 1:]).reshape(T, 126)
    return out


def write_toy_interhuman(root, n_clips=60, seed=0, min_len=40, max_len=120, splits=(0.6, 0.2, 0.2)):
    """Write an InterHuman-layout dataset to `root` (ids 1..n, captions, split files, unit stats)."""
    from data.synthetic.skeleton_fk import rest_offsets
    rng = np.random.default_rng(seed)
    offsets = rest_offsets()
    for sub in ("motions_processed/person1", "motions_processed/person2", "annots", "split", "stats"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    ids = [str(i + 1) for i in range(n_clips)]
    for cid in ids:
        action = ACTIONS[rng.integers(len(ACTIONS))]
        speed = list(SPEEDS)[rng.integers(len(SPEEDS))]
        T = int(rng.integers(min_len, max_len + 1))
        yaw = rng.uniform(-2.0, 2.0)
        p1 = _person(action, SPEEDS[speed], T, yaw, (0.0, 0.0), offsets, rng)
        xz = (1.2 * np.sin(yaw), 1.2 * np.cos(yaw))
        p2 = _person(action, SPEEDS[speed], T, yaw + np.pi - 0.3, xz, offsets, rng)
        np.save(os.path.join(root, "motions_processed/person1", f"{cid}.npy"), p1)
        np.save(os.path.join(root, "motions_processed/person2", f"{cid}.npy"), p2)
        verb = action + ("es" if action.endswith("sh") else "s")
        with open(os.path.join(root, "annots", f"{cid}.txt"), "w") as f:
            f.write(f"two people {action} {speed}\nboth persons {action} {speed} together\n"
                    f"one person {verb} {speed} and the other {verb} too\n")
    n_train, n_val = int(splits[0] * n_clips), int(splits[1] * n_clips)
    parts = {"train": ids[:n_train], "val": ids[n_train:n_train + n_val], "test": ids[n_train + n_val:]}
    for name, part in parts.items():
        with open(os.path.join(root, "split", f"{name}.txt"), "w") as f:
            f.write("".join(i + "\n" for i in part))
    np.save(os.path.join(root, "stats", "global_mean.npy"), np.zeros(262, np.float32))
    np.save(os.path.join(root, "stats", "global_std.npy"), np.ones(262, np.float32))
    return parts


def test_toy_dataset_loads_with_captions_and_lengths(tmp_path):
    import argparse
    from data import build_t2m_dataset
    from data.config import DataConfig
    parts = write_toy_interhuman(str(tmp_path / "toy"), n_clips=10, seed=1)
    opt = argparse.Namespace(dataset_name="interhuman", data_root=str(tmp_path / "toy"), stats_dir=None)
    ds = build_t2m_dataset(DataConfig.from_options(vars(opt)), "test", normalize=False)
    assert len(ds) == len(parts["test"])
    name, text, m1, m2, n = ds[0]
    assert m1.shape == (300, 262) and 39 <= n <= 119 and any(a in text for a in ACTIONS)
    assert np.abs(m1[n:]).max() == 0 and np.abs(m1[:n, :66]).max() > 0.1
