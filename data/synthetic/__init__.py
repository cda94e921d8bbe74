"""The embedded synthetic two-person interaction dataset (14 interaction types, InterHuman's file format).

Modules, bottom-up:
    skeleton_fk    SMPL-22 rest skeleton per body size, forward kinematics, InterHuman's 6D layout, Z-up/Y-up
    limbs          two-bone IK (arms, legs) and the footstep planner
    micro_motion   the small continuous motion of every joint (sway, breathing, limb roll, wrist and toe play)
    body_motion    per-person plan -> local rotations -> FK positions (both people, hands reaching the partner)
    staging        time envelopes, body measurements, paths and hand goals the choreographies are written with
    choreo_contact handshake, high five, hug, hand-over, pat on the shoulder, dancing holding hands
    choreo_fight   push, punch and block, kick
    choreo_social  waving, bowing, walking towards each other, walking side by side, chasing
    choreography   the registry (TYPE_NAMES) and generate_clip(kind, seed)
    captions       three InterHuman-style captions per clip
    writer         write_dataset(out_dir, num_clips, seed): the files the InterHuman loaders read
    signatures     check(kind, joints (T, 2, 22, 3)): does a motion really perform the interaction?

CLI: python prepare/make_synthetic_dataset.py --out DIR --num_clips N --seed S
"""
