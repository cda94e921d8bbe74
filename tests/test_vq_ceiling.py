"""models/vq/ceiling.py: signatures checked on ground truth and on the VQ-VAE's decoded pair. A lossless
stand-in VQ must keep exactly what the ground truth has; a random VQ must change the decoded joints."""
import numpy as np
import pytest
import torch

from tests.conftest import write_random_vq_run
from models.vq import ceiling as vq_ceiling

TINY_VQ = dict(dataset_name="interhuman", nb_code=32, code_dim=16, output_emb_width=16, width=16, depth=1)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from data.synthetic.writer import write_dataset
    from prepare.compute_stats import compute_stats
    root = str(tmp_path_factory.mktemp("ceil") / "Synthetic")
    write_dataset(root, 28, seed=1, fractions=(1.0, 0.0, 0.0), log=None, max_frames=120)
    compute_stats(root)
    return root


class LosslessVQ:
    """Encodes a motion to ids that index a stored copy; decoding returns the copy (pipeline plumbing only)."""

    def __init__(self):
        self.store = []

    def eval(self):
        return self

    def encode(self, motion):  # (1, T, 262) -> ids (1, 5*(T//4), 1)
        self.store.append(motion[0].clone())
        steps = motion.shape[1] // 4
        return torch.full((1, 5 * steps, 1), len(self.store) - 1), None

    def forward_decoder(self, tok):  # (1, 5S, 1) -> (1, 4S, 262)
        return self.store[int(tok[0, 0, 0])][None, :4 * (tok.shape[1] // 5)]


def _dataset_and_kinds(root):
    import argparse
    import json
    import os

    from data import build_t2m_dataset, load_stats

    from data.config import DataConfig
    opt = argparse.Namespace(dataset_name="interhuman", data_root=root, stats_dir=None)
    clips = json.load(open(os.path.join(root, "synthetic_meta.json")))["clips"]
    mean, std = load_stats(DataConfig.from_options(vars(opt)))
    ds = build_t2m_dataset(DataConfig.from_options(vars(opt)), "train")
    return ds, (lambda n: clips[n.replace("_swap", "")]["kind"]), mean, std


def test_lossless_vq_keeps_every_ground_truth_signature(data):
    ds, kinds_of, mean, std = _dataset_and_kinds(data)
    table = vq_ceiling.signature_ceiling(LosslessVQ(), mean, std, ds, kinds_of, per_kind=2)
    assert len(table) >= 6 and all(1 <= r["clips"] <= 2 for r in table.values())
    for kind, r in table.items():
        assert r["decoded"] == r["ground_truth"], kind
        assert abs(r["pelvis_decoded"] - r["pelvis_gt"]) < 1e-4, kind
    assert sum(r["ground_truth"] for r in table.values()) >= 0.8 * sum(r["clips"] for r in table.values())


def test_cli_with_a_random_vq(data, tmp_path, capsys):
    ckpt = tmp_path / "checkpoints"
    write_random_vq_run(ckpt, TINY_VQ, name="vq_rand")
    table = vq_ceiling.main(["--data_root", data, "--checkpoints_dir", str(ckpt), "--vq_name", "vq_rand",
                             "--vq_which_epoch", "best_fid", "--per_kind", "1", "--kinds", "handshake", "hug",
                             "--json", str(tmp_path / "c.json")])
    assert set(table) == {"handshake", "hug"} and all(r["clips"] == 1 for r in table.values())
    # random weights decode to something else: the decoded pair's placement differs from the clip's
    assert any(abs(r["pelvis_decoded"] - r["pelvis_gt"]) > 1e-3 for r in table.values())
    out = capsys.readouterr().out
    assert "handshake" in out and "decoded" in out
    assert np.isfinite([r["pelvis_decoded"] for r in table.values()]).all()
