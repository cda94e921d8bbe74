"""A checkpoint cut in half, a file of random bytes, one without its model entry and one missing a
weight: eval.py, infer.py, train_transformer.py (the --vq_name load) and --is_continue of both
trainers end with one stderr line naming the file and what is wrong, and leave the file as it was.
`--is_continue` never starts over: without latest.tar it is an error, and no run folder is created."""
import os
import shutil

import numpy as np
import pytest
import torch
import yaml

from tests.conftest import write_random_vq_run
from tests.test_eval_toydata import write_toy_interhuman
from tests.test_train_transformer import TINY_T, TINY_VQ

TINY_EVAL = {"NUM_LAYERS": 1, "NUM_HEADS": 2, "LATENT_DIM": 16, "FF_SIZE": 32, "TEXT_LATENT_DIM": 16,
             "TEXT_NUM_LAYERS": 1, "TEXT_NUM_HEADS": 2, "EMB_DIM": 8, "TEXT_ENCODER": "minilm"}
TINY_VQ_ARGS = ["--batch_size", "8", "--width", "16", "--code_dim", "16", "--output_emb_width", "16",
                "--nb_code", "32", "--depth", "1", "--device", "cpu", "--seed", "7", "--window_stride", "30",
                "--num_workers", "0", "--max_epoch", "2"]
DAMAGES = ("half", "random", "no_entry", "no_weight")
# what the one error line says for each damage (besides the file's path)
SAYS = {"half": "truncated or corrupt", "random": "truncated or corrupt", "no_entry": "has no '{entry}' entry",
        "no_weight": "do not fit this model"}


def damage(path, how, entry):
    """Damage the checkpoint at `path` in place; returns its new bytes."""
    if how == "half":
        with open(path, "rb") as f:
            data = f.read()
        data = data[: len(data) // 2]
    elif how == "random":
        data = np.random.default_rng(0).bytes(5000)
    else:
        ck = torch.load(path, weights_only=False)
        if how == "no_entry":
            ck = {k: v for k, v in ck.items() if k != entry} or {"ep": 1}
        else:
            ck[entry].pop(sorted(ck[entry])[0])
        torch.save(ck, path)
        with open(path, "rb") as f:
            return f.read()
    with open(path, "wb") as f:
        f.write(data)
    return data


def one_error_line(capsys, script, path, how, entry):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    line = err[0]
    assert line.startswith(f"{script}: error: ") and path in line, line
    assert SAYS[how].format(entry=entry) in line, line
    if how == "no_weight":
        assert "Missing key" in line, line
    return line


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from models.evaluator.build import save_interclip
    from models.evaluator.interclip import InterCLIP
    from models.mask_transformer.build import build_transformer, checkpoint_state
    from models.mask_transformer.config import TransformerConfig
    from utils.files import atomic_torch_save
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("corrupt")
    data = str(root / "toy")
    write_toy_interhuman(data, n_clips=40, seed=0, min_len=70, max_len=140)
    ckpt = root / "checkpoints"
    torch.manual_seed(0)
    save_interclip(InterCLIP(TINY_EVAL), str(ckpt / "eval_model"))
    write_random_vq_run(ckpt, dict(TINY_VQ, data_root=data))
    run = ckpt / "interhuman" / "trans_tiny"
    opt = dict(name="trans_tiny", vq_name="vq_tiny", dataset_name="interhuman", num_tokens=TINY_VQ["nb_code"],
               code_dim=TINY_VQ["code_dim"], latent_dim=32, ff_size=64, n_layers=1, n_heads=2,
               text_encoder="minilm", seed=11, data_root=data, vq_which_epoch="best_fid")
    os.makedirs(run / "model")
    with open(run / "opt.yaml", "w") as f:
        yaml.safe_dump(opt, f)
    atomic_torch_save({"t2m_transformer": checkpoint_state(build_transformer(TransformerConfig.from_options(opt)))},
                      str(run / "model" / "best_fid.tar"))
    return {"root": root, "data": data, "ckpt": str(ckpt)}


def _copy_run(setup, name, new):
    src = os.path.join(setup["ckpt"], "interhuman", name)
    dst = os.path.join(setup["ckpt"], "interhuman", new)
    shutil.copytree(src, dst)
    return dst


def _broken_pair(setup, which, how):
    """A transformer run whose own checkpoint (which="trans") or whose VQ's (which="vq") is damaged.
    Returns (run name, damaged file, its entry name)."""
    tag = f"{which}_{how}"
    vq_name = "vq_tiny"
    if which == "vq":
        vq_name = f"vq_{tag}"
        bad = os.path.join(_copy_run(setup, "vq_tiny", vq_name), "model", "best_fid.tar")
        entry = "vq_model"
    run = _copy_run(setup, "trans_tiny", f"trans_{tag}")
    with open(os.path.join(run, "opt.yaml")) as f:
        opt = yaml.safe_load(f)
    with open(os.path.join(run, "opt.yaml"), "w") as f:
        yaml.safe_dump(dict(opt, name=f"trans_{tag}", vq_name=vq_name), f)
    if which == "trans":
        bad, entry = os.path.join(run, "model", "best_fid.tar"), "t2m_transformer"
    damage(bad, how, entry)
    return f"trans_{tag}", bad, entry


@pytest.mark.parametrize("which", ["trans", "vq"])
@pytest.mark.parametrize("how", DAMAGES)
def test_eval_and_infer_name_the_damaged_file(setup, capsys, which, how):
    import eval as eval_script
    import infer
    name, bad, entry = _broken_pair(setup, which, how)
    with open(bad, "rb") as f:
        before = f.read()
    run_dir = os.path.join(setup["ckpt"], "interhuman", name)
    assert eval_script.cli(["--checkpoints_dir", setup["ckpt"], "--data_root", setup["data"], "--name", name,
                            "--batch_size", "4", "--replication_times", "1", "--diversity_times", "3",
                            "--mm_num_samples", "0", "--time_steps", "2", "--device", "cpu"]) == 2
    one_error_line(capsys, "eval.py", bad, how, entry)
    assert not os.path.exists(os.path.join(run_dir, "eval"))
    out = os.path.join(run_dir, "out")
    assert infer.cli(["--checkpoints_dir", setup["ckpt"], "--name", name, "--text", "two people hug#8f",
                      "--time_steps", "2", "--device", "cpu", "--format", "none", "--out_dir", out]) == 2
    one_error_line(capsys, "infer.py", bad, how, entry)
    assert not os.path.exists(out)
    with open(bad, "rb") as f:
        assert f.read() == before


@pytest.mark.parametrize("how", DAMAGES)
def test_eval_vq_only_names_the_damaged_file(setup, capsys, how):
    import eval as eval_script
    run_dir = _copy_run(setup, "vq_tiny", f"vqonly_{how}")
    bad = os.path.join(run_dir, "model", "best_fid.tar")
    damage(bad, how, "vq_model")
    assert eval_script.cli(["--checkpoints_dir", setup["ckpt"], "--data_root", setup["data"], "--name",
                            f"vqonly_{how}", "--use_trans", "False", "--batch_size", "4", "--diversity_times", "3",
                            "--replication_times", "1", "--device", "cpu"]) == 2
    one_error_line(capsys, "eval.py", bad, how, "vq_model")


def _train_transformer_cli(setup, *extra):
    import train_transformer
    return train_transformer.cli(["--checkpoints_dir", setup["ckpt"], "--data_root", setup["data"], *TINY_T,
                                  "--batch_size", "8", "--max_iters", "2", *extra])


@pytest.mark.parametrize("how", DAMAGES)
def test_train_transformer_names_a_damaged_vq(setup, capsys, how):
    vq_dir = _copy_run(setup, "vq_tiny", f"vqdown_{how}")
    bad = os.path.join(vq_dir, "model", "best_fid.tar")
    damage(bad, how, "vq_model")
    assert _train_transformer_cli(setup, "--name", f"t_down_{how}", "--vq_name", f"vqdown_{how}") == 1
    one_error_line(capsys, "train_transformer.py", bad, how, "vq_model")
    assert not os.path.exists(os.path.join(setup["ckpt"], "interhuman", f"t_down_{how}"))


@pytest.fixture(scope="module")
def trained(setup):
    """Two real runs, two iterations each, whose latest.tar the resume tests damage in copies."""
    import train_transformer
    import train_vq
    train_vq.main(["--data_root", setup["data"], "--checkpoints_dir", setup["ckpt"], "--name", "vq_run",
                   *TINY_VQ_ARGS, "--max_iters", "2"])
    train_transformer.main(["--checkpoints_dir", setup["ckpt"], "--data_root", setup["data"], *TINY_T,
                            "--batch_size", "8", "--max_iters", "2", "--name", "t_run"])
    return {"vq": "vq_run", "trans": "t_run"}


def _continue(setup, kind, name):
    import train_vq
    if kind == "vq":
        return train_vq.cli(["--data_root", setup["data"], "--checkpoints_dir", setup["ckpt"], "--name", name,
                             *TINY_VQ_ARGS, "--max_iters", "4", "--is_continue"]), "train_vq.py"
    return _train_transformer_cli(setup, "--name", name, "--max_iters", "4", "--is_continue"), \
        "train_transformer.py"


@pytest.mark.parametrize("kind", ["vq", "trans"])
@pytest.mark.parametrize("how", DAMAGES)
def test_is_continue_names_a_damaged_latest(setup, trained, capsys, kind, how):
    name = f"{kind}_cont_{how}"
    run_dir = _copy_run(setup, trained[kind], name)
    bad = os.path.join(run_dir, "model", "latest.tar")
    entry = "vq_model" if kind == "vq" else "t2m_transformer"
    after = damage(bad, how, entry)
    listing = sorted(os.listdir(os.path.join(run_dir, "model")))
    rc, script = _continue(setup, kind, name)
    assert rc == 1
    one_error_line(capsys, script, bad, how, entry)
    with open(bad, "rb") as f:
        assert f.read() == after  # nothing overwritten: the run did not start over
    assert sorted(os.listdir(os.path.join(run_dir, "model"))) == listing


@pytest.mark.parametrize("kind", ["vq", "trans"])
def test_is_continue_without_a_checkpoint_is_an_error(setup, capsys, kind):
    name = f"{kind}_never_trained"
    rc, script = _continue(setup, kind, name)
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    latest = os.path.join(setup["ckpt"], "interhuman", name, "model", "latest.tar")
    assert len(err) == 1 and err[0] == (f"{script}: error: missing {latest}: nothing to continue from: "
                                        f"run without --is_continue first"), err
    assert not os.path.exists(os.path.join(setup["ckpt"], "interhuman", name))


@pytest.mark.parametrize("kind", ["vq", "trans"])
def test_is_continue_of_a_good_checkpoint_continues(setup, trained, kind):
    """The control: the same call on an undamaged copy continues from iteration 2 to 4."""
    from utils.files import load_checkpoint
    run_dir = _copy_run(setup, trained[kind], f"{kind}_cont_ok")
    rc, _ = _continue(setup, kind, f"{kind}_cont_ok")
    assert rc == 0
    assert load_checkpoint(os.path.join(run_dir, "model", "latest.tar"))["total_it"] == 4
