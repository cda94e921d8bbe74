"""Evaluation metrics, with the official formulas and scalings (T2M lineage, InterGen/InterMask).

InterHuman (InterCLIP): emb_scale 6 for FID / Diversity / MultiModality, divide_by 2 for Diversity and
MultiModality. Inter-X: emb_scale 1, divide_by 1. MM Dist and R-precision never scale.

The random index draws of Diversity and MultiModality use numpy's global generator (as the official;
eval.py seeds it per replication) unless explicit indices are given.
"""
import numpy as np
from scipy import linalg


def euclidean_distance_matrix(matrix1, matrix2):
    """(N1, D), (N2, D) -> (N1, N2) distances, computed as sqrt(-2ab + |a|^2 + |b|^2) like the official."""
    assert matrix1.shape[1] == matrix2.shape[1], f"embedding sizes differ: {matrix1.shape} vs {matrix2.shape}"
    d1 = -2 * np.dot(matrix1, matrix2.T)  # (N1, N2)
    d2 = np.sum(np.square(matrix1), axis=1, keepdims=True)  # (N1, 1)
    d3 = np.sum(np.square(matrix2), axis=1)  # (N2,)
    return np.sqrt(d1 + d2 + d3)


def calculate_top_k(order, top_k):
    """order (N, N): per row, the column indices sorted by distance. -> (N, top_k) bool: is the
    matching column (the row's own index) among the first k."""
    size = order.shape[0]
    hits = order[:, :top_k] == np.arange(size)[:, None]  # (N, min(top_k, N))
    hits = np.logical_or.accumulate(hits, axis=1)
    if top_k > hits.shape[1]:  # a pool smaller than k: the match is always within the first k
        hits = np.concatenate([hits, np.ones((size, top_k - hits.shape[1]), bool)], axis=1)
    return hits


def calculate_R_precision(embedding1, embedding2, top_k, sum_all=False):
    dist_mat = euclidean_distance_matrix(embedding1, embedding2)
    top_k_mat = calculate_top_k(np.argsort(dist_mat, axis=1), top_k)
    return top_k_mat.sum(axis=0) if sum_all else top_k_mat


def calculate_matching_score(embedding1, embedding2, sum_all=False):
    dist = linalg.norm(embedding1 - embedding2, axis=1)
    return dist.sum(axis=0) if sum_all else dist


def matching_batch(text_emb, motion_emb, top_k=3):
    """One evaluation batch: (sum of the distance-matrix trace, top-k hit counts (top_k,)). The pool of
    distractors is the batch itself (96 for InterHuman, 32 for Inter-X)."""
    dist_mat = euclidean_distance_matrix(text_emb, motion_emb)
    hits = calculate_top_k(np.argsort(dist_mat, axis=1), top_k).sum(axis=0)
    return float(dist_mat.trace()), hits


def calculate_activation_statistics(activations, emb_scale=1):
    """-> mean (D,), covariance (D, D) (np.cov, rowvar=False: unbiased) of activations * emb_scale."""
    activations = activations * emb_scale
    return np.mean(activations, axis=0), np.cov(activations, rowvar=False)


def calculate_frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 sqrt(S1 S2)); eps*I is added when sqrtm is not finite and a
    non-negligible imaginary part is an error (as the official)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    assert mu1.shape == mu2.shape, "FID: mean vectors have different lengths"
    assert sigma1.shape == sigma2.shape, "FID: covariances have different dimensions"
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        print(f"fid calculation produces singular product; adding {eps} to diagonal of cov estimates")
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            m = np.max(np.abs(covmean.imag))
            raise ValueError(f"FID: imaginary component {m}")
        covmean = covmean.real
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def calculate_diversity(activation, diversity_times, emb_scale=1, divide_by=1, indices=None):
    """Mean ||(a - b) / divide_by|| over `diversity_times` random pairs of rows (activation*emb_scale).
    indices: optional (first, second) replacing the two np.random.choice draws."""
    assert activation.ndim == 2
    num_samples = activation.shape[0]
    if num_samples <= diversity_times:
        raise ValueError(f"Diversity needs more than {diversity_times} generated samples, got "
                         f"{num_samples} (lower --diversity_times or evaluate more samples)")
    activation = activation * emb_scale
    if indices is None:
        first = np.random.choice(num_samples, diversity_times, replace=False)
        second = np.random.choice(num_samples, diversity_times, replace=False)
    else:
        first, second = indices
    dist = linalg.norm((activation[first] - activation[second]) / divide_by, axis=1)
    return dist.mean()


def calculate_multimodality(activation, multimodality_times, emb_scale=1, divide_by=1, indices=None):
    """activation (n_texts, repeats, D): mean over texts and `multimodality_times` random pairs of the
    same text's generations of ||(a - b) / divide_by|| (a, b scaled by emb_scale). InterMask's official
    call uses (6, 2): 3x InterGen's formula (1, 1) on the same embeddings."""
    assert activation.ndim == 3
    num_per_sent = activation.shape[1]
    if num_per_sent <= multimodality_times:
        raise ValueError(f"MultiModality needs more than {multimodality_times} repeats per text, got "
                         f"{num_per_sent} (lower --mm_num_times or raise --mm_num_repeats)")
    if indices is None:
        first = np.random.choice(num_per_sent, multimodality_times, replace=False)
        second = np.random.choice(num_per_sent, multimodality_times, replace=False)
    else:
        first, second = indices
    dist = linalg.norm((activation[:, first] * emb_scale - activation[:, second] * emb_scale) / divide_by,
                       axis=2)
    return dist.mean()


def get_metric_statistics(values, replication_times=None):
    """Mean and 95% confidence interval 1.96 * std / sqrt(n) (population std) over replications."""
    values = np.asarray(values)
    n = values.shape[0] if replication_times is None else replication_times
    mean = np.mean(values, axis=0)
    std = np.std(values, axis=0)
    return mean, 1.96 * std / np.sqrt(n)


MULTIMODALITY_CONVENTIONS = {
    "intermask": "x emb_scale, / divide_by (official InterMask; InterHuman: x6 /2 = 3x InterGen's)",
    "intergen": "no scaling (InterGen's calculate_multimodality)",
}


def multimodality_scaling(convention, emb_scale, divide_by):
    """(emb_scale, divide_by) to use for MultiModality under a named convention."""
    if convention == "intermask":
        return emb_scale, divide_by
    if convention == "intergen":
        return 1, 1
    raise ValueError(f"--multimodality_convention must be one of {sorted(MULTIMODALITY_CONVENTIONS)}, "
                     f"got {convention!r}")
