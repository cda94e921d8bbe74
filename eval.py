"""Evaluate InterMask (or its VQ-VAE) with the official protocol, seeded and logged reproducibly.

    python eval.py --dataset_name interhuman --name trans_default                 # 20 replications
    python eval.py --dataset_name interhuman --name vq_default --use_trans False  # VQ reconstruction
    python eval.py ... --gen_react --cond_scales 2 3 --time_steps 10 20 --topkr 0.9 0.95

Protocol (official): test split; per replication the whole test set is regenerated (GT captions and
lengths, 4*(len//4) frames); evaluator batches of 96 (InterHuman) / 32 (Inter-X) with drop_last; MM
Dist and R-precision per loader, FID against a second GT pass, Diversity (300 pairs), MultiModality
(100 texts x 30 generations, 10 pairs); mean and 95% CI over replications. Every count is an option.

Differences: generation is batched (--gen_batch_size); python/numpy/torch are seeded with
--seed + r at the start of replication r (default seed: the run's training seed, else 3407); the log
starts with '# ' lines recording the command, seed, checkpoint and evaluator files with sha256 and
every protocol option. Logs: <run>/eval/[react_]evaluation_<which_epoch>_ts<ts>_cs<cs>_topkr<r>.log,
VQ: <run>/eval/evaluation_<which_epoch>.log.
"""
import argparse
import itertools
import os
import sys

from models.evaluator.build import build_evaluator, evaluator_file_list, sha256_file
from models.evaluator.config import EvaluatorConfig
from models.mask_transformer.length_split import plan_parts
from options.common import DEFAULT_SEED, given_on_command_line, resolve_device, resolve_paths
from options.eval_option import EvalT2MOptions
from options.opt_io import load_options
from utils.cli import run_cli
from utils.evaluation.items import InterHumanItems, InterXItems
from utils.evaluation.protocol import EvalError, check_counts, run_protocol
from utils.evaluation.sources import TransformerSource, VQSource
from utils.runs import list_checkpoints, require_run_options

DATA_KEYS = ("dataset_name", "data_root", "stats_dir", "cache", "text_mirror", "motion_rep")
FETCH = "`python prepare/download_models.py`"


def data_options(opt, run_opt):
    """Options for the dataset: command line first, then the run's own (stats, data root)."""
    d = argparse.Namespace(**{k: run_opt.get(k) for k in DATA_KEYS if k in run_opt})
    for k in DATA_KEYS + ("num_workers",):
        if getattr(opt, k, None) is not None:
            setattr(d, k, getattr(opt, k))
    d.dataset_name = opt.dataset_name
    resolve_paths(d)
    opt.data_root, opt.stats_dir = d.data_root, d.stats_dir
    return d


def run_checkpoints(run_dir, which_epoch):
    files = list_checkpoints(run_dir, which_epoch, f"train the run {os.path.basename(run_dir)} first or fetch it "
                                                   f"with {FETCH}")
    if not files:
        raise EvalError(f"no checkpoint in {os.path.join(run_dir, 'model')} matches --which_epoch {which_epoch}")
    return files


def make_sources(opt, run_opt, ckpt, settings, device):
    """[(log file name, {checkpoint file name: source}, model files)] per sampling setting."""
    name = os.path.basename(ckpt)
    if not opt.use_trans:
        from models.vq.build import load_vq
        vq, _ = load_vq(opt.checkpoints_dir, opt.dataset_name, opt.name, name[:-4], device)
        return [(f"evaluation_{opt.which_epoch}.log", name, VQSource(vq, opt.recon_per_sample), [ckpt])]
    from models.pipeline import InterMaskGenerator
    explicit = given_on_command_line(opt.argv, "--vq_which_epoch")
    vq_epoch = opt.vq_which_epoch if explicit else (run_opt.get("vq_which_epoch") or opt.vq_which_epoch)
    gen = InterMaskGenerator.from_run(opt.checkpoints_dir, opt.dataset_name, opt.name, name[:-4], device,
                                      vq_epoch, clip_path=opt.clip_path, stats_dir=opt.stats_dir,
                                      data_root=opt.data_root, temperature_on_logits=opt.temperature_on_logits,
                                      react_half_steps=opt.react_half_steps, amp=opt.amp)
    vq_name = run_opt.get("vq_name") or opt.vq_name
    files = [ckpt, os.path.join(opt.checkpoints_dir, opt.dataset_name, vq_name, "model", f"{vq_epoch}.tar")]
    prefix = "react_" if opt.gen_react else ""
    return [(f"{prefix}evaluation_{opt.which_epoch}_ts{ts}_cs{cs}_topkr{r}.log", name,
             TransformerSource(gen, opt, ts, cs, r, plan_parts), files) for ts, cs, r in settings]


def main(argv=None):
    opt = EvalT2MOptions().parse(argv)
    opt.argv = list(sys.argv[1:] if argv is None else argv)
    device = resolve_device(opt)
    run_dir = os.path.join(opt.checkpoints_dir, opt.dataset_name, opt.name)
    require_run_options(run_dir, f"train it first or fetch it with {FETCH}")
    run_opt = load_options(run_dir)
    seed = opt.seed if opt.seed is not None else int(run_opt.get("seed") or DEFAULT_SEED)
    opt.batch_size = opt.batch_size or (32 if opt.dataset_name == "interx" else 96)
    if not opt.use_trans:
        opt.mm_num_samples = 0
    if opt.gen_react and not opt.use_trans:
        raise EvalError("--gen_react needs the transformer (--use_trans True)")
    from data import build_t2m_dataset, load_stats
    from data.config import DataConfig
    data_opt = DataConfig.from_options(vars(data_options(opt, run_opt)))
    evaluator_cfg = EvaluatorConfig.from_options(vars(opt))
    wrapper = build_evaluator(evaluator_cfg, device)
    if opt.dataset_name == "interx":
        dataset = build_t2m_dataset(data_opt, opt.split)
        layout = InterXItems(getattr(dataset, "collate_fn", None))
    else:
        dataset = build_t2m_dataset(data_opt, opt.split, normalize=False)
        layout = InterHumanItems(*load_stats(data_opt))
    check_counts(opt, len(dataset))
    print(f"evaluator: {evaluator_cfg.model_dir}; seed {seed}; device {device}")
    settings = list(itertools.product(opt.time_steps, opt.cond_scales, opt.topkr))
    grouped = {}  # log name -> ({checkpoint name: source}, model files)
    for ckpt in run_checkpoints(run_dir, opt.which_epoch):
        for log_name, name, source, files in make_sources(opt, run_opt, ckpt, settings, device):
            entry = grouped.setdefault(log_name, ({}, []))
            entry[0][name] = source
            entry[1].extend(p for p in files if p not in entry[1])
    os.makedirs(os.path.join(run_dir, "eval"), exist_ok=True)  # every model loaded: now write
    results = {}
    for log_name, (sources, files) in grouped.items():
        path = os.path.join(run_dir, "eval", log_name)
        hashed = [(p, sha256_file(p)) for p in files]
        evaluator_files = [(p, sha256_file(p)) for p in evaluator_file_list(evaluator_cfg)]
        results[log_name] = run_protocol(opt, sources, dataset, layout, wrapper, seed, path, hashed, evaluator_files)
        print(f"log written to {path}")
    return results


def cli(argv=None):
    """Command-line entry: missing or unreadable files and bad input end with a one-line error and
    exit status 2."""
    return run_cli(main, "eval.py", argv, errors=(EvalError,))


if __name__ == "__main__":
    sys.exit(cli())
