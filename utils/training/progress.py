"""What a training run prints and logs: the official console progress line, rank-0 console lines and
TensorBoard scalars."""
import math
import time

from tqdm import tqdm

from utils.distributed import get_dist


def _as_minutes(s):
    m = math.floor(s / 60)
    return f"{m}m {int(s - m * 60)}s"


def progress_line(start, it, total, epoch, inner, logs):
    """The official console line: 'ep/it: e- i niter: n  Xm Ys (- Zm Ws) completed: p%) k: v ...'."""
    frac = max(it / max(total, 1), 1e-12)
    spent = time.time() - start
    msg = (f"ep/it:{epoch:2d}-{inner:4d} niter:{it:6d}  {_as_minutes(spent)} "
           f"(- {_as_minutes(spent / frac - spent)}) completed:{frac * 100:3.0f}%)")
    return msg + "".join(f" {k}: {v:.4f} " for k, v in logs.items())


def say(msg):
    """tqdm-safe console line, from rank 0 only."""
    if get_dist().is_main:
        tqdm.write(msg)


def log_scalars(writer, prefix, values, step):
    """TensorBoard scalars `prefix/name` (no-op without a writer: ranks > 0, tests)."""
    if writer is not None:
        for k, v in values.items():
            writer.add_scalar(f"{prefix}/{k}", v, step)
