"""The import graph of a package: modules, cycles, private names crossing modules, layer violations.

Parses every module with ``ast`` (top-level imports and the deferred ones inside functions; imports under
``if TYPE_CHECKING:`` are counted too) and resolves each import to a module file of the package.

    python studies/import_graph.py               # src/gancompress: counts, then every cycle and private import
    python studies/import_graph.py --json        # the same as JSON

``tests/test_architecture.py`` loads this file and fails on an upward import, a cycle or a private cross-import.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Import:
    """One import statement's target inside the package."""

    src: str  # importing module, dotted ("gancompress.cli.compress")
    dst: str  # imported module, dotted (a module file or a package __init__)
    names: tuple[str, ...]  # names taken with `from dst import ...` (empty for `import dst`)
    line: int
    deferred: bool  # inside a function body (or a class body), not at module level


@dataclass
class Graph:
    modules: dict[str, Path]  # dotted name -> file
    packages: set[str]  # dotted names that are packages (their file is __init__.py)
    imports: list[Import] = field(default_factory=list)

    def edges(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {m: set() for m in self.modules}
        for imp in self.imports:
            if imp.dst != imp.src:
                out[imp.src].add(imp.dst)
        return out


def _module_name(root: Path, path: Path, top: str) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([top, *parts])


def scan(pkg_dir: Path | str, sources: dict[str, str] | None = None) -> Graph:
    """Build the graph of the package in ``pkg_dir`` (or of ``sources``: {relative path: code}, for tests)."""
    pkg_dir = Path(pkg_dir)
    top = pkg_dir.name
    if sources is None:
        files = {p: p.read_text() for p in sorted(pkg_dir.rglob("*.py"))}
    else:
        files = {pkg_dir / rel: code for rel, code in sources.items()}
    modules = {_module_name(pkg_dir, p, top): p for p in files}
    packages = {_module_name(pkg_dir, p, top) for p in files if p.name == "__init__.py"}
    g = Graph(modules, packages)
    for path, code in files.items():
        name = _module_name(pkg_dir, path, top)
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(code, filename=str(path))
        _collect(g, tree, name, is_pkg, top)
    return g


def _resolve_relative(name: str, is_pkg: bool, level: int, module: str | None) -> str:
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def _collect(g: Graph, tree: ast.AST, name: str, is_pkg: bool, top: str) -> None:
    def visit(node: ast.AST, deferred: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = deferred or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name == top or alias.name.startswith(top + "."):
                        dst = _longest_module(g, alias.name)
                        if dst:
                            g.imports.append(Import(name, dst, (), child.lineno, deferred))
            elif isinstance(child, ast.ImportFrom):
                mod = (
                    _resolve_relative(name, is_pkg, child.level, child.module) if child.level else (child.module or "")
                )
                if not (mod == top or mod.startswith(top + ".")):
                    continue
                plain: list[str] = []
                for alias in child.names:
                    sub = f"{mod}.{alias.name}"
                    if sub in g.modules:  # `from pkg import submodule`
                        g.imports.append(Import(name, sub, (), child.lineno, deferred))
                    else:
                        plain.append(alias.name)
                if plain:
                    dst = _longest_module(g, mod)
                    if dst:
                        g.imports.append(Import(name, dst, tuple(plain), child.lineno, deferred))
            visit(child, inner)

    visit(tree, False)


def _longest_module(g: Graph, dotted: str) -> str | None:
    parts = dotted.split(".")
    while parts:
        cand = ".".join(parts)
        if cand in g.modules:
            return cand
        parts.pop()
    return None


def _ancestors(mod: str) -> list[str]:
    parts = mod.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def cycles(g: Graph, *, deferred: bool = True, parents: bool = True) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted.

    ``deferred=False`` ignores imports inside functions. ``parents``: importing ``a.b.c`` runs the ``__init__`` of
    ``a`` and ``a.b`` first, so the import also depends on those packages — except on the importer's own packages,
    which are already being imported when it runs. (Without these edges a package whose ``__init__`` re-exports a
    module that, through another package, imports that package's modules looks acyclic but fails at import time.)
    """
    edges: dict[str, set[str]] = {m: set() for m in g.modules}
    for imp in g.imports:
        if imp.dst == imp.src or not (deferred or not imp.deferred):
            continue
        edges[imp.src].add(imp.dst)
        if parents:
            own = set(_ancestors(imp.src)) | ({imp.src} if imp.src in g.packages else set())
            for pkg in _ancestors(imp.dst):
                if pkg in g.modules and pkg not in own:
                    edges[imp.src].add(pkg)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return sorted(out)


def package_cycles(g: Graph, top: str) -> list[list[str]]:
    """Cycles between the package's parts (a subpackage or a top-level module), ignoring imports inside one part."""

    def part(mod: str) -> str:
        rel = mod[len(top) + 1 :] if mod.startswith(top + ".") else ""
        return rel.split(".")[0] if rel else "(__init__)"

    parts = {part(m) for m in g.modules}
    edges: dict[str, set[str]] = {p: set() for p in parts}
    for imp in g.imports:
        a, b = part(imp.src), part(imp.dst)
        if a != b:
            edges[a].add(b)
    collapsed = Graph({p: Path(p) for p in parts}, set())
    collapsed.imports = [Import(a, b, (), 0, False) for a, bs in edges.items() for b in bs]
    return cycles(collapsed, parents=False)


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _package_of(g: Graph, mod: str) -> str:
    return mod if mod in g.packages else mod.rpartition(".")[0]


def private_imports(g: Graph) -> list[tuple[Import, str]]:
    """Private names taken from another module (``from x import _y``), and private modules (``_x.py``) imported from
    outside their own package: (import, offending name)."""
    out = []
    for imp in g.imports:
        if imp.dst == imp.src:
            continue
        for n in imp.names:
            if _private(n):
                out.append((imp, n))
        leaf = imp.dst.rpartition(".")[2]
        if _private(leaf) and _package_of(g, imp.src) != imp.dst.rpartition(".")[0]:
            out.append((imp, imp.dst))
    return out


def layer_of(mod: str, layers: list[list[str]], top: str) -> int | None:
    """Index of the layer holding ``mod`` (0 = highest); layers list the first component after the package name."""
    rel = mod[len(top) + 1 :] if mod.startswith(top + ".") else ""
    head = rel.split(".")[0] if rel else ""
    for i, layer in enumerate(layers):
        if head in layer:
            return i
    return None


def upward_imports(g: Graph, layers: list[list[str]], top: str) -> list[Import]:
    """Imports from a module to a module of a higher layer (a smaller index) — or across unlisted modules."""
    out = []
    for imp in g.imports:
        a, b = layer_of(imp.src, layers, top), layer_of(imp.dst, layers, top)
        if a is None or b is None:
            continue
        if b < a:
            out.append(imp)
    return out


def unlisted(g: Graph, layers: list[list[str]], top: str) -> list[str]:
    return sorted(m for m in g.modules if m != top and layer_of(m, layers, top) is None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pkg", nargs="?", default=str(Path(__file__).resolve().parents[1] / "src" / "gancompress"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    pkg = Path(args.pkg)
    g = scan(pkg)
    top_level = sorted(p.stem for p in pkg.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    subpackages = sorted(p.name for p in pkg.iterdir() if (p / "__init__.py").exists())
    cyc = cycles(g)
    cyc_top = cycles(g, deferred=False)
    priv = private_imports(g)
    deferred = [i for i in g.imports if i.deferred]
    summary = {
        "modules_total": len(g.modules),
        "top_level_modules": len(top_level),
        "top_level_modules_list": top_level,
        "subpackages": subpackages,
        "imports_inside_package": len(g.imports),
        "deferred_imports": len(deferred),
        "modules_with_deferred_imports": len({i.src for i in deferred}),
        "cycles": len(cyc),
        "modules_in_cycles": sum(len(c) for c in cyc),
        "cycles_top_level_imports_only": len(cyc_top),
        "cycles_between_parts": package_cycles(g, pkg.name),
        "private_cross_imports": len(priv),
    }
    if args.json:
        summary["cycle_members"] = cyc
        summary["private"] = [f"{i.src}:{i.line} <- {i.dst}.{n}" for i, n in priv]
        print(json.dumps(summary, indent=1))
        return 0
    for k, v in summary.items():
        if k != "top_level_modules_list":
            print(f"{k}: {v}")
    for c in cyc:
        print(f"cycle ({len(c)}): {' '.join(m.removeprefix(g_top(pkg)) for m in c)}")
    for i, n in priv:
        print(f"private: {i.src}:{i.line} imports {n if n == i.dst else f'{i.dst}.{n}'}")
    return 0


def g_top(pkg: Path) -> str:
    return pkg.name + "."


if __name__ == "__main__":
    raise SystemExit(main())
