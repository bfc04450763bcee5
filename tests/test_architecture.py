"""The package's import structure: imports run one way, and private names stay in their package.

Every module under vidbw/ is parsed (not imported), and every import of a vidbw module counts,
at module level or inside a function, so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "vidbw"



def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE_ROOT.rglob("*.py"))}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, str | None]]:
    """(imported vidbw module, imported name or None) for every import in the module."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == "vidbw"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "vidbw":
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.append((submodule, None) if submodule in modules else (target, alias.name))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        targets = {target for target, _ in _imports(name, path, modules)}
        # `import vidbw.a.b` names a module; an unknown dotted name falls back to its nearest module.
        resolved = set()
        for target in targets:
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                resolved.add(target)
        graph[name] = resolved
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _top_package(module: str) -> str:
    """The subpackage a module belongs to (vidbw.shots for vidbw.shots.model), or the module itself."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_import_cycles_between_vidbw_modules():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles (module-level and function-level imports count):\n" + "\n".join(
        " <-> ".join(cycle) for cycle in cycles)


def test_no_import_cycles_between_vidbw_packages():
    """The same one way at the level of subpackages (vidbw.shots, vidbw.train, ...) and top-level modules."""
    graph = _graph()
    packages: dict[str, set[str]] = {_top_package(module): set() for module in graph}
    for module, targets in graph.items():
        packages[_top_package(module)] |= {_top_package(t) for t in targets} - {_top_package(module)}
    cycles = _cycles(packages)
    assert not cycles, "import cycles between packages:\n" + "\n".join(" <-> ".join(cycle) for cycle in cycles)


def test_no_private_names_imported_across_packages():
    modules = _modules()
    crossing = []
    for name, path in modules.items():
        for target, imported in _imports(name, path, modules):
            private = imported is not None and imported.startswith("_") and not imported.startswith("__")
            private_module = any(part.startswith("_") and not part.startswith("__") for part in target.split("."))
            if (private or private_module) and _top_package(target) != _top_package(name):
                crossing.append(f"{name}: from {target} import {imported}")
    assert not crossing, "private names imported across packages:\n" + "\n".join(crossing)


def test_the_graph_sees_imports_at_every_level():
    graph = _graph()
    assert "vidbw.render" in graph["vidbw.pipeline"]  # module level
    assert "vidbw.shots.streaming" in graph["vidbw.style_plan"]  # inside a function
    assert "vidbw.colorize.request" in graph["vidbw.colorize"]  # a package's __init__
