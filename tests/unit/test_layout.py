"""The house rules of the package's layout, each checked on its source: few modules at
the top, layers that import downwards only, ``slurm/`` on its own, no cycle, and
modules of a readable size."""

from __future__ import annotations

import ast
from pathlib import Path

import jupyterhub_moss

PACKAGE = Path(jupyterhub_moss.__file__).parent
NAME = "jupyterhub_moss"
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = [NAME, *path.relative_to(PACKAGE).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str) -> list[tuple[str, bool]]:
    """(module imported, at module level?) for each import of the package by ``name``."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [target]
            # "from . import state": the module state, where there is one.
            targets += [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for target in targets:
            if target == NAME or target.startswith(NAME + "."):
                found.append((target, id(node) in top))
    return found


def _external(name: str) -> set[str]:
    tree = ast.parse(MODULES[name].read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the modules importing it runs first (a dotted module imports its
    parent packages too)."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name in MODULES:
        for target, _ in _imports(name):
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in MODULES and prefix != name and not name.startswith(prefix + "."):
                    graph[name].add(prefix)
    return graph


def test_at_most_eight_modules_sit_at_the_top_level():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top


def test_no_module_is_over_600_lines():
    long = {
        name: n
        for name, path in MODULES.items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long


def test_no_two_modules_import_each_other_even_through_others():
    graph = _graph()
    cycles = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name, path):
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles


def test_no_import_of_the_package_is_deferred_into_a_function():
    deferred = {
        name: sorted(t for t, at_top in _imports(name) if not at_top)
        for name in MODULES
        if any(not at_top for _, at_top in _imports(name))
    }
    # The admin command loads its subcommands when they are asked for, so that
    # `jupyterhub-moss --help` stays quick: the only deferral allowed.
    deferred.pop(f"{NAME}.cli", None)
    assert not deferred


def test_slurm_imports_only_itself_and_the_metrics_of_the_package():
    leaks = {
        name: sorted(
            t
            for t, _ in _imports(name)
            if not t.startswith(f"{NAME}.slurm") and t != f"{NAME}.metrics"
        )
        for name in MODULES
        if name.startswith(f"{NAME}.slurm")
    }
    assert not {k: v for k, v in leaks.items() if v}


def test_slurm_imports_nothing_of_jupyterhub_tornado_or_traitlets():
    leaks = {
        name: sorted(_external(name) & {"jupyterhub", "tornado", "traitlets"})
        for name in MODULES
        if name.startswith(f"{NAME}.slurm")
    }
    assert not {k: v for k, v in leaks.items() if v}


def test_the_admin_model_imports_neither_choices_web_nor_spawner():
    above = (f"{NAME}.choices", f"{NAME}.web", f"{NAME}.spawner", f"{NAME}.cli")
    leaks = {
        name: sorted(t for t, _ in _imports(name) if t.startswith(above))
        for name in MODULES
        if name.startswith(f"{NAME}.site")
    }
    assert not {k: v for k, v in leaks.items() if v}


def test_errors_is_a_leaf():
    assert _imports(f"{NAME}.errors") == []


def test_outside_slurm_no_module_runs_a_command_but_through_the_slurm_client():
    runners = {
        name
        for name in MODULES
        if not name.startswith(f"{NAME}.slurm") and "run_command" in MODULES[name].read_text()
    }
    assert not runners


def test_no_module_reads_a_private_member_of_another_object():
    import re

    private = re.compile(r"\b(?!self\b|cls\b)[a-z_][a-z0-9_]*\._[a-z][a-z0-9_]*")
    found = {}
    for name, path in MODULES.items():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if private.search(code) and '"' not in code and "'" not in code:
                found[f"{name}:{number}"] = line.strip()
    assert not found
