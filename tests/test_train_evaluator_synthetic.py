"""train_evaluator.py on the project's synthetic dataset (prepare/make_synthetic_dataset.py): a tiny
evaluator's ground-truth R-precision on the held-out test clips is far above chance (slow: ~2 min)."""
import pytest
import torch

from tests.test_train_evaluator import ARCH, _gt_r_precision


@pytest.mark.slow
def test_evaluator_on_synthetic_dataset(tmp_path):
    import train_evaluator
    from prepare.make_synthetic_dataset import main as make_dataset
    torch.set_num_threads(2)
    data = str(tmp_path / "synthetic")
    make_dataset(["--out", data, "--num_clips", "90", "--seed", "3", "--val_frac", "0.1", "--test_frac", "0.2"])
    arch = list(ARCH)
    arch[arch.index("--num_layers") + 1] = "1"
    run = train_evaluator.main(["--name", "ev", "--checkpoints_dir", str(tmp_path / "ck"), "--data_root", data,
                                "--batch_size", "16", "--max_epoch", "10", "--lr", "2e-3", "--warmup_iters", "10",
                                "--eval_batch_size", "10", "--device", "cpu", "--seed", "1"] + arch)
    r, pool = _gt_r_precision(run, data, 16)
    assert pool >= 10
    print("synthetic GT R-precision", r, "pool", pool)
    assert r[0] > 3 * (1 / pool) and r[2] > 2.5 * (3 / pool)
