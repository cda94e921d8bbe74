"""train_evaluator.py: a tiny InterCLIP-architecture evaluator trained on a small synthetic dataset
separates matched from mismatched text-motion pairs (ground-truth R-precision far above chance), and
its output loads through eval.py's loader exactly like the official evaluator."""
import argparse
import os

import numpy as np
import torch

from tests.test_eval_toydata import write_toy_interhuman

ARCH = ["--text_encoder", "minilm", "--latent_dim", "64", "--num_layers", "2", "--num_heads", "4",
        "--ff_size", "128", "--text_latent_dim", "64", "--text_num_layers", "1", "--text_num_heads", "4",
        "--emb_dim", "32"]


def _gt_r_precision(eval_dir, data_root, batch_size, seed=0):
    from data import build_t2m_dataset
    from data.config import DataConfig
    from models.evaluator.build import build_evaluator
    from models.evaluator.config import EvaluatorConfig
    from utils.metrics import matching_batch
    opt = argparse.Namespace(dataset_name="interhuman", checkpoints_dir="unused", eval_model_dir=eval_dir,
                             data_root=data_root, stats_dir=None)
    wrapper = build_evaluator(EvaluatorConfig.from_options(vars(opt)), torch.device("cpu"))
    ds = build_t2m_dataset(DataConfig.from_options(vars(opt)), "test", normalize=False)
    batch_size = min(batch_size, len(ds))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(seed))
    hits, n = np.zeros(3), 0
    for _ in range(3):  # a few passes: random crops, captions and person order
        for batch in loader:
            te, me = wrapper.get_co_embeddings(batch)
            hits += matching_batch(te.numpy(), me.numpy())[1]
            n += te.shape[0]
    return hits / n, batch_size


def test_trained_evaluator_separates_pairs(tmp_path):
    import train_evaluator
    torch.set_num_threads(1)
    data = str(tmp_path / "toy")
    write_toy_interhuman(data, n_clips=200, seed=4, min_len=30, max_len=70, splits=(0.7, 0.1, 0.2))
    run = train_evaluator.main(["--name", "ev", "--checkpoints_dir", str(tmp_path / "ck"), "--data_root", data,
                                "--batch_size", "32", "--max_epoch", "20", "--lr", "1e-3", "--warmup_iters", "10",
                                "--eval_batch_size", "20", "--device", "cpu", "--seed", "1"] + ARCH)
    assert os.path.isfile(os.path.join(run, "eval_model.yaml")) and os.path.isfile(os.path.join(run, "interclip.ckpt"))
    batch = 20
    r, _ = _gt_r_precision(run, data, batch)
    chance_top3 = 3 / batch
    assert r[2] > 3 * chance_top3, f"R-precision {r} not far above chance {chance_top3:.3f}"
    assert r[0] > 2 / batch
    # an untrained evaluator of the same architecture stays near chance on the same pairs
    from models.evaluator.build import save_interclip
    from models.evaluator.config import interclip_config_from_options
    from models.evaluator.interclip import InterCLIP
    torch.manual_seed(0)
    untrained = InterCLIP(interclip_config_from_options(vars(train_evaluator.EvaluatorTrainOptions().parse(ARCH))))
    save_interclip(untrained, str(tmp_path / "untrained"))
    r0, _ = _gt_r_precision(str(tmp_path / "untrained"), data, batch)
    print("R-precision trained", r, "untrained", r0)
    assert r[2] > r0[2] + 0.2


def test_resume_is_exact(tmp_path):
    """Stopping after 1 epoch and resuming to 2 gives the same weights as training 2 epochs at once."""
    import train_evaluator
    torch.set_num_threads(1)
    data = str(tmp_path / "toy")
    write_toy_interhuman(data, n_clips=30, seed=5, min_len=30, max_len=50)
    common = ["--checkpoints_dir", str(tmp_path / "ck"), "--data_root", data, "--batch_size", "8",
              "--eval_batch_size", "6", "--device", "cpu", "--seed", "2", "--log_every", "2"] + ARCH
    straight = train_evaluator.main(["--name", "a", "--max_epoch", "2"] + common)
    train_evaluator.main(["--name", "b", "--max_epoch", "1"] + common)
    # another --seed: a resume that silently restarted would now differ (all streams come from the file)
    resumed = train_evaluator.main(["--name", "b", "--max_epoch", "2", "--is_continue"] + common + ["--seed", "99"])
    a = torch.load(os.path.join(straight, "model", "latest.tar"), weights_only=False)["model"]
    b = torch.load(os.path.join(resumed, "model", "latest.tar"), weights_only=False)["model"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
