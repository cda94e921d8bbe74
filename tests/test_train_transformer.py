"""train_transformer.py end to end on a small real-format InterHuman dataset with --text_encoder
minilm: the loss falls and the accuracy rises, resume is bit-exact, gradient accumulation counts
iterations as optimiser steps, the official warm-up / milestone schedule, and the token cache."""
import argparse
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.conftest import REPO, assert_best_checkpoints_match_log, write_random_vq_run

TINY_VQ = dict(dataset_name="interhuman", nb_code=32, code_dim=16, output_emb_width=16, width=16, depth=1,
               down_t=2, stride_t=2, dilation_growth_rate=3, vq_act="relu", vq_norm=None)
TINY_T = ["--latent_dim", "32", "--n_heads", "2", "--n_layers", "1", "--ff_size", "64", "--dropout", "0.1",
          "--text_encoder", "minilm", "--vq_name", "vq_tiny", "--device", "cpu", "--num_workers", "0",
          "--max_epoch", "100", "--clip_dim", "64"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_t")
    data = str(root / "synthetic")
    script = os.path.join(REPO, "prepare", "make_synthetic_dataset.py")
    # 17 train clips (34 items with the mirrored copies), 5 val
    r = subprocess.run([sys.executable, script, "--out", data, "--num_clips", "24", "--seed", "0",
                        "--val_frac", "0.2", "--test_frac", "0.1"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    ckpt = root / "checkpoints"
    write_random_vq_run(ckpt, TINY_VQ)
    return {"data": data, "ckpt": str(ckpt)}


def _main(setup, name, *extra):
    import train_transformer
    torch.set_num_threads(1)
    args = ["--checkpoints_dir", setup["ckpt"], "--data_root", setup["data"], "--name", name] + TINY_T + list(extra)
    return train_transformer.main(args)


def _objective(trainer, n_batches=4, seed=0):
    """Eval-mode objective on fixed training batches with fixed masking draws."""
    from data import build_t2m_dataset
    from data.config import DataConfig
    from utils.training.checkpoint import preserved_rng
    opt = argparse.Namespace(dataset_name="interhuman", data_root=trainer.opt.data_root, stats_dir=None)
    ds = build_t2m_dataset(DataConfig.from_options(vars(opt)), "train")
    model = trainer.model
    was = model.training
    model.eval()
    losses, accs = [], []
    with preserved_rng(), torch.no_grad():
        torch.manual_seed(seed)
        np.random.seed(seed)
        import random
        random.seed(seed)
        loader = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True, drop_last=True)
        for i, batch in zip(range(n_batches), loader):
            loss, acc = trainer._forward(batch)
            losses.append(float(loss))
            accs.append(float(acc))
    model.train(was)
    return np.mean(losses), np.mean(accs)


def test_tiny_run_learns(setup):
    first = _main(setup, "learn", "--batch_size", "8", "--lr", "2e-3", "--max_iters", "1")
    loss0, acc0 = _objective(first)
    trained = _main(setup, "learn", "--batch_size", "8", "--lr", "2e-3", "--max_iters", "15", "--is_continue")
    loss1, acc1 = _objective(trained)
    print("objective before/after", loss0, acc0, loss1, acc1)
    assert loss1 < loss0 - 1.0, (loss0, loss1)
    assert acc1 > acc0 + 0.15, (acc0, acc1)
    run = os.path.join(setup["ckpt"], "interhuman", "learn")
    for f in ("latest.tar", "finest.tar", "best_acc.tar"):
        assert os.path.isfile(os.path.join(run, "model", f)), f
    ck = torch.load(os.path.join(run, "model", "latest.tar"), weights_only=False)
    assert set(ck) >= {"t2m_transformer", "opt_t2m_transformer", "scheduler", "ep", "total_it"}
    assert ck["total_it"] == 15 and "text_proj.weight" in ck["t2m_transformer"]
    assert not any(k.startswith("clip_") for k in ck["t2m_transformer"])
    from options.opt_io import load_options
    saved = load_options(run)
    assert saved["text_encoder"] == "minilm" and saved["num_tokens"] == 32 and saved["code_dim"] == 16


def test_resume_is_bit_exact(setup):
    common = ["--batch_size", "4", "--grad_accum", "2", "--lr", "1e-3"]
    straight = _main(setup, "straight", *common, "--max_iters", "7")
    per_epoch = straight.total_iters // 100
    assert per_epoch >= 3
    _main(setup, "resumed", *common, "--max_iters", str(per_epoch - 1))  # stops inside epoch 1
    resumed = _main(setup, "resumed", *common, "--max_iters", "7", "--is_continue")
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    oa, ob = straight.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert all(torch.equal(oa[i]["exp_avg_sq"], ob[i]["exp_avg_sq"]) for i in oa)
    assert straight.scheduler.state_dict() == resumed.scheduler.state_dict()
    # grad accumulation: an iteration is one optimiser step over 2 micro-batches of 4
    from data import build_t2m_dataset
    from data.config import DataConfig
    n_items = len(build_t2m_dataset(DataConfig.from_options(dict(dataset_name="interhuman", data_root=setup["data"])),
                                    "train"))
    assert len(straight.lr_history) == 7 and per_epoch == (n_items // 4) // 2


def test_official_lr_schedule(setup):
    """Warm-up lr*(it+1)/(W+1) for it < W (it from 1), then MultiStepLR x gamma at 50/70/85 %."""
    t = _main(setup, "sched", "--batch_size", "8", "--max_epoch", "2", "--warm_up_iter", "3", "--lr", "1e-3",
              "--save_latest", "1000")
    total = t.total_iters
    assert total >= 6
    ms = [int(f * total) for f in (0.5, 0.7, 0.85)]
    want = []
    lr = 1e-3
    for it in range(1, total + 1):
        if it < 3:
            lr = 1e-3 * (it + 1) / 4
        want.append(lr)
        if it in ms:  # the scheduler has stepped `it` times after this iteration
            lr = lr / 3
    assert np.allclose(t.lr_history, want, rtol=1e-6), (t.lr_history, want)


def test_token_cache_matches_plain_encoding_off_batch_position_zero(setup):
    from models.mask_transformer.token_cache import TokenCache
    from models.vq.build import load_vq
    vq, _ = load_vq(setup["ckpt"], "interhuman", "vq_tiny")
    x = torch.randn(5, 64, 262)
    cache = TokenCache(vq, torch.device("cpu"))
    got = cache(x[2:])
    with torch.no_grad():
        plain = vq.encode(x)[0][..., 0]  # rows 2.. are not at batch position 0
    assert torch.equal(got, plain[2:]) and len(cache) == 3
    assert torch.equal(cache(x[1:4]), plain[1:4]) and len(cache) == 4
    official = TokenCache(vq, torch.device("cpu"), enabled=False)
    assert torch.equal(official(x), plain)


def test_do_eval_keeps_best_checkpoints(setup, tmp_path):
    from models.evaluator.build import save_interclip
    from models.evaluator.interclip import InterCLIP
    torch.manual_seed(0)
    tiny_eval = {"NUM_LAYERS": 1, "NUM_HEADS": 2, "LATENT_DIM": 16, "FF_SIZE": 32, "TEXT_LATENT_DIM": 16,
                 "TEXT_NUM_LAYERS": 1, "TEXT_NUM_HEADS": 2, "EMB_DIM": 8, "TEXT_ENCODER": "minilm"}
    save_interclip(InterCLIP(tiny_eval), str(tmp_path / "eval_model"))
    tr = _main(setup, "ev", "--batch_size", "8", "--max_epoch", "1", "--do_eval", "--test_batch_size", "4",
               "--eval_model_dir", str(tmp_path / "eval_model"), "--save_latest", "1000")
    run = os.path.join(setup["ckpt"], "interhuman", "ev")
    assert os.path.isfile(os.path.join(run, "model", "best_fid.tar"))
    assert os.path.isfile(os.path.join(run, "model", "best_top1.tar"))
    with open(os.path.join(run, "eval", "evaluation_training.log")) as f:
        log = f.read()
    assert "==================== Epoch 1 ====================" in log and "---> [gen] FID:" in log
    assert_best_checkpoints_match_log(run, tr.best, "t2m_transformer")
