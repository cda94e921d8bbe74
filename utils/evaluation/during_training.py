"""Evaluation during training (the trainers' `--do_eval`): FID and R-precision only, as the official.

    wrapper = models.evaluator.build.build_evaluator(evaluator_cfg, device)   # built by the caller
    metrics = evaluate_motions(motion_fn, val_loader, wrapper, device, mean=mean, std=std,
                               log_file=<save_root>/eval/evaluation_training.log, epoch=ep)
    metrics -> {'fid', 'top1', 'top2', 'top3', 'matching', 'gt_top1', 'gt_top2', 'gt_top3', 'gt_matching'}

- `val_loader` yields the text-motion loader's batches unchanged (data.batches: InterHumanBatch with
  motions NORMALISED as the models consume them; InterXBatch, raw). Use batch size 96 (InterHuman) /
  32 (Inter-X) with drop_last: R-precision ranks each text against the motions of its own batch.
- `motion_fn(batch) -> (motions, lengths)`: the model's output for that batch, as the evaluator
  wants it. InterHuman: (B, T, 524) DE-normalised [person 1 262 | person 2 262], any T <= 300; rows
  past the length are ignored. Inter-X: (B, T, 56, 12) in the loader layout (rows 0..54 [p1 6D | p2
  6D], row 55 [t1, v1, t2, v2]); rows past the length are zeroed here. `lengths` (B,) valid frames
  (e.g. 4*(len//4) for VQ reconstructions). Called under torch.no_grad().
- `mean`, `std` ((262,) arrays, InterHuman only): used to de-normalise the GT batch for the
  evaluator. Pass None when the loader already yields de-normalised motions (and for Inter-X).
- With `log_file` (path, appended) the official block is written: "==================== Epoch e
  ====================" then MM Distance / R_precision / FID lines for the `gt` and `gen` loaders.
"""
import os

import numpy as np
import torch

from data.batches import InterHumanBatch, loader_batch
from utils.evaluation.log import log_line, r_precision_line
from utils.metrics import calculate_activation_statistics, calculate_frechet_distance, matching_batch


def denormalize_batch(batch, mean, std):
    """InterHuman batch with normalised motions -> the same batch de-normalised (x * std + mean)."""
    mean = torch.as_tensor(np.asarray(mean), dtype=torch.float32)
    std = torch.as_tensor(np.asarray(std), dtype=torch.float32)
    b = InterHumanBatch.from_tuple(batch)
    b.motion1 = torch.as_tensor(b.motion1).float() * std + mean
    b.motion2 = torch.as_tensor(b.motion2).float() * std + mean
    return b.to_tuple()


@torch.no_grad()
def evaluate_motions(motion_fn, gt_loader, eval_wrapper, device=None, mean=None, std=None, log_file=None,
                     epoch=None, top_k=3):
    """FID and R-precision / MM Dist of `motion_fn`'s outputs against the GT of `gt_loader` (see the
    module docstring for the exact contract)."""
    sums = {"gt": [0.0, np.zeros(top_k)], "gen": [0.0, np.zeros(top_k)]}
    embs = {"gt": [], "gen": []}
    n = 0
    for batch in gt_loader:
        gt_batch = denormalize_batch(batch, mean, std) if mean is not None else batch
        motions, lengths = motion_fn(batch)
        gen_batch = eval_wrapper.batch_with_motions(batch, torch.as_tensor(motions).detach().float().cpu(),
                                                    torch.as_tensor(lengths).cpu())
        for name, b in (("gt", gt_batch), ("gen", gen_batch)):
            text_emb, motion_emb = eval_wrapper.get_co_embeddings(b)
            s, hits = matching_batch(text_emb.numpy(), motion_emb.numpy(), top_k)
            sums[name][0] += s
            sums[name][1] += hits
            embs[name].append(motion_emb.numpy())
        n += len(loader_batch(batch, eval_wrapper.dataset_name).texts)
    if n == 0:
        raise ValueError("evaluate_motions: the evaluation loader yielded no batch (fewer samples than one "
                         "batch with drop_last?)")
    gt = np.concatenate(embs["gt"])
    gt_mu, gt_cov = calculate_activation_statistics(gt, eval_wrapper.emb_scale)
    out = {}
    for name in ("gt", "gen"):
        mu, cov = calculate_activation_statistics(np.concatenate(embs[name]), eval_wrapper.emb_scale)
        fid = float(calculate_frechet_distance(gt_mu, gt_cov, mu, cov))
        r = sums[name][1] / n
        pre = "gt_" if name == "gt" else ""
        out.update({pre + "matching": sums[name][0] / n, pre + "top1": r[0], pre + "top2": r[1],
                    pre + "top3": r[2], pre + "fid": fid})
    out.pop("gt_fid")
    if log_file is not None:
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        with open(log_file, "a") as f:
            if epoch is not None:
                log_line(f, f"==================== Epoch {epoch} ====================")
            for name, pre in (("gt", "gt_"), ("gen", "")):
                log_line(f, f"---> [{name}] MM Distance: {out[pre + 'matching']:.4f}")
                log_line(f, r_precision_line(name, [out[pre + f"top{i + 1}"] for i in range(top_k)]))
            log_line(f, f"---> [gt] FID: {0.0:.4f}")
            log_line(f, f"---> [gen] FID: {out['fid']:.4f}")
    return out
