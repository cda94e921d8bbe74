"""Interaction signatures: every generated clip passes its own type's check (also in person 1's canonical
frame, as a model outputs it, and with noise), clearly different interactions fail it, the measured side
follows the motion's handedness and flips under the loaders' mirror."""
import numpy as np
import pytest

SEED = 11
PER_TYPE = 2
# Passing another type's check is allowed only where the motion really contains it: clips that open with
# the two walking up to each other are also "walking towards each other"; a hug's arms pass the shoulders.
ALLOWED = {("handshake", "walk_towards"), ("high_five", "walk_towards"), ("hug", "walk_towards"),
           ("hand_over", "walk_towards"), ("hug", "pat_shoulder")}


@pytest.fixture(scope="module")
def clips():
    from data.synthetic.choreography import TYPE_NAMES, generate_clip
    out = []
    for k, kind in enumerate(TYPE_NAMES):
        for n in range(PER_TYPE):
            clip = generate_clip(kind, np.random.SeedSequence([SEED, k, n]))
            joints = np.stack([p["pos"] for p in clip.people], 1)                # (T, 2, 22, 3)
            out.append((clip, joints))
    return out


def test_every_type_passes_its_own_signature_and_only_that(clips):
    from data.synthetic.signatures import check, check_all
    for clip, joints in clips:
        res = check(clip.kind, joints)
        assert res.passed, f"{clip.kind}: {res.values}"
        for other, passed in check_all(joints).items():
            if other != clip.kind and (clip.kind, other) not in ALLOWED:
                assert not passed, f"a {clip.kind} clip passes the {other} signature"


def test_handshake_peak_and_push_displacement(clips):
    from data.synthetic.signatures import check
    for clip, joints in clips:
        if clip.kind == "handshake":
            assert check("handshake", joints).values["min_hand_distance"] < 0.1
        if clip.kind == "push":
            v = check("push", joints).values
            assert v["pusher"] == clip.actor and v["moved_away"] > 0.3


def test_signature_sides_follow_handedness_and_mirror(clips):
    """The side a signature measures is the side named in the parameters (and captions); mirroring the raw
    motion as the loaders do for `<id>_swap` entries flips it, and dance's rotation sense flips too."""
    from data.process import swap_left_right
    from data.synthetic.signatures import check
    from data.synthetic.skeleton_fk import yup_to_zup, zup_to_yup
    word = {0: "left", 1: "right"}

    def mirrored(joints):
        raw = [np.concatenate([yup_to_zup(joints[:, i]).reshape(len(joints), 66), np.zeros((len(joints), 126))], 1)
               for i in (0, 1)]
        back = [zup_to_yup(swap_left_right(r)[:, :66].astype(np.float64).reshape(-1, 22, 3)) for r in raw]
        return np.stack(back, 1)
    for clip, joints in clips:
        kind, side = clip.kind, clip.params.get("side")
        if kind in ("handshake", "high_five", "hand_over", "punch", "kick", "pat_shoulder"):
            got = check(kind, joints).values["side"]
            flip = check(kind, mirrored(joints)).values["side"]
            assert got == word[side] and flip == word[1 - side], (kind, got, flip, side)
        if kind == "dance":
            assert check(kind, joints).values["direction"] == clip.params["direction"]
            assert check(kind, mirrored(joints)).values["direction"] != clip.params["direction"]


def test_signatures_hold_in_person1_canonical_frame_and_with_noise(clips):
    """What a model outputs: both people from the 262-d features of the canonicalised pair (person 2 on its
    own floor), slightly noisy."""
    from data.process import canonicalise_pair
    from data.synthetic.signatures import check
    from data.synthetic.skeleton_fk import yup_to_zup
    rng = np.random.default_rng(0)
    for clip, joints in clips:
        raws = [np.concatenate([yup_to_zup(p["pos"]).reshape(-1, 66), np.zeros((clip.num_frames, 126))], 1)
                for p in clip.people]
        feats = canonicalise_pair(*[r.astype(np.float32) for r in raws])
        canon = np.stack([f[:, :66].reshape(-1, 22, 3) for f in feats], 1).astype(np.float64)
        assert check(clip.kind, canon).passed, clip.kind
        noisy = canon + rng.normal(0.0, 0.005, canon.shape)
        assert check(clip.kind, noisy).passed, f"{clip.kind} fails with 5 mm noise"


def test_signatures_are_invariant_to_a_shared_rigid_motion(clips):
    from data.synthetic.signatures import check
    from data.synthetic.skeleton_fk import rot_y
    clip, joints = next(c for c in clips if c[0].kind == "handshake")
    moved = joints @ rot_y(1.234).T + np.array([3.0, 0.7, -2.0])
    a, b = check("handshake", joints).values, check("handshake", moved).values
    assert a["side"] == b["side"] and abs(a["min_hand_distance"] - b["min_hand_distance"]) < 1e-9


def test_bad_input_is_rejected():
    from data.synthetic.signatures import check
    with pytest.raises(ValueError, match=r"\(T, 2, 22, 3\)"):
        check("handshake", np.zeros((10, 22, 3)))
    with pytest.raises(ValueError, match="no signature for 'tango'"):
        check("tango", np.zeros((10, 2, 22, 3)))
