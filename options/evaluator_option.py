"""Options of train_evaluator.py: train an InterCLIP-architecture text-motion evaluator (ours; the
official evaluator's training code was never released).

The defaults of the architecture flags are the released InterCLIP's sizes; shrink them for small
datasets. The run writes `<checkpoints_dir>/<dataset_name>/<name>/{eval_model.yaml, interclip.ckpt}`,
which eval.py loads with `--eval_model_dir <that folder>` exactly like the official evaluator."""
import argparse

from options.common import DEFAULT_SEED, add_project_args, str2bool


class EvaluatorTrainOptions:
    def __init__(self):
        self.parser = argparse.ArgumentParser(description=self.__doc__ or __doc__)
        p = self.parser
        p.add_argument("--name", type=str, default="evaluator_default", help="run folder name")
        p.add_argument("--dataset_name", type=str, default="interhuman", choices=["interhuman"],
                       help="any dataset in the InterHuman on-disk format (use --data_root)")
        p.add_argument("--checkpoints_dir", type=str, default="./checkpoints")
        p.add_argument("--gpu_id", type=int, default=0)
        p.add_argument("--cache", type=str2bool, default=True)
        # architecture (eval_model.yaml keys in brackets)
        p.add_argument("--latent_dim", type=int, default=1024, help="motion tower width [LATENT_DIM]")
        p.add_argument("--num_layers", type=int, default=8, help="motion tower layers [NUM_LAYERS]")
        p.add_argument("--num_heads", type=int, default=8, help="motion tower heads [NUM_HEADS]")
        p.add_argument("--ff_size", type=int, default=2048, help="feed-forward size, both towers [FF_SIZE]")
        p.add_argument("--dropout", type=float, default=0.1, help="[DROPOUT]")
        p.add_argument("--text_encoder", type=str, default="clip", choices=["clip", "minilm"],
                       help="[TEXT_ENCODER] clip = official CLIP tokens + embedding table (from --clip_path "
                            "when given, else random); minilm = frozen bundled MiniLM token features")
        p.add_argument("--text_latent_dim", type=int, default=768, help="text tower width [TEXT_LATENT_DIM]")
        p.add_argument("--text_num_layers", type=int, default=8, help="[TEXT_NUM_LAYERS]")
        p.add_argument("--text_num_heads", type=int, default=8, help="[TEXT_NUM_HEADS]")
        p.add_argument("--emb_dim", type=int, default=512, help="joint embedding size [EMB_DIM]")
        p.add_argument("--clip_path", type=str, default=None,
                       help="CLIP ViT-L/14@336px weights file to initialise the token and positional "
                            "embeddings (clip text side, width 768); without it they start random")
        p.add_argument("--init_latent_scale", type=float, default=(1 / 0.07) ** 0.5,
                       help="initial latent_scale; logits = cosine * latent_scale^2 (CLIP's 1/0.07)")
        # optimisation
        p.add_argument("--batch_size", type=int, default=64,
                       help="per process; under torchrun the contrastive batch is batch_size x ranks")
        p.add_argument("--max_epoch", type=int, default=50)
        p.add_argument("--lr", type=float, default=1e-4)
        p.add_argument("--weight_decay", type=float, default=1e-2)
        p.add_argument("--warmup_iters", type=int, default=100, help="linear lr warm-up iterations")
        p.add_argument("--grad_clip", type=float, default=1.0, help="gradient norm clip (0 = off)")
        p.add_argument("--max_motion_length", type=int, default=300,
                       help="training crop length in frames (the evaluator still reads up to 300)")
        p.add_argument("--eval_batch_size", type=int, default=96,
                       help="R-precision pool for validation (96 = the InterHuman protocol)")
        p.add_argument("--seed", type=int, default=DEFAULT_SEED)
        p.add_argument("--is_continue", action="store_true", help="resume from model/latest.tar")
        p.add_argument("--log_every", type=int, default=50)
        add_project_args(p)

    def parse(self, argv=None):
        opt = self.parser.parse_args(argv)
        opt.is_train = True  # read by nothing; written to opt.txt / opt.yaml as the VQ and transformer runs do
        return opt
