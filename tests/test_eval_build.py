"""Evaluator files and the evaluation-during-training pass: save/load round trip in the official
layout, blank lines in eval_model.yaml, one-line errors for missing files, evaluate_motions."""
import argparse
import os

import numpy as np
import pytest
import torch

TINY = {"NUM_LAYERS": 1, "NUM_HEADS": 2, "LATENT_DIM": 32, "FF_SIZE": 64, "TEXT_LATENT_DIM": 32,
        "TEXT_NUM_LAYERS": 1, "TEXT_NUM_HEADS": 2, "EMB_DIM": 16}


def _tiny_evaluator_dir(tmp_path, seed=0):
    from models.evaluator.build import save_interclip
    from models.evaluator.interclip import InterCLIP
    torch.manual_seed(seed)
    model = InterCLIP(TINY)
    d = tmp_path / "eval_model"
    save_interclip(model, str(d))
    return str(d), model


def _batches(n_batches, bs, seed=0, T=40):
    g = torch.Generator().manual_seed(seed)
    out = []
    for b in range(n_batches):
        lens = torch.randint(10, T, (bs,), generator=g)
        texts = [f"caption {b} {i} {'wave' if i % 2 else 'hug'}" for i in range(bs)]
        out.append(([f"n{i}" for i in range(bs)], texts, torch.randn(bs, T, 262, generator=g),
                    torch.randn(bs, T, 262, generator=g), lens))
    return out


def test_save_load_roundtrip_official_layout(tmp_path):
    from models.evaluator.build import load_interclip
    d, model = _tiny_evaluator_dir(tmp_path)
    ck = torch.load(os.path.join(d, "interclip.ckpt"), weights_only=False)
    assert set(ck) == {"state_dict"} and all(k.startswith("model.") for k in ck["state_dict"])
    # a blank line (as in InterGen's eval_model.yaml) must not break parsing
    with open(os.path.join(d, "eval_model.yaml")) as f:
        lines = f.read().splitlines()
    with open(os.path.join(d, "eval_model.yaml"), "w") as f:
        f.write("\n".join(lines[:3] + [""] + lines[3:]) + "\n\n")
    loaded = load_interclip(d)
    x, lens = torch.randn(3, 20, 524), torch.tensor([20, 7, 13])
    with torch.no_grad():
        np.testing.assert_array_equal(loaded.encode_motion(x, lens).numpy(),
                                      model.eval().encode_motion(x, lens).numpy())
        np.testing.assert_array_equal(loaded.encode_text(["a b", "c"]).numpy(),
                                      model.encode_text(["a b", "c"]).numpy())


def test_evaluator_config_folder():
    """--eval_model_dir wins; else <checkpoints_dir>/eval_model (InterHuman) or <checkpoints_dir>/hhi
    (Inter-X), with ./checkpoints when the options have no checkpoints_dir."""
    from models.evaluator.config import EvaluatorConfig
    cfg = EvaluatorConfig.from_options({"dataset_name": "interx", "checkpoints_dir": "ck", "eval_model_dir": None})
    assert (cfg.model_dir, cfg.interx) == (os.path.join("ck", "hhi"), True)
    cfg = EvaluatorConfig.from_options({"dataset_name": "interhuman", "checkpoints_dir": "ck", "eval_model_dir": ""})
    assert (cfg.model_dir, cfg.interx) == (os.path.join("ck", "eval_model"), False)
    assert EvaluatorConfig.from_options({"dataset_name": "interhuman"}).model_dir == \
        os.path.join("./checkpoints", "eval_model")
    assert EvaluatorConfig.from_options({"dataset_name": "interx", "checkpoints_dir": "ck",
                                         "eval_model_dir": "mine"}).model_dir == "mine"


def test_missing_evaluator_is_one_line_naming_the_script(tmp_path):
    from models.evaluator.build import build_evaluator
    from models.evaluator.config import EvaluatorConfig
    from utils.files import MissingFileError
    for ds in ("interhuman", "interx"):
        opt = argparse.Namespace(dataset_name=ds, checkpoints_dir=str(tmp_path), eval_model_dir=None)
        with pytest.raises(MissingFileError) as e:
            build_evaluator(EvaluatorConfig.from_options(vars(opt)), torch.device("cpu"))
        msg = str(e.value)
        assert "\n" not in msg and "prepare/download_evaluator.sh" in msg and str(tmp_path) in msg


def test_evaluate_motions_identity_and_shuffle(tmp_path):
    from models.evaluator.build import build_evaluator
    from models.evaluator.config import EvaluatorConfig
    from utils.evaluation.during_training import evaluate_motions
    torch.set_num_threads(1)
    d, _ = _tiny_evaluator_dir(tmp_path)
    wrapper = build_evaluator(EvaluatorConfig("interhuman", d), torch.device("cpu"))
    mean, std = np.full(262, 0.5, np.float32), np.full(262, 2.0, np.float32)
    batches = _batches(3, 8)

    def identity(batch):  # perfect reconstruction, de-normalised
        m = torch.cat([batch[2], batch[3]], -1) * torch.from_numpy(np.tile(std, 2)) + torch.from_numpy(np.tile(mean, 2))
        return m, batch[4]

    log = tmp_path / "eval" / "evaluation_training.log"
    res = evaluate_motions(identity, batches, wrapper, mean=mean, std=std, log_file=str(log), epoch=3)
    assert abs(res["fid"]) < 1e-3
    for k in ("top1", "top2", "top3", "matching"):
        assert res[k] == pytest.approx(res["gt_" + k], abs=1e-6)
    text = log.read_text().splitlines()
    assert text[0] == "==================== Epoch 3 ===================="
    assert text[1].startswith("---> [gt] MM Distance: ") and text[2].startswith("---> [gt] R_precision: (top 1): ")
    assert text[-1].startswith("---> [gen] FID: ")

    def shuffled(batch):  # other samples' motions: far from the GT distribution of pairs
        m, lens = identity(batch)
        return m.roll(1, 0), lens.roll(1, 0)

    res2 = evaluate_motions(shuffled, batches, wrapper, mean=mean, std=std)
    assert res2["matching"] != pytest.approx(res["matching"], abs=1e-6)
    assert res2["fid"] == pytest.approx(0.0, abs=1e-6)  # the same set of motions, reordered: FID 0 up to rounding
