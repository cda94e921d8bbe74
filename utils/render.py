"""Readable two-person videos: the default picture of infer.py (`--render readable`; the official
two-view stick figures of utils/plot_script.py stay available as `--render official`).

What a reader needs, and how it is drawn:
- main view: a perspective camera fixed over the whole clip (so motion across the floor shows), 20
  degrees above the floor, zoomed so that every joint of the clip just fits; of 24 directions around the
  pair it takes the one showing the people largest and least hidden behind each other (`choose_view`);
- thick limbs ordered by depth, thinner when further away, the person's left side a lighter tint,
  joints and head marked; person 1 blue, person 2 orange (Okabe-Ito, safe for colour-blind readers);
  a 0.5 m floor grid and the bodies' shadows on it;
- a view from above with both pelvis trajectories (travelled part solid, the rest faint) and the
  current skeletons, oriented like the main camera (its right is the main view's right);
- a ring where a wrist of one person is within 0.1 m of a wrist of the other, in both views;
- the time (seconds and frame number) and the caption.
Drawn with Pillow into one preallocated buffer, without anti-aliasing (drawing twice the size and
reducing cost more than the drawing itself, for edges the H.264 encoding softens anyway); the static
parts (floor, grid, faint paths, caption, legend) are drawn once per clip, each frame copies them and
draws the people. Timings against the official figure: docs/performance.md.
"""
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from data.skeleton import FPS, KINEMATIC_CHAIN, LEFT_CHAIN
from utils.plot_script import write_video

PERSON_RGB = ((0, 114, 178), (230, 159, 0))      # Okabe-Ito blue, orange
CONTACT_RGB = (204, 0, 102)                       # the hand-contact ring
BACKGROUND_RGB = (255, 255, 255)
FLOOR_RGB, GRID_RGB, SHADOW_RGB = (236, 238, 241), (205, 209, 215), (214, 217, 222)
TEXT_RGB = (30, 30, 30)
WRISTS = (20, 21)                                 # SMPL-22 left, right wrist
CONTACT_DIST = 0.1                                # metres between wrists of the two people
GRID_STEP = 0.5                                   # metres
HEAD_RADIUS = 0.09                                # metres around the head joint
ELEVATION_DEG = 20.0
BONES = [(c[i], c[i + 1]) for c in KINEMATIC_CHAIN for i in range(len(c) - 1)]   # 21 (parent, child)
LEFT = set(LEFT_CHAIN)


def hand_contact(people, dist=CONTACT_DIST):
    """Wrists of the two people within `dist`: ((T,) bool, (T, 3) midpoint of the closest wrist pair).
    One person: never."""
    n = min(len(j) for j in people)
    if len(people) < 2:
        return np.zeros(n, bool), np.zeros((n, 3))
    a, b = (np.asarray(j[:n, list(WRISTS)], np.float64) for j in people[:2])       # (T, 2, 3) each
    d = np.linalg.norm(a[:, :, None] - b[:, None], axis=-1).reshape(n, 4)            # (T, 4)
    k = d.argmin(axis=1)
    mid = 0.5 * (a[np.arange(n), k // 2] + b[np.arange(n), k % 2])                    # (T, 3)
    return d[np.arange(n), k] < dist, mid


def time_label(t, n, fps=FPS):
    """Frame t (0-based) of n: (its time in seconds, its frame number counted from 1)."""
    return f"{t / fps:.2f} s", f"frame {t + 1} of {n}"


def _checked(people, what):
    """People as float64 (T, 22, 3) arrays cut to the shortest; a one-line error names `what`."""
    if not 1 <= len(people) <= 2:
        raise ValueError(f"{what}: expected 1 or 2 people, got {len(people)}")
    for j in people:
        if np.ndim(j) != 3 or np.shape(j)[1:] != (22, 3):
            raise ValueError(f"{what}: joints must be (T, 22, 3), got shape {np.shape(j)}")
    n = min(len(j) for j in people)
    people = [np.asarray(j[:n], np.float64) for j in people]
    if n < 1 or not all(np.isfinite(j).all() for j in people):
        raise ValueError(f"{what}: no frames or joints not finite (NaN/inf)")
    return people


def _font(size):
    """DejaVu Sans (shipped with matplotlib, a dependency) at `size` pixels, else Pillow's default."""
    try:
        import matplotlib
        return ImageFont.truetype(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf"),
                                  size)
    except Exception:
        return ImageFont.load_default(size)


def _tint(rgb, k):
    """`rgb` mixed with white (k > 0) or black (k < 0) by |k|."""
    c = np.asarray(rgb, float)
    return tuple(int(round(v)) for v in (c + (255 - c) * k if k > 0 else c * (1 + k)))


def _wrap(text, font, width, max_lines=3):
    """Words of `text` in lines no wider than `width` pixels; at most `max_lines`, the last cut with '...'."""
    lines = []
    for word in text.split():
        if lines and font.getlength(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        while lines[-1] and font.getlength(lines[-1] + " ...") > width:
            lines[-1] = lines[-1].rsplit(" ", 1)[0] if " " in lines[-1] else lines[-1][:-1]
        lines[-1] += " ..."
    return lines


def _facing(joints):
    """(..., 22, 3) -> unit horizontal facing (..., 2) in (x, z): up x (right hip - left hip)."""
    across = joints[..., 2, :] - joints[..., 1, :]
    f = np.stack([across[..., 2], -across[..., 0]], axis=-1)
    return f / np.maximum(np.linalg.norm(f, axis=-1, keepdims=True), 1e-9)


class Camera:
    """Pinhole camera for the main view: world (..., 3) Y-up -> pixels (..., 2) and depth (...)."""

    def __init__(self, eye, target):
        self.eye = np.asarray(eye, float)
        self.fwd = (target - self.eye) / np.linalg.norm(target - self.eye)
        self.right = np.cross(self.fwd, [0.0, 1.0, 0.0])
        self.right /= np.linalg.norm(self.right)
        self.up = np.cross(self.right, self.fwd)
        self.focal, self.center = 1.0, np.zeros(2)

    def normalised(self, p):
        d = np.asarray(p, float) - self.eye
        z = np.maximum(d @ self.fwd, 1e-3)
        return np.stack([d @ self.right / z, -(d @ self.up) / z], axis=-1), z

    def project(self, p):
        xy, z = self.normalised(p)
        return self.center + self.focal * xy, z

    def fit(self, points, box, margin=0.05):
        """Zoom and shift so `points` (N, 3) just fill `box` (x0, y0, x1, y1) less `margin` a side."""
        xy, _ = self.normalised(points)
        lo, hi = xy.min(0), xy.max(0)
        size = np.array([box[2] - box[0], box[3] - box[1]], float) * (1 - 2 * margin)
        self.focal = float(np.min(size / np.maximum(hi - lo, 1e-6)))
        self.center = np.array([box[0] + box[2], box[1] + box[3]]) / 2 - self.focal * (lo + hi) / 2


def _camera(view, target, dist, points, box):
    """A camera looking along the horizontal unit (x, z) `view`, ELEVATION_DEG above the floor, `dist`
    from `target`, zoomed so that `points` (N, 3) fill `box`."""
    e = np.radians(ELEVATION_DEG)
    cam = Camera(target + dist * np.array([-np.cos(e) * view[0], np.sin(e), -np.cos(e) * view[1]]), target)
    cam.fit(points, box)
    return cam


def choose_view(people, target, dist, points, box, directions=24, frames=24):
    """The main camera's horizontal direction (x, z): of `directions` around the pair, the one showing
    the people largest and least hidden behind each other, on `frames` frames of the clip. Score: mean
    person height / box height x (1 - 0.6 x mean share of the narrower person's width covered by the
    other), + 0.03 for a view across the main axis of the pelvis paths, + 0.03 x how much the people
    face the camera, + 0.01 when person 1 is on the left."""
    ts = np.unique(np.linspace(0, len(people[0]) - 1, frames).astype(int))
    sampled = np.stack([j[ts] for j in people])                                        # (P, S, 22, 3)
    pelvis = np.concatenate([j[:, 0, [0, 2]] for j in people])                          # (N, 2)
    axis = np.linalg.svd(pelvis - pelvis.mean(0), full_matrices=False)[2][0]            # (2,)
    facing = _facing(sampled).mean(axis=(0, 1))                                          # (2,)
    best = (-np.inf, None)
    for a in np.arange(directions) * 2 * np.pi / directions:
        view = np.array([np.cos(a), np.sin(a)])
        q = _camera(view, target, dist, points, box).project(sampled)[0]               # (P, S, 22, 2)
        height = np.ptp(q[..., 1], axis=-1).mean() / (box[3] - box[1])
        hidden, bonus = 0.0, 0.03 * abs(view @ [-axis[1], axis[0]]) - 0.03 * (facing @ view)
        if len(people) == 2:
            lo, hi = q[..., 0].min(-1), q[..., 0].max(-1)                               # (2, S)
            covered = np.clip(hi.min(0) - lo.max(0), 0, None) / np.maximum((hi - lo).min(0), 1e-6)
            hidden = np.clip(covered, 0, 1).mean()
            bonus += 0.01 * (q[0, ..., 0].mean() < q[1, ..., 0].mean())
        score = height * (1 - 0.6 * hidden) + bonus
        if score > best[0] + 1e-9:
            best = (score, view)
    view = best[1]
    return view, np.array([-view[1], view[0]])


class ReadableRenderer:
    """Renders (T, 22, 3) Y-up joint sequences of one or two people to mp4 or gif.

    Build once, call `render(...)` for every clip. `figsize` (inches) x `dpi` gives the frame size
    (16 x 9 at 100 = 1600 x 900). After a clip, `main_box`, `top_box` and `info_box` hold the pixel
    boxes (x0, y0, x1, y1) of the main view, the view from above and the time."""

    def __init__(self, figsize=(16, 9), dpi=100):
        self.width = 2 * int(round(figsize[0] * dpi / 2))                # even: H.264 needs it
        self.height = 2 * int(round(figsize[1] * dpi / 2))
        self.unit = self.height / 900.0                                    # line widths scale with size
        self.fonts = {k: _font(max(6, int(self.height * f))) for k, f in
                      (("caption", 0.036), ("time", 0.05), ("small", 0.026))}
        self.buf = np.empty((self.height, self.width, 4), np.uint8)      # the frame drawn on
        self.img = Image.frombuffer("RGBA", (self.width, self.height), self.buf, "raw", "RGBA", 0, 1)
        self.img.readonly = 0                                              # draw into self.buf
        self.main_box = self.top_box = self.info_box = None

    def close(self):
        """Nothing to free (kept for the renderer interface infer.py uses)."""

    def _px(self, w):
        return max(1, int(round(w * self.unit)))

    # ------------------------------------------------------------------ per clip
    def _layout(self, caption):
        W, H = self.width, self.height
        pad = int(0.015 * H)
        lines = _wrap(caption, self.fonts["caption"], W - 2 * pad)
        line_h = int(self.fonts["caption"].size * 1.25)
        top = pad + line_h * max(1, len(lines)) + pad
        side = int(min(0.34 * W, H - top - 3 * pad - 5 * line_h))
        self.main_box = (pad, top, W - side - 2 * pad, H - pad)
        self.top_box = (W - side - pad, top + line_h, W - pad, top + line_h + side)
        self.info_box = (W - side - pad, self.top_box[3] + int(1.3 * line_h), W - pad, H - pad)
        return lines, line_h, pad

    def _scene(self, people, caption):
        """Camera, views and the static picture of one clip (joints floored at their lowest point)."""
        lines, line_h, pad = self._layout(caption)
        floor = min(float(j[..., 1].min()) for j in people)
        people = [j - [0.0, floor, 0.0] for j in people]
        allj = np.concatenate(people).reshape(-1, 3)                                   # (N, 3)
        lo, hi = allj.min(0), allj.max(0)
        target = (lo + hi) / 2
        dist = max(4.5, 1.5 * float(np.linalg.norm(hi - lo)))
        step = max(1, len(people[0]) // 60)
        framed = np.concatenate([j[::step].reshape(-1, 3) for j in people]                # the whole clip,
                                + [j[::step, 15] + [0, HEAD_RADIUS, 0] for j in people]   # heads,
                                + [target + [[0, -0.8, 0], [0, 0.8, 0]]])                 # >= 1.6 m tall
        view, right = choose_view(people, target, dist, framed, self.main_box)
        cam = _camera(view, target, dist, framed, self.main_box)
        e = np.radians(ELEVATION_DEG)
        v3, r3 = np.array([view[0], 0, view[1]]), np.array([right[0], 0, right[1]])
        # floor coordinates aligned with the camera: a to its right, b away from it, 0 at the target
        ab = lambda p: np.stack([(p - target) @ r3, (p - target) @ v3], -1)            # noqa: E731
        pts_ab = ab(allj)
        a0, b0 = np.floor((pts_ab.min(0) - 1.0) / GRID_STEP) * GRID_STEP
        a1, b1 = np.ceil((pts_ab.max(0) + 1.0) / GRID_STEP) * GRID_STEP
        b0 = max(b0, GRID_STEP * np.ceil((0.8 - dist * np.cos(e)) / GRID_STEP))      # in front of the eye
        world = lambda a, b: target * [1, 0, 1] + a * r3 + b * v3                      # noqa: E731
        mb = self.main_box
        main = Image.new("RGB", (mb[2] - mb[0], mb[3] - mb[1]), BACKGROUND_RGB)       # clips the floor
        dm = ImageDraw.Draw(main)
        proj = lambda pts: [tuple(q - mb[:2]) for q in cam.project(np.array(pts))[0]]  # noqa: E731
        dm.polygon(proj([world(a, b) for a, b in ((a0, b0), (a1, b0), (a1, b1), (a0, b1))]), fill=FLOOR_RGB)
        for a in np.arange(a0, a1 + 1e-6, GRID_STEP):
            dm.line(proj([world(a, b0), world(a, b1)]), fill=GRID_RGB, width=self._px(1))
        for b in np.arange(b0, b1 + 1e-6, GRID_STEP):
            dm.line(proj([world(a0, b), world(a1, b)]), fill=GRID_RGB, width=self._px(1))
        bg = Image.new("RGBA", (self.width, self.height), BACKGROUND_RGB)
        bg.paste(main, mb[:2])
        d = ImageDraw.Draw(bg)
        # top view: orthographic, the main camera at the bottom, at least 2 m across
        tb = np.array(self.top_box, float)
        span = np.maximum(pts_ab.max(0) - pts_ab.min(0) + 0.6, 2.0)
        scale = float(np.min((tb[2:] - tb[:2]) / span.max()))
        mid_ab, centre_px = (pts_ab.max(0) + pts_ab.min(0)) / 2, (tb[:2] + tb[2:]) / 2

        def top_ab(q):
            q = q - mid_ab
            return np.stack([centre_px[0] + scale * q[..., 0], centre_px[1] - scale * q[..., 1]], -1)

        d.rectangle(tuple(tb), fill=FLOOR_RGB)
        half = (tb[2:] - tb[:2]) / 2 / scale
        for k in (0, 1):
            for v in np.arange(np.ceil((mid_ab[k] - half[k]) / GRID_STEP) * GRID_STEP, mid_ab[k] + half[k],
                               GRID_STEP):
                ends = np.array([mid_ab, mid_ab], float)
                ends[:, k], ends[:, 1 - k] = v, mid_ab[1 - k] + np.array([-1, 1]) * half[1 - k]
                d.line([tuple(q) for q in top_ab(ends)], fill=GRID_RGB, width=self._px(1))
        top = lambda p: top_ab(ab(p))                                                  # noqa: E731
        paths = [top(j[:, 0]) for j in people]                                         # (T, 2) each
        for p, path in enumerate(paths):
            d.line([tuple(q) for q in path], fill=_tint(PERSON_RGB[p], 0.6), width=self._px(3), joint="curve")
        small = self.fonts["small"]
        d.text((tb[0], tb[1] - 0.2 * line_h), "from above (main camera below), grid 0.5 m", font=small,
               fill=TEXT_RGB, anchor="lb")
        for k, line in enumerate(lines):
            d.text((self.width / 2, pad + k * line_h), line, font=self.fonts["caption"], fill=TEXT_RGB,
                   anchor="ma")
        x, y, r = tb[0], tb[3] + 0.6 * line_h, small.size * 0.45                        # the legend
        for p in range(len(people)):
            d.ellipse((x, y - r, x + 2 * r, y + r), fill=PERSON_RGB[p])
            d.text((x + 3 * r, y), f"person {p + 1}", font=small, fill=TEXT_RGB, anchor="lm")
            x += 5 * r + small.getlength(f"person {p + 1}")
        if len(people) > 1:
            d.ellipse((x, y - r, x + 2 * r, y + r), outline=CONTACT_RGB, width=max(2, int(r / 2.5)))
            d.text((x + 3 * r, y), "hands < 10 cm", font=small, fill=TEXT_RGB, anchor="lm")
        contact, where = hand_contact(people)
        return dict(bg=np.asarray(bg), cam=cam, people=people, top=top, paths=paths, scale=scale,
                    contact=contact, where=where)

    # ------------------------------------------------------------------ per frame
    def _draw_people(self, d, sc, t):
        """Shadows, then bones, joints and heads of both people from the furthest to the nearest."""
        cam = sc["cam"]
        base_w = max(2.0, 0.011 * (self.main_box[3] - self.main_box[1]))
        for j in sc["people"]:
            q, _ = cam.project(j[t] * [1, 0, 1])
            for a, b in BONES:
                d.line([tuple(q[a]), tuple(q[b])], fill=SHADOW_RGB, width=int(base_w * 0.6))
        projected = [cam.project(j[t]) for j in sc["people"]]                           # (22, 2), (22,)
        z_ref = float(np.median(np.concatenate([z for _, z in projected])))
        items = []
        for p, (q, z) in enumerate(projected):
            col, light, dark = PERSON_RGB[p], _tint(PERSON_RGB[p], 0.45), _tint(PERSON_RGB[p], -0.45)
            for a, b in BONES:
                zm = (z[a] + z[b]) / 2
                items.append((zm, 0, (q[a], q[b]), light if b in LEFT else col, base_w * z_ref / zm, None))
            for k in range(22):
                if k != 15:
                    items.append((z[k] - 1e-3, 1, q[k], dark, 0.62 * base_w * z_ref / z[k], None))
            items.append((z[15] - 1e-3, 1, q[15], col, cam.focal * HEAD_RADIUS / z[15], dark))
        for _, kind, geo, col, w, outline in sorted(items, key=lambda it: -it[0]):
            if kind == 0:
                d.line([tuple(geo[0]), tuple(geo[1])], fill=col, width=max(1, int(w)))
                for x, y in geo:
                    d.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=col)
            else:
                (x, y), width = geo, 0 if outline is None else max(1, int(0.2 * base_w))
                d.ellipse((x - w, y - w, x + w, y + w), fill=col, outline=outline, width=width)

    def _draw_top(self, d, sc, t):
        """Travelled pelvis paths, skeletons from above, pelvis dots with a facing tick."""
        top, r = sc["top"], max(self._px(5), 0.08 * sc["scale"])
        for p, j in enumerate(sc["people"]):
            col = PERSON_RGB[p]
            if t > 0:
                d.line([tuple(q) for q in sc["paths"][p][:t + 1]], fill=col, width=self._px(4), joint="curve")
            q = top(j[t])                                                               # (22, 2)
            for a, b in BONES:
                d.line([tuple(q[a]), tuple(q[b])], fill=col, width=self._px(3))
            f = _facing(j[t])
            tip = top(j[t, 0] + 0.35 * np.array([f[0], 0, f[1]]))
            d.line([tuple(q[0]), tuple(tip)], fill=_tint(col, -0.45), width=self._px(4))
            d.ellipse((q[0, 0] - r, q[0, 1] - r, q[0, 0] + r, q[0, 1] + r), fill=col, outline=_tint(col, -0.45),
                      width=self._px(2))

    def _draw_contact(self, d, sc, t):
        """A ring around the closest pair of wrists, in both views."""
        (x, y), z = sc["cam"].project(sc["where"][t])
        r = max(self._px(10), sc["cam"].focal * 0.09 / z)
        w = max(self._px(3), int(r / 4))
        d.ellipse((x - r - w, y - r - w, x + r + w, y + r + w), outline=BACKGROUND_RGB, width=self._px(2))
        d.ellipse((x - r, y - r, x + r, y + r), outline=CONTACT_RGB, width=w)
        x, y = sc["top"](sc["where"][t])
        r = max(self._px(8), 0.1 * sc["scale"])
        d.ellipse((x - r, y - r, x + r, y + r), outline=CONTACT_RGB, width=max(self._px(3), int(r / 4)))

    def frames(self, people, caption, fps=FPS, what="render", copy=True):
        """Yield (H, W, 4) uint8 RGBA frames for min(T) frames of `people` (list of (T, 22, 3)).
        copy=False yields the drawing buffer itself, valid until the next frame (for the writers)."""
        people = _checked(people, what)
        n = len(people[0])
        sc = self._scene(people, caption)
        big, small, d = self.fonts["time"], self.fonts["small"], ImageDraw.Draw(self.img)
        x, y = self.info_box[:2]
        for t in range(n):
            np.copyto(self.buf, sc["bg"])
            self._draw_people(d, sc, t)
            self._draw_top(d, sc, t)
            seconds, frame = time_label(t, n, fps)
            d.text((x, y), seconds, font=big, fill=TEXT_RGB)
            d.text((x + big.getlength(seconds) + small.size, y + big.size - small.size), frame, font=small,
                   fill=TEXT_RGB)
            if sc["contact"][t]:
                self._draw_contact(d, sc, t)
                d.text((x, y + 1.4 * big.size), "hands within 10 cm", font=small, fill=CONTACT_RGB)
            yield self.buf.copy() if copy else self.buf

    def render(self, path, people, caption, fps=FPS, fmt=None):
        """Write the clip to `path` (format from `fmt` or the extension: mp4 or gif)."""
        frames = self.frames(people, caption, fps=fps, what=f"render {path}", copy=False)
        return write_video(path, frames, fps, fmt)


def make_renderer(kind="readable", dpi=100):
    """infer.py's `--render`: 'readable' (this module) or 'official' (utils/plot_script.py)."""
    if kind == "readable":
        return ReadableRenderer(dpi=dpi)
    if kind == "official":
        from utils.plot_script import StickFigureRenderer
        return StickFigureRenderer(dpi=dpi)
    raise ValueError(f"--render {kind!r}: expected 'readable' or 'official'")
