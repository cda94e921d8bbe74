"""The golden vectors cannot vanish silently: with INTERMASK_TESTVECTORS or CI set, a missing vector
folder, manifest or file fails the test that needs it (naming the path); only a clone with neither set
and no folder at the default place skips, saying so; a manifest list a test loops over is never empty."""
import json
import os
import subprocess
import sys

import pytest

from tests import conftest


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """Neither variable set, and the default place (<repo>/../shared/testvectors) moved under tmp_path."""
    monkeypatch.delenv("INTERMASK_TESTVECTORS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(conftest, "REPO", str(tmp_path / "repo"))
    return tmp_path / "shared" / "testvectors"


def _outcome(fn):
    """('ok', value) | ('fail', message) | ('skip', message) of calling fn."""
    try:
        return "ok", fn()
    except pytest.fail.Exception as e:
        return "fail", str(e)
    except pytest.skip.Exception as e:
        return "skip", str(e)


def test_no_variable_and_no_folder_skips_saying_so(clean_env):
    kind, msg = _outcome(conftest.open_vectors)
    assert kind == "skip" and str(clean_env) in msg and "INTERMASK_TESTVECTORS" in msg, (kind, msg)


@pytest.mark.parametrize("var,value", [("INTERMASK_TESTVECTORS", None), ("CI", "true"), ("CI", "1")])
def test_missing_folder_fails_naming_it_when_required(clean_env, monkeypatch, tmp_path, var, value):
    missing = tmp_path / "nowhere"
    monkeypatch.setenv(var, value if value is not None else str(missing))
    kind, msg = _outcome(conftest.open_vectors)
    where = missing if var == "INTERMASK_TESTVECTORS" else clean_env
    assert kind == "fail" and f"folder missing: {where}" in msg, (kind, msg)


def test_ci_false_is_not_required(clean_env, monkeypatch):
    monkeypatch.setenv("CI", "false")
    assert _outcome(conftest.open_vectors)[0] == "skip"


def test_folder_without_manifest_fails_even_unrequired(clean_env):
    os.makedirs(clean_env)
    kind, msg = _outcome(conftest.open_vectors)
    assert kind == "fail" and f"manifest missing: {clean_env / 'manifest.json'}" in msg, (kind, msg)


def test_missing_vector_file_fails_and_empty_lists_are_refused(clean_env):
    os.makedirs(clean_env)
    manifest = {"files": {"a.npz": {"config": {"cases": [], "pairs": [{"name": "pair0"}]}}}}
    (clean_env / "manifest.json").write_text(json.dumps(manifest))
    kind, vs = _outcome(conftest.open_vectors)
    assert kind == "ok"
    kind, msg = _outcome(lambda: vs.npz("a.npz"))
    assert kind == "fail" and f"a.npz missing: {clean_env / 'a.npz'}" in msg, (kind, msg)
    kind, msg = _outcome(lambda: vs.load_json("keyshapes.json"))
    assert kind == "fail" and str(clean_env / "keyshapes.json") in msg, (kind, msg)
    assert vs.items("a.npz", "pairs") == [{"name": "pair0"}]
    for key in ("cases", "no_such_list"):
        with pytest.raises(AssertionError, match=f"'{key}' is missing or empty"):
            vs.items("a.npz", key)


def test_pytest_run_fails_on_a_missing_vector_folder(tmp_path):
    """End to end: a parity test file run with INTERMASK_TESTVECTORS at a missing folder exits non-zero
    and names the folder (it used to report skips and exit 0)."""
    missing = str(tmp_path / "no_vectors_here")
    env = dict(os.environ, INTERMASK_TESTVECTORS=missing)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_parity_remove_fs.py"],
                       cwd=conftest.REPO, env=env, capture_output=True, text=True)
    assert r.returncode == 1, r.stdout[-2000:]
    assert f"folder missing: {missing}" in r.stdout and " skipped" not in r.stdout, r.stdout[-2000:]
