"""Interaction types at a distance or on the move: waving at each other, bowing to each other, walking
towards each other, walking side by side, one chasing the other."""
import numpy as np

from data.synthetic.body_motion import LEFT, RIGHT, SHOULDER
from data.synthetic.staging import (UP, Scene, facing_pair, fwd_dir, goal, out_dir, person, pick_side,
                                    ramp, sway, time_axis, window)


def wave(rng, T, bodies):
    """2-4 m apart, one waves a raised hand side to side, the other waves back (70 %) or both at once."""
    t, dur = time_axis(T)
    a, b = bodies
    d = rng.uniform(2.0, 4.0)
    sides = [pick_side(rng, 0.6), pick_side(rng, 0.6)]
    xz0, xz1, y0, y1 = facing_pair(t, d, rng.normal(0.0, 0.3))
    lag = rng.uniform(0.3, 1.2) if rng.random() < 0.7 else 0.0      # the other waves back
    lag = min(lag, max(0.0, dur - 1.9))
    span = max(1.0, min(rng.uniform(1.0, 2.5), dur - 0.7 - lag))   # both waves fit in the clip
    t0 = rng.uniform(0.1, max(0.15, 0.5 * (dur - span - lag - 0.4)))
    starts = [t0, t0 + lag]
    freqs = rng.uniform(1.5, 2.5, size=2)
    plans = [person(xz0 + sway(rng, t), y0, xz1), person(xz1 + sway(rng, t), y1, xz0)]

    def goals(p1):
        out = []
        for i in (0, 1):
            s, g = sides[i], p1[i]["glob"][:, 0]
            w = window(t, starts[i], starts[i] + span, 0.45, 0.5)
            wag = 0.12 * np.sin(2 * np.pi * freqs[i] * (t - starts[i]))[:, None] * window(
                t, starts[i] + 0.3, starts[i] + span - 0.1, 0.2, 0.3)[:, None]
            lat = out_dir(g, s)
            hand = p1[i]["pos"][:, SHOULDER[s]] + 0.32 * bodies[i].scale * UP + 0.2 * lat + 0.08 * fwd_dir(g)
            out.append({s: goal(hand + wag * lat, w, lat - 0.5 * UP)})
        return out
    return Scene(plans, goals, dict(side=sides[0], side2=sides[1], back=bool(lag > 0)))


def bow(rng, T, bodies):
    """1-1.8 m apart facing each other, both bend 35-63 degrees at the hips, together or one after the
    other, and come back up."""
    t, dur = time_axis(T)
    d = rng.uniform(1.0, 1.8)
    xz0, xz1, y0, y1 = facing_pair(t, d, rng.normal(0.0, 0.1))
    depth = rng.uniform(0.6, 1.1, size=2)
    hold = rng.uniform(0.3, 0.8, size=2)
    lag = rng.uniform(0.0, 0.8) if rng.random() < 0.6 else 0.0
    t0 = rng.uniform(0.1, max(0.15, 0.4 * (dur - 2.2 - lag)))
    plans = []
    for i, (xz, yaw, other) in enumerate(((xz0, y0, xz1), (xz1, y1, xz0))):
        start = t0 + (lag if i == 1 else 0.0)
        bend = depth[i] * window(t, start, start + 0.6 + hold[i], 0.6, 0.7)
        fwd = np.stack([np.sin(yaw), np.cos(yaw)], -1)
        plans.append(person(xz - 0.1 * bend[:, None] * fwd, yaw, other, lean=bend, pelvis_share=0.35,
                            head_pitch=0.25 * bend / depth[i]))
    return Scene(plans, None, dict(deep=bool(depth.mean() > 0.9), together=lag == 0.0))


def walk_towards(rng, T, bodies):
    """Start 2.5-6 m apart, both walk towards each other and stop about 1 m apart."""
    t, dur = time_axis(T)
    d1 = rng.uniform(0.9, 1.4)
    v = rng.uniform(0.55, 0.85)                                       # mean speed of the min-jerk walk
    t0 = rng.uniform(0.0, 0.4)
    walk = min(rng.uniform(1.5, 4.0), dur - t0 - 0.3)
    approach = 2 * v * walk
    xz0, xz1, y0, y1 = facing_pair(t, d1, rng.normal(0.0, 0.15), approach, t0, walk)
    plans = [person(xz0, y0, xz1), person(xz1, y1, xz0)]
    return Scene(plans, None, dict(fast=v > 0.75, stop=dur - t0 - walk > 0.6))


def _curved_path(arc, curvature):
    """Points (T, 2) and headings (T,) at arc length `arc` (T,) along a circle through the origin heading +Z
    with signed curvature (+ = turning left)."""
    k = curvature if abs(curvature) > 1e-6 else 1e-6
    yaw = k * arc
    xz = np.stack([2.0 * np.sin(0.5 * yaw) ** 2 / k, np.sin(yaw) / k], -1)
    return xz, yaw


def _curvature(rng, length, gentle, room=7.0):
    """Signed path curvature: gentle for short paths; paths longer than `room` metres bend into a circle of
    2.5-4 m radius so that nobody leaves a capture-volume-sized area (InterHuman was recorded indoors)."""
    if length <= room:
        return float(rng.uniform(-gentle, gentle))
    return float((1 if rng.random() < 0.5 else -1) / rng.uniform(2.5, 4.0))


def _speed_profile(t, v, t0, accel=0.8, t_stop=None):
    """Arc length (T,) of someone who starts walking at t0, reaches v after `accel` s, maybe stops."""
    speed = v * ramp(t, t0, accel)
    if t_stop is not None:
        speed *= 1.0 - ramp(t, t_stop, accel)
    return np.cumsum(speed) / 30.0


def side_by_side(rng, T, bodies):
    """Walk the same way next to each other (one on the other's left or right), straight, curving,
    or round a circle when the walk is long; sometimes stopping at the end."""
    t, dur = time_axis(T)
    v = rng.uniform(0.8, 1.4)
    gap = rng.uniform(0.55, 0.9)
    curvature = _curvature(rng, v * dur, 0.18)
    t0 = rng.uniform(0.0, 0.4)
    t_stop = dur - rng.uniform(1.0, 1.5) if dur > 5.0 and rng.random() < 0.5 else None
    arc = _speed_profile(t, v, t0, t_stop=t_stop)
    centre, yaw = _curved_path(arc, curvature)
    left = np.stack([np.cos(yaw), -np.sin(yaw)], -1)
    first_left = rng.random() < 0.5                                   # is the actor on the partner's left?
    sgn = 1.0 if first_left else -1.0
    xz0, xz1 = centre + sgn * 0.5 * gap * left, centre - sgn * 0.5 * gap * left
    plans = [person(xz0, yaw), person(xz1, yaw)]
    turn = curvature * arc[-1]
    return Scene(plans, None, dict(side=LEFT if first_left else RIGHT, fast=v > 1.2,
                                   turn=("left" if turn > 0 else "right") if abs(turn) > 0.5 else None))


def chase(rng, T, bodies):
    """The chaser runs after the other, who runs away 1.6-2.8 m ahead; the chaser is faster and may
    catch up to 1 m. Long runs go round a circle."""
    t, dur = time_axis(T)
    v1 = rng.uniform(1.8, 2.3)
    v0 = v1 + rng.uniform(0.1, 0.4)
    lead = rng.uniform(1.6, 2.8)
    curvature = _curvature(rng, v1 * dur, 0.12)
    t1 = rng.uniform(0.0, 0.3)
    t0 = t1 + rng.uniform(0.0, 0.4)
    arc1 = lead + _speed_profile(t, v1, t1, accel=0.7)
    arc0 = np.minimum(_speed_profile(t, v0, t0, accel=0.7), arc1 - 1.0)  # never runs into the leader
    xz0, y0 = _curved_path(arc0, curvature)
    xz1, y1 = _curved_path(arc1, curvature)
    kw = dict(swing_frames=7, gap_frames=1, lift=0.12, step_thresh=0.07, arm_swing=0.9)
    lean = 0.18 * ramp(t, t0, 0.7)
    plans = [person(xz0, y0, xz1, lean=lean, **kw), person(xz1, y1, None, lean=lean, **kw)]
    return Scene(plans, None, dict(caught=bool(arc1[-1] - arc0[-1] < 1.05)))
