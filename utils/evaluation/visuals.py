"""--save_vis: GT and generated motions of the first samples of replication 0, to look at."""
import os

import numpy as np
import torch

from data.batches import InterHumanBatch, InterXBatch
from utils.evaluation.items import InterHumanItems


def save_visuals(opt, run_dir, ckpt_name, log_path, items, gen, layout):
    """GT and generated keypoints/videos of the first samples (as many as `items` holds: 20 for the
    transformer, 10 for the VQ-VAE) in <run>/animation/ (Inter-X: raw npy + captions).
    opt: which_epoch (part of the log name, left out of the file names)."""
    setting = os.path.basename(log_path)[:-4].replace(f"evaluation_{opt.which_epoch}", "").replace("__", "_")
    count = min(len(items), len(gen))
    anim = os.path.join(run_dir, "animation")
    for i in range(count):
        base = "_".join(p for p in (ckpt_name[:-4], setting.strip("_"), f"{i:02d}") if p)
        if isinstance(layout, InterHumanItems):
            from utils.plot_script import preprocess_plot_motion
            n_gt, n_gen = layout.length(items[i]), layout.length(gen[i])
            gt = [(torch.as_tensor(m[:n_gt]) * layout.std + layout.mean).numpy() for m in layout.persons(items[i])]
            g = InterHumanBatch.from_tuple(gen[i])
            for tag, people in (("gt", gt), ("gen", [g.motion1[:n_gen], g.motion2[:n_gen]])):
                preprocess_plot_motion(people, layout.text(items[i]), os.path.join(anim, "keypoint_mp4"),
                                       os.path.join(anim, "keypoint_npy"), f"{base}_{tag}")
        else:
            os.makedirs(os.path.join(anim, "smpl_npy"), exist_ok=True)
            os.makedirs(os.path.join(anim, "captions"), exist_ok=True)
            for tag, it in (("gt", items[i]), ("gen", gen[i])):
                n = layout.length(it)
                np.save(os.path.join(anim, "smpl_npy", f"{base}_{tag}.npy"),
                        np.asarray(InterXBatch.from_tuple(it).motion)[:n].reshape(n, -1))
            with open(os.path.join(anim, "captions", f"{base}.txt"), "w") as f:
                f.write(layout.text(items[i]) + "\n")
