"""The package's layers, enforced: every import of every module (top-level and deferred inside functions, parsed with
``ast`` by studies/import_graph.py) points down, no modules import each other in a cycle, and no private name
(``from x import _y``) or private module is used outside its own module / package.

    cli → experiments → api → {training, methods, pruning, families, models, data, metrics, evaluate, export,
    report, checkpoint, rundir} → {config, errors, registry, files, version}

Nothing in the library imports ``experiments`` or ``cli``, and the experiments never see ``argparse``: their entry
points take typed settings (experiments/settings.py) that ``cli/`` builds. The checkers themselves are tested on tiny
synthetic packages, so a violation really fails.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "gancompress"

#: highest layer first; names are the first component after ``gancompress.`` ("" = the package's lazy __init__)
LAYERS = [
    ["__main__", "cli"],
    ["experiments"],
    ["api", ""],
    [
        "training", "methods", "pruning", "families", "models", "data", "metrics", "evaluate", "export", "report",
        "checkpoint", "rundir",
    ],
    ["config", "errors", "registry", "files", "version"],
]  # fmt: skip


def _load_checker():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "studies" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("import_graph", module)
    spec.loader.exec_module(module)
    return module


ig = _load_checker()


@pytest.fixture(scope="module")
def graph():
    return ig.scan(PACKAGE)


def _where(imp) -> str:
    return f"{imp.src} line {imp.line}{' (deferred)' if imp.deferred else ''} imports {imp.dst}"


def test_every_module_belongs_to_a_layer(graph) -> None:
    assert ig.unlisted(graph, LAYERS, "gancompress") == []


def test_imports_point_down(graph) -> None:
    assert [_where(i) for i in ig.upward_imports(graph, LAYERS, "gancompress")] == []


def test_the_library_never_imports_experiments_or_cli(graph) -> None:
    above = {"experiments", "cli", "__main__"}
    core = [
        _where(i)
        for i in graph.imports
        if ig.layer_of(i.src, LAYERS, "gancompress") >= 2 and i.dst.split(".")[1:2] and i.dst.split(".")[1] in above
    ]
    assert core == []


def test_no_import_cycles(graph) -> None:
    assert ig.cycles(graph) == []


def test_no_private_name_crosses_a_module(graph) -> None:
    found = [f"{_where(i)}: {name}" for i, name in ig.private_imports(graph)]
    assert found == []


def argparse_uses(package: Path) -> list[str]:
    """``file line: what`` for every import of argparse and every mention of ``Namespace`` under ``package``."""
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "argparse" for a in node.names):
                found.append(f"{rel} line {node.lineno}: import argparse")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "argparse":
                found.append(f"{rel} line {node.lineno}: from argparse import …")
            elif isinstance(node, ast.Attribute | ast.Name) and "Namespace" in (
                node.attr if isinstance(node, ast.Attribute) else node.id
            ):
                found.append(f"{rel} line {node.lineno}: Namespace")
    return found


def test_experiments_take_settings_never_argparse_namespaces() -> None:
    assert argparse_uses(PACKAGE / "experiments") == []


def test_the_argparse_check_catches_imports_and_namespaces(tmp_path: Path) -> None:
    pkg = tmp_path / "exp"
    pkg.mkdir()
    (pkg / "a.py").write_text("import argparse\n\ndef run(args: argparse.Namespace) -> None: ...\n")
    (pkg / "b.py").write_text("from argparse import Namespace\n\ndef run(args: Namespace) -> None: ...\n")
    (pkg / "c.py").write_text("def run(opts) -> None:\n    return opts.out\n")
    assert argparse_uses(pkg) == [
        "exp/a.py line 1: import argparse",
        "exp/a.py line 3: Namespace",
        "exp/b.py line 1: from argparse import …",
        "exp/b.py line 3: Namespace",
    ]


# ------------------------------------------------------------------------------------------ the checker's own check
SYNTHETIC = {
    "__init__.py": "",
    "high.py": "from pkg.low import f\nfrom pkg.mid import _hidden\n",
    "mid.py": "_hidden = 1\n",
    "low.py": "def f():\n    from pkg.high import g  # deferred: still an upward import, and a cycle\n",
    "sub/__init__.py": "from pkg.sub import a\n",
    "sub/a.py": "from pkg.other import b\n",
    "sub/_private.py": "",
    "other.py": "from pkg.sub._private import c  # runs pkg/sub/__init__.py first: a cycle through the package\n",
}
SYNTHETIC_LAYERS = [["high"], ["mid", "sub", "other"], ["low"]]


def test_the_checker_catches_each_kind_of_violation(tmp_path: Path) -> None:
    g = ig.scan(tmp_path / "pkg", sources=SYNTHETIC)
    assert ig.unlisted(g, SYNTHETIC_LAYERS, "pkg") == []
    assert [(i.src, i.dst, i.deferred) for i in ig.upward_imports(g, SYNTHETIC_LAYERS, "pkg")] == [
        ("pkg.low", "pkg.high", True)
    ]
    assert ig.cycles(g) == [["pkg.high", "pkg.low"], ["pkg.other", "pkg.sub", "pkg.sub.a"]]
    assert ig.cycles(g, parents=False) == [["pkg.high", "pkg.low"]]  # the package cycle needs the parent edges
    assert ig.cycles(g, deferred=False, parents=False) == []  # ... and this one the deferred import
    assert sorted(name for _, name in ig.private_imports(g)) == ["_hidden", "pkg.sub._private"]


def test_a_clean_synthetic_package_passes(tmp_path: Path) -> None:
    clean = {"__init__.py": "", "top.py": "from pkg.base import x\n", "base.py": "x = 1\n"}
    g = ig.scan(tmp_path / "pkg", sources=clean)
    assert ig.upward_imports(g, [["top"], ["base"]], "pkg") == []
    assert ig.cycles(g) == [] and ig.private_imports(g) == []
