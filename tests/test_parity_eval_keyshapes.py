"""Full-size key layouts: the default InterCLIP and the full-size Inter-X evaluator have exactly the
official checkpoint keys, shapes and parameter counts (built on the meta device: no memory)."""
import torch


def _keyshapes(vectors):
    return vectors.load_json("keyshapes.json")


def test_interclip_full_size_layout(vectors):
    from models.evaluator.interclip import InterCLIP
    ref = _keyshapes(vectors)["evaluator_interclip"]
    with torch.device("meta"):
        model = InterCLIP(ref["config"])
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    theirs = {e["key"]: e["shape"] for e in ref["keys"]}
    assert ours == theirs
    assert sum(p.numel() for p in model.parameters()) == ref["n_parameters"]


def test_interx_evaluator_full_size_layout(vectors):
    from models.evaluator.interx_matching import InterXMatchingModel
    full = vectors.config("evaluator_interx.npz")["full_size"]
    with torch.device("meta"):
        model = InterXMatchingModel(full["sizes"])
    n = 0
    for entry, keys in full["keys"].items():
        module = getattr(model, entry)
        assert {k: list(v.shape) for k, v in module.state_dict().items()} == {e["key"]: e["shape"] for e in keys}
        n += sum(p.numel() for p in module.parameters())
    assert n == full["n_parameters"]
