"""Small continuous motion on every joint, as motion capture always has: breathing and sway of the trunk,
head and shoulder girdle, a slight weight shift of the pelvis, roll of the limbs about their bones, play of
the wrists and toes.

Why: without it the choreographies leave some joints' local rotations constant (wrists, toes and collars
never rotate, knees and elbows bend about one fixed hinge), so whole feature columns are constant and a
per-column z-score normalisation divides zero by zero. Every joint here moves by a few degrees, smoothly:
each person has a few random signals (random frequencies, phases and rest bias per clip) and every joint
axis is a fixed mix of them, so the whole body moves together as a real one does.

It never spoils what the choreography asked for: trunk, head and collar rotations and the pelvis sway go
into the plan BEFORE the legs and arms are solved (the feet stay planted, the hands still reach their goals),
and the limb roll turns a joint about the bone to its only child while the child takes the inverse turn,
which leaves every position exactly where it was.
"""
from dataclasses import dataclass

import numpy as np

from data.skeleton import FPS, PARENTS
from data.synthetic.skeleton_fk import axis_angle_matrix

# Joints whose rotation is added before the limbs are solved (visible in the positions), and the peak
# amplitude per axis (radians) of each: pelvis, spine1-3, neck, collars, head.
TRUNK_AMPLITUDE = {0: 0.02, 3: 0.04, 6: 0.04, 9: 0.04, 12: 0.05, 13: 0.08, 14: 0.08, 15: 0.06}
# Joints set by the limb solvers (hips, knees, ankles, shoulders, elbows): roll about the bone to the child.
ROLL_AMPLITUDE = {1: 0.08, 2: 0.08, 4: 0.08, 5: 0.08, 7: 0.08, 8: 0.08, 16: 0.1, 17: 0.1, 18: 0.12,
                  19: 0.12}
# Leaves (toes, wrists): their rotation moves no joint, so any small rotation is free.
LEAF_AMPLITUDE = {10: 0.12, 11: 0.12, 20: 0.2, 21: 0.2}
SWAY_M = 0.01          # pelvis weight shift (metres, each horizontal axis)
BREATH_M = 0.004       # pelvis height breathing (metres)
# The number of smooth random signals per person that drive it (slow: sway, fidgeting; fast: hand and toe
# play); each joint axis is a FIXED mix of them.
N_SLOW, N_FAST = 4, 2


def smooth_noise(rng, T, amplitude, low_hz=0.1, high_hz=0.7, n_waves=3, fps=FPS):
    """(T, S) smooth random signals, one per entry of `amplitude` (S,): a random rest bias plus `n_waves`
    sinusoids of random frequency in [low_hz, high_hz], phase and share, each signal's peak at most its
    amplitude."""
    amplitude = np.atleast_1d(np.asarray(amplitude, dtype=np.float64))        # (S,)
    S = len(amplitude)
    t = np.arange(T)[:, None, None] / fps                                     # (T, 1, 1)
    freq = rng.uniform(low_hz, high_hz, (n_waves, S))                         # (W, S)
    phase = rng.uniform(0.0, 2 * np.pi, (n_waves, S))
    share = rng.dirichlet(np.ones(n_waves + 1), S)                            # (S, W + 1), rows sum to 1
    bias = share[:, 0] * rng.choice([-1.0, 1.0], S)                           # (S,)
    waves = np.sin(2 * np.pi * freq.T * t + phase.T)                          # (T, S, W)
    return amplitude * (bias + (waves * share[:, 1:]).sum(-1))                # (T, S)


def _mixing(n_signals, n_channels, seed):
    """(n_signals, n_channels) fixed weights, each channel's absolute weights summing to 1 (its peak stays
    within its amplitude)."""
    w = np.random.default_rng(seed).uniform(-1.0, 1.0, (n_signals, n_channels))
    return w / np.abs(w).sum(0)


@dataclass
class MicroMotion:
    """One person's micro-motion over T frames."""
    trunk: dict           # joint -> (T, 3) axis-angle added to the joint's local rotation before the limbs
    roll: dict            # joint -> (T,) angle about the bone to its child (compensated in the child)
    leaf: dict            # joint -> (T, 3) axis-angle added to a leaf joint's local rotation
    sway: np.ndarray      # (T, 2) pelvis xz offset (metres)
    breath: np.ndarray    # (T,) pelvis lowering (metres)

    @staticmethod
    def sample(rng, T):
        """A person's micro-motion; its overall liveliness also varies from clip to clip."""
        k = rng.uniform(0.6, 1.4)
        trunk, roll, leaf = list(TRUNK_AMPLITUDE), list(ROLL_AMPLITUDE), list(LEAF_AMPLITUDE)
        amp = np.concatenate([np.repeat([TRUNK_AMPLITUDE[j] for j in trunk], 3),
                              [ROLL_AMPLITUDE[j] for j in roll], [SWAY_M, SWAY_M]])
        slow = smooth_noise(rng, T, np.ones(N_SLOW)) @ _mixing(N_SLOW, len(amp), 1) * k * amp     # (T, C)
        fast_amp = np.repeat([LEAF_AMPLITUDE[j] for j in leaf], 3)
        fast = smooth_noise(rng, T, np.ones(N_FAST), high_hz=1.2) @ _mixing(N_FAST, len(fast_amp), 2) * k * fast_amp
        breath = smooth_noise(rng, T, 1.0, low_hz=0.2, high_hz=0.35, n_waves=1)[:, 0]
        n = 3 * len(trunk)
        return MicroMotion(
            trunk={j: slow[:, 3 * i:3 * i + 3] for i, j in enumerate(trunk)},
            roll={j: slow[:, n + i] for i, j in enumerate(roll)},
            leaf={j: fast[:, 3 * i:3 * i + 3] for i, j in enumerate(leaf)},
            sway=slow[:, -2:], breath=BREATH_M * k * (1.0 + breath) / 2)

    def rotation(self, joint):
        """(T, 3, 3) the trunk rotation of `joint`."""
        return _axis_angle(self.trunk[joint])


def _axis_angle(v):
    """(..., 3) axis-angle vectors -> (..., 3, 3) rotations."""
    angle = np.linalg.norm(v, axis=-1)
    axis = v / np.maximum(angle, 1e-12)[..., None]
    return axis_angle_matrix(axis, angle)


def add_roll_and_leaves(local, offsets, micro):
    """Turn each rolling joint j about its child's rest bone by angle a (R_j <- R_j A) and its child c by
    the inverse (R_c <- A^T R_c): the child's global rotation and every position stay the same (a joint
    that is both, like a knee, gets A_hip^T R_knee A_knee). Then add the leaves' rotations.
    local (T, 22, 3, 3) is changed in place and returned."""
    joints = list(micro.roll)
    kids = [PARENTS.index(j) for j in joints]                                 # each one's only child
    axes = offsets[kids] / np.linalg.norm(offsets[kids], axis=-1, keepdims=True)           # (R, 3)
    angles = np.stack([micro.roll[j] for j in joints], -1)                    # (T, R)
    A = axis_angle_matrix(np.broadcast_to(axes, angles.shape + (3,)), angles)  # (T, R, 3, 3)
    local[:, joints] = local[:, joints] @ A
    local[:, kids] = np.swapaxes(A, -1, -2) @ local[:, kids]
    leaves = list(micro.leaf)
    local[:, leaves] = local[:, leaves] @ _axis_angle(np.stack([micro.leaf[j] for j in leaves], 1))
    return local
