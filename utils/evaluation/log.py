"""The evaluation log: official metric lines (printed and written, as the official double print), the
'# ' header recording how a log was made, and the per-replication table with its closing summary."""
from collections import OrderedDict
from datetime import datetime

import numpy as np

from utils.metrics import MULTIMODALITY_CONVENTIONS, get_metric_statistics

PROTOCOL_KEYS = ("use_trans", "which_epoch", "gen_react", "batch_size", "replication_times", "diversity_times",
                 "mm_num_samples", "mm_num_repeats", "mm_num_times", "time_steps", "cond_scales", "topkr",
                 "temperature", "gumbel_sample", "temperature_on_logits", "react_half_steps", "gen_batch_size",
                 "gen_length_split", "recon_per_sample", "split")
METRIC_NAMES = ("MM Distance", "R_precision", "FID", "Diversity", "MultiModality")


def log_line(f, line):
    """Print a line and, when a log file is open, write it there too (the official double print)."""
    print(line)
    if f is not None:
        print(line, file=f, flush=True)


def r_precision_line(name, r):
    return f"---> [{name}] R_precision: " + "".join(f"(top {i + 1}): {v:.4f} " for i, v in enumerate(r))


def time_line(f):
    log_line(f, f"Time: {datetime.now()}")


def header(opt, f, seed, n_items, log_name, model_files, evaluator_files):
    """The '# ' lines opening an eval.py log: command, seed, dataset, every model and evaluator file
    with its sha256 (`*_files`: [(path, sha256)]) and every protocol option."""
    log_line(f, "# InterMask evaluation")
    log_line(f, "# command: " + " ".join(["eval.py"] + list(opt.argv)))
    log_line(f, f"# seed: {seed} (replication r runs with seed + r)")
    log_line(f, f"# dataset: {opt.dataset_name} split {opt.split} at {opt.data_root} ({n_items} samples)")
    for path, sha in model_files:
        log_line(f, f"# model file: {path} sha256 {sha}")
    for path, sha in evaluator_files:
        log_line(f, f"# evaluator file: {path} sha256 {sha}")
    log_line(f, "# protocol: " + " ".join(f"{k}={getattr(opt, k)}" for k in PROTOCOL_KEYS) + f" log={log_name}")
    log_line(f, f"# multimodality convention: {opt.multimodality_convention} "
                f"({MULTIMODALITY_CONVENTIONS[opt.multimodality_convention]})")


def new_metric_table():
    return OrderedDict((m, OrderedDict()) for m in METRIC_NAMES)


def add_replication(table, results):
    """results: metric name -> {loader name: value} for one replication."""
    for metric, per_loader in results.items():
        for name, value in per_loader.items():
            table[metric].setdefault(name, []).append(value)


def write_summary(table, f, replication_times):
    """The official closing block: per metric, mean and 95% CI over replications."""
    summary = OrderedDict()
    for metric, per_loader in table.items():
        log_line(f, f"========== {metric} Summary ==========")
        for name, values in per_loader.items():
            mean, ci = get_metric_statistics(np.array(values), replication_times)
            summary.setdefault(metric, OrderedDict())[name] = (mean, ci)
            if np.ndim(mean) == 0:
                log_line(f, f"---> [{name}] Mean: {mean:.4f} CInterval: {ci:.4f}")
            else:
                log_line(f, f"---> [{name}]" + "".join(f"(top {i + 1}) Mean: {m:.4f} CInt: {c:.4f};"
                                                       for i, (m, c) in enumerate(zip(mean, ci))))
    return summary
