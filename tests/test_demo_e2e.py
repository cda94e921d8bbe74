"""The embedded default end to end (slow): demo.py from nothing to generated interactions, and the
quality bar it measures — the model's generated motions are matched to their captions by the trained
evaluator clearly above chance, with an FID far below the same model with the text ignored
(cond_scale 0, its unconditional branch), and the generated handshake / high five / push / hug show
their interaction's signature in the joints. A second run reuses everything."""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.slow

MUST_SHOW = ("handshake", "high_five", "push", "hug")


def run_demo(tmp):
    cmd = [sys.executable, os.path.join(REPO, "demo.py"), "--data_root", os.path.join(tmp, "synthetic_data"),
           "--checkpoints_dir", os.path.join(tmp, "checkpoints")]
    r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("demo"))
    out = run_demo(tmp)
    run_dir = os.path.join(tmp, "checkpoints", "interhuman", "demo_trans")
    with open(os.path.join(run_dir, "demo_summary.json")) as f:
        summary = json.load(f)
    return tmp, out, run_dir, summary


def _generated(metric_block):
    names = [k for k in metric_block if k != "ground truth"]
    assert len(names) == 1, metric_block
    return metric_block[names[0]]


def test_text_conditioning_beats_chance_and_the_text_ignoring_baseline(demo):
    _, _, _, s = demo
    cfg = yaml.safe_load(open(os.path.join(REPO, "configs", "demo.yaml")))
    chance_top3 = 3 / cfg["eval"]["batch_size"]
    top3 = _generated(s["model"]["R_precision"])[2]
    gt_top3 = s["model"]["R_precision"]["ground truth"][2]
    assert gt_top3 > 3 * chance_top3, f"the demo evaluator itself does not separate texts: {gt_top3}"
    assert top3 > 2 * chance_top3, f"generated R-precision top-3 {top3:.3f} vs chance {chance_top3:.3f}"
    fid, fid_uncond = _generated(s["model"]["FID"]), _generated(s["text_ignoring_baseline"]["FID"])
    assert fid < 0.5 * fid_uncond, f"FID {fid:.3f} not far below the text-ignoring model's {fid_uncond:.3f}"


def test_generated_interactions_show_their_signature(demo):
    _, _, _, s = demo
    for kind in MUST_SHOW:
        passed, total = s["signatures"][kind]
        assert total >= 1 and passed >= 1, f"{kind}: {passed}/{total} generated samples show it"


def test_outputs_open(demo):
    import imageio_ffmpeg

    from utils.bvh import bvh_forward_kinematics, read_bvh
    _, out, run_dir, _ = demo
    anim = os.path.join(run_dir, "animation_infer")
    mp4s = sorted(glob.glob(os.path.join(anim, "keypoint_mp4", "infer_*.mp4")))
    npys = sorted(glob.glob(os.path.join(anim, "keypoint_npy", "infer_*_0.npy")))
    bvhs = sorted(glob.glob(os.path.join(anim, "bvh", "infer_*_0.bvh")))
    n_prompts = sum(1 for line in open(os.path.join(REPO, "prompts_demo.txt")) if line.strip())
    assert len(npys) == len(bvhs) == n_prompts * 2 and len(mp4s) >= n_prompts * 2
    kp = np.load(npys[0])
    assert kp.shape == (120, 22, 9) and np.isfinite(kp).all()  # 4 s at 30 fps
    frames, _ = imageio_ffmpeg.count_frames_and_secs(mp4s[0])
    assert frames == 120
    joints = bvh_forward_kinematics(read_bvh(bvhs[0]))
    assert joints.shape[:2] == (120, 22)
    assert "total time" in out and "FID" in out


def test_second_run_reuses_everything(demo):
    tmp = demo[0]
    out = run_demo(tmp)
    for step in ("dataset", "evaluator training", "VQ-VAE training", "transformer training"):
        assert f"=== {step}: reusing" in out
    assert "=== generation ===" not in out and "=== evaluation" not in out
