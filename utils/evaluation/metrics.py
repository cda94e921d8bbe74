"""The protocol's metric passes over named loaders ('ground truth', a checkpoint file name), each a
re-iterable of evaluator batches; every pass prints and logs the official lines."""
from collections import OrderedDict

import numpy as np
import torch

from utils.evaluation.log import log_line, r_precision_line
from utils.metrics import (calculate_activation_statistics, calculate_diversity, calculate_frechet_distance,
                           calculate_multimodality, matching_batch)


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
        log_line(f, r_precision_line(name, rprec[name]))
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
