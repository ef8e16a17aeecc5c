"""Every citation in the code resolves inside the repository: ``docs/<file>.md``, its ``§N`` or its ``"Section"``.

Code comments cite the method (docs/method.md §N), decisions and the architecture by section title; a citation of a
document that is not in the repository (a spec outside it, an issue number) cannot be followed by a reader.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE_DIRS = ("src", "tests", "benchmarks", "studies", "examples")
CITATION = re.compile(r'docs/([a-z_]+\.md)(?: §(\d+)| "([^"\n]+)"|#([a-z0-9-]+))?')
FOREIGN = re.compile(r"\b(PAPER\.md|DESIGN\.md|\.\./shared|[Ii]ssue #?\d+)")


def _code_files() -> list[Path]:
    files = [p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py")]
    return [p for p in files if p.name != "test_docs.py"]


def _headings(doc: Path) -> list[str]:
    return [line.lstrip("#").strip() for line in doc.read_text().splitlines() if line.startswith("#")]


def _anchor(title: str) -> str:  # GitHub's heading anchors
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def unresolved(text: str, docs: Path) -> list[str]:
    """The citations in ``text`` that do not resolve against the directory ``docs``.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp()); _ = (d / "method.md").write_text("## 2. Loss\\n## Normalisation mode\\n")
        >>> unresolved('docs/method.md §2, docs/method.md §9, docs/method.md "Normalisation mode", docs/x.md', d)
        ['docs/method.md §9', 'docs/x.md']
    """
    bad = []
    for m in CITATION.finditer(text):
        name, section, title, anchor = m.groups()
        doc = docs / name
        if not doc.is_file():
            bad.append(m.group(0))
            continue
        heads = _headings(doc)
        missing = (
            (section and not any(h.startswith(f"{section}. ") for h in heads))
            or (title and not any(h.startswith(title) for h in heads))
            or (anchor and anchor not in {_anchor(h) for h in heads})
        )
        if missing:
            bad.append(m.group(0))
    return bad


def test_the_checker_catches_a_bad_citation(tmp_path: Path) -> None:
    (tmp_path / "method.md").write_text("# Title\n## 7. Reading results honestly\n")
    assert unresolved("see docs/method.md §7", tmp_path) == []
    assert unresolved("see docs/method.md §8 and docs/nothing.md", tmp_path) == ["docs/method.md §8", "docs/nothing.md"]
    assert unresolved('docs/method.md "Missing"', tmp_path) == ['docs/method.md "Missing"']
    assert FOREIGN.search("as PAPER.md §3 says") and FOREIGN.search("issue 7's targets")


@pytest.mark.parametrize("path", _code_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_citations_resolve_inside_the_repository(path: Path) -> None:
    text = path.read_text()
    assert unresolved(text, ROOT / "docs") == []
    assert FOREIGN.findall(text) == []


def test_readme_and_docs_links_resolve() -> None:
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if not link.startswith(("http://", "https://", "mailto:")):
                assert (doc.parent / link).exists(), f"{doc.name}: {link}"
