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
import os
import subprocess
import sys
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


# --- layers that point one way (issue 23; /work/shared/ARCHITECTURE.md "Imports run one way") -------------------

# (importer's package, imported package): arrows that would point back up. Function-level imports count.
FORBIDDEN = [
    ("augrepro.studies", "augrepro.evaluate"),  # validation and the plan check recipes without the compute
    ("augrepro.studies", "augrepro.train"),
    ("augrepro.results", "augrepro.report"),  # the report reads the results, never the reverse
]


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def upward_arrows(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{importer} -> {imported}"
        for importer, targets in graph.items()
        for imported in targets
        for upper, lower in FORBIDDEN
        if within(importer, upper) and within(imported, lower)
    )


def test_the_forbidden_arrows_are_seen(tmp_path):
    pkg = tmp_path / PACKAGE
    for sub in ("studies", "evaluate", "results", "report"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "evaluate" / "detection.py").write_text("from augrepro.studies import plan\n")  # downward: allowed
    (pkg / "studies" / "plan.py").write_text("def f():\n    from augrepro.evaluate.detection import g\n")
    (pkg / "results" / "stats.py").write_text("import augrepro.report\n")
    assert upward_arrows(import_graph(tmp_path)) == [
        "augrepro.results.stats -> augrepro.report",
        "augrepro.studies.plan -> augrepro.evaluate.detection",
    ]


def test_layers_point_one_way():
    arrows = upward_arrows(import_graph())
    assert not arrows, "imports that point back up (module -> what it imports):\n" + "\n".join(arrows)


def test_loading_recipes_and_pricing_methods_import_no_torch():
    """The modules of validation and the plan, the evaluation recipes' checks and the methods' declared costs load
    without torch (a fresh interpreter: the test session has imported it)."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import augrepro.studies, augrepro.studies.plan, augrepro.studies.selection, augrepro.studies.study\n"
        "from augrepro.augment import AUGMENTATIONS, method_cost\n"
        "from augrepro.studies.evaluations import load_evaluations\n"
        "recipes = load_evaluations(Path(sys.argv[1]) / 'config/evaluations.yaml')\n"
        "assert recipes['fgsm'] and recipes['detection']\n"
        "assert all(method_cost(m) >= 1.0 for m in AUGMENTATIONS.names())\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision'))\n"
        "assert not loaded, loaded[:5]\n"
    )
    root = SRC.parent
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    result = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]


def test_validating_and_pricing_the_whole_paper_imports_no_torch_once_its_builds_passed(tmp_path):
    """select_from_config (every check of every study file) and plan_rows (the plan, the evaluation jobs' costs
    included) on the whole paper: the first time, the methods' builds import torch and leave their marker in the
    working directory's .snakemake/augrepro/; the second time, in a fresh interpreter, nothing imports torch or
    torchvision, and the plan is the same."""
    code = (
        "import sys, yaml\n"
        "from pathlib import Path\n"
        "from augrepro.studies import format_plan, plan_rows, select_from_config\n"
        "root, workdir = Path(sys.argv[1]), Path(sys.argv[2])\n"
        "config = yaml.safe_load(open(root / 'config/paper.yaml'))\n"
        "plan = format_plan(plan_rows(select_from_config(config, root, workdir=workdir)))\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision'))\n"
        "print(repr(plan))\n"
        "print(bool(loaded))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    outputs = []
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-c", code, str(SRC.parent), str(tmp_path)], capture_output=True, text=True, env=env
        )
        assert result.returncode == 0, result.stderr[-2000:]
        outputs.append(result.stdout.splitlines())
    (first_plan, first_torch), (second_plan, second_torch) = outputs
    assert first_torch == "True" and second_torch == "False"
    assert first_plan == second_plan and "GPU-h" in first_plan
    assert len(list((tmp_path / ".snakemake" / "augrepro").glob("builds-*.ok"))) == 1
