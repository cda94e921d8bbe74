"""Shared fixtures. Parity tests read the golden vectors from $INTERMASK_TESTVECTORS (default
../shared/testvectors relative to the repository).

The vectors cannot vanish silently: when INTERMASK_TESTVECTORS or CI is set, a missing folder, manifest
or vector file fails the test that needs it, naming the path. Only a clone with neither variable set and
no vector folder at the default place skips the parity tests, saying so. A folder that exists is always
used strictly (a missing manifest or file in it fails)."""
import json
import os
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def testvectors_root():
    return os.environ.get("INTERMASK_TESTVECTORS") or os.path.normpath(os.path.join(REPO, "..", "shared", "testvectors"))


def vectors_required():
    """True when the golden vectors must be there: INTERMASK_TESTVECTORS is set (even empty) or CI is
    set to anything but "", "0" or "false"."""
    ci = os.environ.get("CI", "").strip().lower()
    return "INTERMASK_TESTVECTORS" in os.environ or ci not in ("", "0", "false")


def missing_vectors(what, path):
    """Fail (never skip) the calling test because vector data `what` is not at `path`."""
    pytest.fail(f"golden vectors: {what} missing: {path} (INTERMASK_TESTVECTORS="
                f"{os.environ.get('INTERMASK_TESTVECTORS', '<unset>')}, CI={os.environ.get('CI', '<unset>')})",
                pytrace=False)


class VectorSet:
    """One golden vector set: the manifest plus lazy access to its npz files."""

    def __init__(self, root):
        self.root = root
        path = os.path.join(root, "manifest.json")
        if not os.path.isfile(path):
            missing_vectors("manifest", path)
        with open(path) as f:
            self.manifest = json.load(f)

    def config(self, fname):
        return self.manifest["files"][fname]["config"]

    def entry(self, fname):
        return self.manifest["files"][fname]

    def items(self, fname, key):
        """The non-empty list `config[key]` of vector file `fname` (e.g. its "cases" or "pairs"): a
        test looping over it must not pass by looping over nothing."""
        items = self.config(fname).get(key)
        assert isinstance(items, list) and items, f"{fname}: manifest config {key!r} is missing or empty"
        return items

    def path(self, fname):
        """Path of vector file `fname`; a missing file fails the test, naming the path."""
        path = os.path.join(self.root, fname)
        if not os.path.isfile(path):
            missing_vectors(fname, path)
        return path

    def npz(self, fname):
        return np.load(self.path(fname), allow_pickle=False)

    def load_json(self, fname):
        with open(self.path(fname)) as f:
            return json.load(f)

    def state_dict(self, z, prefix="sd/"):
        import torch
        sd = {k[len(prefix):]: torch.from_numpy(z[k]) for k in z.files if k.startswith(prefix)}
        for k in z.files:  # rows-only tensors: scatter into zeros
            if k.startswith("sd_rows/"):
                key = k[len("sd_rows/"):]
                rows = z[k]
                idx = z["sd_rows_index/" + key]
                shape = self._rows_shape(key, rows)
                full = np.zeros(shape, dtype=rows.dtype)
                full[idx] = rows
                sd[key] = torch.from_numpy(full)
        return sd

    def _rows_shape(self, key, rows):
        """Full shape of a rows-only tensor, from its manifest entry's meaning "... (R,C) ..."."""
        import re
        for e in self.manifest["files"].values():
            arr = e.get("arrays", {}).get("sd_rows/" + key) or {}
            m = re.search(r"\((\d+),\s*(\d+)\)", arr.get("meaning", ""))
            if m:
                return (int(m.group(1)), int(m.group(2)))
        return (49408, rows.shape[1])  # CLIP's vocabulary


def open_vectors():
    """The VectorSet at testvectors_root(); fails when it is missing and required, else skips."""
    root = testvectors_root()
    if not os.path.isdir(root):
        if vectors_required():
            missing_vectors("folder", root)
        pytest.skip(f"golden vectors not found at {root}: parity test skipped (set INTERMASK_TESTVECTORS "
                    f"to the vector folder; with it or CI set, missing vectors fail)")
    return VectorSet(root)


@pytest.fixture(scope="session")
def vectors():
    return open_vectors()


def assert_close(ours, ref, rel, abs_=1e-6, what=""):
    """max|ours - ref| <= rel * max|ref| + abs (the vectors' suggested tolerance rule)."""
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    err = np.max(np.abs(ours - ref)) if ref.size else 0.0
    bound = rel * (np.max(np.abs(ref)) if ref.size else 0.0) + abs_
    assert err <= bound, f"{what}: max|diff| {err:.3e} > {bound:.3e}"


def write_random_vq_run(ckpt_dir, vq_cfg, name="vq_tiny", seed=0):
    """A VQ run folder (`<ckpt_dir>/<vq_cfg dataset_name>/<name>/{opt.yaml, model/best_fid.tar}`) holding
    a random-weight VQ of config `vq_cfg` with a random codebook, for tests of what consumes a VQ."""
    import torch
    import yaml

    from models.vq.build import build_vq

    from models.vq.config import VQConfig
    from utils.files import atomic_torch_save
    vq_dir = os.path.join(str(ckpt_dir), vq_cfg.get("dataset_name", "interhuman"), name)
    os.makedirs(os.path.join(vq_dir, "model"), exist_ok=True)
    with open(os.path.join(vq_dir, "opt.yaml"), "w") as f:
        yaml.safe_dump(dict(vq_cfg, name=name), f)
    torch.manual_seed(seed)
    sd = build_vq(VQConfig.from_options(vq_cfg)).state_dict()
    sd["quantizer.layers.0.codebook"] = torch.randn_like(sd["quantizer.layers.0.codebook"])
    atomic_torch_save({"vq_model": sd}, os.path.join(vq_dir, "model", "best_fid.tar"))
    return vq_dir


def assert_best_checkpoints_match_log(run_dir, best, weights_key):
    """After a one-epoch training run with --do_eval: the trainer's best FID / top-1 are the values the
    evaluation log printed for the generated motions (one evaluation), a real FID (finite, > 0), and
    best_fid.tar / best_top1.tar hold that epoch's weights (equal to latest.tar's) and that record."""
    import re

    import torch

    from utils.files import load_checkpoint
    with open(os.path.join(run_dir, "eval", "evaluation_training.log")) as f:
        log = f.read()
    fids = [float(v) for v in re.findall(r"---> \[gen\] FID: (\S+)", log)]
    tops = [float(v) for v in re.findall(r"---> \[gen\] R_precision: \(top 1\): (\S+)", log)]
    assert len(fids) == len(tops) == 1, log
    assert np.isfinite(best["fid"]) and best["fid"] > 0 and abs(best["fid"] - fids[0]) <= 5e-5, (best, fids)
    assert 0 <= best["top1"] <= 1 and abs(best["top1"] - tops[0]) <= 5e-5, (best, tops)
    latest = load_checkpoint(os.path.join(run_dir, "model", "latest.tar"))
    for name in ("best_fid", "best_top1"):
        ck = load_checkpoint(os.path.join(run_dir, "model", f"{name}.tar"))
        assert ck["ep"] == 1 and ck["best"][name[5:]] == best[name[5:]], (name, ck["ep"], ck["best"])
        assert ck[weights_key].keys() == latest[weights_key].keys()
        for k, v in latest[weights_key].items():
            assert torch.equal(ck[weights_key][k], v), f"{name}.tar {k} differs from latest.tar"
