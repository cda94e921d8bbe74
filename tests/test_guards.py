"""The behaviour guards (tests/guard_runs.py) against their stored values.

Every trainer's tiny seeded run, through its command line (one process and two gloo ranks, the
transformer with and without --length_split, --do_eval hooks on), must end with the stored losses and
weights. The stored file was recorded on one CPU; the tolerance allows another CPU's rounding (a few
optimiser steps from the same seed), not a change of behaviour: a changed draw, schedule, loss weight
or accumulation moves these values by far more. On the recording machine the same runs agree bit for
bit (`python -m tests.guard_runs compare`).
"""
import json
import os

import numpy as np
import pytest

from tests.guard_runs import REPO, record

STORED = os.path.join(REPO, "tests", "data", "guard_values.json")
RTOL, ATOL = 2e-3, 2e-5
TRAINING_RUNS = ["evaluator_one", "evaluator_two", "vq_one", "vq_two", "trans_one_split1", "trans_one_split2",
                 "trans_two_split1", "trans_two_split2", "trans_one"]


def mismatches(ours, stored, rtol=RTOL, atol=ATOL):
    """Lines naming each training run whose losses or weight summaries leave the tolerance."""
    bad = []
    for name in TRAINING_RUNS:
        a, b = ours[name], stored[name]
        if len(a["losses"]) != len(b["losses"]):
            bad.append(f"{name}: {len(a['losses'])} printed loss values, stored {len(b['losses'])}")
        elif not np.allclose(a["losses"], b["losses"], rtol=rtol, atol=atol):
            i = int(np.argmax(np.abs(np.subtract(a["losses"], b["losses"]))))
            bad.append(f"{name}: printed value {i} is {a['losses'][i]}, stored {b['losses'][i]}")
        if a["weights"].keys() != b["weights"].keys():
            bad.append(f"{name}: weight names differ")
            continue
        for k in b["weights"]:
            x, y = np.asarray(a["weights"][k]), np.asarray(b["weights"][k])
            # the sums on the scale of sum |x| (a sum may cancel to near 0); the sampled elements on
            # their own magnitude, or their mean magnitude for one near 0
            tol = np.concatenate([[np.abs(y[1])] * 2, np.maximum(np.abs(y[2:]), np.abs(y[2:]).mean())])
            if x.shape != y.shape or not np.all(np.abs(x - y) <= rtol * tol + atol):
                bad.append(f"{name}: {k} summary {x.tolist()}, stored {y.tolist()}")
    return bad


@pytest.fixture(scope="module")
def guards(tmp_path_factory):
    return record(str(tmp_path_factory.mktemp("guards") / "work"))


def test_stored_guards_cover_every_run():
    stored = json.load(open(STORED))
    assert set(TRAINING_RUNS) <= set(stored)
    for name in TRAINING_RUNS:
        assert len(stored[name]["losses"]) >= 10 and len(stored[name]["weights"]) >= 10, name


def test_tiny_runs_end_with_the_stored_losses_and_weights(guards):
    stored = json.load(open(STORED))
    bad = mismatches(guards, stored)
    assert not bad, "\n".join(bad[:20])


def test_the_tolerance_catches_a_changed_step(guards):
    """One printed loss 1 % off, one weight tensor scaled by 1.01, or one sampled element 1 % off
    leaves the tolerance."""
    stored = json.load(open(STORED))
    moved = json.loads(json.dumps(guards))
    moved["vq_one"]["losses"][-1] *= 1.01
    k = next(iter(moved["trans_one"]["weights"]))
    moved["trans_one"]["weights"][k] = [v * 1.01 for v in moved["trans_one"]["weights"][k]]
    name = sorted(moved["vq_one"]["weights"])[0]
    moved["vq_one"]["weights"][name][-1] *= 1.01                       # one sampled element alone
    bad = mismatches(moved, stored)
    assert any(b.startswith("vq_one: printed value") for b in bad)
    assert any(b.startswith(f"trans_one: {k}") for b in bad)
    assert any(b.startswith(f"vq_one: {name}") for b in bad)


def test_two_ranks_end_where_one_process_ends(guards):
    """Two gloo ranks end with the weights of one process with the same global batch (gradient
    accumulation), for every trainer and both --length_split settings."""
    for a, b in (("trans_one_split1", "trans_two_split1"), ("trans_one_split2", "trans_two_split2"),
                 ("evaluator_one", "evaluator_two"), ("vq_one", "vq_two")):
        wa, wb = guards[a]["weights"], guards[b]["weights"]
        assert wa.keys() == wb.keys()
        for k in wa:
            assert np.allclose(wa[k], wb[k], rtol=1e-4, atol=1e-5), (a, b, k)
