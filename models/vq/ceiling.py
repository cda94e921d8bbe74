"""How much of each interaction survives the VQ-VAE alone: the ceiling of any transformer on top of it.

On a synthetic dataset (its `synthetic_meta.json` names each clip's interaction), every clip is encoded
and decoded by a trained VQ-VAE, each person alone as in generation, and the interaction's signature
(data/synthetic/signatures.py) is checked on the ground truth and on the decoded pair. A signature the
decoded clips lose cannot appear in generated motion either, so this separates VQ-VAE failures from
transformer failures.

    python -m models.vq.ceiling --data_root data/synthetic_interhuman --vq_name demo_vq
"""
import argparse
import json
import os
import sys
from collections import defaultdict

import numpy as np
import torch

from data.batches import InterHumanBatch
from data.skeleton import FRAMES_PER_TOKEN
from models.pipeline import InterMaskGenerator


def _joints(motion, length):
    """De-normalised InterHuman features (2, T, 262) -> joint positions (length, 2, 22, 3)."""
    return np.asarray(motion)[:, :length, :66].reshape(2, length, 22, 3).transpose(1, 0, 2, 3)


def round_trip(vq, mean, std, m1, m2, length):
    """Normalised motions (T, 262) of both persons -> (ground truth, decoded) joints, each (L, 2, 22, 3),
    L = length rounded down to whole token steps. Each person is encoded and decoded alone."""
    gen = InterMaskGenerator(None, vq, mean, std, "cpu")
    steps = int(length) // FRAMES_PER_TOKEN
    frames = steps * FRAMES_PER_TOKEN
    pair = torch.as_tensor(np.stack([m1, m2])[:, :frames], dtype=torch.float32)  # (2, L, 262)
    ids = torch.cat([gen.encode_person(pair[p:p + 1], [steps], steps) for p in range(2)], dim=1)  # (1, 10S)
    d1, d2 = gen.decode(ids, [steps])
    decoded = torch.stack([d1[0], d2[0]])[:, :frames]
    return _joints(gen.denormalize(pair), frames), _joints(gen.denormalize(decoded), frames)


def signature_ceiling(vq, mean, std, dataset, kinds_of, per_kind=8, kinds=None):
    """-> {kind: dict(clips, ground_truth, decoded, pelvis_gt, pelvis_decoded)} over the first `per_kind`
    un-mirrored clips of each kind. `kinds_of(name) -> kind`; `dataset.make_item(i, caption, crop, u1, u2)`
    gives item i with no person swaps (u1 = u2 = 0)."""
    from data.synthetic.signatures import check, pelvis_distance
    out = defaultdict(lambda: dict(clips=0, ground_truth=0, decoded=0, pelvis_gt=[], pelvis_decoded=[]))
    for i in range(len(dataset)):
        item = InterHumanBatch.from_tuple(dataset.make_item(i, 0, None, 0.0, 0.0))
        name, m1, m2, length = str(item.names), item.motion1, item.motion2, item.lengths
        kind = kinds_of(name)
        if name.endswith("_swap") or (kinds and kind not in kinds) or out[kind]["clips"] >= per_kind \
                or int(length) < 2 * FRAMES_PER_TOKEN:
            continue
        gt, dec = round_trip(vq, mean, std, m1, m2, length)
        row = out[kind]
        row["clips"] += 1
        row["ground_truth"] += bool(check(kind, gt).passed)
        row["decoded"] += bool(check(kind, dec).passed)
        row["pelvis_gt"].append(pelvis_distance(gt))
        row["pelvis_decoded"].append(pelvis_distance(dec))
    return {k: dict(v, pelvis_gt=round(float(np.mean(v["pelvis_gt"])), 3),
                    pelvis_decoded=round(float(np.mean(v["pelvis_decoded"])), 3))
            for k, v in sorted(out.items()) if v["clips"]}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_root", required=True, help="a synthetic InterHuman-format dataset")
    p.add_argument("--checkpoints_dir", default="./checkpoints")
    p.add_argument("--vq_name", required=True)
    p.add_argument("--vq_which_epoch", default="finest", help="checkpoint file under <run>/model (no .tar)")
    p.add_argument("--split", default="train", choices=["train", "val", "test"])
    p.add_argument("--per_kind", type=int, default=8, help="clips checked per interaction kind")
    p.add_argument("--kinds", nargs="*", default=None, help="only these kinds (default: all)")
    p.add_argument("--json", default=None, help="also write the table here")
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    from data import build_t2m_dataset, load_stats
    from data.config import DataConfig
    from models.vq.build import load_vq
    meta_path = os.path.join(a.data_root, "synthetic_meta.json")
    if not os.path.isfile(meta_path):
        sys.exit(f"{meta_path}: not found; the ceiling needs a synthetic dataset "
                 f"(python prepare/make_synthetic_dataset.py --out {a.data_root})")
    clips = json.load(open(meta_path))["clips"]
    opt = argparse.Namespace(dataset_name="interhuman", data_root=a.data_root, stats_dir=None)
    vq, _ = load_vq(a.checkpoints_dir, "interhuman", a.vq_name, a.vq_which_epoch)
    mean, std = load_stats(DataConfig.from_options(vars(opt)))
    dataset = build_t2m_dataset(DataConfig.from_options(vars(opt)), a.split)
    with torch.inference_mode():
        table = signature_ceiling(vq, mean, std, dataset, lambda n: clips[n.replace("_swap", "")]["kind"],
                                  a.per_kind, a.kinds)
    print(f"signatures kept through {a.vq_name} ({a.vq_which_epoch}), {a.split} clips:")
    for kind, r in table.items():
        print(f"  {kind:13s} ground truth {r['ground_truth']}/{r['clips']}  decoded {r['decoded']}/{r['clips']}  "
              f"pelvis distance {r['pelvis_gt']:.2f} m -> {r['pelvis_decoded']:.2f} m")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(table, f, indent=1)
    return table


if __name__ == "__main__":
    main()
