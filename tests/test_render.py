"""The readable picture (utils/render.py), checked on rendered pixels: both people visible and tall in
the main view, the hand-contact ring exactly when wrists are within 0.1 m, the pelvis paths from above,
the time label; infer.py's use of it is checked in tests/test_infer.py."""
import numpy as np
import pytest

from utils.render import (CONTACT_RGB, PERSON_RGB, ReadableRenderer, _tint, hand_contact,
                          make_renderer, time_label)


def _clip(kind, seed=3):
    """A ground-truth clip of the embedded synthetic dataset: two (T, 22, 3) Y-up joint arrays."""
    from data.synthetic.choreography import generate_clip
    clip = generate_clip(kind, seed)
    return [p["pos"] for p in clip.people], clip.captions[0]


def _is(frame, rgb):
    """(H, W) mask of the pixels of exactly colour `rgb` (shapes are drawn without anti-aliasing)."""
    return (frame[..., 0] == rgb[0]) & (frame[..., 1] == rgb[1]) & (frame[..., 2] == rgb[2])


def _person(frame, p):
    """Pixels of person p: limbs (full and left-side tint) and joints (dark tint)."""
    col = PERSON_RGB[p]
    return _is(frame, col) | _is(frame, _tint(col, 0.45)) | _is(frame, _tint(col, -0.45))


def _crop(frame, box):
    return frame[box[1]:box[3], box[0]:box[2]]


def _wrist_distance(people):
    """(T,) smallest distance between a wrist of person 1 and a wrist of person 2 (computed here)."""
    a, b = people
    return np.min([np.linalg.norm(a[:, i] - b[:, j], axis=-1) for i in (20, 21) for j in (20, 21)], axis=0)


@pytest.fixture(scope="module")
def handshake():
    people, caption = _clip("handshake")
    r = ReadableRenderer(dpi=50)                     # 800 x 450: fast
    frames = list(r.frames(people, caption))
    return people, frames, r.main_box, r.top_box, r.info_box


@pytest.mark.parametrize("kind", ["handshake", "hug"])
def test_both_people_visible_and_tall_at_the_default_size(kind):
    people, caption = _clip(kind)
    r = ReadableRenderer()                           # the default: 1600 x 900
    frames = list(r.frames([j[::15] for j in people], caption))
    assert frames[0].shape == (900, 1600, 4)
    height = r.main_box[3] - r.main_box[1]
    for frame in frames:
        main = _crop(frame, r.main_box)
        assert not (_is(main, PERSON_RGB[0]) & _is(main, PERSON_RGB[1])).any()    # two different colours
        for p in (0, 1):
            assert _is(main, PERSON_RGB[p]).sum() > 2000, (kind, p)
            rows = np.flatnonzero(_person(main, p).any(axis=1))
            assert (rows[-1] - rows[0] + 1) / height >= 0.4, (kind, p, (rows[-1] - rows[0] + 1) / height)


def test_person_one_left_in_the_main_view(handshake):
    _, frames, main_box, _, _ = handshake
    main = _crop(frames[0], main_box)
    cols = [np.flatnonzero(_person(main, p).any(axis=0)).mean() for p in (0, 1)]
    assert cols[0] < cols[1]


def test_contact_marker_exactly_when_wrists_within_10cm(handshake):
    people, frames, main_box, top_box, _ = handshake
    near = _wrist_distance(people) < 0.1
    assert 0 < near.sum() < len(near)                # the handshake has both kinds of frames
    np.testing.assert_array_equal(hand_contact(people)[0], near)
    for box in (main_box, top_box):
        shown = np.array([_is(_crop(f, box), CONTACT_RGB).sum() > 20 for f in frames])
        np.testing.assert_array_equal(shown, near)


def test_contact_threshold_on_a_hand_made_pair():
    """Person 2 is person 1 moved sideways so that its right wrist is d from person 1's left wrist."""
    from utils.bvh import SMPL_REST_JOINTS
    a = SMPL_REST_JOINTS + [0.0, 0.95, 0.0]                                         # (22, 3) T-pose
    gaps = [0.05, 0.095, 0.105, 0.3]
    one = np.repeat(a[None], len(gaps), axis=0)                                     # (4, 22, 3)
    two = np.stack([a + [a[20, 0] - a[21, 0] + g, 0, 0] for g in gaps])
    r = ReadableRenderer(dpi=40)
    frames = list(r.frames([one, two], "two people stand side by side"))
    shown = [_is(_crop(f, r.main_box), CONTACT_RGB).sum() > 20 for f in frames]
    assert shown == [True, True, False, False]


def test_camera_fixed_and_framing_the_whole_clip():
    """A chase crosses metres of floor: both people stay inside the main view in every frame, and the
    floor grid does not move (grid pixels of a later frame were grid pixels in the first)."""
    from utils.render import FLOOR_RGB, GRID_RGB
    people, caption = _clip("chase")
    assert min(np.ptp(j[:, 0, [0, 2]], axis=0).max() for j in people) > 2.0         # both run > 2 m
    r = ReadableRenderer(dpi=40)
    frames = [_crop(f, r.main_box) for f in r.frames(people, caption)]
    edge = np.ones(frames[0].shape[:2], bool)
    edge[3:-3, 3:-3] = False
    for f in frames:
        for p in (0, 1):
            mask = _person(f, p)
            assert mask.sum() > 20 and not (mask & edge).any()
    grid0, floor0 = _is(frames[0], GRID_RGB), _is(frames[0], FLOOR_RGB)
    assert grid0.sum() > 500 and floor0.sum() > 5000
    for f in frames[1:]:                  # a pixel is grid, floor or covered; grid never turns floor
        assert not (_is(f, GRID_RGB) & floor0).any() and not (_is(f, FLOOR_RGB) & grid0).any()


def test_people_walking_side_by_side_do_not_hide_each_other():
    """Their pelvis paths run along the walk: a camera across that axis would put one person behind the
    other all the time; the chosen view keeps their screen columns apart."""
    people, caption = _clip("side_by_side")
    r = ReadableRenderer(dpi=30)
    covered = []
    for f in r.frames(people, caption):
        cols = [np.flatnonzero(_person(_crop(f, r.main_box), p).any(axis=0)) for p in (0, 1)]
        overlap = min(cols[0][-1], cols[1][-1]) - max(cols[0][0], cols[1][0])
        covered.append(max(0, overlap) / min(np.ptp(c) for c in cols))
    assert np.mean(covered) < 0.2, np.mean(covered)


def test_top_view_draws_both_pelvis_paths():
    people, caption = _clip("walk_towards")
    r = ReadableRenderer(dpi=40)
    frames = list(r.frames(people, caption))
    travel = [np.linalg.norm(j[-1, 0, [0, 2]] - j[0, 0, [0, 2]]) for j in people]
    assert min(travel) > 0.5                          # both walk
    first, last = (_crop(frames[k], r.top_box) for k in (0, -1))
    for p in (0, 1):
        assert _is(first, _tint(PERSON_RGB[p], 0.6)).sum() > 20     # the whole path, faint
        extent = [np.ptp(np.flatnonzero(_is(f, PERSON_RGB[p]).any(axis=0))) for f in (first, last)]
        assert extent[1] > extent[0] + 10                           # the travelled path, solid


def test_time_label(handshake):
    assert time_label(51, 103, 30) == ("1.70 s", "frame 52 of 103")
    _, frames, _, _, info = handshake
    for k, f in enumerate(frames):
        px = _crop(f, info)[..., :3].astype(int)
        assert ((px.max(-1) < 100) & (np.ptp(px, axis=-1) < 20)).sum() > 100      # dark grey text
        if k:
            assert not np.array_equal(_crop(frames[k - 1], info), _crop(f, info))   # a new time each frame


def test_one_person_and_bad_input(tmp_path):
    people, caption = _clip("wave")
    r = ReadableRenderer(dpi=30)
    frames = list(r.frames(people[:1], caption))
    assert _is(_crop(frames[0], r.main_box), PERSON_RGB[0]).sum() > 50
    assert _is(_crop(frames[0], r.main_box), PERSON_RGB[1]).sum() == 0
    bad = people[0].copy()
    bad[3, 5, 1] = np.nan
    path = str(tmp_path / "x.mp4")
    with pytest.raises(ValueError, match=r"render .*x\.mp4: .*not finite"):
        r.render(path, [bad, people[1]], caption)
    with pytest.raises(ValueError, match=r"\(T, 22, 3\), got shape \(4, 21, 3\)"):
        list(r.frames([np.zeros((4, 21, 3))], caption))
    with pytest.raises(ValueError, match="--render 'fancy'"):
        make_renderer("fancy")


def test_gif_and_mp4_frames(tmp_path):
    import imageio_ffmpeg
    from PIL import Image
    people, caption = _clip("high_five")
    people = [j[:12] for j in people]
    r = ReadableRenderer(dpi=20)
    r.render(str(tmp_path / "a.gif"), people, caption)
    r.render(str(tmp_path / "a.mp4"), people, caption)
    gif = Image.open(tmp_path / "a.gif")
    assert gif.n_frames == 12 and gif.size == (320, 180)
    assert imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "a.mp4"))[0] == 12
