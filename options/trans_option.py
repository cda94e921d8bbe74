"""Transformer training options (the official `TrainT2MOptions`) plus ours, marked (ours)."""
from options.base_option import BaseOptions
from options.common import DEFAULT_SEED, str2bool


def _length_split(value):
    """argparse type of --length_split: "auto" or an integer >= 1 (clean usage error otherwise)."""
    import argparse
    from utils.cli import parse_length_split
    try:
        return parse_length_split(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class TrainT2MOptions(BaseOptions):
    """Train the Inter-M masked transformer"""

    def initialize(self):
        super().initialize()
        p = self.parser
        p.add_argument("--batch_size", type=int, default=52)
        p.add_argument("--max_epoch", type=int, default=500)
        p.add_argument("--lr", type=float, default=2e-4)
        p.add_argument("--weight_decay", type=float, default=1e-5)
        p.add_argument("--warm_up_iter", type=int, default=None, help="(ours) default a quarter epoch")
        p.add_argument("--milestones", type=float, nargs="+", default=[0.5, 0.7, 0.85])
        p.add_argument("--step_unroll", type=float, default=1)
        p.add_argument("--interaction_mask_prob", type=float, default=0.2)
        p.add_argument("--output_swap", type=str, default="official", choices=["official", "off"],
                       help="(quirk switch) InterHuman training pairs (evaluation keeps the official order): official = the two people are "
                            "returned in random order (a coin per item, as InterGen does), so the model "
                            "cannot tell which one stands at the origin; off = the reference person (the "
                            "one whose first frame defines the frame) always comes first. The coin is "
                            "drawn either way, so every other random draw is unchanged")
        p.add_argument("--person_embedding", type=str2bool, default=False,
                       help="(ours) add a learned embedding per person to the token maps (not in the "
                            "official model); use with --output_swap off, so that person 1 is the reference")
        p.add_argument("--gamma", type=float, default=1 / 3)
        p.add_argument("--cond_drop_prob", type=float, default=0.1)
        p.add_argument("--seed", type=int, default=DEFAULT_SEED)
        p.add_argument("--is_continue", action="store_true")
        p.add_argument("--gumbel_sample", action="store_true", help="unused (official)")
        p.add_argument("--log_every", type=int, default=None, help="(ours) default len(loader)//10")
        p.add_argument("--save_latest", type=int, default=None, help="(ours) default len(loader)//2")
        p.add_argument("--eval_every_e", type=int, default=10)
        p.add_argument("--do_eval", action="store_true")
        p.add_argument("--test_batch_size", type=int, default=96)
        # ours
        p.add_argument("--grad_accum", type=int, default=1,
                       help="(ours) micro-batches per optimiser step; effective batch = "
                            "batch_size x grad_accum x ranks (the official numbers need 52)")
        p.add_argument("--detect_anomaly", type=str2bool, default=False,
                       help="(ours) the official trainer leaves anomaly detection on (slow)")
        p.add_argument("--max_iters", type=int, default=None, help="(ours) stop after this many iterations")
        p.add_argument("--eval_model_dir", type=str, default=None, help="(ours) evaluator folder")
        p.add_argument("--vq_token_cache", type=str2bool, default=True,
                       help="(ours) cache the VQ ids of every person motion (each new motion is encoded "
                            "behind a dummy sample, never at batch position 0); False = encode every "
                            "batch as the official trainer does")
        p.add_argument("--length_buckets", type=int, default=0,
                       help="(ours) 0 = the official random batches. N > 0: length bucketing, each global batch "
                            "holds clips of similar length (pools of N global batches of the epoch permutation "
                            "sorted by length, batch order shuffled per epoch), so batches pad less and an epoch "
                            "costs less (the network runs up to each batch's longest clip). Trade-off: batches "
                            "are less random, and as the loss is a token mean per batch, short clips weigh more "
                            "than in mixed batches; larger N = tighter buckets. Keep it when resuming mid-epoch")
        p.add_argument("--length_split", type=_length_split, default="auto",
                       help="(ours) how each micro-batch runs: as parts of clips sorted by length, each cropped to "
                            "its own longest clip, with the loss weighted as one batch: the same batches and "
                            "gradients (up to float order and the order of dropout draws), less padding. auto "
                            "(default) = cut where a cost model says it saves work (a batch of equal lengths "
                            "stays whole; only on CPU, where it was measured); N = N parts of equal count; 1 = off")

    def parse(self, argv=None):
        opt = super().parse(argv)
        opt.is_train = True  # read by nothing; written to opt.txt / opt.yaml as the official trainer does
        return opt
