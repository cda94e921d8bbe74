"""demo.py's own quality read-out on generated files: signature counts per prompt and the mean pelvis
distance of each pair (placement, which contact signatures alone can miss)."""
import os

import numpy as np

import demo


def _write_pair(out_dir, prompt, sample, pos):
    """pos (T, 2, 22, 3) -> keypoint_npy files named as infer.py names them, (T, 22, 9) per person."""
    kp_dir = os.path.join(out_dir, "keypoint_npy")
    os.makedirs(kp_dir, exist_ok=True)
    for p in (0, 1):
        kp = np.concatenate([pos[:, p], np.zeros(pos.shape[:1] + (22, 6))], axis=-1)
        np.save(os.path.join(kp_dir, f"infer_latest_ts20_cs2.0_topkr0.9_{prompt:02d}_{sample:02d}_{p}.npy"), kp)
        np.save(os.path.join(kp_dir, f"ik_infer_latest_ts20_cs2.0_topkr0.9_{prompt:02d}_{sample:02d}_{p}.npy"),
                kp + 5.0)  # the foot-cleaned copies are not read


def test_signatures_and_pelvis_distance(tmp_path):
    from data.synthetic.choreography import generate_clip
    out_dir = str(tmp_path)
    hug = generate_clip("hug", 3, num_frames=90)
    pos = np.stack([hug.people[0]["pos"], hug.people[1]["pos"]], axis=1)      # (T, 2, 22, 3) ground truth
    _write_pair(out_dir, 0, 0, pos)
    stacked = pos.copy()
    stacked[:, 1] = pos[:, 0]                                                   # both people on one spot
    _write_pair(out_dir, 0, 1, stacked)
    _write_pair(out_dir, 1, 0, pos)                                             # a hug checked as a kick
    signatures, distances = demo.check_signatures(out_dir, {"signatures": ["hug", "kick"]})
    assert signatures == {"hug": [2, 2], "kick": [0, 1]}  # the stacked pair "hugs" too: hence the distance
    true_d = np.linalg.norm(pos[:, 0, 0, [0, 2]] - pos[:, 1, 0, [0, 2]], axis=-1).mean()
    assert distances["hug"] == round(float(true_d / 2), 3) and distances["kick"] == round(float(true_d), 3)
    assert true_d > 0.2


def test_timings_add_on_continue_and_replace_on_rebuild(tmp_path):
    path = str(tmp_path / "runs" / "demo_timings.json")
    t = demo.Timings(path)
    t.add("VQ-VAE training", 100.0)
    t.add("VQ-VAE training", 20.0, continued=True)   # interrupted, then continued: both parts count
    t.add("generation", 50.0)
    t.add("generation", 40.0)                         # built again from scratch: the new time only
    again = demo.Timings(path)                        # read back from the file
    assert again.seconds == {"VQ-VAE training": 120.0, "generation": 40.0} and again.total() == 160.0
