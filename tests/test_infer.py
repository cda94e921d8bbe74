"""infer.py end to end on a tiny random-weight VQ + transformer run: official file names and shapes,
videos (frame counts through ffmpeg), BVH, foot clean-up, reaction, editing and the named errors."""
import os

import numpy as np
import pytest
import torch
import yaml

from tests.conftest import write_random_vq_run

TINY_VQ = dict(dataset_name="interhuman", nb_code=32, code_dim=16, output_emb_width=16, width=16, depth=1,
               down_t=2, stride_t=2, dilation_growth_rate=3, vq_act="relu", vq_norm=None)
FAST = ["--time_steps", "2", "--video_dpi", "12", "--device", "cpu", "--gen_batch_size", "3"]


def _standing_stats():
    """Statistics whose mean is a standing person (identity rotations) and whose std is small, so a
    random-weight model de-normalises to a plausible, slightly jittering pose."""
    from utils.bvh import SMPL_REST_JOINTS
    mean = np.zeros(262, np.float32)
    mean[:66] = (SMPL_REST_JOINTS + [0, 0.95, 0]).reshape(-1)
    mean[132:258] = np.tile([1, 0, 0, 1, 0, 0], 21)
    std = np.full(262, 0.01, np.float32)
    return mean, std


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from models.mask_transformer.build import build_transformer, checkpoint_state
    from models.mask_transformer.config import TransformerConfig
    from utils.files import atomic_torch_save
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("infer")
    data = root / "data"
    os.makedirs(data / "stats")
    mean, std = _standing_stats()
    np.save(data / "stats" / "global_mean.npy", mean)
    np.save(data / "stats" / "global_std.npy", std)
    ckpt = root / "checkpoints"
    write_random_vq_run(ckpt, TINY_VQ)
    run_dir = ckpt / "interhuman" / "trans_tiny"
    opt = dict(name="trans_tiny", vq_name="vq_tiny", dataset_name="interhuman", num_tokens=TINY_VQ["nb_code"],
               code_dim=TINY_VQ["code_dim"], latent_dim=32, ff_size=64, n_layers=1, n_heads=2,
               text_encoder="minilm", seed=11, data_root=str(data), vq_which_epoch="best_fid")
    os.makedirs(run_dir / "model")
    with open(run_dir / "opt.yaml", "w") as f:
        yaml.safe_dump(opt, f)
    for k, stem in enumerate(("best_fid", "latest")):
        torch.manual_seed(1 + k)
        model = build_transformer(TransformerConfig.from_options(opt))
        atomic_torch_save({"t2m_transformer": checkpoint_state(model)}, str(run_dir / "model" / f"{stem}.tar"))
    prompts = root / "prompts.txt"
    prompts.write_text("# two prompts\n\ntwo people bow to each other.#20f\n"
                       "one waves and the other waves back #1s\n")
    return {"root": root, "ckpt": str(ckpt), "run_dir": str(run_dir), "prompts": str(prompts)}


def _infer(run, *extra):
    import infer
    return infer.main(["--checkpoints_dir", run["ckpt"], "--name", "trans_tiny"] + FAST + list(extra))


@pytest.fixture(scope="module")
def default_outputs(run):
    return _infer(run, "--prompts_file", run["prompts"], "--num_samples", "2")


def test_official_names_shapes_and_videos(run, default_outputs, capsys):
    import imageio_ffmpeg
    from utils.bvh import read_bvh
    out = default_outputs["out_dir"]
    assert out == os.path.join(run["run_dir"], "animation_infer")
    lengths = {0: 20, 1: 28}  # 20 frames; 1 s = 30 frames -> 7 token steps = 28 frames
    want_npy, want_mp4, want_bvh = set(), set(), set()
    for i in (0, 1):
        for s in (0, 1):
            base = f"infer_best_fid_ts2_cs2.0_topkr0.9_{i:02d}_{s:02d}"
            want_npy |= {f"{base}_0.npy", f"{base}_1.npy", f"ik_{base}_0.npy", f"ik_{base}_1.npy"}
            want_mp4 |= {f"{base}.mp4", f"ik_{base}.mp4"}
            want_bvh |= {f"{base}_0.bvh", f"{base}_1.bvh", f"{base}.bvh"}
    assert set(os.listdir(os.path.join(out, "keypoint_npy"))) == want_npy
    assert set(os.listdir(os.path.join(out, "keypoint_mp4"))) == want_mp4
    assert set(os.listdir(os.path.join(out, "bvh"))) == want_bvh
    for i, T in lengths.items():
        base = f"infer_best_fid_ts2_cs2.0_topkr0.9_{i:02d}_01"
        for j in (0, 1):
            kp = np.load(os.path.join(out, "keypoint_npy", f"{base}_{j}.npy"))
            ik = np.load(os.path.join(out, "keypoint_npy", f"ik_{base}_{j}.npy"))
            assert kp.shape == ik.shape == (T, 22, 9) and kp.dtype == np.float32
            assert np.all(kp[:, 0, 3:] == 0) and np.isfinite(kp).all()
            assert not np.allclose(kp[..., :3], ik[..., :3])
        feats = np.load(os.path.join(out, "feats", f"{base}.npy"))
        assert feats.shape == (T, 2, 262)
        for prefix in ("", "ik_"):
            n, secs = imageio_ffmpeg.count_frames_and_secs(os.path.join(out, "keypoint_mp4", f"{prefix}{base}.mp4"))
            assert n == T and abs(secs - T / 30) < 0.05
        both = read_bvh(os.path.join(out, "bvh", f"{base}.bvh"))
        assert len(both.motion) == T and len(both.names) == 44 and abs(both.frame_time - 1 / 30) < 1e-7
    # the two samples of one prompt differ, the two prompts differ
    a = np.load(os.path.join(out, "feats", "infer_best_fid_ts2_cs2.0_topkr0.9_00_00.npy"))
    b = np.load(os.path.join(out, "feats", "infer_best_fid_ts2_cs2.0_topkr0.9_00_01.npy"))
    assert not np.array_equal(a, b)
    assert list(default_outputs["avg_time"]) == [("best_fid", 2, 2.0, 0.9)]


def test_bvh_agrees_with_the_keypoints(run, tmp_path, capsys):
    """infer.py's own BVH files (its defaults), read back with utils.bvh's parser and FK, against its
    keypoint npy: each joint is off by no more than the generated motion's own bone-length (and
    pelvis/chest shape) changes force on a rigid skeleton (`fit_error_bound`). Statistics with a wider
    spread than the fixture's make the random-weight model's bones change length by centimetres and its
    rotations disagree with its joints; the residual is printed."""
    from data.skeleton import JOINT_NAMES
    from utils.bvh import bvh_forward_kinematics, keypoint_residual, read_bvh
    from utils.bvh_fit import fit_error_bound
    mean, std = _standing_stats()
    std[:66], std[132:258] = 0.1, 0.3                                  # positions, 6D rotations
    os.makedirs(tmp_path / "stats")
    np.save(tmp_path / "stats" / "global_mean.npy", mean)
    np.save(tmp_path / "stats" / "global_std.npy", std)
    _infer(run, "--text", "two people hug#1s", "--num_samples", "2", "--format", "none", "--foot_ik", "False",
           "--stats_dir", str(tmp_path / "stats"), "--out_dir", str(tmp_path / "out"))
    errors, bounds = [], []
    for s in (0, 1):
        base = f"infer_best_fid_ts2_cs2.0_topkr0.9_00_{s:02d}"
        both = read_bvh(str(tmp_path / "out" / "bvh" / f"{base}.bvh"))
        fk = bvh_forward_kinematics(both)                                         # (T, 44, 3)
        for k in (0, 1):
            pos = np.load(tmp_path / "out" / "keypoint_npy" / f"{base}_{k}.npy")[..., :3].astype(np.float64)
            idx = [both.names.index(f"person{k + 1}_{n}") for n in JOINT_NAMES]
            err = np.linalg.norm(fk[:, idx] - pos, axis=-1)                       # (T, 22)
            bound = fit_error_bound(pos, both.offsets[idx])
            assert (err - bound).max() < 1e-5, (base, k, float((err - bound).max()))
            errors.append(err.ravel())
            bounds.append(bound.ravel())
    e = np.concatenate(errors) * 1000
    # the demo's read-out (per-person files) measures the same distances
    np.testing.assert_allclose(np.sort(keypoint_residual(str(tmp_path / "out"))) * 1000, np.sort(e), atol=1e-3)
    with capsys.disabled():
        print(f"\nBVH vs keypoints (random-weight model): mean {e.mean():.1f} mm, max {e.max():.1f} mm")
    assert np.concatenate(bounds).mean() > 0.002        # not vacuous: these bones change length (4 mm)


def test_timing_line_and_seed(run, tmp_path, capsys):
    args = ["--text", "two people hug#12f", "--format", "none", "--bvh", "False", "--seed", "5"]
    _infer(run, *args, "--out_dir", str(tmp_path / "a"))
    assert "Avg Time taken: " in capsys.readouterr().out
    _infer(run, *args, "--out_dir", str(tmp_path / "b"))
    _infer(run, *args[:-1], "6", "--out_dir", str(tmp_path / "c"))
    f = "feats/infer_best_fid_ts2_cs2.0_topkr0.9_00_00.npy"
    a, b, c = (np.load(tmp_path / d / f) for d in "abc")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not os.path.exists(tmp_path / "a" / "keypoint_mp4") and not os.path.exists(tmp_path / "a" / "bvh")


def test_settings_checkpoints_and_gif(run, tmp_path):
    res = _infer(run, "--text", "two people hug#8f", "--which_epoch", "all", "--cond_scales", "1", "2.5",
                 "--format", "gif", "--bvh", "False", "--foot_ik", "False", "--out_dir", str(tmp_path))
    names = sorted(os.listdir(tmp_path / "keypoint_mp4"))
    assert names == sorted(f"infer_{c}_ts2_cs{cs}_topkr0.9_00_00.gif" for c in ("best_fid", "latest")
                           for cs in ("1.0", "2.5"))
    assert len(res["avg_time"]) == 4
    from PIL import Image
    assert Image.open(tmp_path / "keypoint_mp4" / names[0]).n_frames == 8


@pytest.mark.parametrize("render", [None, "official"])
def test_render_picks_the_picture(run, tmp_path, render):
    """Default: the readable picture (utils/render.py); --render official: utils/plot_script.py's, frame
    for frame the picture each renderer draws of the saved keypoints."""
    from PIL import Image
    from utils.plot_script import StickFigureRenderer
    from utils.render import ReadableRenderer
    extra = [] if render is None else ["--render", render]
    _infer(run, "--text", "two people hug#8f", "--format", "gif", "--bvh", "False", "--foot_ik", "False",
           "--out_dir", str(tmp_path / "out"), *extra)
    base = "infer_best_fid_ts2_cs2.0_topkr0.9_00_00"
    kps = [np.load(tmp_path / "out" / "keypoint_npy" / f"{base}_{j}.npy")[..., :3] for j in (0, 1)]
    ref = (StickFigureRenderer if render == "official" else ReadableRenderer)(dpi=12)
    ref.render(str(tmp_path / "ref.gif"), kps, "two people hug")
    ref.close()
    got, want = Image.open(tmp_path / "out" / "keypoint_mp4" / f"{base}.gif"), Image.open(tmp_path / "ref.gif")
    assert got.size == want.size == ((240, 120) if render == "official" else (192, 108))
    assert got.n_frames == want.n_frames == 8
    for k in range(8):
        got.seek(k)
        want.seek(k)
        np.testing.assert_array_equal(np.asarray(got.convert("RGB")), np.asarray(want.convert("RGB")))


def test_react_to_keeps_person_one(run, default_outputs, tmp_path):
    src = os.path.join(default_outputs["out_dir"], "keypoint_npy", "infer_best_fid_ts2_cs2.0_topkr0.9_01_00_0.npy")
    _infer(run, "--text", "the other one answers", "--react_to", src, "--format", "none", "--bvh", "False",
           "--out_dir", str(tmp_path))
    given = np.load(src)                                   # (28, 22, 9) -> 27 feature frames -> 24
    feats = np.load(tmp_path / "feats" / "infer_best_fid_ts2_cs2.0_topkr0.9_00_00.npy")
    assert feats.shape == (24, 2, 262)
    np.testing.assert_allclose(feats[:, 0, :66], given[:24, :, :3].reshape(24, 66), atol=1e-6)


def test_edit_span(run, default_outputs, tmp_path):
    src = os.path.join(default_outputs["out_dir"], "feats", "infer_best_fid_ts2_cs2.0_topkr0.9_01_00.npy")
    _infer(run, "--text", "they bow", "--edit", src, "--edit_span", "0.2", "0.6", "--edit_person", "person2",
           "--format", "none", "--bvh", "False", "--out_dir", str(tmp_path))
    feats = np.load(tmp_path / "feats" / "infer_best_fid_ts2_cs2.0_topkr0.9_00_00.npy")
    assert feats.shape == (28, 2, 262)
    import infer
    with pytest.raises(infer.InferError, match=r"--edit_span 0.5 2.0: must satisfy .* <= 0.93 s"):
        _infer(run, "--text", "x", "--edit", src, "--edit_span", "0.5", "2", "--out_dir", str(tmp_path))
    with pytest.raises(infer.InferError, match="--edit needs --edit_span"):
        _infer(run, "--text", "x", "--edit", src, "--out_dir", str(tmp_path))


@pytest.mark.parametrize("extra,match", [
    (["--text", "   "], "--text: empty prompt"),
    (["--text", "two people hug#11s"], r"--text: length 330 frames .* 4\.\.300 frames"),
    (["--motion_length", "2x"], "--motion_length: bad length '2x'"),
    (["--name", "nope", "--text", "hi"], r"missing .*nope.*opt\.txt"),
    (["--which_epoch", "finest", "--text", "hi"], r"missing .*\*finest\*\.tar"),
    (["--text", "hi", "--react_to", "missing.npy"], "missing missing.npy"),
    (["--text", "hi", "--num_samples", "0"], "--num_samples must be >= 1"),
])
def test_bad_input_one_line_errors(run, tmp_path, capsys, extra, match):
    import re

    import infer
    args = ["--checkpoints_dir", run["ckpt"], "--name", "trans_tiny"] + FAST + ["--out_dir", str(tmp_path)]
    if "--name" in extra:
        args = ["--checkpoints_dir", run["ckpt"]] + FAST + extra
    else:
        args += extra
    assert infer.cli(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(match, err), err
    assert not os.path.exists(tmp_path / "keypoint_npy")


def test_interx_raw_output(tmp_path, monkeypatch):
    """Inter-X: the official smpl_npy/<base>.npy (T, 56*12) of both persons, and its 150-frame limit.
    Its values: per frame and joint [person 1 6D | person 2 6D], each person the VQ's decoding of the
    generated tokens (no normalisation for Inter-X)."""
    import infer
    from models.mask_transformer import sampler
    from models.mask_transformer.build import build_transformer, checkpoint_state
    from models.mask_transformer.config import TransformerConfig
    from models.vq.build import load_vq
    from utils.files import atomic_torch_save
    from utils.prompts import PromptError
    torch.set_num_threads(1)
    ckpt = tmp_path / "checkpoints"
    write_random_vq_run(ckpt, dict(TINY_VQ, dataset_name="interx"), name="vq_x")
    opt = dict(name="trans_x", vq_name="vq_x", dataset_name="interx", num_tokens=32, code_dim=16, latent_dim=32,
               ff_size=64, n_layers=1, n_heads=2, text_encoder="minilm", seed=3)
    os.makedirs(ckpt / "interx" / "trans_x" / "model")
    with open(ckpt / "interx" / "trans_x" / "opt.yaml", "w") as f:
        yaml.safe_dump(opt, f)
    atomic_torch_save({"t2m_transformer": checkpoint_state(build_transformer(TransformerConfig.from_options(opt)))},
                      str(ckpt / "interx" / "trans_x" / "model" / "best_fid.tar"))
    args = ["--checkpoints_dir", str(ckpt), "--dataset_name", "interx", "--name", "trans_x"] + FAST
    generated = []
    real_generate = sampler.generate
    monkeypatch.setattr(sampler, "generate", lambda *a, **k: generated.append(real_generate(*a, **k)) or generated[-1])
    infer.main(args + ["--text", "two people hug#16f", "--out_dir", str(tmp_path / "out")])
    assert os.listdir(tmp_path / "out") == ["smpl_npy"]
    arr = np.load(tmp_path / "out" / "smpl_npy" / "infer_best_fid_ts2_cs2.0_topkr0.9_00_00.npy")
    assert arr.shape == (16, 56 * 12) and arr.dtype == np.float32 and np.isfinite(arr).all()
    assert len(generated) == 1 and generated[0].shape == (1, 2 * 5 * 4)          # 16 frames = 4 token steps
    vq, _ = load_vq(str(ckpt), "interx", "vq_x")
    with torch.no_grad():
        people = [vq.forward_decoder(generated[0][:, k * 20:(k + 1) * 20, None])[0].numpy() for k in (0, 1)]
    assert people[0].shape == (16, 56, 6) and not np.allclose(people[0], people[1])
    np.testing.assert_allclose(arr.reshape(16, 56, 12), np.concatenate(people, axis=-1), rtol=1e-5, atol=1e-6)
    with pytest.raises(PromptError, match=r"4\.\.150 frames"):
        infer.main(args + ["--text", "two people hug#6s", "--out_dir", str(tmp_path / "out")])
