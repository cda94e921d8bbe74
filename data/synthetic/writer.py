"""Write generated clips in exactly InterHuman's on-disk layout, so the real loaders read them unchanged.

<root>/motions_processed/person{1,2}/<id>.npy   (T, 492) float32, Z-up:
    [0:66]    positions of the 22 SMPL joints (metres)
    [66:186]  40 hand/finger-tip positions InterHuman also stores; here copies of the wrist position
              (15 left-hand joints, 15 right-hand joints, 5 left tips, 5 right tips). No loader reads them.
    [186:312] local 6D rotations of joints 1..21, [m00, m01, m10, m11, m20, m21] (first two columns)
    [312:492] 30 hand-joint rotations; here the identity in the same 6D layout. No loader reads them.
<root>/annots/<id>.txt                           3 captions, one per '\\n'-terminated line
<root>/split/{train,val,test}.txt, <root>/{train,val,test}.txt (InterGen's layout), both ignore_list.txt
<root>/synthetic_meta.json                      per clip: type, split, frames, who is "one person", params
"""
import json
import os
import shutil
import time

import numpy as np

from data.synthetic.choreography import TYPE_NAMES, generate_clip
from data.synthetic.skeleton_fk import matrix_to_6d, yup_to_zup

SPLITS = ("train", "val", "test")
FILE_DIM = 492
_HAND_SOURCE = [20] * 15 + [21] * 15 + [20] * 5 + [21] * 5       # joints 22..61 copy a wrist
_IDENTITY_6D = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])


def pack_person(pos, local):
    """pos (T, 22, 3) Y-up world, local (T, 22, 3, 3) -> the (T, 492) float32 array of a person file."""
    T = pos.shape[0]
    zup = yup_to_zup(pos)                                               # (T, 22, 3)
    out = np.empty((T, FILE_DIM), dtype=np.float64)
    out[:, 0:66] = zup.reshape(T, 66)
    out[:, 66:186] = zup[:, _HAND_SOURCE].reshape(T, 120)
    out[:, 186:312] = matrix_to_6d(local[:, 1:22]).reshape(T, 126)
    out[:, 312:492] = np.tile(_IDENTITY_6D, 30)
    return out.astype(np.float32)


def kind_of(index, seed, types=TYPE_NAMES):
    """Interaction type of clip `index`: each block of len(types) clips holds every type once, in a
    seeded order, so any dataset size is balanced and a clip does not depend on the dataset size."""
    block, pos = divmod(index, len(types))
    perm = np.random.default_rng(np.random.SeedSequence([seed, 0xB10C, block])).permutation(len(types))
    return types[perm[pos]]


def interaction_types(types=None):
    """The types a dataset holds: None -> all of TYPE_NAMES in its order; else `types` checked to be distinct
    known names (ValueError naming --kinds otherwise)."""
    if types is None:
        return list(TYPE_NAMES)
    types = list(types)
    if not types or set(types) - set(TYPE_NAMES) or len(set(types)) != len(types):
        raise ValueError(f"--kinds {' '.join(types) or '(none)'}: name distinct interaction types among "
                         f"{', '.join(TYPE_NAMES)}")
    return types


def split_sequence(length, fractions=(0.8, 0.1, 0.1)):
    """A deterministic sequence of split names whose running shares track `fractions`: each step goes to
    the split furthest below its target (ties: test, val, train). For (0.8, 0.1, 0.1) every window of
    10 consecutive steps holds 8 train, 1 val and 1 test."""
    counts, out = np.zeros(3), []
    prio = np.array([0.0, 1e-9, 2e-9])
    for n in range(length):
        k = int(np.argmax(np.asarray(fractions) * (n + 1) - counts + prio))
        counts[k] += 1
        out.append(SPLITS[k])
    return out


def split_of(index, kind, sequence, types=TYPE_NAMES):
    """Split of clip `index`: the n-th clip of a type (n = its block) takes step n + type_index of the split
    sequence, so each type cycles through train/val/test on its own phase. Every type is in every split
    once there are 10 blocks (140 clips) with the default fractions, and small datasets still get val and
    test clips."""
    return sequence[index // len(types) + types.index(kind)]


def _jsonable(key, v):
    if key in ("side", "side2", "partner_side") and v is not None:
        return ("left", "right")[int(v)]
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return round(float(v), 4)
    return v


def check_root(out_dir):
    """The loaders derive caption paths by plain substring replacement on the whole path, so the root must
    not contain these words; ids must not contain dots."""
    absolute = os.path.abspath(out_dir)
    for word in ("person1", "npy", "motions_processed"):
        if word in absolute:
            raise ValueError(f"dataset folder {absolute} contains {word!r}; the InterHuman loaders build caption "
                             f"paths by substring replacement and would break; choose another folder")


def write_dataset(out_dir, num_clips, seed=0, fractions=(0.8, 0.1, 0.1), overwrite=False, log=print,
                  max_frames=None, types=None):
    """Generate `num_clips` clips into `out_dir` (each at most `max_frames` long when given), of the
    interaction `types` (default all of TYPE_NAMES, in its order). Returns the metadata dict (also written
    as JSON)."""
    if num_clips < 1:
        raise ValueError(f"--num_clips must be >= 1, got {num_clips}")
    types = interaction_types(types)
    check_root(out_dir)
    mp = os.path.join(out_dir, "motions_processed")
    if os.path.exists(mp):
        if not overwrite:
            raise FileExistsError(f"{mp} already exists; pass --overwrite to replace the dataset")
        for sub in ("motions_processed", "annots", "split"):
            shutil.rmtree(os.path.join(out_dir, sub), ignore_errors=True)
    for sub in ("motions_processed/person1", "motions_processed/person2", "annots", "split"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)

    sequence = split_sequence(num_clips // len(types) + 2 * len(types), fractions)
    ids = {s: [] for s in SPLITS}
    clips_meta = {}
    start = time.time()
    for i in range(num_clips):
        cid = str(i + 1)
        kind = kind_of(i, seed, types)
        clip = generate_clip(kind, np.random.SeedSequence([seed, i]), max_frames=max_frames)
        for slot, person in enumerate(clip.people):
            np.save(os.path.join(mp, f"person{slot + 1}", f"{cid}.npy"), pack_person(person["pos"], person["local"]))
        with open(os.path.join(out_dir, "annots", f"{cid}.txt"), "w", newline="\n") as f:
            f.write("".join(c + "\n" for c in clip.captions))
        split = split_of(i, kind, sequence, types)
        ids[split].append(cid)
        clips_meta[cid] = dict(kind=kind, split=split, frames=clip.num_frames, actor=clip.actor,
                               params={k: _jsonable(k, v) for k, v in clip.params.items()},
                               bodies=[{k: round(v, 6) for k, v in vars(b).items()} for b in clip.bodies])
        if log and (i + 1) % 200 == 0:
            log(f"  {i + 1}/{num_clips} clips ({time.time() - start:.1f} s)")

    for split, lst in ids.items():
        text = "".join(c + "\n" for c in lst)
        for path in (os.path.join(out_dir, "split", f"{split}.txt"), os.path.join(out_dir, f"{split}.txt")):
            with open(path, "w", newline="\n") as f:
                f.write(text)
    for path in (os.path.join(out_dir, "split", "ignore_list.txt"), os.path.join(out_dir, "ignore_list.txt")):
        open(path, "w").close()
    meta = dict(generator="data.synthetic", seed=seed, num_clips=num_clips, fps=30, types=types,
                max_frames=max_frames,
                split_sizes={s: len(v) for s, v in ids.items()}, clips=clips_meta)
    with open(os.path.join(out_dir, "synthetic_meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    if log:
        log(f"wrote {num_clips} clips to {out_dir} in {time.time() - start:.1f} s "
            f"(train {len(ids['train'])}, val {len(ids['val'])}, test {len(ids['test'])})")
    return meta
