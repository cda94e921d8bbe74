"""Two-person stick-figure videos (the official `plot_3d_motion_2views`) and the official keypoint
export (`preprocess_plot_motion`), working with current matplotlib.

Same picture as the official code: a 20x10 figure with two 3D views (the right one turned 110 degrees
about the vertical), axes x in [-2, 2], y and z in [0, 2], a grey floor quad, person 0 orange and
person 1 green, the 5 SMPL chains as lines of width 2, the caption wrapped every 10 words as title,
30 fps. Faster than the official one: one figure is built per renderer and reused for every clip,
frames are drawn by updating the line artists (set_data_3d), and pixels are piped straight to the
ffmpeg binary of `imageio-ffmpeg` (mp4) or collected for Pillow (gif).
"""
import os

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from data.skeleton import CONTACT, KINEMATIC_CHAIN, POS, ROT, FPS

PERSON_COLORS = ("orange", "green")
VIEW_TURN_DEG = 110.0   # the right view: every joint turned about the vertical axis
LIMITS = {"x": (-2.0, 2.0), "y": (0.0, 2.0), "z": (0.0, 2.0)}
FLOOR_HALF = 3.0


class VideoBackendError(RuntimeError):
    """Neither writer for the requested format is available."""


def wrap_title(caption, words_per_line=10):
    """The caption with a line break every `words_per_line` words (official: 10)."""
    words = caption.split(" ")
    return "\n".join(" ".join(words[i:i + words_per_line]) for i in range(0, len(words), words_per_line))


def smooth_joints(joints, sigma=1.0):
    """Gaussian smoothing over time (axis 0), mode 'nearest' (official: sigma 1)."""
    return gaussian_filter1d(joints, sigma=sigma, axis=0, mode="nearest")


class StickFigureRenderer:
    """Renders (T, 22, 3) Y-up joint sequences of up to two people to mp4 or gif.

    Build once, call `render(...)` for every clip: the figure and its 2 x 2 x 5 line artists are
    created once and only their data change."""

    def __init__(self, figsize=(20, 10), dpi=100, num_people=2, kinematic_tree=KINEMATIC_CHAIN):
        import matplotlib
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
        from mpl_toolkits.mplot3d.art3d import Poly3DCollection

        self.tree = [list(c) for c in kinematic_tree]
        self.fig = plt.figure(figsize=figsize, dpi=dpi)
        self.axes = [self.fig.add_subplot(1, 2, k + 1, projection="3d") for k in range(2)]
        f = FLOOR_HALF
        for ax in self.axes:
            ax.set_xlim3d(*LIMITS["x"])
            ax.set_ylim3d(*LIMITS["y"])
            ax.set_zlim3d(*LIMITS["z"])
            ax.view_init(elev=120, azim=270)
            ax.set_box_aspect(None, zoom=10.0 / 15.0)   # the official `ax.dist = 15` (default 10)
            ax.grid(False)
            ax.set_axis_off()
            quad = [[-f, 0, -f], [-f, 0, f], [f, 0, f], [f, 0, -f]]
            ax.add_collection3d(Poly3DCollection([quad], facecolors=(0.5, 0.5, 0.5, 0.5),
                                                 edgecolors="none"))
        # lines[view][person][chain]
        self.lines = [[[ax.plot([], [], [], color=PERSON_COLORS[p % 2], linewidth=2.0)[0]
                        for _ in self.tree] for p in range(num_people)] for ax in self.axes]
        self.title = self.fig.suptitle("", fontsize=20)
        self.turn = Rotation.from_euler("y", VIEW_TURN_DEG, degrees=True)

    def close(self):
        import matplotlib.pyplot as plt
        plt.close(self.fig)

    def _views(self, people):
        """Per view, per person (T, 22, 3), floored at the person's own lowest point."""
        floored = []
        for j in people:
            j = np.asarray(j, dtype=np.float64).copy()
            j[..., 1] -= j[..., 1].min()
            floored.append(j)
        turned = [self.turn.apply(j.reshape(-1, 3)).reshape(j.shape) for j in floored]
        return [floored, turned]

    def frames(self, people, caption):
        """Yield (H, W, 4) uint8 RGBA frames for min(T) frames of `people` (list of (T, 22, 3)).
        RGBA because that is the canvas' own layout: one flat copy per frame, no channel slicing."""
        if not 1 <= len(people) <= len(self.lines[0]):
            raise ValueError(f"plot: expected 1..{len(self.lines[0])} people, got {len(people)}")
        for j in people:
            if np.ndim(j) != 3 or np.shape(j)[-1] != 3:
                raise ValueError(f"plot: joints must be (T, J, 3), got shape {np.shape(j)}")
        n = min(len(j) for j in people)
        views = self._views(people)
        self.title.set_text(wrap_title(caption))
        for v in range(2):
            for p in range(len(self.lines[v])):
                for line in self.lines[v][p]:
                    line.set_visible(p < len(people))
        for t in range(n):
            for v, view in enumerate(views):
                for p, joints in enumerate(view):
                    for line, chain in zip(self.lines[v][p], self.tree):
                        pts = joints[t, chain]                               # (len(chain), 3)
                        line.set_data_3d(pts[:, 0], pts[:, 1], pts[:, 2])
            self.fig.canvas.draw()
            buf = self.fig.canvas.buffer_rgba()
            h, w = buf.shape[:2]
            yield np.frombuffer(bytes(buf), dtype=np.uint8).reshape(h, w, 4)   # (H, W, 4) copy

    def render(self, path, people, caption, fps=FPS, fmt=None):
        """Write the clip to `path` (format from `fmt` or the extension: mp4 or gif)."""
        return write_video(path, self.frames(people, caption), fps, fmt)


def write_video(path, frames, fps=FPS, fmt=None):
    """Write (H, W, 3 or 4) uint8 frames to `path` as mp4 or gif (from `fmt` or the extension)."""
    fmt = (fmt or os.path.splitext(path)[1].lstrip(".")).lower()
    if fmt not in ("mp4", "gif"):
        raise ValueError(f"plot: unknown video format {fmt!r} for {path} (mp4 or gif)")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    (_write_mp4 if fmt == "mp4" else _write_gif)(path, frames, fps)
    return path


def _write_mp4(path, frames, fps):
    """Pipe RGB or RGBA frames into the ffmpeg binary shipped by imageio-ffmpeg (H.264, yuv420p; preset
    veryfast: half the encoding time of the default for files of about the same size)."""
    try:
        import imageio_ffmpeg
        imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as e:
        raise VideoBackendError(f"mp4 output needs the ffmpeg of imageio-ffmpeg "
                                f"(pip install imageio-ffmpeg) or use --format gif: {e}") from e
    first = next(frames)
    h, w = first.shape[:2]
    tmp = f"{path}.tmp{os.getpid()}.mp4"
    pix_fmt_in = "rgb24" if first.shape[2] == 3 else "rgba"
    writer = imageio_ffmpeg.write_frames(tmp, (w, h), fps=fps, codec="libx264", pix_fmt_in=pix_fmt_in,
                                         pix_fmt_out="yuv420p", macro_block_size=2,
                                         ffmpeg_log_level="error", output_params=["-preset", "veryfast"])
    writer.send(None)
    try:
        writer.send(first)
        for f in frames:
            writer.send(f)
    finally:
        writer.close()
    os.replace(tmp, path)


def _write_gif(path, frames, fps):
    """Animated GIF through Pillow. GIF counts time in 10 ms units, so frame durations cycle
    30, 30, 40 ms to average 1000/30 ms at 30 fps (other rates: rounded per frame, same idea)."""
    try:
        from PIL import Image
    except Exception as e:
        raise VideoBackendError(f"gif output needs Pillow (pip install Pillow) or use --format mp4: "
                                f"{e}") from e
    frames = iter(frames)
    first = Image.fromarray(next(frames)).convert("RGB")
    palette = first.quantize(colors=64, method=Image.Quantize.FASTOCTREE)  # one palette: no flicker
    images = [first.quantize(palette=palette, dither=Image.Dither.NONE)]
    images += [Image.fromarray(f).convert("RGB").quantize(palette=palette, dither=Image.Dither.NONE)
               for f in frames]
    ends = np.round(np.arange(1, len(images) + 1) * 100.0 / fps)          # centiseconds
    durations = (np.diff(np.concatenate([[0], ends])) * 10).astype(int).tolist()
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)


def plot_3d_motion_2views(save_path, kinematic_tree, mp_joints, title, figsize=(20, 10), fps=FPS,
                          dpi=100, renderer=None):
    """The official entry point: `mp_joints` = list of (T, 22, 3) per person."""
    own = renderer is None
    renderer = renderer or StickFigureRenderer(figsize=figsize, dpi=dpi, kinematic_tree=kinematic_tree)
    try:
        return renderer.render(save_path, mp_joints, title, fps=fps)
    finally:
        if own:
            renderer.close()


def keypoints_from_features(features, smooth=True):
    """(T, 262) de-normalised features -> (T, 22, 9): [positions (smoothed, sigma 1) | 6D rotations
    with a zero root], the official keypoint_npy content."""
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[1] < CONTACT.start:
        raise ValueError(f"expected (T, 262) features, got shape {features.shape}")
    joints = features[:, POS].reshape(len(features), 22, 3)                   # (T, 22, 3)
    if smooth:
        joints = smooth_joints(joints)
    rot6d = features[:, ROT].reshape(len(features), 21, 6)                    # (T, 21, 6)
    rot6d = np.concatenate([np.zeros_like(rot6d[:, :1]), rot6d], axis=1)      # (T, 22, 6)
    return np.concatenate([joints, rot6d], axis=-1).astype(np.float32)


def preprocess_plot_motion(motions, caption, vis_dir, npy_dir, name, foot_ik=True, fmt="mp4",
                           renderer=None, fps=FPS):
    """Save keypoints and videos of one interaction as the official code names them.

    motions: (T, 2, 262) de-normalised (or a list of two (T, 262)). Writes
    `<npy_dir>/<name>_<j>.npy` (T, 22, 9), with foot_ik also `<npy_dir>/ik_<name>_<j>.npy` (foot
    clean-up, then smoothed again), and `<vis_dir>/<name>.<fmt>` (+ `ik_<name>.<fmt>`) unless fmt is
    'none'. Unlike the official code the plain video shows the raw (smoothed) joints, not the
    foot-fixed ones (the official in-place bug). Returns {"npy": [...], "video": [...]} paths."""
    from utils.remove_fs import remove_fs

    people = [motions[:, j] for j in range(2)] if isinstance(motions, np.ndarray) else list(motions)
    os.makedirs(npy_dir, exist_ok=True)
    out = {"npy": [], "video": [], "keypoints": [], "ik_keypoints": []}
    for j, feats in enumerate(people):
        kp = keypoints_from_features(feats)                                  # (T, 22, 9)
        p = os.path.join(npy_dir, f"{name}_{j}.npy")
        np.save(p, kp)
        out["npy"].append(p)
        out["keypoints"].append(kp)
        if foot_ik:
            fixed, _ = remove_fs(kp[..., :3])
            ik = np.concatenate([smooth_joints(fixed), kp[..., 3:]], axis=-1).astype(np.float32)
            p = os.path.join(npy_dir, f"ik_{name}_{j}.npy")
            np.save(p, ik)
            out["npy"].append(p)
            out["ik_keypoints"].append(ik)
    if fmt != "none":
        own = renderer is None
        renderer = renderer or StickFigureRenderer()
        try:
            os.makedirs(vis_dir, exist_ok=True)
            sets = [("", out["keypoints"])] + ([("ik_", out["ik_keypoints"])] if foot_ik else [])
            for prefix, kps in sets:
                path = os.path.join(vis_dir, f"{prefix}{name}.{fmt}")
                renderer.render(path, [k[..., :3] for k in kps], caption, fps=fps, fmt=fmt)
                out["video"].append(path)
        finally:
            if own:
                renderer.close()
    return out
