"""The official code's timings for `bench.py --official FILE`: the JSON the official-code timing harness
(bench-ref's `bench_ref.py --out FILE`) writes, read, checked and matched to bench.py's cases.

A speed-up is only meaningful as a ratio of the official code and ours measured on one machine, in one
sitting; so no official timing is built in, and the file's machine (CPU model, torch version, threads) is
compared with this run's and any difference reported with the ratios."""
import json

# bench.py case -> the harness's case timing the same work. The official transformer trainer steps on
# motions padded to 300 frames as its dataset returns them; the unpadded step is reported beside it.
OFFICIAL_CASES = {"gen_b1": "infer_b1_90f", "gen_b4": "infer_b4_90f", "vq_b8": "vq_train_b8_t64",
                  "vq_b16": "vq_train_b16_t64", "trans_b8_len120": "trans_train_b8_len120_pad300"}
OFFICIAL_ALSO = {"trans_b8_len120": "trans_train_b8_len120_nopad"}
# GFLOP per run of the official generation (a property of its shapes, not a timing)
OFFICIAL_GFLOP = {"gen_b1": 537.0, "gen_b4": 2149.0}
HOW_TO = ("official s / speed-up: empty; time the official code on this machine (bench-ref's bench_ref.py "
          "--out ref.json) next to this run and pass --official ref.json")


class OfficialFileError(ValueError):
    """A --official file that cannot be used; the message is one line naming the file."""


def _median(path, name, entry):
    """-> (median s, peak MiB or None) of one harness case, None for a case the harness reports failed."""
    if not isinstance(entry, dict) or "error" in entry:
        return None
    try:
        median = float(entry["timing"]["total"]["median_s"])
    except (KeyError, TypeError, ValueError):
        raise OfficialFileError(f"{path}: cases.{name}.timing.total.median_s missing or not a number")
    if not median > 0:
        raise OfficialFileError(f"{path}: cases.{name}.timing.total.median_s = {median}, expected > 0")
    return median, entry.get("peak_rss_process_mib")


def load_official(path):
    """-> {"file", "meta", "cases": {harness case: (median s, peak MiB)}, "failed": [harness cases]}."""
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise OfficialFileError(f"{path}: cannot read the --official file ({e.strerror or e})")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise OfficialFileError(f"{path}: not a JSON file ({e})")
    cases = data.get("cases") if isinstance(data, dict) else None
    if not isinstance(cases, dict) or not cases:
        raise OfficialFileError(f"{path}: no cases (expected the JSON bench_ref.py --out writes)")
    meta = data.get("meta")
    if not isinstance(meta, dict):
        raise OfficialFileError(f"{path}: no meta (the machine it was measured on)")
    timed = {name: _median(path, name, entry) for name, entry in cases.items()}
    return dict(file=path, meta=meta, cases={k: v for k, v in timed.items() if v},
                failed=sorted(k for k, v in timed.items() if v is None))


def machine_check(ref, info):
    """One line: whether the file was measured on this machine's CPU model, torch version and threads."""
    meta = ref["meta"]
    torch_meta = meta.get("torch")
    theirs = dict(cpu=meta.get("cpu_model"), torch=torch_meta.get("version") if isinstance(torch_meta, dict) else None,
                  threads=meta.get("threads"))
    label = dict(cpu="CPU model", torch="torch", threads="threads")
    differ = [f"{label[k]} {theirs[k]!r} there, {info[k]!r} here" for k in label if theirs[k] != info[k]]
    when = meta.get("date_utc", "an unknown date")
    if differ:
        return (f"WARNING: {ref['file']} (official, {when}) differs from this run: {'; '.join(differ)}; "
                "its speed-ups are not same-machine ratios")
    return (f"official column: {ref['file']} ({when}), same CPU model ({theirs['cpu']}), torch ({theirs['torch']}) "
            f"and threads ({theirs['threads']}) as this run; speed-up = official median / ours")


def compare(res, ref):
    """Add the official figures of res's case from `ref` (None: no file, or a --tiny run) to res."""
    case = res["case"]
    res["official_gflop"] = OFFICIAL_GFLOP.get(case)
    res["official_case"] = OFFICIAL_CASES.get(case)
    res["official_s"] = res["official_peak_mib"] = res["speedup_vs_official"] = None
    got = ref and ref["cases"].get(res["official_case"])
    if got:
        res["official_s"], res["official_peak_mib"] = got
        res["speedup_vs_official"] = got[0] / res["median_s"]
    also = ref and ref["cases"].get(OFFICIAL_ALSO.get(case))
    if also:
        res["official_also"] = dict(case=OFFICIAL_ALSO[case], s=also[0], speedup=also[0] / res["median_s"])
    return res
