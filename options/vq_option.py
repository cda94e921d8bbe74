"""VQ-VAE training options: every flag and default of the official `options/vq_option.py`, plus the
project flags (options/common.py) and a few of our own, marked (ours)."""
import argparse

from options.common import DEFAULT_SEED, add_project_args, str2bool


def arg_parse(is_train=True, argv=None):
    p = argparse.ArgumentParser(description="Train the two-person motion VQ-VAE")
    p.add_argument("--dataset_name", type=str, default="interhuman", choices=["interhuman", "interx"])
    p.add_argument("--motion_rep", type=str, default="smpl", help="unused for InterHuman (official)")
    p.add_argument("--batch_size", type=int, default=256)
    p.add_argument("--window_size", type=int, default=64)
    p.add_argument("--window_stride", type=int, default=10)
    p.add_argument("--gpu_id", type=int, default=0)
    p.add_argument("--cache", type=str2bool, default=True, help="unused by the VQ dataset (official)")
    p.add_argument("--max_epoch", type=int, default=50)
    p.add_argument("--warm_up_iter", type=int, default=None,
                   help="(ours) warm-up iterations; default a quarter epoch as the official code")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--milestones", type=float, nargs="+", default=[0.7, 0.85],
                   help="lr decay points as fractions of all iterations")
    p.add_argument("--gamma", type=float, default=0.1)
    p.add_argument("--weight_decay", type=float, default=0.0)
    p.add_argument("--commit", type=float, default=0.02)
    p.add_argument("--recons_loss", type=str, default="l1_smooth", choices=["l1_smooth", "l1"])
    p.add_argument("--loss_explicit", type=float, default=1)
    p.add_argument("--loss_vel", type=float, default=100)
    p.add_argument("--loss_bn", type=float, default=5)
    p.add_argument("--loss_geo", type=float, default=0.01)
    p.add_argument("--loss_fc", type=float, default=500)
    p.add_argument("--code_dim", type=int, default=512)
    p.add_argument("--nb_code", type=int, default=1024)
    p.add_argument("--mu", type=float, default=0.99)
    p.add_argument("--down_t", type=int, default=2)
    p.add_argument("--stride_t", type=int, default=2)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--dilation_growth_rate", type=int, default=3)
    p.add_argument("--output_emb_width", type=int, default=512)
    p.add_argument("--vq_act", type=str, default="relu", choices=["relu", "silu", "gelu"])
    p.add_argument("--vq_norm", type=str, default=None)
    p.add_argument("--num_quantizers", type=int, default=1)
    p.add_argument("--shared_codebook", action="store_true")
    p.add_argument("--quantize_dropout_prob", type=float, default=0.2)
    p.add_argument("--name", type=str, default="vq_default")
    p.add_argument("--is_continue", action="store_true")
    p.add_argument("--checkpoints_dir", type=str, default="./checkpoints")
    p.add_argument("--log_every", type=int, default=None, help="(ours) default len(loader)//10 as official")
    p.add_argument("--save_latest", type=int, default=None, help="(ours) default len(loader)//2 as official")
    p.add_argument("--save_every_e", type=int, default=1, help="unused (official)")
    p.add_argument("--eval_every_e", type=int, default=1)
    p.add_argument("--feat_bias", type=float, default=5, help="unused (official)")
    p.add_argument("--do_eval", action="store_true")
    p.add_argument("--test_batch_size", type=int, default=96, help="overridden by the dataset (official)")
    # ours
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="(ours) the official VQ trainer fixes no seed")
    p.add_argument("--gcn_all_frames", type=str2bool, default=False,
                   help="(quirk switch) False = official graph stage (messages only in sample 0, frame 0); "
                        "True = message passing in every frame of every sample (a different model)")
    p.add_argument("--extra_epoch", type=str2bool, default=True,
                   help="(quirk switch) True = official: max_epoch + 1 epochs are run (`while epoch <= "
                        "max_epoch`) with the lr milestones placed on max_epoch epochs, so the last epoch "
                        "runs at the final lr; False = exactly max_epoch epochs")
    p.add_argument("--max_iters", type=int, default=None, help="(ours) stop after this many iterations")
    p.add_argument("--eval_model_dir", type=str, default=None,
                   help="(ours) evaluator folder; default <checkpoints_dir>/eval_model (InterHuman) or "
                        "<checkpoints_dir>/hhi (Inter-X)")
    p.add_argument("--text_mirror", type=str, default="fixed", choices=["fixed", "official"],
                   help="(quirk switch) captions of mirrored training clips: fixed = whole-word, "
                        "case-keeping left<->right, clockwise<->counterclockwise; official = the "
                        "official substring replacement (counterclockwise -> "
                        "countercounterclockwise, bright -> bleft)")
    p.add_argument("--smplx_path", type=str, default="data/body_model/smplx/SMPLX_NEUTRAL.npz",
                   help="(ours) SMPL-X body model used by the Inter-X VQ losses (forward kinematics)")
    p.add_argument("--grad_accum", type=int, default=1,
                   help="(ours) micro-batches of --batch_size per optimiser step; --batch_size is per rank "
                        "under torchrun, the global batch is batch_size x ranks x grad_accum (official: 256)")
    add_project_args(p)
    opt = p.parse_args(argv)
    opt.is_train = is_train  # read by nothing; written to opt.txt / opt.yaml as the official trainer does
    return opt
