"""The package's floor plan: imports go downwards only, and no two modules import each other.

Every module of ``salesbench/`` is read with :mod:`ast` (nothing is imported):
module-level and function-level ``import``/``from ... import`` statements
(relative ones resolved) and ``importlib.import_module("salesbench....")`` calls
with a literal name become edges of a module graph. The tests fail on

* a cycle between modules (named module by module), and
* an import from a higher layer: ``core`` < ``datasets`` < ``io`` < ``viz`` <
  ``analyses`` < ``report`` < ``cli`` (``salesbench/__init__.py`` is exempt: it
  only maps short names to modules, lazily).

Why ``datasets`` below ``io``: the demo generator writes Parquet files and needs
nothing from ``io``; ``io`` opens the ``demo`` source by calling the generator and
a source spec's ``dataset:`` key by calling the public-data loader.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "salesbench"

#: layer name -> rank; a module may import modules of its own rank or lower
LAYERS = {"core": 0, "datasets": 1, "io": 2, "viz": 3, "analyses": 4, "report": 5, "cli": 6}
#: first package component (or top-level module) -> layer
LAYER_OF_PART = {"core": "core", "datasets": "datasets", "io": "io", "viz": "viz", "analyses": "analyses",
                 "report": "report", "cli": "cli", "__main__": "cli"}
EXEMPT = {"salesbench"}  # the root __init__: lazy name → module map


def module_files(root: Path = PACKAGE) -> dict[str, Path]:
    """``{dotted module name: file}`` for every ``.py`` file under ``root`` (a package's ``__init__`` is the package)."""
    out = {}
    for f in sorted(root.rglob("*.py")):
        parts = list(f.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _resolve(name: str, modules: set[str]) -> str | None:
    """The longest known module that ``name`` is or lies in (``a.b.func`` → ``a.b``)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: set[str]) -> set[str]:
    """The salesbench modules that ``module`` imports anywhere in its file."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # ``from pkg import sub`` imports the module pkg.sub when there is one, else names of pkg
            names += [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix for a in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called == "import_module" and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                names.append(node.args[0].value)
    out = set()
    for name in names:
        if name == "salesbench" or name.startswith("salesbench."):
            target = _resolve(name, modules)
            if target is not None and target != module:
                out.add(target)
    return out


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """``{module: modules it imports}`` over the whole package."""
    files = module_files(root)
    known = set(files)
    return {m: imports_of(m, f, known) for m, f in files.items()}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return LAYER_OF_PART.get(parts[1]) if len(parts) > 1 else None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted; a cycle's modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """``(importer, imported)`` pairs where the imported module lies in a higher layer."""
    out = []
    for src, targets in graph.items():
        if src in EXEMPT or layer(src) is None:
            continue
        for dst in targets:
            if dst in EXEMPT or layer(dst) is None:
                continue
            if LAYERS[layer(dst)] > LAYERS[layer(src)]:
                out.append((src, dst))
    return sorted(out)


# --------------------------------------------------------------------------- the checker itself
def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return root / "salesbench"


def test_checker_sees_function_level_relative_and_import_module_imports(tmp_path):
    pkg = _write(tmp_path, {
        "salesbench/__init__.py": "",
        "salesbench/core/__init__.py": "",
        "salesbench/core/a.py": "def f():\n    from salesbench.report import runner\n",
        "salesbench/core/b.py": "from . import a\n",
        "salesbench/core/c.py": "import importlib\nimportlib.import_module('salesbench.viz.theme')\n",
        "salesbench/viz/__init__.py": "", "salesbench/viz/theme.py": "",
        "salesbench/report/__init__.py": "",
        "salesbench/report/runner.py": "from salesbench.core.b import something\n",
    })
    graph = import_graph(pkg)
    assert graph["salesbench.core.a"] == {"salesbench.report.runner"}
    assert graph["salesbench.core.b"] == {"salesbench.core.a"}
    assert graph["salesbench.core.c"] == {"salesbench.viz.theme"}
    assert upward_imports(graph) == [("salesbench.core.a", "salesbench.report.runner"),
                                     ("salesbench.core.c", "salesbench.viz.theme")]
    assert cycles(graph) == [["salesbench.core.a", "salesbench.core.b", "salesbench.report.runner"]]


def test_checker_passes_a_clean_layering(tmp_path):
    pkg = _write(tmp_path, {
        "salesbench/__init__.py": "import importlib\nimportlib.import_module('salesbench.cli')\n",
        "salesbench/cli.py": "from salesbench.io import sources\n",
        "salesbench/core/__init__.py": "", "salesbench/core/errors.py": "",
        "salesbench/io/__init__.py": "", "salesbench/io/sources.py": "from salesbench.core.errors import X\n",
    })
    graph = import_graph(pkg)
    assert graph["salesbench.cli"] == {"salesbench.io.sources"}
    assert upward_imports(graph) == [] and cycles(graph) == []


# --------------------------------------------------------------------------- the package
GRAPH = import_graph()


def test_every_module_has_a_layer():
    assert [m for m in GRAPH if m not in EXEMPT and layer(m) is None] == []


def test_no_import_cycle():
    found = cycles(GRAPH)
    assert found == [], "import cycles:\n" + "\n".join(" ↔ ".join(c) for c in found)


@pytest.mark.parametrize("name", list(LAYERS))
def test_no_import_from_a_higher_layer(name):
    bad = [(s, d) for s, d in upward_imports(GRAPH) if layer(s) == name]
    assert bad == [], f"{name} imports from a higher layer:\n" + "\n".join(f"{s} → {d}" for s, d in bad)
