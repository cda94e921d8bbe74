"""The official evaluation protocol: per replication, every source regenerates the whole test set,
then MM Distance / R-precision, FID, Diversity and MultiModality are computed against the GT and
logged; the log closes with mean and 95% CI over replications.

opt carries the protocol's counts (batch_size, replication_times, diversity_times, mm_num_samples,
mm_num_repeats, mm_num_times, gen_batch_size), use_trans, save_vis, log_time,
multimodality_convention and what the header records (see log.header)."""
import os

from utils.evaluation.generated import GTLoader, batches, build_generated
from utils.evaluation.log import add_replication, header, log_line, new_metric_table, time_line, write_summary
from utils.evaluation.metrics import (evaluate_diversity, evaluate_fid, evaluate_matching_score,
                                      evaluate_multimodality)
from utils.evaluation.visuals import save_visuals
from utils.files import fixseed
from utils.metrics import multimodality_scaling

VISUALS = {True: 20, False: 10}  # --save_vis samples: transformer, VQ-VAE


class EvalError(ValueError):
    """Bad command-line input or data for the protocol; printed as one line by eval.py's `cli`."""


def check_counts(opt, n_items):
    """The protocol's counts must fit a test set of `n_items` samples."""
    if n_items < opt.batch_size:
        raise EvalError(f"{opt.data_root} split {opt.split} has {n_items} samples, fewer than one "
                        f"evaluation batch (--batch_size {opt.batch_size})")
    evaluated = n_items // opt.batch_size * opt.batch_size
    if evaluated <= opt.diversity_times:
        raise EvalError(f"Diversity needs more than --diversity_times {opt.diversity_times} evaluated samples; "
                        f"{opt.split} gives {evaluated} (batches of {opt.batch_size}, drop_last)")
    if opt.mm_num_samples > 0 and opt.mm_num_repeats <= opt.mm_num_times:
        raise EvalError(f"--mm_num_repeats ({opt.mm_num_repeats}) must exceed --mm_num_times ({opt.mm_num_times})")
    if opt.mm_num_samples > n_items:
        raise EvalError(f"--mm_num_samples {opt.mm_num_samples} exceeds the {n_items} test samples")


def run_protocol(opt, sources, dataset, layout, wrapper, seed, log_path, model_files, evaluator_files):
    """All replications for one log file -> the summary {metric: {loader: (mean, ci)}}.
    sources: {checkpoint file name: motion source}; wrapper: the dataset's evaluator wrapper;
    model_files, evaluator_files: [(path, sha256)] for the header."""
    mm_scale = multimodality_scaling(opt.multimodality_convention, wrapper.emb_scale, wrapper.divide_by)
    table = new_metric_table()
    with open(log_path, "w") as f:
        header(opt, f, seed, len(dataset), os.path.basename(log_path), model_files, evaluator_files)
        for rep in range(opt.replication_times):
            fixseed(seed + rep)
            loaders = {"ground truth": GTLoader(dataset, opt.batch_size, layout.collate)}
            mm_embeddings = {}
            for name, source in sources.items():
                n_vis = VISUALS[bool(opt.use_trans)] if rep == 0 and opt.save_vis else 0
                gen, mm, items = build_generated(source, dataset, layout, opt, wrapper.get_motion_embeddings, n_vis)
                if n_vis:
                    save_visuals(opt, os.path.dirname(os.path.dirname(log_path)), name, log_path, items, gen, layout)
                loaders[name] = batches(gen, opt.batch_size, layout.collate)
                mm_embeddings[name] = mm
            log_line(f, f"==================== Replication {rep} ====================")
            stamp = (lambda: time_line(f)) if opt.log_time else (lambda: None)
            stamp()
            match, rprec, acti = evaluate_matching_score(wrapper, loaders, f)
            stamp()
            fid = evaluate_fid(wrapper, loaders["ground truth"], acti, f)
            stamp()
            div = evaluate_diversity(wrapper, acti, f, opt.diversity_times)
            stamp()
            mmod = evaluate_multimodality(mm_embeddings, f, opt.mm_num_times, *mm_scale)
            log_line(f, "!!! DONE !!!")
            add_replication(table, {"MM Distance": match, "R_precision": rprec, "FID": fid, "Diversity": div,
                                    "MultiModality": mmod})
        return write_summary(table, f, opt.replication_times)
