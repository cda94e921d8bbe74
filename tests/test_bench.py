"""bench.py: the JSON holds every requested case with positive times, memory and FLOP counts, the
derived columns are computed as documented, and the eval case's synthetic dataset loads through the
real InterHuman dataset. No timing is asserted (machines differ and are shared)."""
import argparse
import json
import os

import numpy as np
import pytest
import torch

import bench
from models.mask_transformer.length_split import part_overhead, plan_parts
import benchmark_cases as cases

FAST_CASES = ["vq_b8", "trans_mix_b8", "trans_mix_split", "gen_b4", "eval"]  # one case of each code path


def _run(tmp_path, cases, *extra):
    out = str(tmp_path / "bench.json")
    code = bench.main(["--tiny", "--threads", "1", "--json", out, "--cases", *cases, *extra])
    with open(out) as f:
        return code, json.load(f)


def _check_results(res, cases, repeats, amp):
    assert set(res["cases"]) == set(cases)
    assert res["ceiling_gflops"]["fp32"] > 0
    if amp == "bf16":  # the bf16 ceiling is measured only for bf16 runs (minutes on CPUs without bf16 units)
        assert res["ceiling_gflops"]["bf16"] > 0
    else:
        assert "bf16" not in res["ceiling_gflops"]
    machine = res["machine"]
    assert machine["threads"] == 1 and machine["torch"] and machine["device"] == "cpu" and machine["cpu"]
    for name, r in res["cases"].items():
        assert "error" not in r, f"{name}: {r.get('error')}"
        assert len(r["times_s"]) == (1 if name == "eval" else repeats)
        assert min(r["times_s"]) > 0 and r["median_s"] == pytest.approx(float(np.median(r["times_s"])))
        assert r["peak_mib"] > 0 and r["peak_mib"] >= r["setup_mib"] > 0
        assert r["per_sample_s"] == pytest.approx(r["median_s"] / r["samples"]) and r["samples"] > 0
        assert r["official_s"] is None  # --tiny sizes are never compared with the official figures
        if name == "eval":
            assert r["flop"] is None and r["amp"] == "none"
        else:
            assert r["flop"] > 0 and r["gflops"] == pytest.approx(r["flop"] / r["median_s"] / 1e9)
            assert r["amp"] == amp
    samples = {"vq_b8": 8, "vq_b16": 16, "gen_b1": 1, "gen_b4": 4, "trans_b8_len120": 8, "trans_mix_b8": 8,
               "trans_b8_len300": 8, "trans_mix_bucketed": 64}
    for name, n in samples.items():
        if name in res["cases"]:
            assert res["cases"][name]["samples"] == n


def test_tiny_run_has_every_case(tmp_path, capsys):
    code, res = _run(tmp_path, FAST_CASES, "--repeats", "1")
    assert code == 0
    _check_results(res, FAST_CASES, repeats=1, amp="none")
    table = capsys.readouterr().out
    for case in FAST_CASES:
        assert any(line.startswith(case + " ") for line in table.splitlines())
    # the split case runs the batch as the trainer's default --length_split auto cuts it for this model
    # (a tiny model pays more per part than it saves: one part, the unsplit step's FLOPs)
    tiny = cases.TINY_TRANS
    expected = len(plan_parts(torch.tensor(cases.length_mix(8)) // 4, "auto",
                              part_overhead(tiny["latent_dim"], tiny["ff_size"])))
    mix, split = res["cases"]["trans_mix_b8"], res["cases"]["trans_mix_split"]
    assert mix["description"].endswith("run as 1 part(s)")
    assert split["description"].endswith(f"run as {expected} part(s)")
    assert (split["flop"] == mix["flop"]) == (expected == 1)


@pytest.mark.slow
def test_tiny_run_all_cases_bf16(tmp_path):
    code, res = _run(tmp_path, bench.ALL_CASES, "--repeats", "2", "--amp", "bf16")
    assert code == 0
    _check_results(res, bench.ALL_CASES, repeats=2, amp="bf16")
    cases = res["cases"]
    assert cases["vq_b16"]["flop"] > 1.9 * cases["vq_b8"]["flop"]
    assert cases["gen_b4"]["flop"] > 3 * cases["gen_b1"]["flop"]
    assert cases["trans_b8_len300"]["flop"] > cases["trans_b8_len120"]["flop"]


@pytest.mark.parametrize("amp,dtype", [("bf16", "torch.bfloat16"), ("none", "torch.float32")])
def test_generation_case_runs_in_the_requested_precision(monkeypatch, amp, dtype):
    """The generator's own autocast context decides the transformer's precision (an outer one is
    overridden), so the bench must hand --amp to the generator: seen on the transformer's linears."""
    import torch
    from models import pipeline
    seen = set()

    class Recording(pipeline.InterMaskGenerator):
        def __init__(self, transformer, *a, **kw):
            super().__init__(transformer, *a, **kw)
            for m in transformer.modules():
                if isinstance(m, torch.nn.Linear):
                    m.register_forward_hook(lambda mod, inp, out: seen.add(str(out.dtype)))

    monkeypatch.setattr(pipeline, "InterMaskGenerator", Recording)
    run, samples, _ = cases.case_generate(argparse.Namespace(tiny=True, amp=amp), torch.device("cpu"), 1, frames=16)
    run()
    assert samples == 1 and dtype in seen and len(seen) == 1, seen


def test_flop_count_memory_is_not_in_the_peak(tmp_path):
    """The peak is read before the FLOP-count run (ru_maxrss is a per-process high-water mark, hence a
    fresh process): a FLOP count that allocates 1 GiB leaves the case's peak below that."""
    import subprocess
    import sys
    out = tmp_path / "case.json"
    code = ("import numpy as np, bench\n"
            "def counting(fn):\n"
            "    big = np.ones(1 << 27)  # 1 GiB, touched\n"
            "    return float(big.sum())\n"
            "bench.count_flops = counting\n"
            f"bench.main(['--tiny', '--threads', '1', '--repeats', '1', '--_case', 'vq_b8', '--_out', {str(out)!r}])\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.load(open(out))
    assert res["flop"] == float(1 << 27)
    assert res["peak_mib"] < res["setup_mib"] + 512, res


def test_cpu_attention_products_are_counted():
    """scaled_dot_product_attention on CPU runs a flash kernel torch's FLOP counter has no formula for;
    the benchmark adds one: 4 Lq Lk E per head forward (Q K^T and P V), 2.5x that for the backward."""
    import torch
    import torch.nn.functional as F
    b, h, lq, lk, e = 2, 3, 7, 5, 8
    q = torch.randn(b, h, lq, e, requires_grad=True)
    k = torch.randn(b, h, lk, e, requires_grad=True)
    v = torch.randn(b, h, lk, e, requires_grad=True)
    forward = 4 * b * h * lq * lk * e
    assert bench.count_flops(lambda: F.scaled_dot_product_attention(q, k, v)) == forward
    mask = torch.rand(b, 1, 1, lk) > 0.3
    assert bench.count_flops(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask)) == forward
    assert bench.count_flops(lambda: F.scaled_dot_product_attention(q, k, v).sum().backward()) == 3.5 * forward


def test_summary_columns():
    raw = dict(case="gen_b4", samples=4, median_s=2.0, flop=8e9, amp="bf16")
    r = bench.summarise(dict(raw), {"fp32": 10.0, "bf16": 40.0})
    assert r["per_sample_s"] == 0.5 and r["gflops"] == 4.0 and r["ceiling_fraction"] == 0.1
    assert r["official_gflop"] == 2149.0  # the official generation's FLOPs: a property of its shapes
    r = bench.summarise(dict(raw, amp="none", case="eval", flop=None), {"fp32": 10.0})
    assert r["gflops"] is None and r["ceiling_fraction"] is None and r["speedup_vs_official"] is None
    r = bench.summarise(dict(raw, case="trans_mix_bucketed", samples=64, median_s=116.0, amp="none"), {"fp32": 10.0})
    assert r["per_sample_s"] == pytest.approx(116.0 / 64) and r["ceiling_fraction"] == pytest.approx(8e9 / 116e9 / 10)
    assert bench.summarise(dict(case="vq_b8", error="boom"), {}) == dict(case="vq_b8", error="boom")


def _ref_file(tmp_path, info, **meta):
    """A file as the official timing harness writes it (its structure, shortened), measured on `info`'s
    machine unless `meta` says otherwise; infer_b4_90f failed there."""
    def case(median, peak):
        return {"timing": {"total": {"median_s": median, "samples_s": [median * 1.1, median, median * 0.9]}},
                "peak_rss_process_mib": peak}
    ref = {"meta": dict(dict(date_utc="2026-12-07 04:48 UTC", cpu_model=info["cpu"], threads=info["threads"],
                             torch={"version": info["torch"]}), **meta),
           "cases": {"infer_b1_90f": case(6.0, 2767.0), "vq_train_b8_t64": case(4.5, 2254.0),
                     "vq_train_b16_t64": case(10.0, 2500.0), "trans_train_b8_len120_pad300": case(40.0, 19409.0),
                     "trans_train_b8_len120_nopad": case(14.0, 7691.0), "infer_b4_90f": {"error": "killed"}}}
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(ref))
    return str(path)


OURS = [dict(case=c, samples=n, median_s=s, flop=None, amp="none", peak_mib=1000.0) for c, n, s in
        [("gen_b1", 1, 4.0), ("gen_b4", 4, 20.0), ("vq_b8", 8, 3.0), ("vq_b16", 16, 8.0),
         ("trans_b8_len120", 8, 10.0), ("trans_mix_b8", 8, 20.0), ("eval", 64, 30.0)]]


def test_official_file_gives_speedup_of_same_machine_medians(tmp_path, capsys):
    """--official FILE: official s = the file's median of the mapped case, speed-up = that / our median;
    cases without an official counterpart (or failed in the file) stay empty; the unpadded official
    transformer step is reported under the table; the file's machine is checked against this run's."""
    import benchmark_official
    args = argparse.Namespace(tiny=False, amp="none")  # what print_table reads
    info = dict(cpu="Some CPU", threads=2, torch="2.14.1", cores=2, device="cpu")
    ref = benchmark_official.load_official(_ref_file(tmp_path, info))
    res = {r["case"]: r for r in (bench.summarise(dict(o), {"fp32": 10.0}, ref) for o in OURS)}
    expected = {"gen_b1": (6.0, 1.5), "vq_b8": (4.5, 1.5), "vq_b16": (10.0, 1.25), "trans_b8_len120": (40.0, 4.0)}
    for case, r in res.items():
        off, speedup = expected.get(case, (None, None))
        assert r["official_s"] == off and r["speedup_vs_official"] == pytest.approx(speedup), case
    assert res["trans_b8_len120"]["official_peak_mib"] == 19409.0
    assert res["trans_b8_len120"]["official_also"] == dict(case="trans_train_b8_len120_nopad", s=14.0, speedup=1.4)
    assert res["gen_b4"]["official_case"] == "infer_b4_90f" and ref["failed"] == ["infer_b4_90f"]
    bench.print_table(list(res.values()), info, args, ref)
    out = capsys.readouterr().out.splitlines()
    assert any(ln.startswith("gen_b1 ") and " 6.0 " in ln and " 1.50x " in ln for ln in out), out
    assert any(ln.startswith("trans_b8_len120 ") and " 40.0 " in ln and " 4.00x " in ln for ln in out), out
    assert any("same CPU model (Some CPU), torch (2.14.1)" in ln for ln in out), out
    assert "trans_b8_len120 against the official trans_train_b8_len120_nopad: 14.0 s, speed-up 1.40x" in out
    assert not any("WARNING" in ln for ln in out)
    # measured elsewhere: one warning line naming what differs
    other = benchmark_official.load_official(_ref_file(tmp_path, info, cpu_model="Other CPU", torch={"version": "2.13.0"}))
    warning = benchmark_official.machine_check(other, info)
    assert warning.startswith("WARNING") and "\n" not in warning
    assert "CPU model 'Other CPU' there, 'Some CPU' here" in warning and "torch '2.13.0' there, '2.14.1' here" in warning
    assert "threads" not in warning  # they match


def test_without_official_file_no_speedup_is_printed(capsys):
    """No official timing is built in: without --official the official and speed-up columns are empty and
    one line says how to fill them."""
    import benchmark_official
    res = [bench.summarise(dict(o), {"fp32": 10.0}) for o in OURS]
    for r in res:
        assert r["official_s"] is None and r["speedup_vs_official"] is None and r["official_peak_mib"] is None, r
    args = bench.parse_args(["--threads", "2"])
    assert args.official is None
    bench.print_table(res, dict(cpu="Some CPU", threads=2, torch="2.14.1", cores=2, device="cpu"), args)
    out = capsys.readouterr().out.splitlines()
    rows = [ln for ln in out if ln.split(" ")[0] in {o["case"] for o in OURS}]
    assert len(rows) == len(OURS) and all(ln.split()[-3:] == ["-", "-", "-"] for ln in rows), rows  # official s, speed-up, MiB
    assert out[-1] == benchmark_official.HOW_TO and "--official" in out[-1]


@pytest.mark.parametrize("content,why", [(None, "cannot read"), ("{not json", "not a JSON file"),
                                         ('{"meta": {}, "cases": {}}', "no cases"), ("[1, 2]", "no cases"),
                                         ('{"cases": {"infer_b1_90f": {}}}', "no meta"),
                                         ('{"meta": {}, "cases": {"vq_train_b8_t64": {"timing": {}}}}',
                                          "cases.vq_train_b8_t64.timing.total.median_s")])
def test_bad_official_file_is_one_line_error(tmp_path, capsys, content, why):
    path = tmp_path / "ref.json"
    if content is not None:
        path.write_text(content)
    out = tmp_path / "bench.json"
    code = bench.main(["--tiny", "--official", str(path), "--json", str(out), "--cases", "vq_b8"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and str(path) in err and why in err, err
    assert not out.exists()  # nothing ran


def test_bad_arguments_are_rejected():
    with pytest.raises(SystemExit):
        bench.parse_args(["--cases", "vq_b7"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--repeats", "0"])


@pytest.mark.parametrize("clips", [2, 9, 64, 500])
def test_eval_counts_fit_the_dataset(clips):
    c = cases.eval_counts(argparse.Namespace(eval_clips=clips, eval_reps=2))
    usable = (clips // c["batch_size"]) * c["batch_size"]
    assert 2 <= c["batch_size"] <= min(96, clips)
    assert c["diversity_times"] <= usable and c["mm_num_samples"] <= clips
    assert c["mm_num_times"] <= c["mm_num_repeats"] and c["replication_times"] == 2


def test_eval_dataset_has_the_requested_test_clips(tmp_path):
    from data import build_t2m_dataset
    from data.config import DataConfig
    root = str(tmp_path / "data")
    cases.write_eval_dataset(root, n_test=5, seed=1)
    opt = argparse.Namespace(dataset_name="interhuman", data_root=root, stats_dir=None)
    ds = build_t2m_dataset(DataConfig.from_options(vars(opt)), "test", normalize=False)
    assert len(ds) == 5
    for i in range(len(ds)):
        _, text, m1, m2, length = ds[i]
        assert text and m1.shape == m2.shape == (300, 262) and 1 <= length <= 300
        assert np.isfinite(m1).all() and np.abs(m1[:length, :66]).max() > 0.1 and not m1[length:].any()
    assert np.load(os.path.join(root, "stats", "global_std.npy")).shape == (262,)


def test_bucketed_case_uses_the_length_mix_sorted_into_batches(monkeypatch):
    """trans_mix_bucketed: the 64 lengths hold trans_mix_b8's 8 (same draw), and its batches are the
    sorted mix cut into 8 batches of 8 (each one's range much narrower than the random batch's)."""
    mix = cases.length_mix(64)
    assert mix[:8] == cases.length_mix(8) and min(mix) >= 30 and max(mix) <= 300
    calls = []
    monkeypatch.setattr(cases, "case_transformer", lambda args, device, batches, **kw: calls.append(batches))
    cases.make_case("trans_mix_bucketed", None, None)
    cases.make_case("trans_mix_b8", None, None)
    bucketed, plain = calls
    assert [n for b in bucketed for n in b] == sorted(mix) and [len(b) for b in bucketed] == [8] * 8
    assert plain == [mix[:8]]
    assert max(max(b) - min(b) for b in bucketed) < (max(mix[:8]) - min(mix[:8])) / 2


def test_transformer_case_runs_one_step_per_batch(tmp_path, monkeypatch):
    """The multi-batch transformer case (trans_mix_bucketed's code path, tiny models): one run is one
    optimiser step per batch, each on its own lengths; samples = all clips of all batches."""
    import torch
    from models.mask_transformer.trainer import TransformerTrainer
    torch.set_num_threads(1)
    seen = []
    step = TransformerTrainer.micro_step
    monkeypatch.setattr(TransformerTrainer, "micro_step",
                        lambda self, net, batch, *a, **k: seen.append(batch[4].tolist()) or step(self, net, batch, *a, **k))
    args = argparse.Namespace(tiny=True, amp="none", work=str(tmp_path))
    run, samples, what = cases.case_transformer(args, torch.device("cpu"), [[30, 41], [200, 300]])
    assert samples == 4 and "per sample over all 4" in what and "30-41 200-300" in what
    run()
    assert seen == [[30, 41], [200, 300]]
