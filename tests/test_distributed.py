"""torchrun training: 2 CPU processes (gloo) against one process with the same global batch.

Each trainer is launched with `python -m torch.distributed.run --nproc_per_node 2` for a few steps on
the synthetic dataset and its weights are compared with a single-process run:
- VQ and transformer: 2 ranks x batch b == 1 process x batch b x --grad_accum 2, with every random
  draw on (Gumbel noise, quantiser dropout, masking, interaction coins, dropout, condition dropout),
  an odd micro-batch and an epoch boundary (rank-0 validation + barrier) inside the run; the
  2-rank checkpoint then resumes in one process and ends where an uninterrupted run ends;
- evaluator: 2 ranks x b == 1 process x 2b (the contrastive loss over the gathered global batch),
  with dropout 0 (its masks are drawn per rank).
"""
import os
import socket
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO, write_random_vq_run
from utils.distributed import GlobalBatchSampler

TOL = 1e-5
VQ = ["--batch_size", "16", "--width", "32", "--code_dim", "16", "--output_emb_width", "16", "--nb_code", "32",
      "--depth", "1", "--device", "cpu", "--seed", "7", "--window_stride", "400", "--lr", "1e-3"]
TRANS = ["--batch_size", "3", "--latent_dim", "32", "--n_heads", "2", "--n_layers", "1", "--ff_size", "64",
         "--dropout", "0.1", "--text_encoder", "minilm", "--vq_name", "vq_tiny", "--device", "cpu", "--max_epoch", "100",
         "--clip_dim", "64", "--interaction_mask_prob", "0.5", "--warm_up_iter", "3", "--lr", "1e-3"]
EVAL = ["--text_encoder", "minilm", "--latent_dim", "32", "--num_layers", "1", "--num_heads", "2", "--ff_size", "64",
        "--text_latent_dim", "32", "--text_num_layers", "1", "--text_num_heads", "2", "--emb_dim", "16",
        "--dropout", "0", "--max_epoch", "2", "--eval_batch_size", "4", "--device", "cpu", "--seed", "3"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(script, *args, nproc=2):
    """Run `script args` under torchrun with `nproc` CPU ranks; returns the combined output."""
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(nproc),
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), script, *args]
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    return out


def _ckpt(root, name, file="latest.tar"):
    return torch.load(os.path.join(root, "interhuman", name, "model", file), map_location="cpu", weights_only=False)


def assert_same_weights(a, b, what):
    assert a.keys() == b.keys(), what
    diff = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    assert diff < TOL, f"{what}: max |diff| {diff:.3g}"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("ddp") / "synthetic")
    subprocess.run([sys.executable, os.path.join(REPO, "prepare", "make_synthetic_dataset.py"), "--out", out,
                    "--num_clips", "30", "--seed", "0", "--val_frac", "0.2", "--test_frac", "0.1"], cwd=REPO,
                   check=True, capture_output=True)
    return out


def test_sampler_ranks_and_accumulation_split_the_same_global_batches():
    n, b = 23, 2
    single = GlobalBatchSampler(n, 2 * b * 3, seed=4)                       # 1 rank, global batch 12
    single.set_position(5)
    want = list(single)
    for world, accum in ((2, 3), (6, 1), (1, 6), (3, 2)):
        per_rank = []
        for r in range(world):
            s = GlobalBatchSampler(n, b, seed=4, world_size=world, rank=r, accum=accum)
            s.set_position(5)
            per_rank.append(list(s))
            assert len(s) == s.steps_per_epoch * accum and s.steps_per_epoch == len(want) == 1
        for step, batch in enumerate(want):
            got = [i for r in range(world) for i in sum(per_rank[r][step * accum:(step + 1) * accum], [])]
            assert got == batch, (world, accum)
    resumed = GlobalBatchSampler(40, 2, seed=4, world_size=2, rank=1, accum=2)
    resumed.set_position(0, start_batch=3)                                  # global step 3 of 5
    full = list(GlobalBatchSampler(40, 8, seed=4))                          # 5 global batches of 8
    assert list(resumed) == [full[3][4:6], full[3][6:8], full[4][4:6], full[4][6:8]]


def test_vq_two_ranks_equal_one_process_and_resume_in_one(data, tmp_path):
    import train_vq
    torch.set_num_threads(1)
    ck = str(tmp_path)
    common = ["--data_root", data, "--checkpoints_dir", ck, *VQ]
    out = torchrun("train_vq.py", *common, "--name", "two", "--max_iters", "3")
    one = train_vq.main(common + ["--name", "one", "--grad_accum", "2", "--max_iters", "3"])
    assert one.total_iters // 50 == 2, "the runs must cross an epoch boundary"
    two_ck, one_ck = _ckpt(ck, "two"), _ckpt(ck, "one")
    assert two_ck["total_it"] == one_ck["total_it"] == 3 and two_ck["global_batch"] == 32
    assert (two_ck["ep"], two_ck["step_in_epoch"]) == (one_ck["ep"], one_ck["step_in_epoch"]) == (1, 1)
    assert_same_weights(one_ck["vq_model"], two_ck["vq_model"], "VQ weights")
    ema = [{k: v for k, v in c["quantizer_ema"][0].items() if k != "initialised"} for c in (one_ck, two_ck)]
    assert_same_weights(*ema, "codebook EMA")
    assert_same_weights({str(i): s["exp_avg_sq"] for i, s in one_ck["opt_vq_model"]["state"].items()},
                        {str(i): s["exp_avg_sq"] for i, s in two_ck["opt_vq_model"]["state"].items()}, "AdamW")
    assert out.count("Validation epoch 1") == 1                            # rank 0 alone validates
    assert len(os.listdir(os.path.join(ck, "interhuman", "two", "log"))) == 1
    # the 2-rank checkpoint continues in one process (same global batch) as an uninterrupted run
    straight = train_vq.main(common + ["--name", "straight", "--grad_accum", "2", "--max_iters", "5"])
    resumed = train_vq.main(common + ["--name", "two", "--grad_accum", "2", "--max_iters", "5", "--is_continue"])
    assert len(resumed.lr_history) == 2
    assert_same_weights(straight.model.state_dict(), resumed.model.state_dict(), "resumed VQ weights")
    assert not torch.equal(resumed.model.state_dict()["encoder.model.2.weight"],
                           two_ck["vq_model"]["encoder.model.2.weight"])
    with pytest.raises(ValueError, match="global batch of 32"):
        train_vq.main(common + ["--name", "two", "--max_iters", "6", "--is_continue"])


@pytest.fixture(scope="module")
def tiny_vq(tmp_path_factory):
    from tests.test_train_transformer import TINY_VQ
    ck = tmp_path_factory.mktemp("ddp_t")
    write_random_vq_run(ck, TINY_VQ)
    return str(ck)


def test_transformer_two_ranks_equal_one_process_and_resume_in_one(data, tiny_vq):
    import train_transformer
    torch.set_num_threads(1)
    common = ["--data_root", data, "--checkpoints_dir", tiny_vq, *TRANS]
    torchrun("train_transformer.py", *common, "--name", "two", "--max_iters", "3")
    one = train_transformer.main(common + ["--name", "one", "--grad_accum", "2", "--max_iters", "3"])
    a, b = _ckpt(tiny_vq, "one"), _ckpt(tiny_vq, "two")
    assert a["total_it"] == b["total_it"] == 3 and b["global_batch"] == 6
    assert_same_weights(a["t2m_transformer"], b["t2m_transformer"], "transformer weights")
    assert one.lr_history[0] < one.lr_history[1]                           # inside the warm-up
    straight = train_transformer.main(common + ["--name", "straight", "--grad_accum", "2", "--max_iters", "5"])
    resumed = train_transformer.main(common + ["--name", "two", "--grad_accum", "2", "--max_iters", "5",
                                               "--is_continue"])
    assert len(resumed.lr_history) == 2
    assert_same_weights(straight.model.state_dict(), resumed.model.state_dict(), "resumed transformer weights")


def test_transformer_length_split_two_ranks_equal_one_process(data, tiny_vq):
    """--length_split under DDP: every part but the last backward runs without gradient sync, and the
    result still equals one process with the same global batch (dropout on: the parts take the same
    draws in both runs)."""
    import train_transformer
    torch.set_num_threads(1)
    common = ["--data_root", data, "--checkpoints_dir", tiny_vq, *TRANS, "--length_split", "2"]
    torchrun("train_transformer.py", *common, "--name", "split_two", "--max_iters", "2")
    train_transformer.main(common + ["--name", "split_one", "--grad_accum", "2", "--max_iters", "2"])
    a, b = _ckpt(tiny_vq, "split_one"), _ckpt(tiny_vq, "split_two")
    assert a["total_it"] == b["total_it"] == 2
    assert_same_weights(a["t2m_transformer"], b["t2m_transformer"], "transformer weights")


def test_evaluator_two_ranks_equal_one_process_with_the_global_batch(data, tmp_path):
    import train_evaluator
    torch.set_num_threads(1)
    common = ["--data_root", data, "--checkpoints_dir", str(tmp_path), *EVAL]
    torchrun("train_evaluator.py", *common, "--name", "two", "--batch_size", "4")
    train_evaluator.main(common + ["--name", "one", "--batch_size", "8"])
    a, b = _ckpt(str(tmp_path), "one"), _ckpt(str(tmp_path), "two")
    assert a["total_it"] == b["total_it"] > 4 and b["global_batch"] == 8
    assert_same_weights(a["model"], b["model"], "evaluator weights")
