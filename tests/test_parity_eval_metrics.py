"""Parity of utils/metrics.py with the official metrics (metrics.npz), both scalings, with the saved
index draws in place of np.random.choice."""
import numpy as np

from tests.conftest import assert_close

FNAME = "metrics.npz"


def _tol(vectors):
    t = vectors.entry(FNAME)["suggested_tolerance"]
    return t["rel"], t["abs"]


def test_matching_and_r_precision(vectors):
    from utils.metrics import calculate_matching_score, euclidean_distance_matrix, matching_batch
    cfg = vectors.config(FNAME)
    z = vectors.npz(FNAME)
    rel, abs_ = _tol(vectors)
    text, motion = z["text_emb"], z["motion_emb"]
    bs = cfg["batch"]
    assert_close(euclidean_distance_matrix(text[:bs], motion[:bs]), z["dist_mat_batch0"], rel, abs_, "dist_mat")
    trace_sum, counts, n = 0.0, np.zeros(3, dtype=np.int64), 0
    for b in range(cfg["n_batches"]):
        s, hits = matching_batch(text[b * bs:(b + 1) * bs], motion[b * bs:(b + 1) * bs], top_k=3)
        trace_sum += s
        counts += hits
        n += bs
    np.testing.assert_array_equal(counts, z["matching/top_k_count"])
    assert_close(counts / n, z["matching/R_precision"], rel, abs_, "R_precision")
    assert_close(trace_sum / n, z["matching/mm_dist"], rel, abs_, "mm_dist")
    assert_close(calculate_matching_score(text, motion, sum_all=True), z["matching/matching_score_sum"],
                 rel, abs_, "matching_score_sum")


def test_fid_diversity_multimodality_both_scalings(vectors):
    from utils.metrics import (calculate_activation_statistics, calculate_diversity,
                               calculate_frechet_distance, calculate_multimodality)
    cfg = vectors.config(FNAME)
    z = vectors.npz(FNAME)
    arrays = vectors.entry(FNAME)["arrays"]
    rel, abs_ = _tol(vectors)
    div_idx = (z["diversity/first_indices"], z["diversity/second_indices"])
    mm_idx = (z["multimodality/first_indices"], z["multimodality/second_indices"])
    assert len(vectors.items(FNAME, "scalings")) >= 2
    for sc in cfg["scalings"]:
        p, es, db = sc["prefix"], sc["emb_scale"], sc["divide_by"]
        gt_mu, gt_cov = calculate_activation_statistics(z["gt_motion_emb"], es)
        mu, cov = calculate_activation_statistics(z["motion_emb"], es)
        assert_close(gt_mu, z[p + "gt_mu"], rel, abs_, p + "gt_mu")
        assert_close(mu, z[p + "mu"], rel, abs_, p + "mu")
        assert_close(np.trace(gt_cov), arrays[p + "gt_cov_trace"]["exact_value"], rel, abs_, p + "gt_cov_trace")
        assert_close(np.trace(cov), arrays[p + "cov_trace"]["exact_value"], rel, abs_, p + "cov_trace")
        fid = calculate_frechet_distance(gt_mu, gt_cov, mu, cov)
        assert_close(fid, arrays[p + "fid"]["exact_value"], 1e-4, abs_, p + "fid")
        div = calculate_diversity(z["motion_emb"], cfg["diversity_times"], es, db, indices=div_idx)
        assert_close(div, z[p + "diversity"], rel, abs_, p + "diversity")
        mm = calculate_multimodality(z["mm_motion_emb"], cfg["mm_times"], es, db, indices=mm_idx)
        assert_close(mm, z[p + "multimodality"], rel, abs_, p + "multimodality")


def test_multimodality_conventions_differ_by_scale_over_divisor(vectors):
    """The InterMask convention is emb_scale/divide_by times InterGen's on the same draws (3x for
    InterHuman)."""
    from utils.metrics import calculate_multimodality, multimodality_scaling
    cfg = vectors.config(FNAME)
    z = vectors.npz(FNAME)
    idx = (z["multimodality/first_indices"], z["multimodality/second_indices"])
    es, db = multimodality_scaling("intermask", 6, 2)
    a = calculate_multimodality(z["mm_motion_emb"], cfg["mm_times"], es, db, indices=idx)
    es, db = multimodality_scaling("intergen", 6, 2)
    b = calculate_multimodality(z["mm_motion_emb"], cfg["mm_times"], es, db, indices=idx)
    np.testing.assert_allclose(a, 3 * b, rtol=1e-6)
