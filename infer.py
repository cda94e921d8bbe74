"""Generate two-person interactions from text (the official infer.py, plus length control, several
samples, batching, reaction, temporal editing, gif/mp4/none and BVH export).

    python infer.py --dataset_name interhuman --name trans_default                # ./prompts.txt
    python infer.py --name trans_default --text "two people hug#4s" --num_samples 3
    python infer.py --name trans_default --text "the other one dodges" --react_to person1.npy
    python infer.py --name trans_default --text "they shake hands" --edit feats/X.npy --edit_span 1 2

Outputs (official layout and names) in <checkpoints_dir>/<dataset>/<name>/animation_infer/ (or
--out_dir), base name infer_<ckpt>_ts<ts>_cs<cs>_topkr<topkr>_<prompt:02d>_<sample:02d>:
  keypoint_npy/<base>_{0,1}.npy      (T, 22, 9) per person: smoothed positions | 6D (zero root)
  keypoint_npy/ik_<base>_{0,1}.npy   the same after the official foot clean-up, smoothed again
  keypoint_mp4/<base>.mp4 / ik_<base>.mp4   videos at 30 fps (or .gif): --render readable (default, ours:
                                     framed pair, thick limbs, top view, hand contact, time) or official
                                     (the official two-view stick figures)
  bvh/<base>_{0,1}.bvh, bvh/<base>.bvh      (ours) per person and both people
  feats/<base>.npy                   (ours) (T, 2, 262) de-normalised features
Inter-X: smpl_npy/<base>.npy, the raw decoded (T, 56*12) array of both persons (official).

Fixed official bug: the plain video shows the raw output (the official one showed the foot-fixed
joints because the clean-up edited its input in place). The official "3 s" default is 90 frames,
which the 4-frame token steps turn into 88.
"""
import itertools
import os
import sys
import time

import numpy as np
import torch

from data.skeleton import FEAT_DIM, FPS, FRAMES_PER_TOKEN
from options.common import DEFAULT_SEED, given_on_command_line, resolve_device
from options.infer_option import InferOptions
from utils import runs as run_files
from utils.cli import run_cli
from utils.files import MissingFileError, fixseed, require_file
from utils.prompts import MAX_FRAMES, PromptError, check_length, prompts_from_options

MAX_FRAMES_BY_DATASET = {"interhuman": MAX_FRAMES, "interx": 150}


class InferError(ValueError):
    """Bad infer.py input (one line, names the flag or file)."""


def base_name(ckpt_stem, ts, cs, topkr, prompt_idx, sample_idx):
    """The official file stem, e.g. infer_best_fid_ts20_cs2.0_topkr0.9_00_00."""
    return f"infer_{ckpt_stem}_ts{ts}_cs{float(cs)}_topkr{topkr}_{prompt_idx:02d}_{sample_idx:02d}"


def list_checkpoints(run_dir, which_epoch):
    """Model files of the run whose names contain --which_epoch ('all' = every .tar), as official."""
    files = run_files.list_checkpoints(run_dir, which_epoch, f"train it with train_transformer.py --name "
                                       f"{os.path.basename(run_dir)} or fetch the released models with "
                                       f"`python prepare/download_models.py`")
    if not files:
        raise MissingFileError(os.path.join(run_dir, "model", f"*{which_epoch}*.tar"),
                               "no checkpoint matches --which_epoch; train the model or pick another one")
    return files


# ------------------------------------------------------------------------------------ inputs
def _partner_path(path):
    stem, ext = os.path.splitext(path)
    for a, b in (("_0", "_1"), ("_1", "_0")):
        if stem.endswith(a):
            return stem[:-len(a)] + b + ext, a == "_0"
    return None, True


def read_motion_file(flag, path, read):
    """read(path) for the motion given with `flag` (--react_to / --edit); an unreadable file, a wrong
    shape or width, NaN/inf values, or features that come out non-finite (a degenerate pose) become
    a one-line InferError naming the flag and the file."""
    try:
        out = read(path)
    except (MissingFileError, InferError):
        raise
    except (ValueError, OSError, EOFError) as e:  # np.load of a non-.npy / truncated file, bad shapes
        lines = str(e).strip().splitlines()
        msg = lines[0] if lines else type(e).__name__
        raise InferError(f"{flag} {msg if msg.startswith(path) else f'{path}: {msg}'}") from None
    for person in (out if isinstance(out, tuple) else (out,)):
        if not np.isfinite(person).all():
            raise InferError(f"{flag} {path}: the motion's features come out non-finite (degenerate pose, e.g. "
                             f"zero hip width)")
    return out


def load_pair_features(path):
    """An interaction to edit -> (person 1, person 2) de-normalised features (T, 262) each: a
    (T, 2, 262) file (feats/<base>.npy), or one person's keypoints / features `X_0.npy` or `X_1.npy`
    whose partner file sits next to it."""
    from data.motion_files import check_finite, load_npy, load_person_features
    require_file(path, "give feats/<base>.npy or keypoint_npy/<base>_0.npy from an earlier infer.py run")
    arr = load_npy(path)
    if arr.ndim == 3 and arr.shape[1:] == (2, FEAT_DIM):
        check_finite(arr, path)
        return np.asarray(arr[:, 0], np.float32), np.asarray(arr[:, 1], np.float32)
    other, first = _partner_path(path)
    if other is None:
        raise InferError(f"--edit {path}: shape {arr.shape}; give a (T, 2, 262) file or one of a pair "
                         f"of files named *_0.npy / *_1.npy")
    require_file(other, "--edit needs both persons' files (*_0.npy and *_1.npy)")
    a = load_person_features(path)
    b = read_motion_file("--edit", other, load_person_features)   # errors name the partner file
    n = min(len(a), len(b))
    return (a[:n], b[:n]) if first else (b[:n], a[:n])


def _cap_length(frames, max_frames, what):
    if frames > max_frames:
        print(f"note: {what} has {frames} frames; using the first {max_frames} (the model's maximum)")
    return min(frames, max_frames)


# ------------------------------------------------------------------------------------ generation
def _jobs(prompts, num_samples):
    return [(i, s, p) for i, p in enumerate(prompts) for s in range(num_samples)]


def _batches(items, size):
    for k in range(0, len(items), size):
        yield items[k:k + size]


def generate_batch(gen, opt, batch, ts, cs, topkr, given):
    """One batch of jobs -> (raw person-1 features (B, T, D), person 2, out lengths) de-normalised.
    `given`: None, ("react", m1) or ("edit", m1, m2, span) in raw features."""
    texts = [p.text for _, _, p in batch]
    kw = dict(time_steps=ts, cond_scale=cs, topkr=topkr, temperature=opt.temperature,
              gsample=opt.gumbel_sample)
    if given is None:
        m1, m2, lens = gen.generate(texts, [p.frames for _, _, p in batch], **kw)
    elif given[0] == "react":
        motion1 = torch.from_numpy(gen.normalize(given[1]))[None].repeat(len(batch), 1, 1)
        m1, m2, lens = gen.react(texts, motion1, [len(given[1])] * len(batch), **kw)
    else:
        _, a, b, span = given
        rep = [torch.from_numpy(gen.normalize(x))[None].repeat(len(batch), 1, 1) for x in (a, b)]
        m1, m2, lens = gen.edit(texts, rep[0], rep[1], [len(a)] * len(batch), span, opt.edit_person, **kw)
    m1, m2 = gen.denormalize(m1).numpy(), gen.denormalize(m2).numpy()
    if given is not None and given[0] == "react":   # person 1 is the given motion itself
        m1 = np.broadcast_to(given[1][:m1.shape[1]], m1.shape).copy()
    return m1, m2, [int(x) for x in lens]


def save_interaction(opt, out_dir, base, caption, m1, m2, renderer):
    """All files of one generated interaction; m1, m2 raw features (T, D). Returns the paths."""
    from utils.bvh import export_interaction
    from utils.plot_script import preprocess_plot_motion
    paths = []
    if opt.dataset_name == "interx":
        os.makedirs(os.path.join(out_dir, "smpl_npy"), exist_ok=True)
        both = np.concatenate([m1, m2], axis=-1)                                  # (T, 56, 12)
        p = os.path.join(out_dir, "smpl_npy", f"{base}.npy")
        np.save(p, both.reshape(len(both), -1).astype(np.float32))
        return [p]
    motions = np.stack([m1, m2], axis=1).astype(np.float32)                        # (T, 2, 262)
    if opt.save_feats:
        os.makedirs(os.path.join(out_dir, "feats"), exist_ok=True)
        paths.append(os.path.join(out_dir, "feats", f"{base}.npy"))
        np.save(paths[-1], motions)
    out = preprocess_plot_motion(motions, caption, os.path.join(out_dir, "keypoint_mp4"),
                                 os.path.join(out_dir, "keypoint_npy"), base, foot_ik=opt.foot_ik,
                                 fmt=opt.format, renderer=renderer)
    paths += out["npy"] + out["video"]
    if opt.bvh:
        paths += export_interaction(os.path.join(out_dir, "bvh"), base, out["keypoints"],
                                    rotations=opt.bvh_rotations, fps=FPS,
                                    scale=100.0 if opt.bvh_units == "cm" else 1.0)
    return paths


def prepare_inputs(opt, max_frames):
    """Prompts and the given motion (react/edit), all checked before any model is loaded."""
    prompts = prompts_from_options(opt, max_frames=max_frames)
    if opt.react_to and opt.edit:
        raise InferError("--react_to and --edit cannot be combined")
    if opt.edit_span is not None and not opt.edit:
        raise InferError("--edit_span needs --edit FILE")
    if opt.react_to:
        from data.motion_files import load_person_features
        m1 = read_motion_file("--react_to", opt.react_to, load_person_features)
        n = _cap_length(len(m1), max_frames, f"--react_to {opt.react_to}")
        check_length(n, f"--react_to {opt.react_to}", max_frames=max_frames)
        return prompts, ("react", m1[:n])
    if opt.edit:
        if opt.edit_span is None:
            raise InferError("--edit needs --edit_span START END (seconds)")
        a, b = read_motion_file("--edit", opt.edit, load_pair_features)
        n = _cap_length(len(a), max_frames, f"--edit {opt.edit}")
        check_length(n, f"--edit {opt.edit}", max_frames=max_frames)
        start, end = (int(round(s * FPS)) for s in opt.edit_span)
        usable = FRAMES_PER_TOKEN * (n // FRAMES_PER_TOKEN)
        if not 0 <= start < end <= usable:
            raise InferError(f"--edit_span {opt.edit_span[0]} {opt.edit_span[1]}: must satisfy 0 <= START < END "
                             f"<= {usable / FPS:.2f} s (the motion's {usable} usable frames)")
        return prompts, ("edit", a[:n], b[:n], (start, end))
    return prompts, None


def run(opt):
    """Everything infer.py does; returns {"files": [...], "avg_time": {setting: seconds}}."""
    from models.pipeline import InterMaskGenerator
    from models.mask_transformer.build import load_run_options
    max_frames = MAX_FRAMES_BY_DATASET.get(opt.dataset_name, MAX_FRAMES)
    prompts, given = prepare_inputs(opt, max_frames)
    if opt.num_samples < 1:
        raise InferError(f"--num_samples must be >= 1, got {opt.num_samples}")
    run_dir = os.path.join(opt.checkpoints_dir, opt.dataset_name, opt.name)
    run_opt = load_run_options(run_dir)
    ckpts = list_checkpoints(run_dir, opt.which_epoch)
    seed = opt.seed if opt.seed is not None else int(getattr(run_opt, "seed", None) or DEFAULT_SEED)
    device = resolve_device(opt)
    out_dir = opt.out_dir or os.path.join(run_dir, "animation_infer")
    explicit_vq = given_on_command_line(getattr(opt, "argv", []), "--vq_which_epoch")
    vq_epoch = opt.vq_which_epoch if explicit_vq else getattr(run_opt, "vq_which_epoch", None)
    renderer = None
    if opt.format != "none" and opt.dataset_name != "interx":
        from utils.render import make_renderer
        renderer = make_renderer(opt.render, dpi=opt.video_dpi)
    files, avg_time = [], {}
    try:
        for ckpt in ckpts:
            stem = os.path.splitext(os.path.basename(ckpt))[0]
            gen = InterMaskGenerator.from_run(opt.checkpoints_dir, opt.dataset_name, opt.name, stem, device,
                                              vq_epoch, clip_path=opt.clip_path, stats_dir=opt.stats_dir,
                                              data_root=opt.data_root,
                                              temperature_on_logits=opt.temperature_on_logits,
                                              react_half_steps=opt.react_half_steps, amp=opt.amp)
            for cs, ts, topkr in itertools.product(opt.cond_scales, opt.time_steps, opt.topkr):
                fixseed(seed)
                times, n_done = [], 0
                for batch in _batches(_jobs(prompts, opt.num_samples), max(1, opt.gen_batch_size)):
                    t0 = time.perf_counter()
                    m1, m2, lens = generate_batch(gen, opt, batch, ts, cs, topkr, given)
                    times.append(time.perf_counter() - t0)
                    n_done += len(batch)
                    for k, (i, s, p) in enumerate(batch):
                        base = base_name(stem, ts, cs, topkr, i, s)
                        files += save_interaction(opt, out_dir, base, p.text, m1[k, :lens[k]], m2[k, :lens[k]],
                                                  renderer)
                avg = sum(times) / n_done
                avg_time[(stem, ts, cs, topkr)] = avg
                print(f"{stem} ts{ts} cs{float(cs)} topkr{topkr}: Avg Time taken: {avg:.3f} s per interaction "
                      f"({n_done} interactions, seed {seed}, device {device})")
    finally:
        if renderer is not None:
            renderer.close()
    print(f"wrote {len(files)} files to {out_dir}")
    return {"files": files, "avg_time": avg_time, "out_dir": out_dir}


def main(argv=None):
    opt = InferOptions().parse(argv)
    opt.argv = list(sys.argv[1:] if argv is None else argv)
    return run(opt)


def cli(argv=None):
    """Command-line entry: bad input (prompts, motion files, missing or unreadable checkpoints) ends
    with a one-line error and exit status 2."""
    from utils.plot_script import VideoBackendError
    return run_cli(main, "infer.py", argv, errors=(PromptError, InferError, VideoBackendError))


if __name__ == "__main__":
    sys.exit(cli())
