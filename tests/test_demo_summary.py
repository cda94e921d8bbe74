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
    signatures, distances, apart = demo.check_signatures(out_dir, {"signatures": ["hug", "kick"]})
    assert signatures == {"hug": [2, 2], "kick": [0, 1]}  # the stacked pair "hugs" too: hence the distance
    true_d = np.linalg.norm(pos[:, 0, 0, [0, 2]] - pos[:, 1, 0, [0, 2]], axis=-1).mean()
    assert distances["hug"] == round(float(true_d / 2), 3) and distances["kick"] == round(float(true_d), 3)
    assert true_d > 0.2
    # the stacked pair's hug does not count as one performed apart (nor does a hug: its pelvises are close)
    assert apart["kick"] == 0 and apart["hug"] <= 1


def test_pass_apart_needs_separated_pelvises_at_the_event(tmp_path):
    """A handshake performed by two separated people counts apart; the same hands with person 2's body
    moved onto person 1's spot (hands kept where they were) passes the signature but not apart."""
    from data.synthetic.choreography import generate_clip
    from data.synthetic.signatures import check, pelvis_distance_at_event
    clip = generate_clip("handshake", 0, num_frames=120)
    pos = np.stack([clip.people[0]["pos"], clip.people[1]["pos"]], axis=1)     # (T, 2, 22, 3)
    r = check("handshake", pos)
    assert r.passed and r.values["frame"] >= 0
    at = pelvis_distance_at_event(r, pos)
    f = r.values["frame"]
    assert at == np.linalg.norm(pos[f, 0, 0, [0, 2]] - pos[f, 1, 0, [0, 2]]) and at >= 0.3
    overlap = pos.copy()
    overlap[:, 1, :20] += pos[:, 0, :1] - pos[:, 1, :1]                          # body (not wrists) onto person 1
    r2 = check("handshake", overlap)
    assert r2.passed and pelvis_distance_at_event(r2, overlap) < 0.05
    out_dir = str(tmp_path)
    _write_pair(out_dir, 0, 0, pos)
    _write_pair(out_dir, 0, 1, overlap)
    signatures, _, apart = demo.check_signatures(out_dir, {"signatures": ["handshake"]})
    assert signatures == {"handshake": [2, 2]} and apart == {"handshake": 1}


def test_dataset_pelvis_distances(tmp_path):
    """The dataset's mean pelvis distance per kind, read from the raw Z-up files, equals the signatures'
    own pelvis_distance on the same clips' joints turned Y-up (height must not count)."""
    from data.synthetic.signatures import pelvis_distance
    from data.synthetic.skeleton_fk import zup_to_yup
    from data.synthetic.writer import write_dataset
    root = str(tmp_path / "ds")
    meta = write_dataset(root, num_clips=30, seed=1, log=None)
    got = demo.dataset_pelvis_distances(root, ["hug", "wave"])
    for kind in ("hug", "wave"):
        ids = [c for c, m in meta["clips"].items() if m["kind"] == kind]
        assert ids, kind
        want = []
        for cid in ids:
            pos = [zup_to_yup(np.load(os.path.join(root, "motions_processed", f"person{k}", f"{cid}.npy"))[:, :66]
                              .reshape(-1, 22, 3)) for k in (1, 2)]
            want.append(pelvis_distance(np.stack(pos, axis=1)))
        assert abs(got[kind] - np.mean(want)) < 1e-3 and got[kind] > 0.3, (kind, got[kind], want)


def test_timings_add_on_continue_and_replace_on_rebuild(tmp_path):
    path = str(tmp_path / "runs" / "demo_timings.json")
    t = demo.Timings(path)
    t.add("VQ-VAE training", 100.0)
    t.add("VQ-VAE training", 20.0, continued=True)   # interrupted, then continued: both parts count
    t.add("generation", 50.0)
    t.add("generation", 40.0)                         # built again from scratch: the new time only
    again = demo.Timings(path)                        # read back from the file
    assert again.seconds == {"VQ-VAE training": 120.0, "generation": 40.0} and again.total() == 160.0
