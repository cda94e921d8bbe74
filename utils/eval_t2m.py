"""Evaluation passes shared by eval.py and the trainers' `--do_eval`.

Contract for the trainers (evaluation during training, FID and R-precision only, as the official):

    wrapper = build_eval_wrapper(opt, device)      # InterHuman: <eval_model_dir or
                                                   #   <checkpoints_dir>/eval_model>/{eval_model.yaml,
                                                   #   interclip.ckpt}; Inter-X: <...>/hhi/...
    metrics = evaluate_motions(motion_fn, val_loader, wrapper, device, mean=mean, std=std,
                               log_file=<save_root>/eval/evaluation_training.log, epoch=ep)
    metrics -> {'fid', 'top1', 'top2', 'top3', 'matching', 'gt_top1', 'gt_top2', 'gt_top3', 'gt_matching'}

- `val_loader` yields the text-motion loader's batches unchanged (InterHuman: (names, texts, motion1,
  motion2, lengths) with motions NORMALISED as the models consume them; Inter-X: the 7-tuple of the
  Inter-X loader, raw). Use batch size 96 (InterHuman) / 32 (Inter-X) with drop_last: R-precision
  ranks each text against the motions of its own batch.
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
from collections import OrderedDict
from datetime import datetime

import numpy as np
import torch

from models.evaluator.build import build_evaluator
from utils.metrics import (calculate_activation_statistics, calculate_diversity, calculate_frechet_distance,
                           calculate_multimodality, get_metric_statistics, matching_batch)


def build_eval_wrapper(opt, device):
    """The dataset's evaluator wrapper from --eval_model_dir / --checkpoints_dir (see module doc)."""
    return build_evaluator(opt, device)


def denormalize_batch(batch, mean, std):
    """InterHuman batch with normalised motions -> the same batch de-normalised (x * std + mean)."""
    mean = torch.as_tensor(np.asarray(mean), dtype=torch.float32)
    std = torch.as_tensor(np.asarray(std), dtype=torch.float32)
    names, texts, m1, m2, lens = batch[:5]
    return (names, texts, torch.as_tensor(m1).float() * std + mean, torch.as_tensor(m2).float() * std + mean,
            lens) + tuple(batch[5:])


def log_line(f, line):
    """Print a line and, when a log file is open, write it there too (the official double print)."""
    print(line)
    if f is not None:
        print(line, file=f, flush=True)


def _r_line(name, r):
    return f"---> [{name}] R_precision: " + "".join(f"(top {i + 1}): {v:.4f} " for i, v in enumerate(r))


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
        n += len(batch[1]) if eval_wrapper.dataset_name == "interhuman" else len(batch[2])
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
                log_line(f, _r_line(name, [out[pre + f"top{i + 1}"] for i in range(top_k)]))
            log_line(f, f"---> [gt] FID: {0.0:.4f}")
            log_line(f, f"---> [gen] FID: {out['fid']:.4f}")
    return out


# ----------------------------------------------------------------------------- eval.py protocol
# `loaders` map a name ('ground truth', a checkpoint file name) to a re-iterable of evaluator batches.

@torch.no_grad()
def evaluate_matching_score(wrapper, loaders, f, top_k=3):
    """MM Distance and R-precision per loader; returns their dicts and the motion embeddings."""
    match, rprec, acti = OrderedDict(), OrderedDict(), OrderedDict()
    print("========== Evaluating MM Distance ==========")
    for name, loader in loaders.items():
        trace_sum, hits, n, embs = 0.0, np.zeros(top_k), 0, []
        for batch in loader:
            text_emb, motion_emb = wrapper.get_co_embeddings(batch)
            s, h = matching_batch(text_emb.numpy(), motion_emb.numpy(), top_k)
            trace_sum, hits, n = trace_sum + s, hits + h, n + text_emb.shape[0]
            embs.append(motion_emb.numpy())
        if n == 0:
            raise ValueError(f"loader '{name}' is empty: fewer samples than one evaluation batch "
                             f"(lower --batch_size)")
        match[name], rprec[name], acti[name] = trace_sum / n, hits / n, np.concatenate(embs)
        log_line(f, f"---> [{name}] MM Distance: {match[name]:.4f}")
        log_line(f, _r_line(name, rprec[name]))
    return match, rprec, acti


@torch.no_grad()
def evaluate_fid(wrapper, gt_loader, acti, f):
    """FID of every loader's embeddings against a fresh pass over the GT loader."""
    print("========== Evaluating FID ==========")
    gt = np.concatenate([wrapper.get_motion_embeddings(b).numpy() for b in gt_loader])
    gt_mu, gt_cov = calculate_activation_statistics(gt, wrapper.emb_scale)
    out = OrderedDict()
    for name, emb in acti.items():
        mu, cov = calculate_activation_statistics(emb, wrapper.emb_scale)
        out[name] = calculate_frechet_distance(gt_mu, gt_cov, mu, cov)
        log_line(f, f"---> [{name}] FID: {out[name]:.4f}")
    return out


def evaluate_diversity(wrapper, acti, f, diversity_times):
    print("========== Evaluating Diversity ==========")
    out = OrderedDict()
    for name, emb in acti.items():
        out[name] = calculate_diversity(emb, diversity_times, wrapper.emb_scale, wrapper.divide_by)
        log_line(f, f"---> [{name}] Diversity: {out[name]:.4f}")
    return out


def evaluate_multimodality(mm_embeddings, f, mm_times, emb_scale, divide_by):
    """mm_embeddings: name -> (n_texts, repeats, D) motion embeddings of the MultiModality texts (each
    text's generations embedded as one batch, like the official batch-1 MM loader); 0 when empty."""
    print("========== Evaluating MultiModality ==========")
    out = OrderedDict()
    for name, embs in mm_embeddings.items():
        embs = np.asarray(embs)
        out[name] = 0 if embs.size == 0 else calculate_multimodality(embs, mm_times, emb_scale, divide_by)
        log_line(f, f"---> [{name}] Multimodality: {out[name]:.4f}")
    return out


METRIC_NAMES = ("MM Distance", "R_precision", "FID", "Diversity", "MultiModality")


def new_metric_table():
    return OrderedDict((m, OrderedDict()) for m in METRIC_NAMES)


def add_replication(table, results):
    """results: metric name -> {loader name: value} for one replication."""
    for metric, per_loader in results.items():
        for name, value in per_loader.items():
            table[metric].setdefault(name, []).append(value)


def write_summary(table, f, replication_times):
    """The official closing block: per metric, mean and 95% CI over replications."""
    summary = OrderedDict()
    for metric, per_loader in table.items():
        log_line(f, f"========== {metric} Summary ==========")
        for name, values in per_loader.items():
            mean, ci = get_metric_statistics(np.array(values), replication_times)
            summary.setdefault(metric, OrderedDict())[name] = (mean, ci)
            if np.ndim(mean) == 0:
                log_line(f, f"---> [{name}] Mean: {mean:.4f} CInterval: {ci:.4f}")
            else:
                log_line(f, f"---> [{name}]" + "".join(f"(top {i + 1}) Mean: {m:.4f} CInt: {c:.4f};"
                                                       for i, (m, c) in enumerate(zip(mean, ci))))
    return summary


def time_line(f):
    log_line(f, f"Time: {datetime.now()}")
