"""Interaction types with a hit and a reaction: push, punch and block, kick. Person 0 attacks, person 1
reacts; the reaction (stepping back, guarding) is timed to the hit."""
import numpy as np

from data.synthetic.body_motion import LEFT, RIGHT
from data.synthetic.staging import (UP, Scene, event_time, facing_pair, fwd_dir, goal, keyframes, min_jerk,
                                    out_dir, person, pick_side, side_sign, sway, time_axis, window)


def push(rng, T, bodies):
    """The actor steps in and shoves the partner's chest (both hands 60 %, else one); the partner is
    thrown back 0.45-1 m with quick stumbling steps and a backward lean."""
    t, dur = time_axis(T)
    a, b = bodies
    both = rng.random() < 0.6
    s = pick_side(rng, 0.6)
    d0 = rng.uniform(0.6, 0.75) * a.scale
    t_p = event_time(rng, dur, 0.45, 1.2)
    step = min(rng.uniform(0.15, 0.3), d0 - 0.42)                      # keep a body's width between them
    back = rng.uniform(0.45, 1.0)
    stagger = rng.uniform(0.5, 0.9)
    xz0, xz1, y0, y1 = facing_pair(t, d0)
    xz0[:, 1] += step * min_jerk(t, t_p - 0.45, 0.5)
    u = np.clip((t - t_p) / stagger, 0, 1)
    xz1[:, 1] += back * (1 - (1 - u) ** 2)                            # shoved: fast start, slowing down
    w = window(t, t_p - 0.4, t_p + 0.15, 0.35, 0.45)
    plans = [person(xz0 + sway(rng, t), y0, xz1, lean=0.2 * w, twist=0.0 if both else -side_sign(s) * 0.25 * w),
             person(xz1, y1, xz0, lean=-0.25 * window(t, t_p, t_p + stagger, 0.15, 0.6),
                    swing_frames=9, gap_frames=1, lift=0.07)]
    hands = (LEFT, RIGHT) if both else (s,)

    def goals(p1):
        chest = p1[1]["pos"][:, 9] + 0.11 * fwd_dir(p1[1]["glob"][:, 9])
        g = {}
        for side in hands:
            lat = out_dir(p1[0]["glob"][:, 0], side)
            spread = 0.1 if both else 0.0
            g[side] = goal(chest + spread * lat, w, -UP + 0.4 * lat)
        return [g, {}]
    return Scene(plans, goals, dict(side=None if both else s, both=both, far=back > 0.75))


def punch(rng, T, bodies):
    """Both raise a guard; the actor throws 1-2 fast punches with one hand at the partner's head, which
    the partner's raised forearms block (the partner flinches back)."""
    t, dur = time_axis(T)
    a, b = bodies
    s = pick_side(rng, 0.6)
    d = np.sqrt(max((0.92 * a.arm) ** 2 - (0.2 * a.scale) ** 2 - 0.01, 0.04)) + 0.23 + rng.uniform(-0.03, 0.05)
    n = int(rng.integers(1, 3))
    gap = rng.uniform(0.55, 0.85)
    need = 0.7 + (n - 1) * gap + 0.6
    t_first = event_time(rng, dur, 0.4, need)
    hits = [t_first + k * gap for k in range(n)]
    t_guard = t_first - rng.uniform(0.3, 0.5)
    guard_w = window(t, t_guard, hits[-1] + 0.5, 0.3, 0.5)
    fist = sum(window(t, h, h + 0.08, 0.1, 0.3) for h in hits)
    flinch = sum(window(t, h + 0.08, h + 0.15, 0.1, 0.3) for h in hits)
    xz0, xz1, y0, y1 = facing_pair(t, d, side_sign(s) * 0.08)
    plans = [person(xz0 + sway(rng, t), y0, xz1, twist=-side_sign(s) * 0.35 * fist, lean=0.08 * fist),
             person(xz1 + sway(rng, t), y1, xz0, lean=0.05 * guard_w - 0.12 * flinch)]

    def goals(p1):
        g0, g1 = p1[0]["glob"][:, 0], p1[1]["glob"][:, 0]
        guard1 = {side: p1[1]["pos"][:, 15] + 0.16 * fwd_dir(g1) + 0.09 * out_dir(g1, side) - 0.03 * UP
                  for side in (LEFT, RIGHT)}
        target = p1[1]["pos"][:, 15] + 0.12 * fwd_dir(g1)                    # between the guarding forearms
        ready0 = {side: p1[0]["pos"][:, 15] + 0.25 * fwd_dir(g0) + 0.1 * out_dir(g0, side) - 0.12 * UP
                  for side in (LEFT, RIGHT)}
        out0 = {side: goal(ready0[side], guard_w, -UP + 0.5 * out_dir(g0, side)) for side in (LEFT, RIGHT)}
        out0[s] = goal(ready0[s] + fist[:, None] * (target - ready0[s]), guard_w, -UP + 0.7 * out_dir(g0, s))
        out1 = {side: goal(guard1[side], guard_w, -UP + 0.3 * out_dir(g1, side)) for side in (LEFT, RIGHT)}
        return [out0, out1]
    return Scene(plans, goals, dict(side=s, count=n))


def kick(rng, T, bodies):
    """The actor chambers the knee and snaps a front kick with one leg to the partner's midsection, the
    support foot planted; the partner blocks low and steps back."""
    t, dur = time_axis(T)
    a, b = bodies
    s = pick_side(rng, 0.6)
    x = side_sign(s)
    off = a.offsets
    half_width = abs(off[1, 0]) * 1.15                             # same home spot as the step planner
    home = np.array([x * half_width, -off[10, 1], 0.0])
    hip = np.array([x * abs(off[1, 0]), a.pelvis_h + off[1, 1], 0.0])
    height = rng.uniform(0.5, 0.8) * a.leg
    reach = np.sqrt(max((0.93 * a.leg) ** 2 - (height - hip[1]) ** 2, 0.04))
    back = rng.uniform(0.08, 0.25)
    d = reach + rng.uniform(0.2, 0.3)                              # the partner then steps `back` further
    t_k = event_time(rng, dur, 0.3, 1.3)
    chamber = np.array([x * 0.08, 0.5 * a.leg, 0.25])
    tip = np.array([x * 0.03, height, reach])
    times = t_k + np.array([0.0, 0.25, 0.42, 0.52, 0.75, 0.95])
    target = keyframes(t, times, [home, chamber, tip, tip, chamber, home])
    w_foot = ((t >= times[0]) & (t <= times[-1])).astype(np.float64)
    xz0, xz1, y0, y1 = facing_pair(t, d, x * 0.05)
    xz1[:, 1] += back * min_jerk(t, t_k + 0.15, 0.45)
    w = window(t, t_k, times[-1], 0.3, 0.4)
    kick_leg = {s: dict(target=target, weight=w_foot, pole=np.array([0.0, 1.0, 1.0]))}
    plans = [person(xz0, y0, xz1, lean=-0.15 * w, crouch=0.03 * w, foot_override=kick_leg),
             person(xz1 + sway(rng, t), y1, xz0, lean=0.12 * w)]

    def goals(p1):
        g1 = p1[1]["glob"][:, 0]
        block = {side: goal(p1[1]["pos"][:, 0] + 0.3 * fwd_dir(g1) + 0.2 * UP + 0.1 * out_dir(g1, side), w,
                            -UP + 0.5 * out_dir(g1, side)) for side in (LEFT, RIGHT)}
        return [{}, block]
    return Scene(plans, goals, dict(side=s, high=height > 0.68 * a.leg))
