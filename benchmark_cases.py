"""The cases `bench.py` times: default-size (or --tiny) models with random weights built through the
real training, generation and evaluation code, each returned as a callable for one run. See bench.py's
docstring for what each case measures; the official code's figures come from bench.py --official FILE
(benchmark_official.py)."""
import os
import statistics
import time

import numpy as np
import torch

DEFAULT_CASES = ["vq_b8", "vq_b16", "trans_b8_len120", "trans_mix_b8", "trans_mix_split", "trans_mix_bucketed",
                 "gen_b1", "gen_b4", "eval"]
ALL_CASES = DEFAULT_CASES + ["trans_b8_len300"]
TINY_VQ = dict(nb_code=64, code_dim=32, output_emb_width=32, width=32, depth=1)
TINY_TRANS = dict(num_tokens=64, code_dim=32, latent_dim=32, ff_size=64, n_layers=1, n_heads=2, clip_dim=64)
TINY_CLIP_TEXT = dict(width=64, layers=1, heads=1)
CLIP_TEXT = dict(width=768, layers=12, heads=12)  # ViT-L/14@336px text tower
TINY_EVALUATOR = {"NUM_LAYERS": 1, "NUM_HEADS": 2, "LATENT_DIM": 32, "FF_SIZE": 64, "TEXT_LATENT_DIM": 32,
                  "TEXT_NUM_LAYERS": 1, "TEXT_NUM_HEADS": 2, "EMB_DIM": 16}


# ================================================================================ shared helpers
def random_clip_tower(width, layers, heads, device):
    """The official frozen CLIP text tower (models/text_encoders.ClipTextTower) with random weights:
    same architecture, tokenizer and per-caption cache, no weights file needed."""
    import clip
    from clip.model import LayerNorm, Transformer
    from models.text_encoders import CachedTower, ClipTextTower

    class RandomClipTextTower(ClipTextTower):
        def __init__(self):
            CachedTower.__init__(self, device)
            self._tokenize = clip.tokenize
            self.token_embedding = torch.nn.Embedding(49408, width)
            torch.nn.init.normal_(self.token_embedding.weight, std=0.02)
            self.positional_embedding = torch.nn.Parameter(torch.randn(self.context_length, width) * 0.01)
            causal = torch.full((self.context_length, self.context_length), float("-inf")).triu_(1)
            self.transformer = Transformer(width, layers, heads, attn_mask=causal)
            self.ln_final = LayerNorm(width)
            self.width = width
            for mod in (self.token_embedding, self.transformer, self.ln_final):
                mod.eval().requires_grad_(False)
            self.positional_embedding.requires_grad_(False)
            self._modules_to(self.device)

    return RandomClipTextTower()


def random_vq(args, device):
    """Default-size (or tiny) InterHuman RVQVAE, random weights and a random codebook (an untrained
    codebook is all zeros, which would make every token id 0)."""
    from models.vq.build import build_vq
    from models.vq.config import VQConfig
    vq = build_vq(VQConfig.from_options(dict(dataset_name="interhuman", **(TINY_VQ if args.tiny else {}))))
    with torch.no_grad():
        for name, buf in vq.named_buffers():
            if name.endswith("codebook"):
                buf.copy_(torch.randn_like(buf))
    return vq.to(device).eval()


def random_transformer(args, device):
    """Default-size (or tiny) MaskTransformer with a random CLIP text tower attached."""
    from models.mask_transformer.build import build_transformer
    from models.mask_transformer.config import TransformerConfig
    cfg = dict(TINY_TRANS) if args.tiny else {}
    model = build_transformer(TransformerConfig.from_options(cfg), device)
    tower = TINY_CLIP_TEXT if args.tiny else CLIP_TEXT
    return model.set_text_tower(random_clip_tower(tower["width"], tower["layers"], tower["heads"], device))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ======================================================================================= cases
def measure_ceiling(args, device):
    """Median GFLOP/s of an n^3 matrix product (n = 2048) in float32, and in bfloat16 with --amp bf16
    only (on a CPU without bf16 units that product alone takes minutes)."""
    n = 256 if args.tiny else 2048
    out = {}
    dtypes = [("fp32", torch.float32)] + ([("bf16", torch.bfloat16)] if args.amp == "bf16" else [])
    for name, dtype in dtypes:
        a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
        times = []
        for i in range(12):  # 2 warm-up products, then 10 timed
            sync(device)
            start = time.perf_counter()
            a @ b
            sync(device)
            times.append(time.perf_counter() - start)
        out[name] = 2 * n ** 3 / statistics.median(times[2:]) / 1e9
    return out


def case_vq(args, device, batch):
    from models.vq.losses import GeometricLosses
    from models.vq.trainer import VQTrainer
    from options.vq_option import arg_parse
    opt = arg_parse(True, ["--amp", args.amp] + [f"--{k}={v}" for k, v in (TINY_VQ if args.tiny else {}).items()])
    opt.model_dir = args.work  # nothing is saved
    losses = GeometricLosses(opt.recons_loss, np.zeros(262, np.float32), np.ones(262, np.float32))
    from models.vq.build import build_vq
    from models.vq.config import VQConfig
    trainer = VQTrainer(opt, build_vq(VQConfig.from_options(vars(opt))), losses, device)
    trainer._setup(iters_per_epoch=1000)
    trainer.model.train()
    motions = torch.randn(batch, opt.window_size, 262, generator=torch.Generator().manual_seed(0))  # (B, 64, 262)

    def step():  # the body of VQTrainer.train's inner loop
        loss, _ = trainer._forward(motions)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), 1.0)
        trainer.optimizer.step()
    return step, batch, f"{batch} windows of {opt.window_size} frames"


def length_mix(n, seed=0):
    """n clip lengths drawn uniformly from 30..300 frames, close to InterHuman's."""
    return np.random.default_rng(seed).integers(30, 301, n).tolist()


def transformer_batch(lengths, g, first=0, full=300):
    """A loader batch (names, texts, m1, m2, lengths) of random motions padded to `full` frames with
    zero rows, as the InterHuman dataset returns them; samples numbered from `first`."""
    bsz = len(lengths)
    motions = [torch.randn(bsz, full, 262, generator=g) for _ in range(2)]  # (B, 300, 262) each
    for m in motions:
        for i, n in enumerate(lengths):
            m[i, n:] = 0
    names = [str(first + i) for i in range(bsz)]
    return names, [f"two people interact, sample {k}" for k in names], motions[0], motions[1], torch.tensor(lengths)


def case_transformer(args, device, batches, length_split="auto"):
    """One run = one training step per batch of lengths in `batches` (--length_split as given; the
    trainer's default auto keeps a batch of equal lengths whole)."""
    from models.mask_transformer.train_step import TrainStep
    from models.mask_transformer.trainer import TransformerTrainer
    from options.trans_option import TrainT2MOptions
    vq = random_vq(args, device)
    model = random_transformer(args, device)
    opt = TrainT2MOptions().parse(["--amp", args.amp, "--length_split", str(length_split)])
    opt.model_dir = args.work  # nothing is saved
    trainer = TransformerTrainer(opt, model, vq, device)
    trainer._setup(iters_per_epoch=1000)
    step = TrainStep(model)
    model.train()
    g = torch.Generator().manual_seed(0)
    loader, first = [], 0
    for lengths in batches:
        loader.append(transformer_batch(lengths, g, first))
        first += len(lengths)

    def run():
        for batch in loader:  # the body of TransformerTrainer.train's loop with grad_accum 1
            trainer.optimizer.zero_grad(set_to_none=True)
            trainer.micro_step(step, batch)
            trainer.optimizer.step()
            trainer.scheduler.step()
    parts = [len(trainer.plan(torch.tensor(b) // 4)) for b in batches]  # what --length_split makes of each
    if len(batches) == 1:
        return run, first, f"lengths {list(batches[0])} (padded to 300), run as {parts[0]} part(s)"
    return run, first, f"{len(batches)} steps on length-sorted batches " + \
        " ".join(f"{min(b)}-{max(b)}" for b in batches) + f" (padded to 300), run as {parts} part(s); " \
        f"per-sample = per sample over all {first}"


def case_generate(args, device, bsz, frames=90):
    from models.pipeline import InterMaskGenerator
    vq = random_vq(args, device)
    # amp goes to the generator: its own autocast context (off for amp "none") would override an outer one
    gen = InterMaskGenerator(random_transformer(args, device).eval(), vq, device=device, amp=args.amp)
    calls = [0]

    def run():
        calls[0] += 1  # new captions every run: the text tower is part of what is timed
        texts = [f"two people greet each other, take {calls[0]}.{i}" for i in range(bsz)]
        gen.generate(texts, [frames] * bsz, time_steps=20, cond_scale=2.0, topkr=0.9, seed=calls[0])
    return run, bsz, f"{bsz} x {frames} frames, 20 steps, cfg 2"


# ---------------------------------------------------------------------------------- eval case
def write_eval_dataset(root, n_test, seed=0):
    """`n_test` synthetic clips, all in the test split (as prepare/make_synthetic_dataset.py writes them),
    and unit statistics (no train split to compute them from; values do not matter for timing)."""
    from data.synthetic.writer import write_dataset
    write_dataset(root, n_test, seed, (0.0, 0.0, 1.0))
    os.makedirs(os.path.join(root, "stats"), exist_ok=True)
    np.save(os.path.join(root, "stats", "global_mean.npy"), np.zeros(262, np.float32))
    np.save(os.path.join(root, "stats", "global_std.npy"), np.ones(262, np.float32))


def write_eval_runs(args, root, ckpt):
    """Random-weight VQ and transformer runs (opt.yaml + model/best_fid.tar) and a random InterCLIP."""
    import yaml
    from models.evaluator.build import save_interclip
    from models.evaluator.interclip import InterCLIP
    from models.mask_transformer.build import build_transformer, checkpoint_state
    from models.mask_transformer.config import TransformerConfig
    from models.vq.build import build_vq
    from models.vq.config import VQConfig
    from options.common import DEFAULT_SEED
    from utils.files import atomic_torch_save
    tiny = args.eval_models == "tiny"
    save_interclip(InterCLIP(dict(TINY_EVALUATOR) if tiny else None), os.path.join(ckpt, "eval_model"))
    vq_cfg = dict(dataset_name="interhuman", name="vq_bench", **(TINY_VQ if tiny else {}))
    vq_sd = build_vq(VQConfig.from_options(vq_cfg)).state_dict()
    vq_sd["quantizer.layers.0.codebook"] = torch.randn_like(vq_sd["quantizer.layers.0.codebook"])
    trans_cfg = dict(name="trans_bench", vq_name="vq_bench", dataset_name="interhuman", seed=DEFAULT_SEED,
                     vq_which_epoch="best_fid", data_root=root, **(TINY_TRANS if tiny else {}))
    trans_cfg["code_dim"] = vq_cfg.get("code_dim", 512)
    trans_cfg["num_tokens"] = vq_cfg.get("nb_code", 1024)
    if tiny:  # a tiny CLIP file (the official text path: clip.load of a local file)
        import clip.model
        w = TINY_CLIP_TEXT["width"]
        tiny_clip = clip.model.CLIP(w, 32, 1, 64, 16, 77, 49408, w, TINY_CLIP_TEXT["heads"], TINY_CLIP_TEXT["layers"])
        trans_cfg.update(text_encoder="clip", clip_path=os.path.join(ckpt, "clip", "tiny_clip.pt"))
        atomic_torch_save(tiny_clip.state_dict(), trans_cfg["clip_path"])
    else:
        trans_cfg.update(text_encoder="minilm")  # the CLIP weights would need a download
    trans_sd = checkpoint_state(build_transformer(TransformerConfig.from_options(trans_cfg)))
    for cfg, state in ((vq_cfg, {"vq_model": vq_sd}), (trans_cfg, {"t2m_transformer": trans_sd})):
        run = os.path.join(ckpt, "interhuman", cfg["name"])
        os.makedirs(os.path.join(run, "model"), exist_ok=True)
        with open(os.path.join(run, "opt.yaml"), "w") as f:
            yaml.safe_dump(cfg, f)
        atomic_torch_save(state, os.path.join(run, "model", "best_fid.tar"))


def eval_counts(args):
    """Protocol counts scaled to --eval_clips (official: batch 96, 20 replications, diversity 300,
    MultiModality 100 texts x 30 generations, 10 pairs)."""
    n = args.eval_clips
    batch = min(96, max(2, n // 2))
    usable = (n // batch) * batch
    return dict(batch_size=batch, replication_times=args.eval_reps, diversity_times=max(2, min(300, usable // 2)),
                mm_num_samples=max(1, min(100, n // 8)), mm_num_repeats=5, mm_num_times=3,
                gen_batch_size=32, time_steps=20)


def case_eval(args, device):
    import eval as eval_script
    import models.pipeline  # noqa: F401  (imports are not part of the protocol's time)
    import utils.evaluation.protocol  # noqa: F401
    data, ckpt = os.path.join(args.work, "data"), os.path.join(args.work, "checkpoints")
    write_eval_dataset(data, args.eval_clips)
    write_eval_runs(args, data, ckpt)
    counts = eval_counts(args)
    argv = ["--checkpoints_dir", ckpt, "--data_root", data, "--name", "trans_bench", "--log_time", "False",
            "--device", str(device), "--eval_model_dir", os.path.join(ckpt, "eval_model")]
    for k, v in counts.items():
        argv += [f"--{k}", str(v)]

    def run():
        eval_script.main(list(argv))
    per = counts["replication_times"] * args.eval_clips
    return run, per, "protocol " + " ".join(f"{k}={v}" for k, v in counts.items()) + \
        f", {args.eval_clips} test clips, {args.eval_models} models, per-sample = per clip per replication"


def make_case(name, args, device):
    """-> (callable for one run, samples per run, description)."""
    if name.startswith("vq_b"):
        return case_vq(args, device, int(name[4:]))
    if name == "trans_b8_len120":
        return case_transformer(args, device, [[120] * 8])
    if name == "trans_b8_len300":
        return case_transformer(args, device, [[300] * 8])
    if name == "trans_mix_b8":  # as one batch (--length_split 1)
        return case_transformer(args, device, [length_mix(8)], length_split=1)
    if name == "trans_mix_split":  # the same batch as length-sorted parts (the default --length_split auto)
        return case_transformer(args, device, [length_mix(8)])
    if name == "trans_mix_bucketed":  # what --length_buckets 8 makes of 64 clips with batch size 8
        lengths = sorted(length_mix(64))
        return case_transformer(args, device, [lengths[k:k + 8] for k in range(0, 64, 8)])
    if name.startswith("gen_b"):
        return case_generate(args, device, int(name[5:]))
    if name == "eval":
        return case_eval(args, device)
    raise ValueError(f"unknown case {name!r}; known: {', '.join(ALL_CASES)}")
