"""The same eval.py command run twice on a transformer trained here (the generation path with
MultiModality): byte-identical logs and results, so identical metric lines, while another --seed
changes them (the comparison can fail). Slow: the same in two fresh processes (no cache or random
state shared), for generation and for reaction."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.conftest import REPO, write_random_vq_run
from tests.test_eval_toydata import write_toy_interhuman
from tests.test_train_transformer import TINY_T, TINY_VQ

TINY_EVAL = {"NUM_LAYERS": 1, "NUM_HEADS": 2, "LATENT_DIM": 16, "FF_SIZE": 32, "TEXT_LATENT_DIM": 16,
             "TEXT_NUM_LAYERS": 1, "TEXT_NUM_HEADS": 2, "EMB_DIM": 8, "TEXT_ENCODER": "minilm"}
SMALL = ["--batch_size", "4", "--replication_times", "2", "--diversity_times", "5", "--mm_num_samples", "3",
         "--mm_num_repeats", "4", "--mm_num_times", "2", "--gen_batch_size", "5", "--log_time", "False",
         "--device", "cpu", "--time_steps", "3", "--which_epoch", "latest"]


def _eval_process(args):
    """eval.py in a fresh process (no cache or random state shared with this one) -> its stdout."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, os.path.join(REPO, "eval.py"), *args], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _metric_lines(text):
    lines = [ln for ln in text.splitlines() if ln.startswith("---> ")]
    assert lines
    return lines


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny transformer trained 6 iterations (its logits are no longer uniform) on a random VQ."""
    import train_transformer
    from models.evaluator.build import save_interclip
    from models.evaluator.interclip import InterCLIP
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("repeat")
    data = str(root / "toy")
    write_toy_interhuman(data, n_clips=50, seed=3)           # 30 train, 10 test clips
    ckpt = root / "checkpoints"
    torch.manual_seed(0)
    save_interclip(InterCLIP(TINY_EVAL), str(ckpt / "eval_model"))
    write_random_vq_run(ckpt, TINY_VQ)
    trainer = train_transformer.main(["--checkpoints_dir", str(ckpt), "--data_root", data, "--name", "trained",
                                      *TINY_T, "--batch_size", "8", "--lr", "2e-3", "--max_iters", "6"])
    assert len(trainer.lr_history) == 6
    return {"run": ckpt / "interhuman" / "trained",
            "args": ["--checkpoints_dir", str(ckpt), "--data_root", data, "--name", "trained", *SMALL]}


def _same(a, b):
    """Exact equality of eval.main's nested results (dicts of arrays / tuples)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return np.array_equal(a, b)


def _in_process(args):
    import eval as eval_script
    return eval_script.main(args)


def _check_generated(text, replications=2):
    lines = _metric_lines(text)
    assert sum(ln.startswith("---> [latest.tar] FID: ") for ln in lines) == replications
    mm = [float(ln.rsplit(" ", 1)[1]) for ln in lines if ln.startswith("---> [latest.tar] Multimodality: ")]
    assert len(mm) == replications and min(mm) > 0
    return lines


def test_same_command_twice_gives_identical_metrics(trained):
    log = trained["run"] / "eval" / "evaluation_latest_ts3_cs2.0_topkr0.9.log"
    first = _in_process(trained["args"] + ["--seed", "5"])
    text = log.read_text()
    lines = _check_generated(text)
    second = _in_process(trained["args"] + ["--seed", "5"])
    assert log.read_text() == text
    assert _same(second, first)
    _in_process(trained["args"] + ["--seed", "6"])
    other = _metric_lines(log.read_text())
    assert [a for a, b in zip(lines, other) if a != b and "[latest.tar]" in a], "another seed, same metrics"


@pytest.mark.slow
@pytest.mark.parametrize("react", [False, True], ids=["generation", "reaction"])
def test_same_command_in_two_fresh_processes(trained, react):
    extra = ["--seed", "5"] + (["--gen_react"] if react else [])
    log = trained["run"] / "eval" / f"{'react_' if react else ''}evaluation_latest_ts3_cs2.0_topkr0.9.log"
    _eval_process(trained["args"] + extra)
    first = log.read_text()
    _check_generated(first)
    _eval_process(trained["args"] + extra)
    assert log.read_text() == first
