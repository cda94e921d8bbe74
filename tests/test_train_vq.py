"""train_vq.py end to end on a small synthetic InterHuman-format dataset (CPU, tiny model, flags only):
the reconstruction loss drops, TensorBoard gets the official scalar names, a killed-and-resumed run
ends with bit-identical weights, and --do_eval keeps best_fid.tar / best_top1.tar."""
import os
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO, assert_best_checkpoints_match_log

TINY = ["--batch_size", "16", "--width", "32", "--code_dim", "16", "--output_emb_width", "16",
        "--nb_code", "32", "--depth", "1", "--device", "cpu", "--seed", "7", "--window_stride", "60"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("vqdata") / "synthetic")
    script = os.path.join(REPO, "prepare", "make_synthetic_dataset.py")
    r = subprocess.run([sys.executable, script, "--out", out, "--num_clips", "30", "--seed", "0",
                        "--val_frac", "0.2", "--test_frac", "0.1"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def _train(dataset, ckpt, name, *extra):
    import train_vq
    torch.set_num_threads(1)
    return train_vq.main(["--data_root", dataset, "--checkpoints_dir", str(ckpt), "--name", name, *TINY, *extra])


def _untrained_val(trainer, seed):
    """Validation means of the untrained model (same seed -> same initial weights as the run), over the
    same windows as the trainer's validation (batches of 16, the partial last one dropped, as official)."""
    from data import build_vq_dataset
    from data.config import DataConfig
    from models.vq.build import build_vq
    from models.vq.config import VQConfig
    from torch.utils.data import DataLoader
    from utils.files import fixseed
    fixseed(seed)
    trained, trainer.model = trainer.model, build_vq(VQConfig.from_options(vars(trainer.opt))).to(trainer.device)
    try:
        val_set = build_vq_dataset(DataConfig.from_options(vars(trainer.opt)), "val")
        return trainer.validate(DataLoader(val_set, batch_size=16, drop_last=True))
    finally:
        trainer.model = trained


def test_tiny_training_reduces_reconstruction_and_logs(dataset, tmp_path):
    tr = _train(dataset, tmp_path, "learn", "--max_epoch", "12", "--lr", "2e-3")
    before, after = _untrained_val(tr, 7), tr.val_history[-1]
    # measured on the synthetic set: rec 0.275 -> 0.247, explicit 0.41 -> 0.31, total 1.45 -> 0.86 (0.90,
    # 0.75, 0.59 of the untrained values). Every joint of the dataset has small motion, so ~57 rotation
    # columns that used to be constant now carry normalised variance this 12-epoch model has not learnt
    # yet (+0.08 on loss_rec before and after); with them constant it was rec 0.199 -> 0.161 (0.81),
    # explicit 0.45 -> 0.29 (0.64), hence bounds 0.95 and 0.85 instead of 0.9 and 0.8.
    assert after["loss_rec"] < 0.95 * before["loss_rec"], (after["loss_rec"], before["loss_rec"])
    assert after["loss_explicit"] < 0.85 * before["loss_explicit"], (after["loss_explicit"], before["loss_explicit"])
    assert after["loss"] < 0.8 * before["loss"]
    run = tmp_path / "interhuman" / "learn"
    for f in ("opt.txt", "opt.yaml", "model/latest.tar", "model/finest.tar"):
        assert (run / f).is_file(), f
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(run / "log"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for name in ("loss", "loss_rec", "loss_explicit", "loss_vel", "loss_bn", "loss_geo", "loss_fc",
                 "loss_commit", "perplexity", "lr"):
        assert f"Train/{name}" in tags
    assert {"Val/loss", "Val/loss_rec", "Val/loss_perplexity"} <= tags


def test_cli_kill_and_resume_is_bit_exact(dataset, tmp_path):
    from utils.files import load_checkpoint
    straight = _train(dataset, tmp_path, "a", "--max_epoch", "2")
    n = straight.lr_history and len(straight.lr_history)
    _train(dataset, tmp_path, "b", "--max_epoch", "2", "--max_iters", str(n // 2 + 1))
    resumed = _train(dataset, tmp_path, "b", "--max_epoch", "2", "--is_continue")
    assert len(resumed.lr_history) == n - (n // 2 + 1)
    a = load_checkpoint(str(tmp_path / "interhuman" / "a" / "model" / "latest.tar"))
    b = load_checkpoint(str(tmp_path / "interhuman" / "b" / "model" / "latest.tar"))
    assert a["total_it"] == b["total_it"] == n
    for k, v in a["vq_model"].items():
        assert torch.equal(v, b["vq_model"][k]), k
    assert torch.equal(a["quantizer_ema"][0]["code_count"], b["quantizer_ema"][0]["code_count"])


def test_do_eval_keeps_best_checkpoints(dataset, tmp_path):
    from models.evaluator.build import save_interclip
    from models.evaluator.interclip import InterCLIP
    torch.manual_seed(0)
    tiny_eval = {"NUM_LAYERS": 1, "NUM_HEADS": 2, "LATENT_DIM": 16, "FF_SIZE": 32, "TEXT_LATENT_DIM": 16,
                 "TEXT_NUM_LAYERS": 1, "TEXT_NUM_HEADS": 2, "EMB_DIM": 8, "TEXT_ENCODER": "minilm"}
    save_interclip(InterCLIP(tiny_eval), str(tmp_path / "eval_model"))
    tr = _train(dataset, tmp_path, "ev", "--max_epoch", "1", "--extra_epoch", "False", "--do_eval",
                "--test_batch_size", "4", "--eval_model_dir", str(tmp_path / "eval_model"))
    run = tmp_path / "interhuman" / "ev"
    assert (run / "model" / "best_fid.tar").is_file() and (run / "model" / "best_top1.tar").is_file()
    log = (run / "eval" / "evaluation_training.log").read_text()
    assert "==================== Epoch 1 ====================" in log and "---> [gen] FID:" in log
    assert_best_checkpoints_match_log(str(run), tr.best, "vq_model")


def test_interx_training_runs_with_fk_losses(tmp_path):
    """Inter-X: (B, 64, 56, 6) raw windows, dim_joint 6 set by the script (the official one crashes),
    FK losses from a (stand-in) SMPL-X file; reconstruction improves."""
    from tests.test_data_interx import write_interx
    from tests.test_vq_build import _fake_smplx
    root = str(tmp_path / "InterX")
    write_interx(root, "train")
    write_interx(root, "val")
    _fake_smplx(str(tmp_path / "smplx.npz"))
    tr = _train(root, tmp_path, "ix", "--dataset_name", "interx", "--smplx_path", str(tmp_path / "smplx.npz"),
                "--window_size", "32", "--window_stride", "8", "--batch_size", "4", "--max_epoch", "3",
                "--lr", "1e-3")
    assert tr.opt.dim_joint == 6 and tr.model.input_dim == 6
    recs = [v["loss_rec"] for v in tr.val_history]
    assert all(torch.isfinite(torch.tensor(v["loss"])) for v in tr.val_history)
    assert recs[-1] < recs[0]
