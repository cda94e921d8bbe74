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

import numpy as np
import torch
from torch.utils.data import default_collate

from models.evaluator.build import default_evaluator_dir, evaluator_file_list, sha256_file
from models.mask_transformer.length_split import plan_parts
from options.common import resolve_device, resolve_paths
from options.eval_option import EvalT2MOptions
from options.opt_io import load_options
from utils.eval_t2m import (add_replication, build_eval_wrapper, evaluate_diversity, evaluate_fid,
                            evaluate_matching_score, evaluate_multimodality, log_line, new_metric_table,
                            time_line, write_summary)
from utils.cli import run_cli
from utils.files import fixseed, require_file
from utils.metrics import MULTIMODALITY_CONVENTIONS, multimodality_scaling

class EvalError(ValueError):
    """Bad command-line input or data for the protocol; printed as one line by `cli`."""


DATA_KEYS = ("dataset_name", "data_root", "stats_dir", "cache", "text_mirror", "motion_rep")


# --------------------------------------------------------------------------- dataset item layouts
class InterHumanItems:
    """(name, text, motion1 (300,262), motion2, length). Generated items keep only their valid rows
    (de-normalised); `collate` zero-pads to 300. Padding rows are masked by the evaluator (the
    official pads in normalised space, i.e. with the mean pose: same embeddings)."""
    max_length = 300

    def __init__(self, mean, std):
        self.mean, self.std = torch.from_numpy(mean), torch.from_numpy(std)

    text = staticmethod(lambda it: it[1])
    length = staticmethod(lambda it: int(it[4]))
    persons = staticmethod(lambda it: (torch.as_tensor(it[2]), torch.as_tensor(it[3])))

    def collate(self, items):
        def pad(m):
            out = np.zeros((self.max_length, m.shape[-1]), np.float32)
            out[:len(m)] = m[:self.max_length]
            return out
        return default_collate([(it[0], it[1], pad(it[2]), pad(it[3]), it[4]) for it in items])

    def generated(self, it, g1, g2, n):
        """g1, g2 (n, 262) normalised -> de-normalised, valid rows only."""
        g1, g2 = ((g[:self.max_length].cpu() * self.std + self.mean).numpy() for g in (g1, g2))
        return ("generated", it[1], g1, g2, int(n))


class InterXItems:
    """(word_embs, pos_ohot, caption, sent_len, motion (150,56,12), length, tokens), raw values."""
    max_length = 150

    def __init__(self, collate=None):
        self.collate = collate or default_collate

    text = staticmethod(lambda it: it[2])
    length = staticmethod(lambda it: int(it[5]))
    persons = staticmethod(lambda it: (torch.as_tensor(it[4])[..., :6], torch.as_tensor(it[4])[..., 6:]))

    def generated(self, it, g1, g2, n):
        motion = np.zeros((self.max_length, 56, 12), np.float32)
        n = min(int(n), self.max_length)
        motion[:n] = torch.cat([g1[:n], g2[:n]], dim=-1).cpu().numpy()
        return (it[0], it[1], it[2], it[3], motion, n, it[6])


# --------------------------------------------------------------------------------- motion sources
class VQSource:
    """VQ reconstruction of both persons (normalised in, normalised out)."""

    def __init__(self, vq, per_sample):
        self.vq, self.per_sample = vq, per_sample

    @torch.no_grad()
    def __call__(self, texts, m1, m2, lengths):
        dev = next(self.vq.parameters()).device
        if self.per_sample:  # official: batch 1, each sample cut to its own length
            outs = [[self.vq(m[i:i + 1, :n].to(dev))[0][0] for i, n in enumerate(lengths.tolist())] for m in (m1, m2)]
        else:
            T = int(lengths.max())
            outs = [[r[:4 * (n // 4)] for r, n in zip(self.vq(m[:, :T].to(dev))[0], lengths.tolist())]
                    for m in (m1, m2)]
        return outs[0], outs[1], [4 * (n // 4) for n in lengths.tolist()]


class TransformerSource:
    """InterMask generation (or reaction to the GT person 1) with one sampling setting."""

    def __init__(self, generator, opt, ts, cs, topkr):
        self.g, self.opt, self.kw = generator, opt, dict(time_steps=ts, cond_scale=cs, topkr=topkr,
                                                         temperature=opt.temperature, gsample=opt.gumbel_sample)
        self.length_split = int(opt.gen_length_split)
        if self.length_split < 1:
            raise ValueError(f"--gen_length_split must be >= 1 (1 = off), got {self.length_split}")

    @torch.no_grad()
    def __call__(self, texts, m1, m2, lengths):
        """One generation chunk -> per-sample lists (motion1, motion2, lengths), in the chunk's order.
        With --gen_length_split N the chunk runs as N parts of similar length, so a short clip is not
        sampled at the chunk's longest length (each sample's draws then differ from the unsplit run's;
        their distribution does not, as no sample's tokens depend on another's)."""
        split = self.length_split
        if split == 1 or len(texts) < 2:
            return self._generate(texts, m1, m2, lengths)
        lengths = torch.as_tensor(lengths)
        g1, g2, n = [None] * len(texts), [None] * len(texts), [None] * len(texts)
        for idx in plan_parts(lengths, split):  # N parts of the length-sorted chunk, as training's --length_split N
            p1, p2, pn = self._generate([texts[i] for i in idx], m1[idx], m2[idx], lengths[idx])
            for j, i in enumerate(idx.tolist()):
                g1[i], g2[i], n[i] = p1[j], p2[j], pn[j]
        return g1, g2, n

    def _generate(self, texts, m1, m2, lengths):
        if self.opt.gen_react:  # official: the GT person 1 is paired with the generated person 2
            _, g2, n = self.g.react(list(texts), m1, lengths, **self.kw)
            g1 = m1
        else:
            g1, g2, n = self.g.generate(list(texts), lengths, **self.kw)
        n = torch.as_tensor(n).tolist()
        return [g1[i, :k] for i, k in enumerate(n)], [g2[i, :k] for i, k in enumerate(n)], n


# ------------------------------------------------------------------------------- generated sets
def set_normalize(dataset, normalize):
    if hasattr(dataset, "normalize"):  # InterHuman: models read normalised GT, the evaluator raw GT
        dataset.normalize = normalize


def build_generated(source, dataset, layout, opt, embed, keep_first=0):
    """One generation pass over the GT set in shuffled order (items drawn lazily: random crops,
    captions, person order) -> (generated items in that order, MultiModality embeddings
    (n_mm, mm_num_repeats, D), the first `keep_first` GT items). Each MultiModality group is
    embedded (`embed(batch)`) as soon as it is complete, so its motions are not kept."""
    set_normalize(dataset, True)
    perm = torch.randperm(len(dataset)).tolist()
    mm_pos = set(np.random.choice(len(perm), opt.mm_num_samples, replace=False).tolist()) \
        if opt.mm_num_samples > 0 else set()
    jobs = sorted([(p, 0) for p in range(len(perm))] +
                  [(p, r) for p in mm_pos for r in range(1, opt.mm_num_repeats)])
    gen, mm, cache, firsts = [None] * len(perm), {p: [] for p in mm_pos}, {}, []
    for s in range(0, len(jobs), opt.gen_batch_size):
        chunk = jobs[s:s + opt.gen_batch_size]
        for p, _ in chunk:
            if p not in cache:
                cache[p] = dataset[perm[p]]
                if p < keep_first:
                    firsts.append(cache[p])
        its = [cache[p] for p, _ in chunk]
        m1, m2 = (torch.stack([torch.as_tensor(layout.persons(it)[k]) for it in its]).float() for k in (0, 1))
        lengths = torch.tensor([layout.length(it) for it in its])
        g1, g2, n = source([layout.text(it) for it in its], m1, m2, lengths)
        for j, (p, r) in enumerate(chunk):
            out = layout.generated(its[j], g1[j], g2[j], n[j])
            if r == 0:
                gen[p] = out
            if p in mm_pos:
                mm[p].append(out)
                if len(mm[p]) == opt.mm_num_repeats:
                    mm[p] = embed(layout.collate(mm[p])).numpy()  # (repeats, D)
        for p in [q for q in cache if q < chunk[-1][0]]:  # jobs are sorted: earlier items are done
            del cache[p]
    mm_emb = np.stack([mm[p] for p in sorted(mm_pos)]) if mm_pos else np.zeros((0,))
    return gen, mm_emb, firsts


def batches(items, batch_size, collate):
    """Shuffled evaluator batches with drop_last (a DataLoader over the generated set)."""
    perm = torch.randperm(len(items)).tolist()
    return [collate([items[i] for i in perm[s:s + batch_size]])
            for s in range(0, len(perm) - batch_size + 1, batch_size)]


class GTLoader:
    """Re-iterable GT loader (shuffle, drop_last): every pass draws new crops, captions, person order
    and batches; items are read batch by batch."""

    def __init__(self, dataset, batch_size, collate):
        self.dataset, self.batch_size, self.collate = dataset, batch_size, collate

    def __iter__(self):
        set_normalize(self.dataset, False)
        perm = torch.randperm(len(self.dataset)).tolist()
        for s in range(0, len(perm) - self.batch_size + 1, self.batch_size):
            yield self.collate([self.dataset[i] for i in perm[s:s + self.batch_size]])


def save_visuals(opt, run_dir, ckpt_name, log_path, items, gen, layout):
    """--save_vis: GT and generated keypoints/videos of the first 20 (transformer) or 10 (VQ) samples
    of replication 0 in <run>/animation/ (Inter-X: raw npy + captions)."""
    setting = os.path.basename(log_path)[:-4].replace(f"evaluation_{opt.which_epoch}", "").replace("__", "_")
    count = min(len(items), len(gen))
    anim = os.path.join(run_dir, "animation")
    for i in range(count):
        base = "_".join(p for p in (ckpt_name[:-4], setting.strip("_"), f"{i:02d}") if p)
        if isinstance(layout, InterHumanItems):
            from utils.plot_script import preprocess_plot_motion
            n_gt, n_gen = layout.length(items[i]), layout.length(gen[i])
            gt = [(torch.as_tensor(m[:n_gt]) * layout.std + layout.mean).numpy() for m in layout.persons(items[i])]
            for tag, people in (("gt", gt), ("gen", [gen[i][2][:n_gen], gen[i][3][:n_gen]])):
                preprocess_plot_motion(people, layout.text(items[i]), os.path.join(anim, "keypoint_mp4"),
                                       os.path.join(anim, "keypoint_npy"), f"{base}_{tag}")
        else:
            os.makedirs(os.path.join(anim, "smpl_npy"), exist_ok=True)
            os.makedirs(os.path.join(anim, "captions"), exist_ok=True)
            for tag, it in (("gt", items[i]), ("gen", gen[i])):
                n = layout.length(it)
                np.save(os.path.join(anim, "smpl_npy", f"{base}_{tag}.npy"),
                        np.asarray(it[4])[:n].reshape(n, -1))
            with open(os.path.join(anim, "captions", f"{base}.txt"), "w") as f:
                f.write(layout.text(items[i]) + "\n")


# ----------------------------------------------------------------------------------------- main
def header(opt, f, seed, model_files, n_items, log_name):
    log_line(f, "# InterMask evaluation")
    log_line(f, "# command: " + " ".join(["eval.py"] + list(opt.argv)))
    log_line(f, f"# seed: {seed} (replication r runs with seed + r)")
    log_line(f, f"# dataset: {opt.dataset_name} split {opt.split} at {opt.data_root} ({n_items} samples)")
    for path in model_files:
        log_line(f, f"# model file: {path} sha256 {sha256_file(path)}")
    for path in evaluator_file_list(opt):
        log_line(f, f"# evaluator file: {path} sha256 {sha256_file(path)}")
    keys = ("use_trans", "which_epoch", "gen_react", "batch_size", "replication_times", "diversity_times",
            "mm_num_samples", "mm_num_repeats", "mm_num_times", "time_steps", "cond_scales", "topkr",
            "temperature", "gumbel_sample", "temperature_on_logits", "react_half_steps", "gen_batch_size",
            "gen_length_split", "recon_per_sample", "split")
    log_line(f, "# protocol: " + " ".join(f"{k}={getattr(opt, k)}" for k in keys) + f" log={log_name}")
    log_line(f, f"# multimodality convention: {opt.multimodality_convention} "
                f"({MULTIMODALITY_CONVENTIONS[opt.multimodality_convention]})")


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


def list_checkpoints(run_dir, which_epoch):
    model_dir = os.path.join(run_dir, "model")
    require_file(model_dir, f"train the run {os.path.basename(run_dir)} first or fetch it with "
                            f"`python prepare/download_models.py`")
    files = sorted(f for f in os.listdir(model_dir) if f.endswith(".tar") and (which_epoch == "all" or which_epoch in f))
    if not files:
        raise EvalError(f"no checkpoint in {model_dir} matches --which_epoch {which_epoch}")
    return [os.path.join(model_dir, f) for f in files]


def make_sources(opt, run_opt, ckpt, settings, device):
    """[(log file name, {checkpoint file name: source}, model files)] per sampling setting."""
    name = os.path.basename(ckpt)
    if not opt.use_trans:
        from models.vq.build import load_vq
        vq, _ = load_vq(opt.checkpoints_dir, opt.dataset_name, opt.name, name[:-4], device)
        return [(f"evaluation_{opt.which_epoch}.log", name, VQSource(vq, opt.recon_per_sample), [ckpt])]
    from models.pipeline import InterMaskGenerator
    explicit = any(a.startswith("--vq_which_epoch") for a in opt.argv)
    vq_epoch = opt.vq_which_epoch if explicit else (run_opt.get("vq_which_epoch") or opt.vq_which_epoch)
    gen = InterMaskGenerator.from_run(opt.checkpoints_dir, opt.dataset_name, opt.name, name[:-4], device,
                                      vq_epoch, clip_path=opt.clip_path, stats_dir=opt.stats_dir,
                                      data_root=opt.data_root, temperature_on_logits=opt.temperature_on_logits,
                                      react_half_steps=opt.react_half_steps, amp=opt.amp)
    vq_name = run_opt.get("vq_name") or opt.vq_name
    files = [ckpt, os.path.join(opt.checkpoints_dir, opt.dataset_name, vq_name, "model", f"{vq_epoch}.tar")]
    prefix = "react_" if opt.gen_react else ""
    return [(f"{prefix}evaluation_{opt.which_epoch}_ts{ts}_cs{cs}_topkr{r}.log", name,
             TransformerSource(gen, opt, ts, cs, r), files) for ts, cs, r in settings]


def run_protocol(opt, sources, dataset, layout, wrapper, seed, log_path, model_files):
    """All replications for one log file. sources: {checkpoint name: motion source}."""
    mm_scale = multimodality_scaling(opt.multimodality_convention, wrapper.emb_scale, wrapper.divide_by)
    table = new_metric_table()
    with open(log_path, "w") as f:
        header(opt, f, seed, model_files, len(dataset), os.path.basename(log_path))
        for rep in range(opt.replication_times):
            fixseed(seed + rep)
            loaders = {"ground truth": GTLoader(dataset, opt.batch_size, layout.collate)}
            mm_embeddings = {}
            for name, source in sources.items():
                n_vis = (20 if opt.use_trans else 10) if rep == 0 and opt.save_vis else 0
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


def main(argv=None):
    opt = EvalT2MOptions().parse(argv)
    opt.argv = list(sys.argv[1:] if argv is None else argv)
    device = resolve_device(opt)
    run_dir = os.path.join(opt.checkpoints_dir, opt.dataset_name, opt.name)
    if not (os.path.isfile(os.path.join(run_dir, "opt.yaml")) or os.path.isfile(os.path.join(run_dir, "opt.txt"))):
        require_file(os.path.join(run_dir, "opt.txt"), "train it first or fetch it with `python prepare/download_models.py`")
    run_opt = load_options(run_dir)
    seed = opt.seed if opt.seed is not None else int(run_opt.get("seed") or 3407)
    opt.batch_size = opt.batch_size or (32 if opt.dataset_name == "interx" else 96)
    if not opt.use_trans:
        opt.mm_num_samples = 0
    if opt.gen_react and not opt.use_trans:
        raise EvalError("--gen_react needs the transformer (--use_trans True)")
    from data import build_t2m_dataset, load_stats
    from data.config import DataConfig
    data_opt = DataConfig.from_options(vars(data_options(opt, run_opt)))
    wrapper = build_eval_wrapper(opt, device)
    if opt.dataset_name == "interx":
        dataset = build_t2m_dataset(data_opt, opt.split)
        layout = InterXItems(getattr(dataset, "collate_fn", None))
    else:
        dataset = build_t2m_dataset(data_opt, opt.split, normalize=False)
        layout = InterHumanItems(*load_stats(data_opt))
    if len(dataset) < opt.batch_size:
        raise EvalError(f"{opt.data_root} split {opt.split} has {len(dataset)} samples, fewer than one "
                         f"evaluation batch (--batch_size {opt.batch_size})")
    evaluated = len(dataset) // opt.batch_size * opt.batch_size
    if evaluated <= opt.diversity_times:
        raise EvalError(f"Diversity needs more than --diversity_times {opt.diversity_times} evaluated samples; "
                        f"{opt.split} gives {evaluated} (batches of {opt.batch_size}, drop_last)")
    if opt.mm_num_samples > 0 and opt.mm_num_repeats <= opt.mm_num_times:
        raise EvalError(f"--mm_num_repeats ({opt.mm_num_repeats}) must exceed --mm_num_times ({opt.mm_num_times})")
    if opt.mm_num_samples > len(dataset):
        raise EvalError(f"--mm_num_samples {opt.mm_num_samples} exceeds the {len(dataset)} test samples")
    print(f"evaluator: {default_evaluator_dir(opt)}; seed {seed}; device {device}")
    settings = list(itertools.product(opt.time_steps, opt.cond_scales, opt.topkr))
    grouped = {}  # log name -> ({checkpoint name: source}, model files)
    for ckpt in list_checkpoints(run_dir, opt.which_epoch):
        for log_name, name, source, files in make_sources(opt, run_opt, ckpt, settings, device):
            entry = grouped.setdefault(log_name, ({}, []))
            entry[0][name] = source
            entry[1].extend(p for p in files if p not in entry[1])
    os.makedirs(os.path.join(run_dir, "eval"), exist_ok=True)  # every model loaded: now write
    results = {}
    for log_name, (sources, files) in grouped.items():
        path = os.path.join(run_dir, "eval", log_name)
        results[log_name] = run_protocol(opt, sources, dataset, layout, wrapper, seed, path, files)
        print(f"log written to {path}")
    return results


def cli(argv=None):
    """Command-line entry: missing or unreadable files and bad input end with a one-line error and
    exit status 2."""
    return run_cli(main, "eval.py", argv, errors=(EvalError,))


if __name__ == "__main__":
    sys.exit(cli())
