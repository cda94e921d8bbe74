"""Parity of the foot clean-up (`remove_fs`) with the official function (remove_fs.npz)."""
import fnmatch

import numpy as np

from tests.conftest import assert_close
from utils.remove_fs import detect_contacts, remove_fs

FNAME = "remove_fs.npz"


def _run(vectors):
    cfg = vectors.config(FNAME)
    z = vectors.npz(FNAME)
    joints_in = z["joints_in"]
    assert joints_in.shape[0] == cfg["T"]
    before = joints_in.copy()
    out, foot = remove_fs(joints_in, None, fid_l=tuple(cfg["fid_l"]), fid_r=tuple(cfg["fid_r"]),
                          interp_length=cfg["interp_length"], force_on_floor=cfg["force_on_floor"],
                          vel_thres=cfg["vel_thres"], height_thres=tuple(cfg["height_thres"]))
    return cfg, z, before, out, foot


def test_remove_fs_matches_reference(vectors):
    cfg, z, _, out, foot = _run(vectors)
    tol = vectors.entry(FNAME)["suggested_tolerance"]
    ours = {"joints_out": out, "foot": foot}
    for name, arr in ours.items():
        if any(fnmatch.fnmatch(name, p) for p in tol["exact"]):
            np.testing.assert_array_equal(arr, z[name], err_msg=name)
        else:
            assert_close(arr, z[name], tol["rel"], tol["abs"], what=name)
    assert out.dtype == np.float32


def test_remove_fs_leaves_input_untouched(vectors):
    _, z, before, out, _ = _run(vectors)
    np.testing.assert_array_equal(z["joints_in"], before)
    assert not np.array_equal(out, before)  # it did change something


def test_given_contacts_equal_detected(vectors):
    """Passing the reference contacts explicitly (T, 4) gives the same result."""
    cfg, z, _, out, _ = _run(vectors)
    out2, foot2 = remove_fs(z["joints_in"], z["foot"].T, fid_l=tuple(cfg["fid_l"]),
                            fid_r=tuple(cfg["fid_r"]), interp_length=cfg["interp_length"])
    np.testing.assert_array_equal(foot2, z["foot"])
    np.testing.assert_array_equal(out2, out)


def test_contact_runs_are_pinned_to_floor():
    """A foot resting on a raised floor then lifted: after clean-up its contact frames sit at y = 0
    with identical xz, and frames far from any contact are only shifted by the floor height."""
    T = 40
    j = np.zeros((T, 22, 3), np.float32)
    j[:, :, 1] = 0.9                              # body high up
    for f in (7, 8, 10, 11):
        j[:, f, 1] = 0.2                          # feet (raised floor 0.2 -> too high for contact)
    j[:, 7, 1] = 0.02 + np.where(np.arange(T) < 20, 0.0, 0.01 * (np.arange(T) - 19) ** 2)
    j[:, 7, 0] = np.linspace(0, 0.01, T)          # slight slide
    foot = detect_contacts(j, [7, 10, 8, 11])
    assert foot[0, :19].all() and not foot[0, 25:].any()
    out, _ = remove_fs(j)
    fh = out[0, 7, 1] - (j[0, 7, 1] - 0.0)        # floor shift is uniform
    assert np.allclose(out[:19, 7, 1], 0.0)
    assert np.allclose(out[:19, 7, 0], out[0, 7, 0])
    assert np.allclose(out[35:, 7], j[35:, 7] + np.float32([0, fh, 0]), atol=1e-6)
