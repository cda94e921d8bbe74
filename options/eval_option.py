"""Options of eval.py and infer.py (the official `EvalT2MOptions`) plus ours, marked (ours).

Model-defining options (sizes, text encoder, quirk switches) are re-read from the run's opt.yaml /
opt.txt, so the flags here only choose what to evaluate and how."""
from options.base_option import BaseOptions
from options.common import str2bool


class EvalT2MOptions(BaseOptions):
    """Evaluate or sample a trained InterMask model"""

    def initialize(self):
        super().initialize()
        p = self.parser
        p.add_argument("--use_trans", type=str2bool, default=True,
                       help="False = VQ reconstruction evaluation (--name is then the VQ run)")
        p.add_argument("--which_epoch", type=str, default="best_fid",
                       help="substring filter on checkpoint file names; 'all' = every file")
        p.add_argument("--batch_size", type=int, default=None,
                       help="evaluation batch; default 96 (InterHuman) / 32 (Inter-X) as official")
        p.add_argument("--save_vis", type=str2bool, default=False)
        p.add_argument("--gen_react", action="store_true")
        p.add_argument("--mm_num_samples", type=int, default=100)
        p.add_argument("--mm_num_repeats", type=int, default=30)
        p.add_argument("--mm_num_times", type=int, default=10)
        p.add_argument("--diversity_times", type=int, default=300)
        p.add_argument("--replication_times", type=int, default=20)
        p.add_argument("--cond_scales", type=float, nargs="+", default=[2.0])
        p.add_argument("--temperature", type=float, default=1.0)
        p.add_argument("--topkr", type=float, nargs="+", default=[0.9],
                       help="top-k filter ratios (a list; the official flag could not be set)")
        p.add_argument("--time_steps", type=int, nargs="+", default=[20])
        p.add_argument("--gumbel_sample", action="store_true")
        # ours
        p.add_argument("--seed", type=int, default=None, help="(ours) default: the run's training seed")
        p.add_argument("--gen_batch_size", type=int, default=32, help="(ours) generation batch")
        p.add_argument("--gen_length_split", type=int, default=1,
                       help="(ours) 1 = off. N > 1: each generation batch runs as N parts of similar length (less "
                            "padding, faster; other random draws per sample than with 1, the same distribution)")
        p.add_argument("--multimodality_convention", type=str, default="intermask",
                       choices=["intermask", "intergen"],
                       help="intermask = official (x6, /2: 3x InterGen's formula); intergen = InterGen's")
        p.add_argument("--temperature_on_logits", type=str2bool, default=False,
                       help="(quirk switch) False = official (temperature has no effect); "
                            "True = divide the logits by --temperature")
        p.add_argument("--react_half_steps", type=str2bool, default=True,
                       help="(quirk switch) True = official reaction generation runs time_steps//2 steps")
        p.add_argument("--eval_model_dir", type=str, default=None,
                       help="(ours) evaluator folder; default <checkpoints_dir>/eval_model or /hhi")
        p.add_argument("--split", type=str, default="test", help="(ours) dataset split to evaluate on")
        p.add_argument("--log_time", type=str2bool, default=True,
                       help="(ours) write the official 'Time: <now>' lines; False makes two runs with one "
                            "seed give byte-identical logs")
        p.add_argument("--recon_per_sample", type=str2bool, default=True,
                       help="(ours) --use_trans False: reconstruct each sample alone at its own length, as "
                            "the official batch-1 loop (the VQ's graph quirk makes results depend on the "
                            "batch); False = batches of --gen_batch_size (faster, slightly different)")
