"""Options of infer.py: the evaluation options plus the generation controls users ask for."""
from options.common import str2bool
from options.eval_option import EvalT2MOptions


class InferOptions(EvalT2MOptions):
    """Generate two-person interactions from text"""

    def initialize(self):
        super().initialize()
        p = self.parser
        p.add_argument("--prompts_file", type=str, default="./prompts.txt",
                       help="one prompt per line; 'prompt#seconds' or 'prompt#Nf' sets its length")
        p.add_argument("--text", type=str, default=None, help="a single prompt instead of the file")
        p.add_argument("--motion_length", type=str, default="90f",
                       help="default length: seconds ('3', '3s') or frames ('90f'); official 90 frames")
        p.add_argument("--num_samples", type=int, default=1)
        p.add_argument("--react_to", type=str, default=None,
                       help="person-1 motion (.npy, 262-d features or (T,22,9) keypoints): generate person 2")
        p.add_argument("--edit", type=str, default=None, help="an interaction (.npy pair) to edit")
        p.add_argument("--edit_span", type=float, nargs=2, default=None, metavar=("START", "END"),
                       help="time span in seconds to regenerate")
        p.add_argument("--format", type=str, default="mp4", choices=["mp4", "gif", "none"])
        p.add_argument("--bvh", type=str2bool, default=True, help="also write BVH files")
        p.add_argument("--out_dir", type=str, default=None,
                       help="default <ckpt>/<dataset>/<name>/animation_infer")
        # ours (appended by the infer.py component)
        p.add_argument("--edit_person", type=str, default="both", choices=["both", "person1", "person2"],
                       help="(ours) with --edit: whose motion inside --edit_span is regenerated")
        p.add_argument("--bvh_rotations", type=str, default="fit", choices=["fit", "6d"],
                       help="(ours) BVH joint rotations: fitted to the generated joint positions (the BVH "
                            "shows what the video shows), or the generated 6D rotations")
        p.add_argument("--bvh_units", type=str, default="m", choices=["m", "cm"], help="(ours) BVH units")
        p.add_argument("--foot_ik", type=str2bool, default=True,
                       help="(ours) also write the official ik_ (foot clean-up) npy and video")
        p.add_argument("--save_feats", type=str2bool, default=True,
                       help="(ours) also write feats/<base>.npy (T, 2, 262) de-normalised features "
                            "(exact input for --edit / --react_to)")
        p.add_argument("--render", type=str, default="readable", choices=["readable", "official"],
                       help="(ours) video picture: readable = one framed view with thick limbs, a view from "
                            "above with the pelvis paths, a hand-contact marker and the time; official = "
                            "the official two-view stick figures")
        p.add_argument("--video_dpi", type=int, default=100,
                       help="(ours) video resolution: readable 16x9 inches, official 20x10 inches at this "
                            "dpi (100 = 1600x900 / 2000x1000)")
