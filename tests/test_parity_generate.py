"""Parity of the decoding loops with the official generate / generate_reaction (generate.npz),
made deterministic by the top-1 filter. Mirror ties: per sample the output of `generate` must equal
ids[b] or its person swap exactly; its traces are compared up to the sample's first mirror tie."""
import numpy as np
import torch

from models.mask_transformer import sampler
from tests.conftest import assert_close
from tests.test_parity_transformer import build_reference_model

FILE = "generate.npz"


def _swap(ids, n):
    return np.concatenate([ids[n:], ids[:n]])


def test_generation_loops(vectors):
    torch.set_num_threads(1)
    model, _ = build_reference_model(vectors)
    z, cfg = vectors.npz(FILE), vectors.config(FILE)
    tol = vectors.entry(FILE)["suggested_tolerance"]
    with torch.no_grad():
        feat = model.text_head(torch.from_numpy(z["clip_hidden"]), torch.from_numpy(z["token_ids"]).argmax(-1))
    assert_close(feat.numpy(), z["text_feat"], tol["rel"], tol["abs"], "text_feat")
    for case in vectors.items(FILE, "cases"):
        p = case["name"] + "/"
        m_lens = torch.from_numpy(z[p + "m_lens"])
        steps_max = int(m_lens.max())
        n_person = 5 * steps_max
        trace = {}
        common = dict(time_steps=case["time_steps"], cond_scale=case["cond_scale"],
                      topk_filter_thres=case["topk_filter_thres"], trace=trace)
        if case["mode"] == "generate":
            out = sampler.generate(model, feat, m_lens, **common).numpy()
        else:
            out = sampler.generate_reaction(model, feat, torch.from_numpy(z[p + "motion1_ids"]), m_lens,
                                            **common).numpy()
        ref = z[p + "ids"]
        num_masked = torch.stack(trace["num_masked"]).numpy()
        assert len(trace["num_masked"]) == case["steps_run"]
        np.testing.assert_array_equal(num_masked, z[p + "step_num_masked"], err_msg=p + "step_num_masked")
        inputs = torch.stack(trace["input_ids"]).numpy()
        preds = torch.stack(trace["pred_ids"]).numpy()
        scores = torch.stack(trace["scores"]).numpy()
        if case["mode"] != "generate":  # the reaction's traces cover person 2 only
            preds, scores = preds[:, :, n_person:], scores[:, :, n_person:]
        for b in range(ref.shape[0]):
            if case["mode"] == "generate":
                assert np.array_equal(out[b], ref[b]) or np.array_equal(out[b], _swap(ref[b], n_person)), \
                    f"{p}ids[{b}] is neither the reference nor its person swap"
                ties = case.get("mirror_ties", [[]] * ref.shape[0])[b]
                upto = ties[0]["step"] if ties else case["steps_run"]
            else:
                np.testing.assert_array_equal(out[b], ref[b], err_msg=f"{p}ids[{b}]")
                upto = case["steps_run"]
            # traces up to the first mirror tie (its re-masking decision is the tie)
            np.testing.assert_array_equal(inputs[:upto, b], z[p + "step_input_ids"][:upto, b],
                                          err_msg=f"{p}inputs[{b}]")
            np.testing.assert_array_equal(preds[:upto, b], z[p + "step_pred_ids"][:upto, b],
                                          err_msg=f"{p}pred_ids[{b}]")
            ref_scores = z[p + "step_scores"][:upto, b]
            fixed = ref_scores == 1e5
            np.testing.assert_array_equal(scores[:upto, b] == 1e5, fixed, err_msg=f"{p}score 1e5 pattern[{b}]")
            if (~fixed).any():
                assert_close(scores[:upto, b][~fixed], ref_scores[~fixed], tol["rel"], tol["abs"], f"{p}scores[{b}]")
