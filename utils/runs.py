"""A run folder's files (<checkpoints_dir>/<dataset_name>/<name>/{opt.yaml | opt.txt, model/*.tar}):
the checks and listings the scripts share, so each error says the same thing wherever it is raised."""
import os

from utils.files import MissingFileError, require_file
from utils.run_options import has_options


def require_run_options(run_dir, how):
    """Raise MissingFileError(<run_dir>/opt.txt, how) unless the run has opt.yaml or the official opt.txt."""
    if not has_options(run_dir):
        raise MissingFileError(os.path.join(run_dir, "opt.txt"), how)


def list_checkpoints(run_dir, which_epoch, how):
    """Model files <run_dir>/model/*.tar whose names contain `which_epoch` ('all' = every .tar), sorted,
    as the official scripts pick them; [] when none matches. A missing model folder raises
    MissingFileError naming it and `how`."""
    model_dir = os.path.join(run_dir, "model")
    require_file(model_dir, how)
    files = sorted(f for f in os.listdir(model_dir)
                   if f.endswith(".tar") and (which_epoch == "all" or which_epoch in f))
    return [os.path.join(model_dir, f) for f in files]
