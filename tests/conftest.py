"""Shared fixtures. Parity tests read the golden vectors from $INTERMASK_TESTVECTORS (default
../shared/testvectors relative to the repository) and skip, saying why, when the folder is absent."""
import json
import os
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def testvectors_root():
    return os.environ.get("INTERMASK_TESTVECTORS", os.path.join(REPO, "..", "shared", "testvectors"))


class VectorSet:
    """One golden vector set: the manifest plus lazy access to its npz files."""

    def __init__(self, root):
        self.root = root
        with open(os.path.join(root, "manifest.json")) as f:
            self.manifest = json.load(f)

    def config(self, fname):
        return self.manifest["files"][fname]["config"]

    def entry(self, fname):
        return self.manifest["files"][fname]

    def npz(self, fname):
        path = os.path.join(self.root, fname)
        if not os.path.isfile(path):
            pytest.skip(f"{fname} not in the vector set at {self.root}")
        return np.load(path, allow_pickle=False)

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


@pytest.fixture(scope="session")
def vectors():
    root = testvectors_root()
    if not os.path.isfile(os.path.join(root, "manifest.json")):
        pytest.skip(f"golden vectors not found at {root} (set INTERMASK_TESTVECTORS)")
    return VectorSet(root)


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
    from utils.files import atomic_torch_save
    vq_dir = os.path.join(str(ckpt_dir), vq_cfg.get("dataset_name", "interhuman"), name)
    os.makedirs(os.path.join(vq_dir, "model"), exist_ok=True)
    with open(os.path.join(vq_dir, "opt.yaml"), "w") as f:
        yaml.safe_dump(dict(vq_cfg, name=name), f)
    torch.manual_seed(seed)
    sd = build_vq(vq_cfg).state_dict()
    sd["quantizer.layers.0.codebook"] = torch.randn_like(sd["quantizer.layers.0.codebook"])
    atomic_torch_save({"vq_model": sd}, os.path.join(vq_dir, "model", "best_fid.tar"))
    return vq_dir
