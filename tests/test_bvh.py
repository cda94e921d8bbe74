"""BVH export: round trip BVH -> parse -> forward kinematics reproduces the joint positions."""
import os

import numpy as np
import pytest

from data.skeleton import JOINT_NAMES
from utils.bvh import (SMPL_REST_JOINTS, bone_lengths, bvh_forward_kinematics, export_interaction,
                       forward_kinematics, person_from_keypoints, read_bvh, rest_offsets, write_bvh)
from utils.bvh_fit import fit_error_bound
from utils.quaternion import axis_angle_to_matrix, matrix_to_rot6d, rot6d_to_matrix

TOL_M = 1e-3


def consistent_motion(T=45, seed=0, shift=(0.0, 0.0, 0.0)):
    """Keypoints (T, 22, 9) whose positions ARE the FK of their 6D rotations: smooth random local
    rotations (and root yaw/tilt), an SMPL-like skeleton with person-specific bone lengths."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, T)[:, None, None]
    amp = rng.normal(0, 0.6, (1, 22, 3))
    aa = amp * np.sin(2 * np.pi * t * rng.uniform(0.5, 2, (1, 22, 1)) + rng.uniform(0, 6, (1, 22, 1)))
    aa[:, 0] += np.array([0.0, 2.5, 0.0])                       # root facing away from +Z
    R = axis_angle_to_matrix(aa)                                 # (T, 22, 3, 3)
    off = rest_offsets(bone_lengths(SMPL_REST_JOINTS[None]) * rng.uniform(0.85, 1.15, 22))
    root = np.stack([np.linspace(0, 1.5, T), 0.9 + 0.05 * np.sin(np.linspace(0, 6, T)),
                     np.linspace(0, -0.7, T)], -1) + np.asarray(shift)
    pos, _ = forward_kinematics(R, root, off)
    rot6d = matrix_to_rot6d(R)
    rot6d[:, 0] = 0.0                                            # the root's 6D is not stored
    return np.concatenate([pos, rot6d], -1).astype(np.float32)


def _fk_in_smpl_order(bvh, prefix=""):
    pos = bvh_forward_kinematics(bvh)
    return pos[:, [bvh.names.index(prefix + n) for n in JOINT_NAMES]]


@pytest.mark.parametrize("rotations", ["6d", "fit"])
def test_round_trip_per_person_and_combined(tmp_path, rotations):
    people = [consistent_motion(seed=0), consistent_motion(seed=1, shift=(1.0, 0.0, 0.5))]
    paths = export_interaction(str(tmp_path), "clip", people, rotations=rotations)
    assert [p.split("/")[-1] for p in paths] == ["clip_0.bvh", "clip_1.bvh", "clip.bvh"]
    for k in range(2):
        b = read_bvh(paths[k])
        assert sorted(b.names) == sorted(JOINT_NAMES)
        assert abs(b.frame_time - 1 / 30) < 1e-7 and len(b.motion) == len(people[k])
        err = np.abs(_fk_in_smpl_order(b) - people[k][..., :3]).max()
        assert err < TOL_M, f"person {k}: {err}"
    both = read_bvh(paths[2])
    assert sum(p < 0 for p in both.parents) == 2 and len(set(both.names)) == 44
    for k in range(2):
        err = np.abs(_fk_in_smpl_order(both, f"person{k + 1}_") - people[k][..., :3]).max()
        assert err < TOL_M


@pytest.mark.parametrize("amplitude", [0.6, 0.15])
def test_skeleton_is_fitted_not_assumed(tmp_path, amplitude):
    """Positions made by FK of another rest skeleton than the template (every bone turned by up to
    ~17 degrees, other proportions): the fitted offsets recover it, so the '6d' BVH still reproduces
    the positions; also with small joint rotations, where the root/hip directions are only weakly
    determined."""
    rng = np.random.default_rng(7)
    turn = axis_angle_to_matrix(rng.uniform(-0.17, 0.17, (22, 3)))
    off = np.einsum("jik,jk->ji", turn, rest_offsets(bone_lengths(SMPL_REST_JOINTS[None])))
    off *= rng.uniform(0.9, 1.1, (22, 1))
    T = 60
    t = np.linspace(0, 1, T)[:, None, None]
    aa = rng.normal(0, amplitude, (1, 22, 3)) * np.sin(2 * np.pi * t + rng.uniform(0, 6, (1, 22, 1)))
    R = axis_angle_to_matrix(aa)
    pos, _ = forward_kinematics(R, np.zeros((T, 3)) + [0.3, 0.9, -0.2], off)
    kp = np.concatenate([pos, matrix_to_rot6d(R)], -1)
    kp[:, 0, 3:] = 0
    b = read_bvh(export_interaction(str(tmp_path), "o", [kp])[0])
    assert np.abs(_fk_in_smpl_order(b) - pos).max() < TOL_M
    fitted = b.offsets[[b.names.index(n) for n in JOINT_NAMES]][1:]
    np.testing.assert_allclose(fitted, off[1:], atol=1e-4)


def test_centimetres_and_structure(tmp_path):
    kp = consistent_motion(T=12, seed=3)
    path = write_bvh(str(tmp_path / "cm.bvh"), [person_from_keypoints(kp)], scale=100.0)
    text = open(path).read()
    assert text.count("ROOT") == 1 and text.count("JOINT") == 21 and text.count("End Site") == 5
    assert "Frames: 12" in text
    b = read_bvh(path)
    assert b.channels[0][:3] == ["Xposition", "Yposition", "Zposition"]
    assert np.abs(_fk_in_smpl_order(b) / 100.0 - kp[..., :3]).max() < TOL_M
    # bone offsets are the motion's bone lengths (cm)
    lengths = np.linalg.norm(b.offsets, axis=-1)[[b.names.index(n) for n in JOINT_NAMES]]
    np.testing.assert_allclose(lengths[1:] / 100.0, bone_lengths(kp[..., :3])[1:], atol=1e-5)


def _smoothly_turned(kp, degrees, seed):
    """The keypoints with every 6D rotation turned by a smooth random rotation of about `degrees`: the
    rotations then disagree with the positions, as a network's outputs can."""
    from scipy.ndimage import gaussian_filter1d
    rng = np.random.default_rng(seed)
    aa = gaussian_filter1d(rng.normal(0, 1, kp.shape[:2] + (3,)), 5, axis=0)
    aa *= np.radians(degrees) / aa.std()
    rot6d = np.where(np.abs(kp[..., 3:]).sum(-1, keepdims=True) > 0, kp[..., 3:], [1, 0, 0, 1, 0, 0])
    out = kp.copy()
    out[..., 3:] = matrix_to_rot6d(rot6d_to_matrix(rot6d.astype(np.float64)) @ axis_angle_to_matrix(aa))
    out[:, 0, 3:] = 0
    return out


def test_fit_error_is_only_the_bone_length_change(tmp_path):
    """Positions that are not rigid (15 mm noise) and rotations that disagree with them: the 'fit' BVH
    read back is off each joint by at most what the non-rigid positions force (`fit_error_bound`: the
    bone-length changes along its chain, the pelvis/chest shape change); '6d' is far outside that."""
    kp = _smoothly_turned(consistent_motion(T=30, seed=5), 10, seed=1)
    rng = np.random.default_rng(0)
    kp[..., :3] += rng.normal(0, 0.015, kp[..., :3].shape)
    pos = kp[..., :3].astype(np.float64)
    err, excess = {}, {}
    for mode in ("6d", "fit"):
        b = read_bvh(export_interaction(str(tmp_path), mode, [kp], rotations=mode)[0])
        e = np.linalg.norm(_fk_in_smpl_order(b) - pos, axis=-1)                  # (T, 22)
        offsets = b.offsets[[b.names.index(n) for n in JOINT_NAMES]]
        err[mode], excess[mode] = e.mean(), (e - fit_error_bound(pos, offsets)).max()
    assert excess["fit"] < 1e-5, excess
    assert excess["6d"] > 0.05 and err["fit"] < 0.5 * err["6d"], (err, excess)


def test_default_bvh_is_exact_for_rigid_motion(tmp_path):
    """infer.py's default BVH of a rigid motion (a synthetic clip: constant bone lengths) whose rotations
    disagree with its joints reproduces the joints exactly, read back with the BVH reader."""
    from data.synthetic.choreography import generate_clip
    from data.synthetic.writer import pack_person
    from options.infer_option import InferOptions
    from data.motion_files import features_to_keypoints, interhuman_to_features
    default = InferOptions().parse(["--name", "x"]).bvh_rotations
    clip = generate_clip("handshake", 2, num_frames=60)
    feats = interhuman_to_features(*[pack_person(p["pos"], p["local"]) for p in clip.people])
    kps = [_smoothly_turned(features_to_keypoints(f), 20, seed=k) for k, f in enumerate(feats)]
    both = read_bvh(export_interaction(str(tmp_path), "rigid", kps, rotations=default)[2])
    for k in range(2):
        err = np.abs(_fk_in_smpl_order(both, f"person{k + 1}_") - kps[k][..., :3]).max()
        assert err < 1e-5, f"person {k}: the BVH is {err * 1000:.2f} mm off the keypoints"


def test_parser_other_channel_orders(tmp_path):
    """A hand-written BVH with XYZ order and a 90-degree turn."""
    text = """HIERARCHY
ROOT hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation
  JOINT arm
  {
    OFFSET 1 0 0
    CHANNELS 3 Xrotation Yrotation Zrotation
    End Site
    {
      OFFSET 0 1 0
    }
  }
  JOINT leg
  {
    OFFSET 0 -1 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 -1 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.05
0 1 0 0 0 0 0 0 0 0 0 0
5 1 0 0 90 0 0 0 0 0 0 0
"""
    p = tmp_path / "h.bvh"
    p.write_text(text)
    b = read_bvh(str(p))
    assert b.names == ["hips", "arm", "leg"] and b.parents == [-1, 0, 0]
    pos = bvh_forward_kinematics(b)
    np.testing.assert_allclose(pos[0], [[0, 1, 0], [1, 1, 0], [0, 0, 0]], atol=1e-9)
    # Y rotation by 90 degrees maps +X to -Z
    np.testing.assert_allclose(pos[1], [[5, 1, 0], [5, 1, -1], [5, 0, 0]], atol=1e-9)


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="22, 9"):
        person_from_keypoints(np.zeros((5, 22, 3)))
    with pytest.raises(ValueError, match="rotations"):
        person_from_keypoints(consistent_motion(T=3), rotations="euler")
    p = tmp_path / "broken.bvh"
    p.write_text("HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\nCHANNELS 3 Xposition Yposition Zposition\n}\n"
                 "MOTION\nFrames: 2\nFrame Time: 0.1\n0 0 0\n")
    with pytest.raises(ValueError, match="broken.bvh"):
        read_bvh(str(p))


def test_round_trip_on_synthetic_dataset(tmp_path):
    """Clips of the embedded synthetic dataset (positions and rotations agree), through the dataset
    processing (person 2 in person 1's frame) and the keypoint export, survive the BVH round trip."""
    from data.synthetic import writer
    from data.motion_files import features_to_keypoints, interhuman_to_features
    writer.write_dataset(str(tmp_path / "syn"), 2, seed=1, fractions=(1.0, 0.0, 0.0), log=lambda *a: None)
    folder = tmp_path / "syn" / "motions_processed"
    names = sorted(os.listdir(folder / "person1"))
    assert len(names) == 2, names
    for name in names:
        feats = interhuman_to_features(np.load(folder / "person1" / name), np.load(folder / "person2" / name))
        kps = [features_to_keypoints(f) for f in feats]
        for rotations in ("6d", "fit"):
            paths = export_interaction(str(tmp_path / "bvh"), name[:-4], kps, rotations=rotations)
            both = read_bvh(paths[2])
            for k in range(2):
                err = np.abs(_fk_in_smpl_order(both, f"person{k + 1}_") - kps[k][..., :3]).max()
                assert err < TOL_M, f"clip {name} person {k} {rotations}: {err}"
