"""Interaction types where hands meet: handshake, high five, hug, hand-over, pat on the shoulder, dancing
holding hands. Person 0 is the actor ("one person"), person 1 the partner ("the other"). Each returns a
Scene; contact points are computed from the partner's pass-1 body so hands really meet."""
import numpy as np

from data.synthetic.body_motion import LEFT, RIGHT, SHOULDER
from data.synthetic.staging import (UP, Scene, event_time, facing_pair, fwd_dir, goal, horizontal,
                                    out_dir, person, pick_side, plan_approach, ramp, reach_gap, side_sign,
                                    sway, time_axis, unit, window)


def _meet(p1, side0, side1, drop, gap=0.035):
    """Point between person 0's `side0` and person 1's `side1` shoulder, `drop` below them, and the two
    hand targets `gap` from it along the line joining the shoulders."""
    sh0, sh1 = p1[0]["pos"][:, SHOULDER[side0]], p1[1]["pos"][:, SHOULDER[side1]]
    mid = 0.5 * (sh0 + sh1)
    mid[:, 1] -= drop
    ab = unit(horizontal(sh1 - sh0))
    return mid, mid - gap * ab, mid + gap * ab


def handshake(rng, T, bodies):
    """Optionally walk up; both reach the same-side hand to a point between their shoulders, pump
    it 2-3 times a second while holding, let go. Sides: right 80 %."""
    t, dur = time_axis(T)
    a, b = bodies
    s = pick_side(rng, 0.8)
    drop = rng.uniform(0.27, 0.35) * a.scale
    dx = rng.uniform(0.08, 0.25)
    d = reach_gap(a, b, drop, dx)
    lateral = side_sign(s) * (a.shoulder_w + b.shoulder_w - dx)
    hold = rng.uniform(0.8, 2.0)
    need = 0.5 + min(hold, 1.0) + 0.3
    appr, t0, walk, who, ready = plan_approach(rng, dur, need)
    xz0, xz1, y0, y1 = facing_pair(t, d, lateral, appr, t0, walk, who)
    t_reach = event_time(rng, dur, max(ready - 0.4, 0.0), need)
    t_c, t_off = t_reach + 0.5, t_reach + 0.5 + hold
    f = rng.uniform(2.0, 3.0)
    shake = 0.03 * np.sin(2 * np.pi * f * (t - t_c)) * window(t, t_c, t_off - 0.2, 0.15, 0.15)
    w = window(t, t_reach, t_off, 0.5, 0.5)
    twist, lean = -side_sign(s) * 0.2 * w, 0.1 * w
    plans = [person(xz0 + sway(rng, t), y0, xz1, twist=twist, lean=lean),
             person(xz1 + sway(rng, t), y1, xz0, twist=twist, lean=lean)]

    def goals(p1):
        _, h0, h1 = _meet(p1, s, s, drop)
        out = []
        for i, h in ((0, h0), (1, h1)):
            h[:, 1] += shake                                             # both hands pump together
            out.append({s: goal(h, w, -UP + 0.6 * out_dir(p1[i]["glob"][:, 0], s))})
        return out
    return Scene(plans, goals, dict(side=s, approach=who if appr else None, long=hold > 1.5))


def high_five(rng, T, bodies):
    """Both raise the same-side hand above the shoulder, then bring the palms together briefly."""
    t, dur = time_axis(T)
    a, b = bodies
    s = pick_side(rng, 0.6)
    rise = rng.uniform(0.22, 0.32) * a.scale
    dx = rng.uniform(0.05, 0.2)
    d = reach_gap(a, b, rise, dx, frac=0.84)
    lateral = side_sign(s) * (a.shoulder_w + b.shoulder_w - dx)
    need = 1.4
    appr, t0, walk, who, ready = plan_approach(rng, dur, need, prob=0.4)
    xz0, xz1, y0, y1 = facing_pair(t, d, lateral, appr, t0, walk, who)
    t_up = event_time(rng, dur, max(ready - 0.3, 0.0), need)
    t_hit = t_up + rng.uniform(0.35, 0.6)
    t_off = t_hit + rng.uniform(0.08, 0.2)
    w = window(t, t_up, t_off, 0.35, 0.5)
    close = window(t, t_hit - 0.15, t_off, 0.15, 0.25)
    twist, lean = -side_sign(s) * 0.15 * w, 0.1 * close
    plans = [person(xz0 + sway(rng, t), y0, xz1, twist=twist, lean=lean),
             person(xz1 + sway(rng, t), y1, xz0, twist=twist, lean=lean)]

    def goals(p1):
        _, h0, h1 = _meet(p1, s, s, -rise, gap=0.03)
        out = []
        for i, h in ((0, h0), (1, h1)):
            sh = p1[i]["pos"][:, SHOULDER[s]]
            raised = sh + rise * UP + 0.15 * fwd_dir(p1[i]["glob"][:, 0])
            target = raised + close[:, None] * (h - raised)
            out.append({s: goal(target, w, out_dir(p1[i]["glob"][:, 0], s) - 0.5 * UP)})
        return out
    return Scene(plans, goals, dict(side=s, approach=who if appr else None))


def hug(rng, T, bodies):
    """Walk up (usually), open the arms wide, wrap both hands behind the partner's back (one person over
    the shoulders, the other around the waist), rock, let go and step apart."""
    t, dur = time_axis(T)
    a, b = bodies
    d = rng.uniform(0.36, 0.42) * 0.5 * (a.scale + b.scale)
    hold = rng.uniform(1.0, 3.0)
    need = 0.8 + min(hold, 1.5) + 0.3
    appr, t0, walk, who, ready = plan_approach(rng, dur, need, prob=0.75)
    xz0, xz1, y0, y1 = facing_pair(t, d, rng.normal(0.0, 0.03), appr, t0, walk, who)
    t_open = event_time(rng, dur, max(ready - 0.5, 0.0), need)
    t_wrap, t_rel = t_open + 0.8, t_open + 0.8 + hold
    back = 0.15 * ramp(t, t_rel + 0.3, 0.8)                          # step apart after letting go
    xz0[:, 1] -= back
    xz1[:, 1] += back
    w = window(t, t_open, t_rel, 0.8, 0.7)
    rock = 0.12 * np.sin(2 * np.pi * 0.5 * (t - t_wrap)) * window(t, t_wrap, t_rel, 0.5, 0.5)
    high = int(rng.integers(2))                                      # whose arms go over the shoulders
    plans = [person(xz0, y0, xz1, twist=rock, lean=0.15 * w), person(xz1, y1, xz0, twist=rock, lean=0.15 * w)]

    def goals(p1):
        out = []
        for i in (0, 1):
            j = 1 - i
            ref = p1[j]["pos"][:, 9 if i == high else 3]
            behind = -fwd_dir(p1[j]["glob"][:, 9])
            g = {}
            for s in (LEFT, RIGHT):
                lat = out_dir(p1[i]["glob"][:, 0], s)
                bulge = 0.25 * np.sin(np.pi * w)[:, None] * lat        # arms open wide on the way in
                g[s] = goal(ref + 0.11 * behind + 0.07 * lat + bulge, w, lat + 0.3 * UP)
            out.append(g)
        return out
    return Scene(plans, goals, dict(approach=who if appr else None, long=hold > 2.0))


def hand_over(rng, T, bodies):
    """The giver carries an object in one hand, holds it out at chest height; the receiver takes it
    with both hands and keeps it at the chest."""
    t, dur = time_axis(T)
    a, b = bodies
    s = pick_side(rng, 0.6)
    drop = rng.uniform(0.3, 0.4) * a.scale
    d = reach_gap(a, b, drop, a.shoulder_w, frac=0.85, anchor="a")
    need = 1.8
    appr, t0, walk, who, ready = plan_approach(rng, dur, need, prob=0.5)
    xz0, xz1, y0, y1 = facing_pair(t, d, side_sign(s) * a.shoulder_w, appr, t0, walk, who)
    t_give = event_time(rng, dur, max(ready - 0.3, 0.0), need)
    t_rel = t_give + 0.6 + rng.uniform(0.3, 0.7)
    reach0 = ramp(t, t_give, 0.6)
    back0 = 1.0 - ramp(t, t_rel, 0.6)
    take1 = ramp(t, t_give + 0.1, 0.5)
    keep1 = ramp(t, t_rel, 0.6)
    plans = [person(xz0 + sway(rng, t), y0, xz1, lean=0.08 * reach0 * back0),
             person(xz1 + sway(rng, t), y1, xz0, lean=0.12 * take1 * (1 - keep1))]

    def goals(p1):
        g0, g1 = p1[0]["glob"][:, 0], p1[1]["glob"][:, 0]
        meet = 0.5 * (p1[0]["pos"][:, SHOULDER[s]] + p1[1]["pos"][:, 9])
        meet[:, 1] = p1[0]["pos"][:, SHOULDER[s], 1] - drop
        carry = p1[0]["pos"][:, SHOULDER[s]] + 0.25 * fwd_dir(g0) - (drop + 0.1) * UP
        give = carry + reach0[:, None] * (meet - carry)
        out0 = {s: goal(give, back0, -UP + 0.5 * out_dir(g0, s))}
        toward = unit(horizontal(p1[1]["pos"][:, 0] - p1[0]["pos"][:, 0]))
        chest = p1[1]["pos"][:, 9] + 0.28 * fwd_dir(g1) - 0.12 * UP
        out1 = {}
        for side in (LEFT, RIGHT):
            lat = out_dir(g1, side)
            cup = meet + 0.06 * lat - 0.04 * UP + 0.02 * toward
            hold = chest + 0.06 * lat
            out1[side] = goal(cup + keep1[:, None] * (hold - cup), take1, -UP + 0.5 * lat)
        return [out0, out1]
    return Scene(plans, goals, dict(side=s, approach=who if appr else None))


def pat_shoulder(rng, T, bodies):
    """The actor (optionally walking up) rests one hand on the partner's facing shoulder (my
    right hand, your left shoulder) and pats 2-4 times; the partner lowers the head."""
    t, dur = time_axis(T)
    a, b = bodies
    s = pick_side(rng, 0.6)
    d = rng.uniform(0.42, 0.52) * a.scale
    n_pats, f = int(rng.integers(2, 5)), rng.uniform(1.6, 2.4)
    need = 0.8 + n_pats / f + 0.5
    appr, t0, walk, who, ready = plan_approach(rng, dur, need, prob=0.4, walkers=("first",))
    xz0, xz1, y0, y1 = facing_pair(t, d, rng.normal(0.0, 0.03), appr, t0, walk, who)
    t_on = event_time(rng, dur, max(ready - 0.2, 0.0), need)
    t_pat, t_off = t_on + 0.7, t_on + 0.7 + n_pats / f
    w = window(t, t_on, t_off, 0.7, 0.5)
    pat = 0.05 * 0.5 * (1 - np.cos(2 * np.pi * f * (t - t_pat))) * window(t, t_pat, t_off, 0.05, 0.05)
    nod = 0.25 * window(t, t_pat, t_off, 0.4, 0.5)
    plans = [person(xz0 + sway(rng, t), y0, xz1, lean=0.15 * w, twist=-side_sign(s) * 0.15 * w),
             person(xz1 + sway(rng, t), y1, None, head_pitch=nod)]
    partner_side = LEFT if s == RIGHT else RIGHT                     # facing each other: my right, your left

    def goals(p1):
        sh = p1[1]["pos"][:, SHOULDER[partner_side]]
        toward = unit(horizontal(p1[0]["pos"][:, 0] - p1[1]["pos"][:, 0]))
        target = sh + (0.07 + pat)[:, None] * UP + 0.03 * toward
        return [{s: goal(target, w, -UP + 0.5 * out_dir(p1[0]["glob"][:, 0], s))}, {}]
    return Scene(plans, goals, dict(side=s, partner_side=partner_side, count=n_pats))


def dance(rng, T, bodies):
    """Holding both hands crosswise, the pair turns around its centre (counterclockwise or clockwise
    seen from above) with small side steps and a bounce."""
    t, dur = time_axis(T)
    a, b = bodies
    drop = rng.uniform(0.3, 0.36) * a.scale
    d = reach_gap(a, b, drop, 0.0, frac=0.9, lean_gain=0.03) + rng.uniform(-0.02, 0.04)
    omega = rng.uniform(0.8, 1.4) * (1 if rng.random() < 0.5 else -1)   # + = counterclockwise from above
    t_on = rng.uniform(0.0, 0.4)
    t_end = dur - rng.uniform(0.0, 0.5)
    spin = omega * (np.cumsum(window(t, t_on, t_end - 0.6, 0.6, 0.6)) / 30.0)
    centre = np.array([0.0, d / 2])
    u = np.stack([np.sin(spin), np.cos(spin)], -1)                   # from person 0 towards person 1
    xz0, xz1 = centre - 0.5 * d * u, centre + 0.5 * d * u
    bounce = 0.025 * 0.5 * (1 - np.cos(2 * np.pi * 2.0 * t)) * window(t, t_on, t_end - 0.6, 0.6, 0.6)
    grip = window(t, 0.0, dur + 1.0, 0.3, 0.3) if t_on > 0.3 else np.ones_like(t)
    kw = dict(crouch=bounce, swing_frames=8, gap_frames=1, lift=0.07, step_thresh=0.07, turn_thresh=0.25)
    plans = [person(xz0, spin, xz1, **kw), person(xz1, spin + np.pi, xz0, **kw)]

    def goals(p1):
        out = [{}, {}]
        for s0 in (LEFT, RIGHT):                                     # my left holds your right
            _, h0, h1 = _meet(p1, s0, 1 - s0, drop, gap=0.03)
            out[0][s0] = goal(h0, grip, -UP + 0.5 * out_dir(p1[0]["glob"][:, 0], s0))
            out[1][1 - s0] = goal(h1, grip, -UP + 0.5 * out_dir(p1[1]["glob"][:, 0], 1 - s0))
        return out
    turn = abs(spin[-1])
    return Scene(plans, goals, dict(direction="counterclockwise" if omega > 0 else "clockwise",
                                    fast=abs(omega) > 1.2, turns=turn))
