"""Checkpoints of a training run: atomic writes from rank 0, and --is_continue.

latest.tar is read and checked before a run builds or writes anything (so a run never silently starts
over, and a damaged file is named in one line); then the weights, optimiser / scheduler state, best
values, RNG states and the position in the epoch are restored, refusing a file written with another
global batch (the schedule and the data order would not continue).
"""
import contextlib
import os

from utils.distributed import get_dist
from utils.files import (CheckpointError, atomic_torch_save, first_line, load_checkpoint, load_state_checked,
                         rng_state, set_rng_state)

CONTINUE_HOW = "nothing to continue from: run without --is_continue first"


def latest_path(opt):
    """<checkpoints_dir>/<dataset_name>/<name>/model/latest.tar, the file --is_continue resumes."""
    return os.path.join(opt.checkpoints_dir, opt.dataset_name, opt.name, "model", "latest.tar")


def read_resume_checkpoint(path, keys, how=CONTINUE_HOW):
    """--is_continue: the checkpoint at `path`, read and checked for the entries `keys` before the run
    builds or writes anything. Never starts over: an absent file is a MissingFileError, an unreadable
    or incomplete one a CheckpointError, both one line naming the file."""
    return load_checkpoint(path, how=how, keys=keys)


def save_checkpoint(state, path):
    """Rank 0 writes `state` atomically (temp file + rename); the other ranks write nothing."""
    if get_dist().is_main:
        atomic_torch_save(state, path)


@contextlib.contextmanager
def preserved_rng():
    """Run a block (validation, evaluation) without moving the training random streams."""
    st = rng_state()
    try:
        yield
    finally:
        set_rng_state(st)


def restore_optimisation(optimizer, scheduler, ckpt, key, path):
    """Load the optimiser state `ckpt[key]` and the scheduler state; a state of another model or
    option set becomes a one-line CheckpointError naming `path`."""
    try:
        optimizer.load_state_dict(ckpt[key])
        scheduler.load_state_dict(ckpt["scheduler"])
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise CheckpointError(path, f"its optimiser or scheduler state does not fit this run ({first_line(e)})") from e


def restore_training(trainer, ckpt, path, model_key, opt_key):
    """The trainer's weights (strict, from `ckpt[model_key]`), optimiser (`ckpt[opt_key]`), scheduler,
    best values and RNG states from the checkpoint `ckpt` read from `path`."""
    load_state_checked(trainer.model, ckpt[model_key], path, f"the {model_key!r} weights")
    restore_optimisation(trainer.optimizer, trainer.scheduler, ckpt, opt_key, path)
    trainer.best.update(ckpt.get("best", {}))
    if "rng" in ckpt:
        set_rng_state(ckpt["rng"])


def resume_position(ckpt, global_batch, path):
    """(epoch, global steps done in that epoch, total iterations) of a checkpoint, refusing one
    written with another global batch (the schedule and the data order would not continue)."""
    saved = ckpt.get("global_batch")
    if saved is not None and int(saved) != int(global_batch):
        raise ValueError(f"{path} was trained with a global batch of {saved} (batch_size x ranks x grad_accum), "
                         f"this run has {global_batch}: keep the product when resuming")
    step = ckpt["step_in_epoch"] if "step_in_epoch" in ckpt else ckpt.get("batch_in_epoch", 0)
    return ckpt["ep"], step, ckpt["total_it"]
