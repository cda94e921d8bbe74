"""Parity of the VQ training loss terms with the official Geometric_Losses (InterHuman), for every
case and reconstruction criterion listed in the manifest."""
import numpy as np
import torch

from models.vq.losses import LOSS_NAMES, GeometricLosses
from tests.conftest import assert_close

FNAME = "vq_losses.npz"


def test_loss_terms_match_reference(vectors):
    cfg = vectors.config(FNAME)
    tol = vectors.entry(FNAME)["suggested_tolerance"]
    z = vectors.npz(FNAME)
    for crit in vectors.items(FNAME, "recons_loss"):
        losses = GeometricLosses(crit, z["stats/mean"], z["stats/std"], num_joints=cfg["joints_num"])
        for case in vectors.items(FNAME, "cases"):
            n = case["name"]
            target = torch.from_numpy(z[f"{n}/target"])
            pred = torch.from_numpy(z[f"{n}/pred"])
            out = losses(target, pred)
            assert sorted(out) == sorted(LOSS_NAMES)
            for term in LOSS_NAMES:
                assert_close(out[term].item(), z[f"{n}/{crit}/{term}"], rel=tol["rel"], abs_=tol["abs"],
                             what=f"{n} {crit} {term}")


def test_loss_terms_zero_for_perfect_prediction(vectors):
    z = vectors.npz(FNAME)
    cfg = vectors.config(FNAME)
    losses = GeometricLosses("l1_smooth", z["stats/mean"], z["stats/std"], num_joints=cfg["joints_num"])
    target = torch.from_numpy(z[f"{vectors.items(FNAME, 'cases')[0]['name']}/target"])
    out = losses(target, target.clone())
    for term in ["loss_rec", "loss_explicit", "loss_vel", "loss_bn"]:
        assert out[term].item() == 0.0, term
    # foot term: the ground truth's own foot velocity at its contacts, each |v| < sqrt(0.001) there,
    # so SmoothL1 = 0.5 v^2 < 5e-4
    assert 0.0 <= out["loss_fc"].item() < 5e-4
    # geodesic: acos(1 - 1e-7) floor, never exactly 0 in float32
    assert out["loss_geo"].item() < 1e-3
    assert np.isfinite(out["loss_geo"].item())
