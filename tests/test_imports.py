"""No import cycles between augrepro's modules (issue 15: "the import graph of src/ has no cycle").

Every module under src/augrepro is parsed with ``ast``; each ``import`` and ``from ... import`` of an augrepro
module, at module level or inside a function, is an edge of the graph. Deferred (function-level) imports count:
they do not fail at import time, but they are dependencies all the same, and a cycle hidden behind one is the
kind this test is there to catch (at 58d8a85, data.file_pipelines <-> data.loader was one).
``from package import name`` is an edge to the submodule ``package.name`` when there is one, to ``package`` (its
``__init__``) otherwise; a package's ``__init__`` importing its own submodules is an edge like any other. The
parents that Python imports first (``augrepro.data`` before ``augrepro.data.loader``) are not edges: every module
would otherwise be in a cycle with its package's ``__init__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "augrepro"


def module_names(src: Path = SRC) -> dict[str, Path]:
    """{dotted module name: file} of every module of the package (a package is its ``__init__.py``)."""
    names = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """The augrepro modules that module ``name`` (file ``path``) imports, anywhere in its body."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [
                f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in modules else origin for alias in node.names
            ]
        else:
            continue
        out.update(t for t in targets if t in modules and t != name)
    return out


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    files = module_names(src)
    return {name: imports_of(name, path, set(files)) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def describe(component: list[str], graph: dict[str, set[str]]) -> str:
    """The component's modules and, for each, which of the others it imports."""
    members = set(component)
    return "; ".join(f"{m} -> {', '.join(sorted(graph[m] & members))}" for m in component)


def test_the_graph_sees_function_level_and_package_imports(tmp_path):
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from augrepro.sub.a import f\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from augrepro.sub import b\n    return b\n")
    (pkg / "sub" / "b.py").write_text("from . import a\nimport augrepro\n")
    (pkg / "c.py").write_text("from augrepro.sub import f\n")
    graph = import_graph(tmp_path)
    assert graph == {
        "augrepro": set(),
        "augrepro.c": {"augrepro.sub"},
        "augrepro.sub": {"augrepro.sub.a"},
        "augrepro.sub.a": {"augrepro.sub.b"},
        "augrepro.sub.b": {"augrepro", "augrepro.sub.a"},
    }
    assert cycles(graph) == [["augrepro.sub.a", "augrepro.sub.b"]]


def test_no_import_cycles():
    graph = import_graph()
    assert "augrepro.data.loader" in graph and graph["augrepro.data"]  # the tree was found and read
    found = cycles(graph)
    assert not found, "import cycles (module -> the members of its cycle it imports):\n" + "\n".join(
        describe(c, graph) for c in found
    )
