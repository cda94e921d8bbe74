"""Building blocks the interaction types are written with: time envelopes, body measurements, paths of two
people facing each other, and hand goals. Everything is per-frame numpy (T,) / (T, k)."""
from dataclasses import dataclass

import numpy as np

from data.skeleton import FPS
from data.synthetic.body_motion import LEFT, RIGHT, PersonPlan
from data.synthetic.limbs import smoothstep

UP = np.array([0.0, 1.0, 0.0])
SIDE_WORD = {LEFT: "left", RIGHT: "right"}


def ramp(t, t0, dur):
    """0 before t0, smooth rise to 1 at t0 + dur (t in seconds)."""
    return smoothstep((t - t0) / max(dur, 1e-6))


def window(t, t_on, t_off, rise=0.4, fall=0.4):
    """Smooth 0 -> 1 starting at t_on, back to 0 starting at t_off."""
    return ramp(t, t_on, rise) * (1.0 - ramp(t, t_off, fall))


def min_jerk(t, t0, dur):
    """Minimum-jerk 0 -> 1 profile (how people start and stop walking)."""
    u = np.clip((t - t0) / max(dur, 1e-6), 0.0, 1.0)
    return u ** 3 * (10 - 15 * u + 6 * u ** 2)


def unit(v):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def horizontal(v):
    out = np.array(v, dtype=np.float64)
    out[..., 1] = 0.0
    return out


@dataclass
class Body:
    """Measurements of one rest skeleton that the choreography needs to make contacts reachable."""
    offsets: np.ndarray

    @property
    def arm(self):
        return float(np.linalg.norm(self.offsets[18]) + np.linalg.norm(self.offsets[20]))

    @property
    def leg(self):
        return float(np.linalg.norm(self.offsets[4]) + np.linalg.norm(self.offsets[7]))

    @property
    def pelvis_h(self):
        return float(-self.offsets[10, 1] + 0.975 * self.leg - self.offsets[1, 1])

    @property
    def shoulder_h(self):
        o = self.offsets
        return self.pelvis_h + float(o[3, 1] + o[6, 1] + o[9, 1] + o[13, 1] + o[16, 1])

    @property
    def shoulder_w(self):
        return float(self.offsets[13, 0] + self.offsets[16, 0])

    @property
    def scale(self):
        return self.shoulder_h / 1.36


def reach_gap(body_a, body_b, drop, lateral=0.0, frac=0.86, lean_gain=0.08, anchor="mid"):
    """Pelvis distance at which two people can join hands with `lateral` offset between the two shoulders,
    each using `frac` of the arm's length. The hands meet `drop` metres below the mean shoulder height
    (anchor "mid") or below person a's shoulder (anchor "a"); people of different heights reach up or
    down accordingly."""
    dh = body_a.shoulder_h - body_b.shoulder_h
    drops = (drop + dh / 2, drop - dh / 2) if anchor == "mid" else (drop, drop - dh)
    gaps = [np.sqrt(max((frac * b.arm) ** 2 - dz ** 2 - (lateral / 2) ** 2, 0.02))
            for b, dz in zip((body_a, body_b), drops)]
    return float(sum(gaps) + 2 * lean_gain)


def facing_pair(t, d_final, lateral=0.0, approach=0.0, t_start=0.0, walk_time=1.0, who="both"):
    """Person 0 around the origin facing +Z, person 1 ahead facing -Z, `lateral` metres to the side
    (+X). They end `d_final` apart; with `approach` > 0 they start `approach` metres further apart and walk
    in over [t_start, t_start + walk_time] (`who` = "both", "first" or "second" walks)."""
    s = min_jerk(t, t_start, walk_time)
    share0 = {"both": 0.5, "first": 1.0, "second": 0.0}[who]
    z0 = -share0 * approach * (1 - s)
    z1 = d_final + (1 - share0) * approach * (1 - s)
    xz0 = np.stack([np.zeros_like(t), z0], -1)
    xz1 = np.stack([np.full_like(t, lateral), z1], -1)
    return xz0, xz1, np.zeros_like(t), np.full_like(t, np.pi)


def sway(rng, t, amp=0.012):
    """Small idle weight shifts so nobody stands frozen (T, 2)."""
    f = rng.uniform(0.15, 0.35, size=2)
    ph = rng.uniform(0, 2 * np.pi, size=2)
    return amp * np.stack([np.sin(2 * np.pi * f[0] * t + ph[0]), np.sin(2 * np.pi * f[1] * t + ph[1])], -1)


def person(xz, yaw, partner_xz=None, **kw):
    return PersonPlan(root_xz=xz, yaw=yaw, look_at=partner_xz, **kw)


def goal(target, weight, pole):
    return {"target": target, "weight": weight, "pole": np.broadcast_to(pole, target.shape)}


def out_dir(glob_pelvis, side):
    """World direction (T, 3) pointing out of the body on `side`, from the pelvis' global rotation."""
    left = glob_pelvis[:, :, 0]
    return left if side == LEFT else -left


def fwd_dir(glob_pelvis):
    return glob_pelvis[:, :, 2]


def n_frames(seconds):
    return int(round(seconds * FPS))


@dataclass
class Scene:
    """One choreographed clip: plans[0] is the actor ("one person"), plans[1] the partner ("the other");
    hand_goals(pass1) -> [goals of person 0, goals of person 1]; params feed the captions."""
    plans: list
    hand_goals: object
    params: dict


def plan_approach(rng, dur, need, prob=0.6, max_walk=3.0, walkers=("both", "both", "first", "second")):
    """Optionally open with the two walking up to each other. Returns (approach metres, start s, walk s,
    who walks, time both stand ready)."""
    slack = dur - need - 0.3
    if slack > 1.0 and rng.random() < prob:
        walk = float(rng.uniform(0.9, min(max_walk, slack)))
        v = float(rng.uniform(0.6, 0.85))                   # mean speed; min-jerk peaks at 1.9x
        who = str(rng.choice(list(walkers)))
        t0 = float(rng.uniform(0.0, min(0.3, slack - walk)))
        dist = v * walk * (2.0 if who == "both" else 1.0)
        return dist, t0, walk, who, t0 + walk
    return 0.0, 0.0, 1.0, "both", 0.0


def event_time(rng, dur, ready, need):
    """Start of the main action: after `ready`, leaving `need` seconds before the end when possible."""
    hi = max(ready + 0.05, dur - need)
    return float(rng.uniform(ready + 0.05, ready + 0.05 + 0.5 * (hi - ready - 0.05)))


def keyframes(t, times, points):
    """Smooth (ease-in-out) interpolation through `points` (K, d) at `times` (K,); held outside. (T, d)."""
    times = np.asarray(times, dtype=np.float64)
    points = np.asarray(points, dtype=np.float64)
    k = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    u = smoothstep((t - times[k]) / np.maximum(times[k + 1] - times[k], 1e-6))
    return points[k] + u[:, None] * (points[k + 1] - points[k])


def time_axis(T):
    return np.arange(T) / FPS, T / FPS


def side_sign(side):
    """x of a body side for a person facing +Z (left = +1, right = -1)."""
    return 1.0 if side == LEFT else -1.0


def pick_side(rng, p_right=0.5):
    return RIGHT if rng.random() < p_right else LEFT
