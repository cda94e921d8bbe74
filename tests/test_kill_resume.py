"""A real kill: train_vq.py and train_transformer.py (tiny, CPU, a synthetic dataset) run in a
subprocess that is sent SIGKILL mid-epoch, right after a checkpoint is in place, and while a
checkpoint is being written (tests/kill_harness.py parks the process at that moment). Each time
latest.tar stays readable and holds the last complete checkpoint, and the same command with
--is_continue ends with a latest.tar equal, entry by entry and bit for bit (weights, optimiser,
scheduler, codebook statistics, RNG states, best values), to the one of an uninterrupted run.

Plan (6 steps per epoch, 2 epochs, --save_latest 4): latest.tar is written after iterations 4, 6
(end of epoch 1), 8, 12 and 12 (end of epoch 2).
"""
import glob
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import REPO, write_random_vq_run
from tests.test_eval_toydata import write_toy_interhuman
from tests.test_train_transformer import TINY_T, TINY_VQ

STEPS = 6  # per epoch: 12 train clips -> 48 VQ windows / 8, 24 text-motion items / 4
ARGS = {
    "vq": ["train_vq.py", "--batch_size", "8", "--width", "16", "--code_dim", "16", "--output_emb_width", "16",
           "--nb_code", "32", "--depth", "1", "--device", "cpu", "--seed", "7", "--window_stride", "60",
           "--num_workers", "0", "--max_epoch", "1", "--save_latest", "4", "--lr", "1e-3"],  # + the official extra epoch
    "trans": ["train_transformer.py", *TINY_T, "--batch_size", "4", "--max_epoch", "2", "--save_latest", "4",
              "--lr", "1e-3"],
}
# (moment, N, total_it of the latest.tar left behind by the kill)
MOMENTS = [("step", 10, 8),        # mid-epoch 2: iterations 9 and 10 are lost, resume at step 2 of epoch 2
           ("after_save", 2, 6),   # right after the end-of-epoch-1 checkpoint is in place
           ("mid_save", 3, 6)]     # while iteration 8's checkpoint is half written: the previous one stays


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    data = str(root / "toy")
    write_toy_interhuman(data, n_clips=20, seed=4, min_len=70, max_len=100)   # 12 train, 4 val clips
    ckpt = root / "checkpoints"
    write_random_vq_run(ckpt, TINY_VQ)
    return {"root": root, "data": data, "ckpt": str(ckpt)}


def _command(data, kind, name):
    script, *args = ARGS[kind]
    return [script, *args, "--data_root", data["data"], "--checkpoints_dir", data["ckpt"], "--name", name]


def _harness(data, moment, n, command):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    ready = str(data["root"] / f"ready_{time.monotonic_ns()}")
    proc = subprocess.Popen([sys.executable, "-m", "tests.kill_harness", ready, moment, str(n), *command],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, ready


def _run(data, command):
    proc, _ = _harness(data, "none", 0, command)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-3000:]


def _kill_at(data, moment, n, command):
    """Start the command, SIGKILL it when it parks at the moment, return its exit status."""
    proc, ready = _harness(data, moment, n, command)
    deadline = time.monotonic() + 600
    while not os.path.exists(ready):
        assert proc.poll() is None, f"ended before the {moment} {n} moment: {proc.stderr.read().decode()[-3000:]}"
        assert time.monotonic() < deadline, f"never reached the {moment} {n} moment"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stderr.close()
    return proc.returncode


def _latest(data, name):
    return os.path.join(data["ckpt"], "interhuman", name, "model", "latest.tar")


def _assert_equal(a, b, where="checkpoint"):
    """Recursive exact equality (tensors bit for bit, also NaN-free floats by value)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (where, sorted(map(str, a)), sorted(map(str, b)))
        for k in a:
            _assert_equal(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_equal(x, y, f"{where}[{i}]")
    elif torch.is_tensor(a):
        assert torch.is_tensor(b) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), where
    elif hasattr(a, "shape"):  # numpy arrays (RNG states)
        assert (a == b).all(), where
    else:
        assert a == b, (where, a, b)


@pytest.fixture(scope="module")
def straight(data):
    """The uninterrupted runs' final latest.tar, per trainer."""
    from utils.files import load_checkpoint
    out = {}
    for kind in ARGS:
        _run(data, _command(data, kind, f"{kind}_straight"))
        out[kind] = load_checkpoint(_latest(data, f"{kind}_straight"))
        assert out[kind]["total_it"] == 2 * STEPS and out[kind]["ep"] == 2, "the plan above needs 6 steps per epoch"
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(ARGS))
@pytest.mark.parametrize("moment,n,left_at", MOMENTS, ids=[m[0] for m in MOMENTS])
def test_sigkill_then_is_continue_is_bit_identical(data, straight, kind, moment, n, left_at):
    from utils.files import load_checkpoint
    name = f"{kind}_{moment}"
    command = _command(data, kind, name)
    assert _kill_at(data, moment, n, command) == -signal.SIGKILL
    kept = load_checkpoint(_latest(data, name))           # readable, the last complete checkpoint
    assert kept["total_it"] == left_at, (kept["total_it"], left_at)
    temps = glob.glob(_latest(data, name) + ".tmp*")
    if moment == "mid_save":  # the kill did land inside a write: its half file is the temp file
        assert len(temps) == 1 and os.path.getsize(temps[0]) > 0, temps
    _run(data, command + ["--is_continue"])
    _assert_equal(load_checkpoint(_latest(data, name)), straight[kind])
