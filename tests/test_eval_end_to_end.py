"""eval.py end to end on a small real-format dataset with small counts: the official log layout, the
reproducibility header, identical logs for two runs with one seed, VQ reconstruction, transformer
generation and reaction."""
import os
import re

import numpy as np
import pytest
import torch
import yaml

from tests.test_eval_toydata import write_toy_interhuman

TINY_EVAL = {"NUM_LAYERS": 1, "NUM_HEADS": 2, "LATENT_DIM": 32, "FF_SIZE": 64, "TEXT_LATENT_DIM": 32,
             "TEXT_NUM_LAYERS": 1, "TEXT_NUM_HEADS": 2, "EMB_DIM": 16, "TEXT_ENCODER": "minilm"}
TINY_VQ = dict(dataset_name="interhuman", nb_code=32, code_dim=16, output_emb_width=16, width=16, depth=1,
               down_t=2, stride_t=2, dilation_growth_rate=3, vq_act="relu", vq_norm=None)
SMALL = ["--batch_size", "4", "--replication_times", "2", "--diversity_times", "5", "--mm_num_samples", "3",
         "--mm_num_repeats", "4", "--mm_num_times", "2", "--gen_batch_size", "5", "--log_time", "False",
         "--device", "cpu"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from models.evaluator.build import save_interclip
    from models.evaluator.interclip import InterCLIP
    from models.vq.build import build_vq
    from models.vq.config import VQConfig
    from utils.files import atomic_torch_save
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("e2e")
    data = str(root / "toy")
    write_toy_interhuman(data, n_clips=50, seed=3)  # 10 test clips
    ckpt = root / "checkpoints"
    torch.manual_seed(0)
    save_interclip(InterCLIP(TINY_EVAL), str(ckpt / "eval_model"))
    vq_dir = ckpt / "interhuman" / "vq_tiny"
    os.makedirs(vq_dir / "model")
    with open(vq_dir / "opt.yaml", "w") as f:
        yaml.safe_dump(dict(TINY_VQ, name="vq_tiny", data_root=data), f)
    sd = build_vq(VQConfig.from_options(TINY_VQ)).state_dict()
    sd["quantizer.layers.0.codebook"] = torch.randn_like(sd["quantizer.layers.0.codebook"])  # untrained: zeros
    atomic_torch_save({"vq_model": sd}, str(vq_dir / "model" / "best_fid.tar"))
    return {"data": data, "ckpt": str(ckpt), "root": root}


def _run(setup, *extra):
    import eval as eval_script
    args = ["--checkpoints_dir", setup["ckpt"], "--data_root", setup["data"]] + SMALL + list(extra)
    return eval_script.main(args)


def _check_official_layout(text, loaders, replications, with_mm):
    lines = [ln for ln in text.splitlines() if not ln.startswith("# ")]
    for r in range(replications):
        assert f"==================== Replication {r} ====================" in lines
    assert lines.count("!!! DONE !!!") == replications
    for name in loaders:
        assert sum(ln.startswith(f"---> [{name}] MM Distance: ") for ln in lines) == replications
        assert sum(bool(re.match(rf"---> \[{re.escape(name)}\] R_precision: \(top 1\): \d\.\d{{4}} \(top 2\): "
                                 rf"\d\.\d{{4}} \(top 3\): \d\.\d{{4}} $", ln)) for ln in lines) == replications
        assert sum(ln.startswith(f"---> [{name}] FID: ") for ln in lines) == replications
        assert sum(ln.startswith(f"---> [{name}] Diversity: ") for ln in lines) == replications
    for metric in ("MM Distance", "R_precision", "FID", "Diversity", "MultiModality"):
        assert f"========== {metric} Summary ==========" in lines
    assert any(re.match(r"---> \[ground truth\]\(top 1\) Mean: \d\.\d{4} CInt: \d\.\d{4};\(top 2\)", ln) for ln in lines)
    mm = [ln for ln in lines if "] Multimodality: " in ln]
    assert len(mm) == replications * (len(loaders) - 1)
    values = [float(ln.rsplit(" ", 1)[1]) for ln in mm]
    assert (min(values) > 0) == with_mm


def test_vq_reconstruction_protocol_and_reproducibility(setup):
    from models.evaluator.build import sha256_file
    res = _run(setup, "--use_trans", "False", "--name", "vq_tiny", "--seed", "5")
    log = os.path.join(setup["ckpt"], "interhuman", "vq_tiny", "eval", "evaluation_best_fid.log")
    assert list(res) == ["evaluation_best_fid.log"]
    first = open(log).read()
    _check_official_layout(first, ["ground truth", "best_fid.tar"], 2, with_mm=False)
    ck = os.path.join(setup["ckpt"], "interhuman", "vq_tiny", "model", "best_fid.tar")
    assert f"# model file: {ck} sha256 {sha256_file(ck)}" in first
    ev = os.path.join(setup["ckpt"], "eval_model", "interclip.ckpt")
    assert f"# evaluator file: {ev} sha256 {sha256_file(ev)}" in first
    assert "# seed: 5" in first and "replication_times=2" in first and "# multimodality convention: intermask" in first
    _run(setup, "--use_trans", "False", "--name", "vq_tiny", "--seed", "5")
    assert open(log).read() == first  # same command, same seed: byte-identical log
    _run(setup, "--use_trans", "False", "--name", "vq_tiny", "--seed", "6")
    assert open(log).read() != first
    batched = _run(setup, "--use_trans", "False", "--name", "vq_tiny", "--seed", "5", "--recon_per_sample", "False")
    fid_batched = batched["evaluation_best_fid.log"]["FID"]["best_fid.tar"][0]
    assert np.isfinite(fid_batched) and fid_batched != res["evaluation_best_fid.log"]["FID"]["best_fid.tar"][0]
    # a GT self-check that could fail: the GT R-precision is a fraction of hits, MM Dist > 0
    summary = res["evaluation_best_fid.log"]
    top = summary["R_precision"]["ground truth"][0]
    assert np.all((top >= 0) & (top <= 1)) and np.all(np.diff(top) >= 0)
    assert summary["MM Distance"]["ground truth"][0] > 0


def _transformer_run(setup):
    from models.mask_transformer.build import build_transformer, checkpoint_state
    from models.mask_transformer.config import TransformerConfig
    from utils.files import atomic_torch_save
    run = os.path.join(setup["ckpt"], "interhuman", "trans_tiny")
    if not os.path.isdir(run):
        opt = dict(name="trans_tiny", vq_name="vq_tiny", dataset_name="interhuman", num_tokens=TINY_VQ["nb_code"],
                   code_dim=TINY_VQ["code_dim"], latent_dim=32, ff_size=64, n_layers=1, n_heads=2,
                   text_encoder="minilm", seed=11, data_root=setup["data"], vq_which_epoch="best_fid")
        os.makedirs(os.path.join(run, "model"))
        with open(os.path.join(run, "opt.yaml"), "w") as f:
            yaml.safe_dump(opt, f)
        torch.manual_seed(1)
        model = build_transformer(TransformerConfig.from_options(opt))
        atomic_torch_save({"t2m_transformer": checkpoint_state(model)}, os.path.join(run, "model", "best_fid.tar"))
    return run


def test_transformer_generation_and_reaction(setup):
    run = _transformer_run(setup)
    common = ["--name", "trans_tiny", "--time_steps", "4", "--cond_scales", "2", "--topkr", "0.9", "0.5"]
    res = _run(setup, *common)
    assert sorted(res) == ["evaluation_best_fid_ts4_cs2.0_topkr0.5.log", "evaluation_best_fid_ts4_cs2.0_topkr0.9.log"]
    text = open(os.path.join(run, "eval", "evaluation_best_fid_ts4_cs2.0_topkr0.9.log")).read()
    _check_official_layout(text, ["ground truth", "best_fid.tar"], 2, with_mm=True)
    assert "# seed: 11" in text  # the run's training seed by default
    vq = os.path.join(setup["ckpt"], "interhuman", "vq_tiny", "model", "best_fid.tar")
    assert f"# model file: {vq} sha256" in text
    res = _run(setup, *common[:-2], "0.9", "--gen_react", "--replication_times", "1", "--gen_length_split", "2")
    assert list(res) == ["react_evaluation_best_fid_ts4_cs2.0_topkr0.9.log"]
    text = open(os.path.join(run, "eval", "react_evaluation_best_fid_ts4_cs2.0_topkr0.9.log")).read()
    _check_official_layout(text, ["ground truth", "best_fid.tar"], 1, with_mm=True)
    assert "gen_length_split=2" in text


def test_cond_scale_zero_without_multimodality(setup):
    """The demo's text-ignoring baseline: cond scale 0, one replication, no multimodality pass; the
    log keeps the official layout with MultiModality reported as 0."""
    _transformer_run(setup)
    res = _run(setup, "--name", "trans_tiny", "--time_steps", "4", "--cond_scales", "0", "--topkr", "0.9",
               "--replication_times", "1", "--mm_num_samples", "0")
    assert list(res) == ["evaluation_best_fid_ts4_cs0.0_topkr0.9.log"]
    text = open(os.path.join(setup["ckpt"], "interhuman", "trans_tiny", "eval", list(res)[0])).read()
    _check_official_layout(text, ["ground truth", "best_fid.tar"], 1, with_mm=False)


def test_intergen_multimodality_is_a_third(setup):
    """Same seed, same generations: the InterMask convention is exactly 3x InterGen's."""
    _transformer_run(setup)
    common = ["--name", "trans_tiny", "--time_steps", "4", "--replication_times", "1"]
    a = _run(setup, *common)["evaluation_best_fid_ts4_cs2.0_topkr0.9.log"]["MultiModality"]["best_fid.tar"][0]
    b = _run(setup, *common, "--multimodality_convention", "intergen")
    b = b["evaluation_best_fid_ts4_cs2.0_topkr0.9.log"]["MultiModality"]["best_fid.tar"][0]
    np.testing.assert_allclose(a, 3 * b, rtol=1e-4)
    assert a > 0


def test_cli_one_line_errors(setup, tmp_path, capsys):
    import eval as eval_script
    base = ["--checkpoints_dir", setup["ckpt"], "--data_root", setup["data"], "--use_trans", "False",
            "--name", "vq_tiny", "--batch_size", "4", "--diversity_times", "3"]
    cases = [(["--eval_model_dir", str(tmp_path / "nowhere")], ["prepare/download_evaluator.sh", "nowhere"]),
             (["--which_epoch", "no_such_epoch"], ["no_such_epoch"]),
             (["--batch_size", "1000"], ["fewer than one evaluation batch"]),
             (["--diversity_times", "8"], ["--diversity_times 8", "gives 8"])]
    for extra, words in cases:
        assert eval_script.cli(base + extra) == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith("eval.py: error: ") and all(w in last for w in words), last
