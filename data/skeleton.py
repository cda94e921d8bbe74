"""The SMPL-22 body skeleton used everywhere (InterHuman's joint order), as plain constants.

Joint order: 0 pelvis, 1 L-hip, 2 R-hip, 3 spine1, 4 L-knee, 5 R-knee, 6 spine2, 7 L-ankle, 8 R-ankle,
9 spine3, 10 L-foot, 11 R-foot, 12 neck, 13 L-collar, 14 R-collar, 15 head, 16 L-shoulder, 17 R-shoulder,
18 L-elbow, 19 R-elbow, 20 L-wrist, 21 R-wrist.
"""
JOINT_NAMES = [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
]
NUM_JOINTS = 22

# Kinematic chains (bones, plotting, the VQ's graph): right leg, left leg, spine, right arm, left arm.
KINEMATIC_CHAIN = [[0, 2, 5, 8, 11], [0, 1, 4, 7, 10], [0, 3, 6, 9, 12, 15], [9, 14, 17, 19, 21],
                   [9, 13, 16, 18, 20]]

# Parent of each joint (-1 for the root), consistent with KINEMATIC_CHAIN.
PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19]

# The 21 bones as (parent, child) in chain order; both directions of these are the VQ graph's edges.
BONES = [(c[i], c[i + 1]) for c in KINEMATIC_CHAIN for i in range(len(c) - 1)]

# Mirror: joints of the right and left chains trade places (positions and rotations).
RIGHT_CHAIN = [2, 5, 8, 11, 14, 17, 19, 21]
LEFT_CHAIN = [1, 4, 7, 10, 13, 16, 18, 20]

# Feet for contacts: left (ankle, foot), right (ankle, foot); height thresholds per joint.
FOOT_LEFT = [7, 10]
FOOT_RIGHT = [8, 11]
FOOT_JOINTS = [7, 10, 8, 11]
FOOT_HEIGHT_THRESH = [0.12, 0.05, 0.12, 0.05]
FOOT_VEL_THRESH = 0.001

FPS = 30

# One VQ-VAE token step covers 4 frames (time is halved down_t = 2 times): lengths are used as
# 4 * (frames // 4), token maps are frames // 4 columns wide.
FRAMES_PER_TOKEN = 4

# Per-person 262-d feature layout (InterGen's "global" representation).
POS = slice(0, 66)        # 22 x 3 joint positions, Y-up canonical frame
VEL = slice(66, 132)      # 22 x 3 pos[t+1] - pos[t]
ROT = slice(132, 258)     # 21 x 6 local 6D rotations [m00, m01, m10, m11, m20, m21]
CONTACT = slice(258, 262)  # L-ankle, L-foot, R-ankle, R-foot
FEAT_DIM = 262
RAW_DIM = 192              # 66 positions + 126 rotations, as read from the person files
