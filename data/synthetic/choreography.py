"""The interaction types and the generation of one clip (both people, captions, world placement).

A clip is a pure function of (type, seed): the same seed gives identical motion and captions."""
from dataclasses import dataclass

import numpy as np

from data.synthetic import choreo_contact as contact
from data.synthetic import choreo_fight as fight
from data.synthetic import choreo_social as social
from data.synthetic.body_motion import build_pair
from data.synthetic.captions import make_captions
from data.synthetic.micro_motion import MicroMotion
from data.synthetic.skeleton_fk import BodyParams, rest_offsets, rot_y
from data.synthetic.staging import Body

# name -> (choreography, (min frames, max frames)) at 30 fps. Every type can also run long (> 300 frames).
INTERACTIONS = {
    "handshake": (contact.handshake, (60, 300)),
    "high_five": (contact.high_five, (30, 200)),
    "hug": (contact.hug, (75, 300)),
    "hand_over": (contact.hand_over, (60, 260)),
    "pat_shoulder": (contact.pat_shoulder, (60, 240)),
    "dance": (contact.dance, (90, 300)),
    "push": (fight.push, (45, 200)),
    "punch": (fight.punch, (36, 200)),
    "kick": (fight.kick, (45, 200)),
    "wave": (social.wave, (45, 240)),
    "bow": (social.bow, (60, 240)),
    "walk_towards": (social.walk_towards, (60, 300)),
    "side_by_side": (social.side_by_side, (75, 300)),
    "chase": (social.chase, (60, 300)),
}
TYPE_NAMES = list(INTERACTIONS)
LONG_PROB = 0.06          # share of clips longer than the loaders' 300-frame crop
LONG_MAX = 330           # at most 11 s
CROP = 300                # the loaders crop windows of 300 frames starting anywhere in [0, T - 301]


@dataclass
class Clip:
    """One generated clip, people in FILE order (person1, person2). pos (T, 22, 3) Y-up world metres;
    local (T, 22, 3, 3) local rotations with entry 0 = global root orientation; root (T, 3)."""
    kind: str
    people: list
    bodies: list
    params: dict
    captions: list
    actor: int            # file index (0 = person1) of "one person" in the captions

    @property
    def num_frames(self):
        return self.people[0]["pos"].shape[0]


def sample_length(rng, kind, max_frames=None):
    """Frames of a clip of `kind`: uniform in its range, sometimes long. max_frames caps both (a dataset of
    short clips, e.g. for training on short crops, where a crop of a long clip could miss the caption's
    event); the same random draws are made either way."""
    lo, hi = INTERACTIONS[kind][1]
    long = rng.random() < LONG_PROB
    if max_frames is not None:
        if max_frames < lo:
            raise ValueError(f"max_frames {max_frames} is shorter than a {kind} clip can be ({lo} frames)")
        if long or hi > max_frames:
            return int(rng.integers(lo, max_frames + 1))
    if long:
        return int(rng.integers(CROP + 1, LONG_MAX + 1))
    return int(rng.integers(lo, hi + 1))


def _facing(pos):
    """Facing direction (..., 3) from the hips, as the loader computes it: cross(up, R_hip - L_hip)."""
    across = pos[..., 2, :] - pos[..., 1, :]
    f = np.cross(np.array([0.0, 1.0, 0.0]), across)
    return f / np.linalg.norm(f, axis=-1, keepdims=True)


def _place(people, rng):
    """Random common yaw and floor position. Avoids the one heading the loader cannot canonicalise (facing
    exactly -Z at a possible crop start, where its shortest-arc quaternion is 0/0)."""
    T = people[0]["pos"].shape[0]
    starts = slice(0, max(1, T - CROP))
    yaw = rng.uniform(-np.pi, np.pi)
    shift = np.array([rng.uniform(-2, 2), 0.0, rng.uniform(-2, 2)])
    for _ in range(100):
        r = rot_y(yaw)
        worst = min(float(np.min(np.arccos(np.clip(-(_facing(p["pos"][starts] @ r.T))[:, 2], -1, 1))))
                    for p in people)
        if worst > 0.01:
            break
        yaw += 0.05
    for p in people:
        p["pos"] = p["pos"] @ r.T + shift
        p["root"] = p["root"] @ r.T + shift
        p["local"][:, 0] = r @ p["local"][:, 0]
        p["glob"] = r @ p["glob"]
    return people


MICRO_STREAM = 0x5EED      # spawn key of the micro-motion's own random stream


def _micro_rng(seed):
    """A random stream for the micro-motion, independent of the clip's main one (so lengths, choreography,
    actor and captions are the same draws as without it)."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key + (MICRO_STREAM,)))


def generate_clip(kind, seed, num_frames=None, max_frames=None, micro_motion=True):
    """Generate one clip of interaction `kind` from an integer seed (or a numpy SeedSequence); num_frames
    fixes its length, max_frames caps the sampled one; micro_motion adds the small continuous motion of
    every joint (micro_motion.py)."""
    if kind not in INTERACTIONS:
        raise ValueError(f"unknown interaction type {kind!r}; known: {', '.join(TYPE_NAMES)}")
    rng = np.random.default_rng(seed)
    T = num_frames or sample_length(rng, kind, max_frames)
    body_params = [BodyParams.sample(rng) for _ in range(2)]
    offsets = [rest_offsets(b) for b in body_params]
    scene = INTERACTIONS[kind][0](rng, T, [Body(o) for o in offsets])
    micro = None
    if micro_motion:
        micro_rng = _micro_rng(seed)
        micro = [MicroMotion.sample(micro_rng, T) for _ in range(2)]
    people = _place(build_pair(scene.plans, offsets, scene.hand_goals, micro), rng)
    for p, o in zip(people, offsets):
        p["offsets"] = o
    actor = int(rng.integers(2))
    order = [0, 1] if actor == 0 else [1, 0]
    captions = make_captions(kind, scene.params, rng)
    return Clip(kind, [people[i] for i in order], [body_params[i] for i in order], scene.params, captions, actor)
