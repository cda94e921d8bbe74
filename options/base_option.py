"""Options shared by the transformer trainer, eval.py and infer.py (the official `BaseOptions`)."""
import argparse

from options.common import add_project_args, str2bool


class BaseOptions:
    def __init__(self):
        self.parser = argparse.ArgumentParser(description=self.__doc__)
        self.initialized = False

    def initialize(self):
        p = self.parser
        p.add_argument("--name", type=str, default="trans_default")
        p.add_argument("--vq_name", type=str, default="vq_default")
        p.add_argument("--gpu_id", type=int, default=0)
        p.add_argument("--dataset_name", type=str, default="interhuman", choices=["interhuman", "interx"])
        p.add_argument("--checkpoints_dir", type=str, default="./checkpoints")
        p.add_argument("--cache", type=str2bool, default=True)
        p.add_argument("--motion_rep", type=str, default="global", help="unused for InterHuman (official)")
        p.add_argument("--latent_dim", type=int, default=384)
        p.add_argument("--n_heads", type=int, default=6)
        p.add_argument("--n_layers", type=int, default=6)
        p.add_argument("--ff_size", type=int, default=1024)
        p.add_argument("--dropout", type=float, default=0.2)
        p.add_argument("--force_mask", action="store_true", help="unused (official)")
        # ours
        p.add_argument("--vq_which_epoch", type=str, default="best_fid",
                       help="(ours) VQ checkpoint stem under <ckpt>/<dataset>/<vq_name>/model/")
        p.add_argument("--text_encoder", type=str, default="clip", choices=["clip", "minilm"],
                       help="(ours) frozen text tower: official CLIP ViT-L/14@336px or the offline MiniLM")
        p.add_argument("--clip_path", type=str, default=None,
                       help="(ours) CLIP weights file; default <checkpoints_dir>/clip/ViT-L-14-336px.pt")
        p.add_argument("--max_motion_length", type=int, default=300,
                       help="(ours) InterHuman text-motion crop length in frames (official 300); training "
                            "on shorter crops is cheaper, generation still accepts up to 300")
        p.add_argument("--double_residual", type=str2bool, default=True,
                       help="(quirk switch) True = official spatio-temporal output 2x + attn_s + attn_t")
        p.add_argument("--cross_kv_pre_st", type=str2bool, default=True,
                       help="(quirk switch) True = official: cross-attention keys/values are the other "
                            "person's tokens before the spatio-temporal attention; False = after it")
        p.add_argument("--clip_dim", type=int, default=768,
                       help="(ours) width of the text feature and of the trainable text head (official 768, "
                            "CLIP's width; another value adds a projection in front of the head)")
        p.add_argument("--text_cache_mb", type=int, default=4096,
                       help="(ours) memory budget of the per-caption cache of frozen text-tower states")
        p.add_argument("--text_mirror", type=str, default="fixed", choices=["fixed", "official"],
                       help="(quirk switch) captions of mirrored training clips: fixed = whole-word, "
                            "case-keeping left<->right, clockwise<->counterclockwise; official = the "
                            "official substring replacement (counterclockwise -> "
                            "countercounterclockwise, bright -> bleft)")
        add_project_args(p)
        self.initialized = True

    def parse(self, argv=None):
        if not self.initialized:
            self.initialize()
        self.opt = self.parser.parse_args(argv)
        return self.opt
