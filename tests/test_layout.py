"""The layout CONTRIBUTING.md draws: layers that import only downwards, and no import cycles.

Every ``import`` in the package counts, also the deferred ones inside functions: a deferred
import still ties two modules together.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "fastdnn"

# A module may import its own layer and the layers listed for it. The package root
# (``fastdnn/__init__.py``: the public names) is a face only: nothing below imports it
# (``fastdnn/_internal/version.py`` holds the version).
ALLOWED = {
    "kernels": {"_internal"},
    "_internal": set(),
    "course": {"_internal", "kernels"},
    "serving": {"_internal", "kernels"},
    "improving": {"_internal", "kernels"},
    "app": {"_internal", "kernels", "course", "serving"},
    "top": {"_internal", "kernels", "course", "serving", "app", "improving"},
}


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module):
    parts = module.split(".")
    if len(parts) > 1 and parts[1] == "cli":  # the command line's package: the top layer
        return "top"
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else "top"


def imports(path):
    """Absolute names of the fastdnn modules (or module attributes) ``path`` imports."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "fastdnn"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "fastdnn":
                source = node.module
            else:
                continue
            for alias in node.names:
                name = f"{source}.{alias.name}"
                is_module = (PACKAGE.parent / name.replace(".", "/")).with_suffix(
                    ".py"
                ).exists() or (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()
                found.add(name if is_module else source)
    return found


GRAPH = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def test_the_package_has_its_layers():
    assert {layer(m) for m in GRAPH} == set(ALLOWED)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_go_only_downwards(module):
    own = layer(module)
    wrong = sorted(
        target
        for target in GRAPH[module]
        if layer(target) != own and layer(target) not in ALLOWED[own]
    )
    assert not wrong, f"{module} ({own}) imports {wrong}"


def test_nothing_below_imports_the_package_root():
    # An arrow back up to the root is a cycle that only a function-level import hides
    # (``warmup()`` -> ``_warmup`` -> ``import fastdnn``).
    assert sorted(m for m, targets in GRAPH.items() if "fastdnn" in targets) == []


def test_no_import_cycles():
    # Depth-first search over the whole module graph, the package root included.
    edges = {m: {t for t in ts if t in GRAPH} for m, ts in GRAPH.items()}
    state = {}

    def visit(m, path):
        state[m] = "open"
        for t in sorted(edges.get(m, ())):
            if t.startswith(m + "."):
                continue  # a package importing its own submodules is not a cycle
            if state.get(t) == "open":
                raise AssertionError(" -> ".join([*path, m, t]))
            if t not in state:
                visit(t, [*path, m])
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m, [])


SCREEN = 40
"""Lines a function defined inside another may take: one screen."""


def test_no_closure_is_longer_than_a_screen():
    # A long closure is a module hidden in a function: its state and contract (what
    # another part reaches through) show nowhere (issue #41: create_app was 299 lines).
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for outer in ast.walk(ast.parse(path.read_text())):
            if not isinstance(outer, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(outer):
                if inner is not outer and isinstance(
                    inner, (ast.FunctionDef, ast.AsyncFunctionDef)
                ):
                    lines = inner.end_lineno - inner.lineno + 1
                    if lines > SCREEN:
                        long.append(f"{path.name}: {outer.name}.{inner.name} ({lines} lines)")
    assert not long, long
