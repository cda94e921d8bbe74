"""Imports flow one way (docs/architecture.md): scripts -> options/ -> models/ -> data/ -> utils/.

Every import statement of the project's own modules is read with `ast` (lazy imports inside functions
too) and checked against the layering rule:
  - nothing in options/, models/, data/ or utils/ imports a top-level script or module, or prepare/;
  - top-level scripts and modules never import prepare/ (prepare/ may import anything but the scripts);
  - data/ and utils/ never import models/ or options/; options/ never imports models/;
  - models/ never imports options/ (it takes typed configs).
"""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("options", "models", "data", "utils", "prepare")
SKIP_DIRS = {"tests", "checkpoints", "__pycache__"}

# importer layer -> layers it must never import
FORBIDDEN = {
    "options": {"models", "prepare", "script"},
    "models": {"options", "prepare", "script"},
    "data": {"models", "options", "prepare", "script"},
    "utils": {"models", "options", "prepare", "script"},
    "prepare": {"script"},
    "script": {"prepare"},
}


def project_files(root):
    """Repository-relative paths of the project's Python files (tests and data folders excluded)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS)
        rel = os.path.relpath(dirpath, root)
        if rel != "." and rel.split(os.sep)[0] not in PACKAGES:
            dirnames[:] = []
            continue
        out += [os.path.normpath(os.path.join(rel, f)) for f in sorted(filenames) if f.endswith(".py")]
    return out


def top_level_names(root):
    return {f[:-3] for f in os.listdir(root) if f.endswith(".py")}


def layer_of_file(path):
    head = path.split(os.sep)[0]
    return head if head in PACKAGES else "script"


def layer_of_module(name, scripts):
    """'models.vq.build' -> 'models'; a top-level module -> 'script'; anything else (stdlib, third
    party) -> None."""
    head = name.split(".")[0]
    if head in PACKAGES:
        return head
    return "script" if head in scripts else None


def imported_modules(path):
    """Absolute module names imported anywhere in the file (including inside functions)."""
    with open(path) as f:
        tree = ast.parse(f.read(), filename=path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def layering_violations(root):
    """['<file>:<line> (<layer>) imports <module> (<layer>)', ...] for every import against the rule."""
    scripts = top_level_names(root)
    bad = []
    for rel in project_files(root):
        src = layer_of_file(rel)
        for line, module in imported_modules(os.path.join(root, rel)):
            dst = layer_of_module(module, scripts)
            if dst is not None and dst in FORBIDDEN[src]:
                bad.append(f"{rel}:{line} ({src}) imports {module} ({dst})")
    return bad


def test_the_walk_sees_every_layer():
    layers = {layer_of_file(f) for f in project_files(ROOT)}
    assert layers == {"options", "models", "data", "utils", "prepare", "script"}
    assert "models/vq/model.py" in project_files(ROOT) and "train_vq.py" in project_files(ROOT)


@pytest.mark.parametrize("src, module, allowed", [
    ("data/interx.py", "models.evaluator.build", False),
    ("utils/files.py", "options.common", False),
    ("models/vq/build.py", "options.opt_io", False),
    ("options/trans_option.py", "models.mask_transformer.length_split", False),
    ("infer.py", "prepare.convert_motion", False),
    ("utils/metrics.py", "eval", False),
    ("models/vq/build.py", "utils.files", True),
    ("options/vq_option.py", "utils.cli", True),
    ("prepare/convert_motion.py", "data.motion_files", True),
    ("eval.py", "models.pipeline", True),
])
def test_rule_examples(src, module, allowed):
    dst = layer_of_module(module, top_level_names(ROOT))
    assert (dst not in FORBIDDEN[layer_of_file(src)]) == allowed


def test_imports_flow_one_way():
    bad = layering_violations(ROOT)
    assert not bad, "imports against the layering rule:\n" + "\n".join(bad)
