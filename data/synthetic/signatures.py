"""Measurable signatures of each interaction type, for checking that motion (ours or a model's) actually
performs the interaction: hands meet in a handshake, the pushed person moves away, and so on.

Input: both people's joints in ONE Y-up frame, shape (T, 2, 22, 3), metres, 30 fps (a model's output after
de-normalisation is in person 1's canonical frame; any common frame works, every measure is invariant to a
shared yaw and translation). Heights are taken above each person's own floor (lowest foot joint), because
the canonical frame keeps person 2 on its own floor. Thresholds are deliberately tolerant so that imperfect
generated motion with the right intent still passes; each function returns the numbers it measured.
"""
from dataclasses import dataclass, field

import numpy as np

L_WRIST, R_WRIST, L_SHOULDER, R_SHOULDER = 20, 21, 16, 17
WRISTS, SHOULDERS = (L_WRIST, R_WRIST), (L_SHOULDER, R_SHOULDER)
TORSO, SPINE = (3, 6, 9, 12), (3, 6, 9)
FEET = (7, 8, 10, 11)


@dataclass
class SignatureResult:
    passed: bool
    values: dict = field(default_factory=dict)

    def __bool__(self):
        return bool(self.passed)


def _check_input(joints):
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 4 or j.shape[1:] != (2, 22, 3):
        raise ValueError(f"signature input must be (T, 2, 22, 3) joints, got shape {j.shape}")
    heights = j[..., 1] - j[:, :, FEET, 1].min(axis=(0, 2))[None, :, None]   # above own floor
    return j, heights


def _dist(a, b):
    return np.linalg.norm(a - b, axis=-1)


def _hdist(a, b):
    return np.linalg.norm((a - b)[..., [0, 2]], axis=-1)


def _forward(j, i):
    """(T, 2) horizontal facing of person i from the hips (left = +X when facing +Z)."""
    across = j[:, i, 2] - j[:, i, 1]
    f = np.stack([across[:, 2], -across[:, 0]], -1)                  # cross(up, across) in xz
    return f / np.maximum(np.linalg.norm(f, axis=-1, keepdims=True), 1e-9)


def pelvis_distance(joints):
    """Mean horizontal distance (m) between the two pelvises over the clip: where the pair stands,
    which the contact signatures alone do not check (two people on one spot can still "touch")."""
    j, _ = _check_input(joints)
    return float(_hdist(j[:, 0, 0], j[:, 1, 0]).mean())


def _longest_run(mask):
    """Length of the longest run of True in a 1-D boolean array."""
    padded = np.concatenate([[0], mask.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max()) if len(edges) else 0


def handshake(joints, fps=30, tol=0.15, min_time=0.2):
    """Same-side wrists within `tol` below the shoulders for `min_time` seconds in a row, the other two hands
    not involved (not a hand-over)."""
    j, _ = _check_input(joints)
    best, side, frame, held = np.inf, None, -1, 0.0
    for s, (w, sh) in enumerate(zip(WRISTS, SHOULDERS)):
        d = _dist(j[:, 0, w], j[:, 1, w])
        contact = 0.5 * (j[:, 0, w] + j[:, 1, w])
        low = (j[:, 0, w, 1] < j[:, 0, sh, 1] - 0.1) & (j[:, 1, w, 1] < j[:, 1, sh, 1] - 0.1)
        other = WRISTS[1 - s]
        free = (_dist(j[:, 0, other], contact) > 0.2) & (_dist(j[:, 1, other], contact) > 0.2)
        d = np.where(low & free, d, np.inf)
        if d.min() < best:
            best, side, frame = float(d.min()), ("left", "right")[s], int(d.argmin())
            held = _longest_run(d < tol) / fps
    return SignatureResult(best < tol and held >= min_time,
                           dict(min_hand_distance=best, side=side, frame=frame, held_s=held))


def high_five(joints, fps=30, tol=0.15):
    """Some pair of wrists within `tol` while both are raised above their shoulders, the other two hands
    away from the contact (not a punch into a two-handed guard)."""
    j, _ = _check_input(joints)
    best, pair, frame = np.inf, None, -1
    for a, sa in zip(WRISTS, SHOULDERS):
        for b, sb in zip(WRISTS, SHOULDERS):
            up = (j[:, 0, a, 1] > j[:, 0, sa, 1] + 0.05) & (j[:, 1, b, 1] > j[:, 1, sb, 1] + 0.05)
            contact = 0.5 * (j[:, 0, a] + j[:, 1, b])
            oa, ob = WRISTS[1 - WRISTS.index(a)], WRISTS[1 - WRISTS.index(b)]
            up &= (_dist(j[:, 0, oa], contact) > 0.2) & (_dist(j[:, 1, ob], contact) > 0.2)
            d = np.where(up, _dist(j[:, 0, a], j[:, 1, b]), np.inf)
            if d.min() < best:
                best, pair, frame = float(d.min()), (a, b), int(d.argmin())
    side = None if pair is None or pair[0] != pair[1] else ("left", "right")[WRISTS.index(pair[0])]
    return SignatureResult(best < tol, dict(min_hand_distance=best, side=side, frame=frame))


def hug(joints, fps=30, tol=0.3):
    """At some frame all four wrists are within `tol` of the partner's spine and the pelvises are close."""
    j, _ = _check_input(joints)
    worst = np.zeros(len(j))
    for i in (0, 1):
        for w in WRISTS:
            worst = np.maximum(worst, _dist(j[:, i, w][:, None], j[:, 1 - i, list(SPINE)]).min(1))
    close = _hdist(j[:, 0, 0], j[:, 1, 0]) < 0.7
    score = np.where(close, worst, np.inf)
    return SignatureResult(float(score.min()) < tol, dict(max_wrist_to_partner_spine=float(score.min()),
                                                          frame=int(score.argmin())))


def push(joints, fps=30, tol=0.25, min_move=0.25):
    """A wrist touches the partner's torso, then the partner's pelvis moves away by more than `min_move`."""
    j, _ = _check_input(joints)
    best = dict(moved_away=0.0, pusher=None, contact_frame=-1)
    horizon = int(1.5 * fps)
    for i in (0, 1):
        touch = np.min([_dist(j[:, i, w][:, None], j[:, 1 - i, list(TORSO)]).min(1) for w in WRISTS], 0)
        for c in np.flatnonzero(touch < tol)[::3]:
            away = j[c, 1 - i, 0, [0, 2]] - j[c, i, 0, [0, 2]]
            away /= max(np.linalg.norm(away), 1e-9)
            later = j[c:c + horizon, 1 - i, 0][:, [0, 2]] - j[c, 1 - i, 0, [0, 2]]
            moved = float((later @ away).max())
            if moved > best["moved_away"]:
                best = dict(moved_away=moved, pusher=i, contact_frame=int(c))
    return SignatureResult(best["moved_away"] > min_move, dict(best, frame=best["contact_frame"]))


def punch(joints, fps=30, tol=0.25, min_speed=2.0):
    """A wrist closes in on the partner's head faster than `min_speed` m/s (radial speed, in the 8 frames
    before its closest approach) and gets within `tol` of it at head height (not a push on the chest)."""
    j, _ = _check_input(joints)
    best = dict(approach_speed=0.0, distance=np.inf, attacker=None, side=None)
    for i in (0, 1):
        for s, w in enumerate(WRISTS):
            d = _dist(j[:, i, w], j[:, 1 - i, 15])                            # (T,)
            high = j[:, i, w, 1] > j[:, 1 - i, 12, 1] - 0.05
            closing = np.concatenate([[0.0], -np.diff(d) * fps])              # radial speed towards the head
            for c in np.flatnonzero((d < tol) & high & (np.r_[True, d[1:] <= d[:-1]])):
                speed = float(closing[max(0, c - 8):c + 1].max())
                if speed > best["approach_speed"]:
                    best = dict(approach_speed=speed, distance=float(d[c]), attacker=i, side=("left", "right")[s],
                                frame=int(c))
    return SignatureResult(best["approach_speed"] > min_speed, best)


def kick(joints, fps=30, min_height=0.35, tol=0.7):
    """An ankle rises above `min_height` within `tol` (horizontally) of the partner's pelvis."""
    j, h = _check_input(joints)
    best = dict(distance=np.inf, kicker=None, side=None)
    for i in (0, 1):
        for s, a in enumerate((7, 8)):
            d = np.where(h[:, i, a] > min_height, _hdist(j[:, i, a], j[:, 1 - i, 0]), np.inf)
            if d.min() < best["distance"]:
                best = dict(distance=float(d.min()), kicker=i, side=("left", "right")[s], frame=int(d.argmin()))
    return SignatureResult(best["distance"] < tol, best)


def _waves(j, i, fps):
    """Longest raised-and-wagging spell of person i: (seconds raised, direction reversals, side)."""
    best = (0.0, 0, None)
    for s, (w, sh) in enumerate(zip(WRISTS, SHOULDERS)):
        raised = j[:, i, w, 1] > j[:, i, sh, 1] + 0.12
        lateral = j[:, i, w, [0, 2]] - j[:, i, 0, [0, 2]]
        fwd = _forward(j, i)
        left = np.stack([fwd[:, 1], -fwd[:, 0]], -1)                         # xz of the body's left
        v = np.diff((lateral * left).sum(-1))
        flips = int(np.sum((np.sign(v[1:]) != np.sign(v[:-1])) & raised[1:-1] & (np.abs(v[1:]) > 1e-3)))
        seconds = float(raised.sum() / fps)
        if (seconds, flips) > best[:2]:
            best = (seconds, flips, ("left", "right")[s])
    return best


def wave(joints, fps=30, min_raised=0.5, min_flips=2, min_distance=1.5):
    """Both people hold a hand above the shoulder for `min_raised` s and wag it; they stand apart."""
    j, _ = _check_input(joints)
    w = [_waves(j, i, fps) for i in (0, 1)]
    dist = pelvis_distance(j)
    ok = all(r >= min_raised and f >= min_flips for r, f, _ in w) and dist > min_distance
    return SignatureResult(ok, dict(raised_s=[x[0] for x in w], flips=[x[1] for x in w],
                                    sides=[x[2] for x in w], distance=dist))


def bow(joints, fps=30, min_forward=0.2, max_squat=0.15):
    """Both heads move forward of their pelvis by `min_forward` (bending at the hips, not squatting)."""
    j, h = _check_input(joints)
    out = []
    for i in (0, 1):
        ahead = ((j[:, i, 15, [0, 2]] - j[:, i, 0, [0, 2]]) * _forward(j, i)).sum(-1)
        squat = float(np.percentile(h[:, i, 0], 90) - h[:, i, 0].min())
        out.append((float(ahead.max() - np.percentile(ahead, 10)), squat))
    dist = pelvis_distance(j)
    ok = all(f > min_forward and s < max_squat for f, s in out) and dist > 0.8
    return SignatureResult(ok, dict(head_forward=[o[0] for o in out], squat=[o[1] for o in out], distance=dist))


def walk_towards(joints, fps=30, min_closing=1.5, min_path=0.5, min_along=0.6):
    """The pelvis distance shrinks by `min_closing`; both walk at least `min_path` metres, each heading at the
    other (cos > `min_along` while both move)."""
    j, _ = _check_input(joints)
    d = _hdist(j[:, 0, 0], j[:, 1, 0])
    vals = _moving_together(j, fps)
    vals["closing"] = float(d[:max(2, len(d) // 3)].max() - d.min())
    ok = (vals["closing"] > min_closing and min(vals["path"]) > min_path
          and min(vals["along"][0], -vals["along"][1]) > min_along)
    return SignatureResult(ok, vals)


def _moving_together(j, fps, min_speed=0.3):
    """Horizontal pelvis motion of both people over the frames where both move faster than `min_speed`
    m/s: path lengths, mean speed, mean cos between the two velocities, mean |cos| between the
    person-to-person vector and the shared direction, and how well each velocity follows (+) or flees
    along (+) the vector from person 0 to person 1. Works on curved paths too."""
    xz = j[:, :, 0][:, :, [0, 2]]                                            # (T, 2, 2)
    h = min(4, (len(j) - 1) // 2)                                            # +-4-frame central difference:
    v = (xz[2 * h:] - xz[:len(j) - 2 * h]) * fps / max(2 * h, 1)            # robust to per-frame jitter
    speed = np.linalg.norm(v, axis=-1)                                       # (T-2h, 2)
    moving = (speed > min_speed).all(1)
    vals = dict(path=(np.linalg.norm(np.diff(xz, axis=0), axis=-1).sum(0)).tolist(), speed=0.0, cos=0.0,
                alignment=1.0, along=[0.0, 0.0], moving_s=float(moving.sum() / fps))
    if moving.sum() < 3:
        return vals
    u = v[moving] / speed[moving][..., None]                                 # unit velocities (M, 2, 2)
    rel = (j[h:len(j) - h, 1, 0] - j[h:len(j) - h, 0, 0])[moving][:, [0, 2]]
    rel = rel / np.maximum(np.linalg.norm(rel, axis=-1, keepdims=True), 1e-9)
    both = u[:, 0] + u[:, 1]
    both = both / np.maximum(np.linalg.norm(both, axis=-1, keepdims=True), 1e-9)
    vals.update(speed=float(speed[moving].mean()), cos=float((u[:, 0] * u[:, 1]).sum(-1).mean()),
                alignment=float(np.abs((rel * both).sum(-1)).mean()),
                along=[float((u[:, i] * rel).sum(-1).mean()) for i in (0, 1)])
    return vals


def side_by_side(joints, fps=30, min_path=1.5):
    """Both walk more than `min_path` metres the same way (velocities agree), next to each other rather than
    one behind the other, less than 1.5 m apart."""
    j, _ = _check_input(joints)
    vals = _moving_together(j, fps)
    vals["distance"] = pelvis_distance(j)
    ok = min(vals["path"]) > min_path and vals["cos"] > 0.8 and vals["alignment"] < 0.5 and vals["distance"] < 1.5
    return SignatureResult(ok, vals)


def chase(joints, fps=30, min_path=2.0, min_speed=1.3, min_along=0.6):
    """Both run more than `min_path` metres faster than `min_speed` m/s, the chaser heading at the other
    and the other running away from the chaser (cos > `min_along`; also holds on curved paths)."""
    j, _ = _check_input(joints)
    vals = _moving_together(j, fps)
    follow, flee = vals["along"] if vals["along"][0] >= 0 else [-x for x in vals["along"][::-1]]
    vals["chaser"] = 0 if vals["along"][0] >= 0 else 1
    ok = min(vals["path"]) > min_path and vals["speed"] > min_speed and min(follow, flee) > min_along
    return SignatureResult(ok, vals)


def hand_over(joints, fps=30, tol=0.15, min_time=0.25):
    """One person's wrist stays within `tol` of BOTH of the partner's wrists (a two-handed take) below the
    partner's neck for `min_time` seconds in a row (a punch into a guard is brief and at head height)."""
    j, _ = _check_input(joints)
    best = dict(seconds=0.0, distance=np.inf, giver=None, side=None)
    for i in (0, 1):
        for s, w in enumerate(WRISTS):
            d = np.maximum(_dist(j[:, i, w], j[:, 1 - i, L_WRIST]), _dist(j[:, i, w], j[:, 1 - i, R_WRIST]))
            d = np.where(j[:, i, w, 1] < j[:, 1 - i, 12, 1], d, np.inf)
            seconds = _longest_run(d < tol) / fps
            if (seconds, -d.min()) > (best["seconds"], -best["distance"]):
                best = dict(seconds=seconds, distance=float(d.min()), giver=i, side=("left", "right")[s],
                            frame=int(d.argmin()))
    return SignatureResult(best["seconds"] >= min_time, best)


def pat_shoulder(joints, fps=30, tol=0.15, min_time=0.3):
    """A wrist rests within `tol` of the partner's shoulder, on top or in front of it (not reaching around
    the back as in a hug), for at least `min_time` seconds."""
    j, _ = _check_input(joints)
    best = dict(seconds=0.0, patter=None, side=None)
    for i in (0, 1):
        fwd = _forward(j, 1 - i)
        for s, w in enumerate(WRISTS):
            front = ((j[:, i, w, [0, 2]] - j[:, 1 - i, 9, [0, 2]]) * fwd).sum(-1) > -0.08
            near = (_dist(j[:, i, w][:, None], j[:, 1 - i, list(SHOULDERS)]).min(1) < tol) & front
            if near.sum() / fps > best["seconds"]:
                best = dict(seconds=float(near.sum() / fps), patter=i, side=("left", "right")[s],
                            frame=int(np.median(np.flatnonzero(near))))
    return SignatureResult(best["seconds"] >= min_time, best)


def dance(joints, fps=30, tol=0.15, min_hold=0.4, min_turn_deg=90.0):
    """Crossed hands held (my left in your right and vice versa) most of the time while the pair turns."""
    j, _ = _check_input(joints)
    held = (_dist(j[:, 0, L_WRIST], j[:, 1, R_WRIST]) < tol) & (_dist(j[:, 0, R_WRIST], j[:, 1, L_WRIST]) < tol)
    rel = j[:, 1, 0, [0, 2]] - j[:, 0, 0, [0, 2]]
    ang = np.unwrap(np.arctan2(rel[:, 0], rel[:, 1]))
    turn = float(np.degrees(ang.max() - ang.min()))
    sense = "counterclockwise" if ang[-1] > ang[0] else "clockwise"
    frame = int(np.median(np.flatnonzero(held))) if held.any() else -1
    return SignatureResult(held.mean() >= min_hold and turn > min_turn_deg,
                           dict(hold_fraction=float(held.mean()), turn_deg=turn, direction=sense, frame=frame))


SIGNATURES = {
    "handshake": handshake, "high_five": high_five, "hug": hug, "hand_over": hand_over,
    "pat_shoulder": pat_shoulder, "dance": dance, "push": push, "punch": punch, "kick": kick, "wave": wave,
    "bow": bow, "walk_towards": walk_towards, "side_by_side": side_by_side, "chase": chase,
}


def check(kind, joints, fps=30):
    """SignatureResult of interaction `kind` on joints (T, 2, 22, 3)."""
    if kind not in SIGNATURES:
        raise ValueError(f"no signature for {kind!r}; known: {', '.join(SIGNATURES)}")
    return SIGNATURES[kind](joints, fps=fps)


def pelvis_distance_at_event(result, joints):
    """Horizontal pelvis distance (m) at the frame where `result`'s interaction happens (its `frame`: the
    contact of a handshake, push, hug, kick, ...), or over the whole clip for interactions that last the
    whole clip (wave, bow, walking). A pass with the pelvises this close means overlapping bodies."""
    j, _ = _check_input(joints)
    frame = result.values.get("frame", -1)
    d = _hdist(j[:, 0, 0], j[:, 1, 0])
    return float(d[frame]) if frame is not None and frame >= 0 else float(d.mean())


def check_all(joints, fps=30):
    """{kind: passed} for every signature (a confusion row)."""
    return {k: bool(f(joints, fps=fps)) for k, f in SIGNATURES.items()}
