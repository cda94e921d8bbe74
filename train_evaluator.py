"""Train an InterCLIP-architecture text-motion evaluator on any dataset in the InterHuman format.

The official InterCLIP training code was never released; this trains the same architecture with the
objective the checkpoint implies: a symmetric CLIP cross-entropy over a batch, on cosine similarities
scaled by latent_scale^2 (both embeddings have norm latent_scale). Motions are fed as the evaluation
feeds them: de-normalised, contacts dropped inside the model, [person 1 | person 2].

    python train_evaluator.py --name evaluator_demo --data_root <dataset> --text_encoder minilm \
        --latent_dim 128 --num_layers 2 --ff_size 256 --text_latent_dim 128 --text_num_layers 2

    torchrun --nproc_per_node 2 train_evaluator.py --name evaluator_demo --batch_size 32 ...   # 2 x 32 = 64

Output: <checkpoints_dir>/<dataset_name>/<name>/{eval_model.yaml, interclip.ckpt (lowest val loss),
opt.txt, model/latest.tar (resume state), log/ (TensorBoard)}. Use it with
`python eval.py --eval_model_dir <that folder> ...`.

Under torchrun --batch_size is per rank; the contrastive batch is the GLOBAL one (batch_size x ranks):
every rank gathers all ranks' embeddings and computes the loss over all of them, back-propagating
through its own rows, so the gradient equals one process with the whole batch. Item draws (caption,
crop, person order) come from (seed, epoch, item) and the data order from (seed, epoch), so with
--dropout 0 N ranks x b equal one process x N*b to float rounding (with dropout each rank draws its
own masks). Rank 0 alone validates, logs and writes files.
"""
import os
import sys

import torch

from models.evaluator.interclip import InterCLIP, count_parameters
from models.evaluator.config import interclip_config_from_options
from models.evaluator.trainer import EvaluatorTrainer, EvaluatorTrainError, rank_batch, read_latest
from options.common import resolve_paths
from options.evaluator_option import EvaluatorTrainOptions
from options.opt_io import save_options
from utils.distributed import distributed_run
from utils.cli import run_cli
from utils.files import fixseed

def init_from_clip(model, clip_path):
    """Copy CLIP's token and positional embeddings (the frozen part of the official text side)."""
    import clip
    from utils.files import require_file
    require_file(clip_path, "put the CLIP ViT-L/14@336px weights there (see prepare/download_models.py)")
    clip_model, _ = clip.load(clip_path, device="cpu", jit=False)
    w = clip_model.token_embedding.weight
    if w.shape != model.token_embedding.weight.shape:
        raise EvaluatorTrainError(f"--clip_path embeddings are {tuple(w.shape)}, the evaluator's text width needs "
                         f"{tuple(model.token_embedding.weight.shape)} (use --text_latent_dim {w.shape[1]})")
    with torch.no_grad():
        model.token_embedding.weight.copy_(w.float())
        model.positional_embedding.copy_(clip_model.positional_embedding.float())
    print(f"text embeddings initialised from {clip_path}")


def make_dataset(opt, split):
    from data import build_t2m_dataset
    from data.config import DataConfig
    ds = build_t2m_dataset(DataConfig.from_options(vars(opt)), split)
    ds.normalize = False  # the evaluator always sees de-normalised motion
    return ds


def main(argv=None):
    opt = EvaluatorTrainOptions().parse(argv)
    resolve_paths(opt)
    with distributed_run(opt) as info:
        return train(opt, info)


def train(opt, info):
    device = info.device
    fixseed(opt.seed)
    run_dir = os.path.join(opt.checkpoints_dir, opt.dataset_name, opt.name)
    os.makedirs(os.path.join(run_dir, "model"), exist_ok=True)
    if info.is_main:
        save_options(opt, run_dir)
    say = print if info.is_main else (lambda *a, **k: None)

    train_ds, val_ds = make_dataset(opt, "train"), make_dataset(opt, "val")
    batch = rank_batch(opt.batch_size, opt.data_root, train_ds, info)
    model = InterCLIP(interclip_config_from_options(vars(opt)))
    with torch.no_grad():
        model.latent_scale.fill_(opt.init_latent_scale)
    if opt.text_encoder == "clip" and opt.clip_path:
        init_from_clip(model, opt.clip_path)
    elif opt.text_encoder == "clip":
        say("text embeddings start random (no --clip_path given)")
    model.to(device).train()
    say(f"InterCLIP evaluator: {count_parameters(model) / 1e6:.3f}M parameters; {info.world_size} rank(s), "
        f"global batch {batch * info.world_size}")
    # --is_continue: latest.tar is read and checked before anything else is written
    resume = read_latest(os.path.join(run_dir, "model", "latest.tar"), batch * info.world_size) \
        if opt.is_continue else None
    writer = None
    if info.is_main:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(os.path.join(run_dir, "log"))
    trainer = EvaluatorTrainer(opt, model, device, batch, run_dir, writer=writer)
    try:
        trainer.train(train_ds, val_ds, resume)
    finally:
        if writer is not None:
            writer.close()
    say(f"evaluator written to {run_dir} (eval_model.yaml + interclip.ckpt)")
    return run_dir


def cli(argv=None):
    """Command-line entry: missing files and bad input end with a one-line error and exit status 2."""
    return run_cli(main, "train_evaluator.py", argv, errors=(EvaluatorTrainError,))


if __name__ == "__main__":
    sys.exit(cli())
