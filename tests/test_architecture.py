"""The package's boundaries, read from the source with ``ast``: the pipeline flows one way.

The allowed order is written once, here (``LAYERS``). A module may import only from its own layer
or an earlier one; nothing after de-identification imports the identifiable zone's packages or
reads its folders; there is no import cycle (imports inside functions count too).
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from pathlib import Path

import pytest

import analysis

PACKAGE = Path(analysis.__file__).parent

# Each top-level part of the package, in the order the data flows. ``core`` is what every stage
# may use; ``orchestration`` runs the stages (and so may import any of them).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("config", "io", "stages", "manifest")),
    ("domain", ("domain",)),
    ("synthetic", ("synthetic",)),
    ("validate", ("validate",)),
    ("linkage", ("linkage",)),
    ("deidentify", ("deidentify",)),
    ("disclosure", ("disclosure",)),
    ("analyse", ("analyse",)),
    ("reports", ("reports",)),
    ("orchestration", ("pipeline", "cli", "bench")),
)
# The stages that handle identifiable data (names, birth dates, OENs, postal codes).
IDENTIFIABLE = {"synthetic", "validate", "linkage"}
# Stages after de-identification: they may not import the identifiable stages or read their folders.
AFTER_DEIDENTIFY = {"disclosure", "analyse", "reports"}
IDENTIFIABLE_FOLDERS = {"sources", "truth", "reference", "quarantine", "linkage", "incoming"}
# Report notebooks run after de-identification too (the analyst's linkage notebook does not).
REPORT_NOTEBOOKS = ("ministry", "board", "society", "sector", "youth", "outcome_explorer")

LAYER_OF = {part: i for i, (_, parts) in enumerate(LAYERS) for part in parts}
NAME_OF = {i: name for i, (name, _) in enumerate(LAYERS)}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, module: str) -> set[str]:
    """Every ``analysis.*`` module imported anywhere in ``path`` (functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    known = _modules()
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("analysis"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("analysis"):
                continue
            for a in node.names:  # ``from analysis.x import y``: y may be a module
                sub = f"{target}.{a.name}"
                out.add(sub if sub in known else target)
    out.discard(module)
    return {m for m in out if m != "analysis"}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _graph() -> dict[str, set[str]]:
    return {m: _imports(p, m) for m, p in _modules().items()}


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = sorted({_part(m) for m in _modules() if m != "analysis"} - set(LAYER_OF))
    assert unplaced == [], f"add these to LAYERS: {unplaced}"


def test_no_module_imports_a_later_stage() -> None:
    bad = []
    for module, imported in _graph().items():
        if module == "analysis":
            continue
        mine = LAYER_OF[_part(module)]
        for target in imported:
            theirs = LAYER_OF[_part(target)]
            if theirs > mine:
                bad.append(f"{module} ({NAME_OF[mine]}) imports {target} ({NAME_OF[theirs]})")
    assert bad == []


def test_nothing_after_deidentification_imports_the_identifiable_zone() -> None:
    bad = [
        f"{m} imports {t}"
        for m, imported in _graph().items()
        if NAME_OF.get(LAYER_OF.get(_part(m), -1)) in AFTER_DEIDENTIFY
        for t in imported
        if _part(t) in IDENTIFIABLE
    ]
    assert bad == []


def _reads_identifiable_folder(tree: ast.AST) -> list[str]:
    """Attribute reads such as ``cfg.paths.linkage`` / ``paths.sources``."""
    hits = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in IDENTIFIABLE_FOLDERS
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "paths"
        ):
            hits.append(f"line {node.lineno}: paths.{node.attr}")
    return hits


def test_nothing_after_deidentification_reads_identifiable_folders() -> None:
    bad = {}
    for module, path in _modules().items():
        if NAME_OF.get(LAYER_OF.get(_part(module), -1)) in AFTER_DEIDENTIFY:
            hits = _reads_identifiable_folder(ast.parse(path.read_text(encoding="utf-8")))
            if hits:
                bad[module] = hits
    assert bad == {}


@pytest.mark.parametrize("name", REPORT_NOTEBOOKS)
def test_report_notebooks_stay_behind_the_deidentification_boundary(name: str) -> None:
    from analysis.config import NOTEBOOKS_DIR

    nb = json.loads((NOTEBOOKS_DIR / f"{name}.ipynb").read_text(encoding="utf-8"))
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code").replace(
        "%", "#"
    )
    tree = ast.parse(code)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("analysis"):
            imported.add(node.module or "")
            imported.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert not {m for m in imported if _part(m) in IDENTIFIABLE}
    assert _reads_identifiable_folder(tree) == []


def test_every_published_table_goes_through_the_one_release() -> None:
    """Only the analyse stage opens a ``Release``: the reports and notebooks publish what it
    protected (so release-wide consistency and the audit cover every table)."""
    opened = []
    for module, path in _modules().items():
        if _part(module) in {"disclosure", "analyse"}:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Release":
                opened.append(f"{module}:{node.lineno}")
    from analysis.config import NOTEBOOKS_DIR

    for nb_path in sorted(NOTEBOOKS_DIR.glob("*.ipynb")):
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        if any("Release(" in "".join(c["source"]) for c in nb["cells"]):
            opened.append(nb_path.name)
    assert opened == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle() -> None:
    graph = _graph()
    # A package's __init__ re-exporting its own modules is not a cycle between concepts.
    graph = {
        m: {t for t in ts if not (t.startswith(m + ".") or m.startswith(t + "."))}
        for m, ts in graph.items()
    }
    assert _cycles(graph) == []


def test_the_checks_see_a_violation() -> None:
    """The walkers find what they look for (a test of the test)."""
    g: dict[str, set[str]] = defaultdict(set, {"a": {"b"}, "b": {"c"}, "c": {"a"}})
    assert _cycles(g) == [["a", "b", "c"]]
    tree = ast.parse("x = cfg.paths.linkage / 'quality.json'\ny = cfg.paths.analytic")
    assert _reads_identifiable_folder(tree) == ["line 1: paths.linkage"]
