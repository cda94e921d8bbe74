"""Turn a per-person choreography plan into local joint rotations and FK positions.

Order (so that targets can depend on the partner's body): legs and trunk of BOTH people first (pass 1, arms
at rest), then hand goals are computed from the pass-1 bodies (a handshake point between two shoulders, a
push on the partner's chest), then arm IK, then the final FK. Arms are leaves of the tree, so the trunk
positions of pass 1 are exactly the final ones.
"""
from dataclasses import dataclass, field, replace

import numpy as np

from data.synthetic.limbs import pelvis_height_for_reach, plan_footsteps, two_bone_ik
from data.synthetic.micro_motion import add_roll_and_leaves
from data.synthetic.skeleton_fk import forward_kinematics, heading, rot_x, rot_y, rot_z

LEFT, RIGHT = 0, 1
HIP, KNEE, ANKLE, TOE = (1, 2), (4, 5), (7, 8), (10, 11)
COLLAR, SHOULDER, ELBOW, WRIST = (13, 14), (16, 17), (18, 19), (20, 21)
_UP = np.array([0.0, 1.0, 0.0])


@dataclass
class PersonPlan:
    """Per-frame controls of one person (T frames, Y-up world, metres, radians)."""
    root_xz: np.ndarray                    # (T, 2) pelvis path [x, z]
    yaw: np.ndarray                        # (T,) facing, 0 = +Z
    lean: np.ndarray = None                # (T,) forward bend of the trunk (split pelvis / spine)
    pelvis_share: float = 0.3              # part of `lean` taken by the pelvis (a bow bends at the hips)
    twist: np.ndarray = None               # (T,) torso yaw relative to the hips (+ = turn left)
    side_bend: np.ndarray = None           # (T,) trunk roll (+ = towards the body's right)
    crouch: np.ndarray = None              # (T,) extra pelvis lowering (m)
    head_pitch: np.ndarray = None          # (T,) nod (+ = down)
    look_at: np.ndarray = None             # (T, 2) xz point the head turns to (clamped), or None
    swing_frames: int = 12                 # duration of one step's swing
    gap_frames: int = 3                    # double support between two steps
    lift: float = 0.09                     # step height
    step_thresh: float = 0.09              # how far the pelvis may carry a foot's home before it steps
    turn_thresh: float = 0.35              # how far the body may turn (rad) before a foot steps
    arm_swing: float = 0.5                 # arm swing per metre of opposite-foot offset
    foot_override: dict = field(default_factory=dict)  # side -> dict(target (T,3), weight (T,), pitch, pole)

    def get(self, name):
        v = getattr(self, name)
        return np.zeros(len(self.yaw)) if v is None else v


def _lower_body(plan, off, micro=None):
    """Root, spine, head and legs of one person (with the trunk part of `micro`, a MicroMotion, if given).
    Returns local rotations (T, 22, 3, 3) with the arms at rest, root position (T, 3), and the ankle
    targets / stance mask for later checks."""
    n = len(plan.yaw)
    lean = plan.get("lean")
    g_root = rot_y(plan.yaw) @ rot_x(plan.pelvis_share * lean)                 # (T, 3, 3)
    if micro is not None:
        g_root = g_root @ micro.rotation(0)
    local = np.broadcast_to(np.eye(3), (n, 22, 3, 3)).copy()
    local[:, 0] = g_root
    spine = rot_y(plan.get("twist") / 3) @ rot_x((1 - plan.pelvis_share) * lean / 3) \
        @ rot_z(plan.get("side_bend") / 3)
    local[:, [3, 6, 9]] = spine[:, None]

    look = np.zeros(n)
    if plan.look_at is not None:
        d = plan.look_at - plan.root_xz
        want = np.arctan2(d[:, 0], d[:, 1]) - plan.yaw - plan.get("twist")
        look = np.clip((want + np.pi) % (2 * np.pi) - np.pi, -1.1, 1.1)
    nod = plan.get("head_pitch")
    local[:, 12] = rot_y(0.4 * look) @ rot_x(0.4 * nod)
    local[:, 15] = rot_y(0.6 * look) @ rot_x(0.6 * nod)
    if micro is not None:                 # spine, neck, head, collars (the arms are solved from them later)
        for j in (3, 6, 9, 12, 13, 14, 15):
            local[:, j] = local[:, j] @ micro.rotation(j)

    # feet: planned steps, then explicit overrides (kicks)
    half_width = abs(off[1, 0]) * 1.15
    xz, lift, foot_yaw, stance = plan_footsteps(plan.root_xz, plan.yaw, half_width, plan.swing_frames,
                                                plan.lift, plan.step_thresh, plan.turn_thresh,
                                                gap_frames=plan.gap_frames)
    ankle_h = -off[10, 1]                                                       # toe on the floor (y = 0)
    ankle = np.concatenate([xz[..., :1], ankle_h + lift[..., None], xz[..., 1:]], -1)  # (2, T, 3)
    pitch = np.zeros((2, n))
    poles = heading(foot_yaw) + 0.15 * heading(foot_yaw + np.array([[np.pi / 2], [-np.pi / 2]]))  # knees forward, out
    for s, ov in plan.foot_override.items():
        w = ov["weight"][:, None]
        ankle[s] = (1 - w) * ankle[s] + w * ov["target"]
        pitch[s] = ov["weight"] * ov.get("pitch", 0.0)
        if "pole" in ov:
            poles[s] = (1 - w) * poles[s] + w * ov["pole"]
        stance[s] &= ov["weight"] < 1e-3

    hip_off = np.stack([g_root @ off[h] for h in HIP])                          # (2, T, 3)
    leg_len = np.linalg.norm(off[4]) + np.linalg.norm(off[7])
    desired = ankle_h + 0.975 * leg_len - off[1, 1] - plan.get("crouch")
    height = pelvis_height_for_reach(desired, plan.root_xz[None] + hip_off[..., [0, 2]], hip_off[..., 1],
                                     ankle, leg_len)
    root = np.concatenate([plan.root_xz[:, :1], height[:, None], plan.root_xz[:, 1:]], -1)  # (T, 3)

    for s in (LEFT, RIGHT):
        hip_pos = root + hip_off[s]
        r_hip, r_knee, _ = two_bone_ik(g_root, hip_pos, ankle[s], poles[s], off[KNEE[s]], off[ANKLE[s]],
                                       np.array([0.0, 0.0, -1.0]))
        g_foot = rot_y(foot_yaw[s]) @ rot_x(-pitch[s])
        g_knee = g_root @ r_hip @ r_knee
        local[:, HIP[s]] = r_hip
        local[:, KNEE[s]] = r_knee
        local[:, ANKLE[s]] = np.swapaxes(g_knee, -1, -2) @ g_foot
    return dict(local=local, root=root, ankle=ankle, stance=stance)


def _rest_arm_targets(plan, body, pos, off):
    """Hands hanging by the sides, swinging against the opposite foot while walking. (2, T, 3) each."""
    fwd = heading(plan.yaw)                                                      # (T, 3)
    side = heading(plan.yaw + np.pi / 2)                                         # body-left
    targets, poles = [], []
    for s in (LEFT, RIGHT):
        out = side if s == LEFT else -side
        opp = body["ankle"][1 - s]
        swing = np.clip(plan.arm_swing * ((opp - body["root"]) * fwd).sum(-1), -0.3, 0.3)[:, None]
        d = -_UP + (0.08 + swing) * fwd + 0.13 * out
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        arm = np.linalg.norm(off[ELBOW[s]]) + np.linalg.norm(off[WRIST[s]])
        targets.append(pos[:, SHOULDER[s]] + 0.95 * arm * d)
        poles.append(-fwd + 0.4 * out)
    return np.stack(targets), np.stack(poles)


def _with_sway(plan, micro):
    """The plan with the micro-motion's pelvis weight shift and breathing added."""
    if micro is None:
        return plan
    return replace(plan, root_xz=plan.root_xz + micro.sway, crouch=plan.get("crouch") + micro.breath)


def build_pair(plans, offsets, hand_goals=None, micro=None):
    """Both people's motion. plans: 2 PersonPlan; offsets: 2 (22, 3) arrays; hand_goals(pass1) -> per person
    {side: dict(target (T,3), weight (T,), pole (T,3))}, where pass1 is a list of 2 dicts with 'pos'
    (T, 22, 3), 'glob' (T, 22, 3, 3) and 'plan'; micro: None or 2 MicroMotion (small motion of every
    joint). Returns a list of 2 dicts: pos (T, 22, 3), local (T, 22, 3, 3) (entry 0 = global root
    orientation), root (T, 3), stance (2, T)."""
    micro = micro or [None, None]
    plans = [_with_sway(p, m) for p, m in zip(plans, micro)]
    bodies = [_lower_body(p, o, m) for p, o, m in zip(plans, offsets, micro)]
    for b, o in zip(bodies, offsets):
        b["pos"], b["glob"] = forward_kinematics(b["local"], b["root"], o)
    pass1 = [dict(pos=b["pos"], glob=b["glob"], plan=p, offsets=o) for b, p, o in zip(bodies, plans, offsets)]
    goals = hand_goals(pass1) if hand_goals is not None else [{}, {}]
    out = []
    for b, p, o, g, m in zip(bodies, plans, offsets, goals, micro):
        rest_t, rest_p = _rest_arm_targets(p, b, b["pos"], o)
        for s in (LEFT, RIGHT):
            target, pole = rest_t[s], rest_p[s]
            if s in g:
                w = g[s]["weight"][:, None]
                target = (1 - w) * target + w * g[s]["target"]
                pole = (1 - w) * pole + w * g[s]["pole"]
            r_sh, r_el, _ = two_bone_ik(b["glob"][:, COLLAR[s]], b["pos"][:, SHOULDER[s]], target, pole,
                                        o[ELBOW[s]], o[WRIST[s]], np.array([0.0, 0.0, 1.0]))
            b["local"][:, SHOULDER[s]] = r_sh
            b["local"][:, ELBOW[s]] = r_el
        if m is not None:
            add_roll_and_leaves(b["local"], o, m)
        pos, glob = forward_kinematics(b["local"], b["root"], o)
        out.append(dict(pos=pos, glob=glob, local=b["local"], root=b["root"], stance=b["stance"]))
    return out
