"""Runs a training script in this process and parks it at a chosen moment, so a test can SIGKILL it
from outside at a known point (tests/test_kill_resume.py):

    python -m tests.kill_harness READY MOMENT N SCRIPT [ARGS...]

MOMENT (N counts from 1, in this process):
  none        no parking: the script runs to its end
  step        after the N-th optimiser step (weights changed in memory, not yet saved)
  after_save  right after the N-th latest.tar is in place
  mid_save    while the N-th latest.tar is being written: half of its bytes are on disk
At the moment the process writes its pid to the file READY and sleeps; if no kill comes within
300 s it exits with status 3. The hooks wrap the trainers' methods and torch.save from outside,
so the training code runs unchanged (a non-atomic save would leave latest.tar half written).
"""
import io
import os
import runpy
import sys
import time

import torch

MOMENTS = ("none", "step", "after_save", "mid_save")


def park(ready):
    with open(ready + ".part", "w") as f:
        f.write(str(os.getpid()))
    os.replace(ready + ".part", ready)
    time.sleep(300)
    os._exit(3)


def install(moment, n, ready):
    from models.mask_transformer.trainer import TransformerTrainer
    from models.vq.trainer import VQTrainer
    count = [0]

    def reached():
        count[0] += 1
        return count[0] == n

    if moment == "step":
        for cls in (VQTrainer, TransformerTrainer):
            def train_step(self, *args, _orig=cls.train_step):
                out = _orig(self, *args)
                if reached():
                    park(ready)
                return out
            cls.train_step = train_step
    elif moment == "after_save":
        for cls in (VQTrainer, TransformerTrainer):
            def save(self, name, *args, _orig=cls.save):
                _orig(self, name, *args)
                if name == "latest" and reached():
                    park(ready)
            cls.save = save
    elif moment == "mid_save":
        real_save = torch.save

        def save(obj, f, *args, **kwargs):
            target = str(f if isinstance(f, (str, os.PathLike)) else getattr(f, "name", ""))
            if os.path.basename(target).startswith("latest.tar") and reached():
                buf = io.BytesIO()
                real_save(obj, buf, *args, **kwargs)
                data = buf.getvalue()
                out = open(f, "wb") if isinstance(f, (str, os.PathLike)) else f
                out.write(data[: len(data) // 2])
                out.flush()
                os.fsync(out.fileno())
                park(ready)
            return real_save(obj, f, *args, **kwargs)
        torch.save = save


def main(argv):
    ready, moment, n, script, *args = argv
    if moment not in MOMENTS:
        raise SystemExit(f"moment must be one of {MOMENTS}, got {moment!r}")
    if moment != "none":
        install(moment, int(n), ready)
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
