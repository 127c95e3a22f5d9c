"""The package boundaries that make the architecture: checked on every import statement."""

from __future__ import annotations

import ast
import pathlib

import pytest

from tests.conftest import ROOT

FORBIDDEN = {
    "loadgen": {"grpc", "google", "lon", "protos", "qdl", "sut_server", "zstandard"},
    "qdl": {"lon", "sut_server"},
    "lon": {"grpc", "google", "protos", "sut_server", "zstandard"},
    "sut_server": {"loadgen", "lon", "qdl"},
}
"""Top-level packages each package must never import. The library (qdl) knows nothing of the
commands (lon); the commands reach the network and the wire only through qdl; loadgen stands
alone; the node (sut_server) shares nothing with the LoadGen side."""


def imported_top_levels(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_across_its_boundary(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files"
    offenders = {
        str(f.relative_to(ROOT)): sorted(imported_top_levels(f) & FORBIDDEN[package]) for f in files
    }
    assert {f: bad for f, bad in offenders.items() if bad} == {}


def _package_of(path: pathlib.Path) -> str:
    """The dotted package ``path`` is in (a file outside the project is in none)."""
    if not path.is_relative_to(ROOT):
        return ""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts if parts[-1] == "__init__" else parts[:-1]).removesuffix(".__init__")


def _imports(nodes: list[ast.AST], package: str) -> list[str]:
    found = []
    for tree in nodes:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")
                    base = parts[: len(parts) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                found += [module] + [f"{module}.{a.name}" for a in node.names]
    return found


def absolute_imports(path: pathlib.Path) -> list[str]:
    """Every module ``path`` imports, relative imports resolved, plus ``module.name`` for each
    name of a from-import (it may be a module)."""
    return _imports([ast.parse(path.read_text(), filename=str(path))], _package_of(path))


def private_imports(path: pathlib.Path, packages: tuple[str, ...]) -> list[str]:
    """The private modules or names (a ``_`` part) of ``packages`` that ``path`` imports."""
    found = []
    for module in absolute_imports(path):
        parts = module.split(".")
        if parts[0] in packages and any(p.startswith("_") for p in parts[1:]):
            found.append(module)
    return found


def private_loadgen_imports(path: pathlib.Path) -> list[str]:
    """``loadgen._x`` modules (or ``_x`` names from ``loadgen``) that ``path`` imports."""
    return private_imports(path, ("loadgen",))


def python_files(*packages: str) -> list[pathlib.Path]:
    return sorted(f for p in packages for f in (ROOT / p).rglob("*.py"))


def test_qdl_uses_only_the_public_loadgen():
    offenders = {str(f.relative_to(ROOT)): private_loadgen_imports(f) for f in python_files("qdl")}
    assert {f: bad for f, bad in offenders.items() if bad} == {}


def test_the_commands_use_only_the_public_loadgen_and_qdl():
    offenders = {
        str(f.relative_to(ROOT)): private_imports(f, ("loadgen", "qdl"))
        for f in python_files("lon")
    }
    assert {f: bad for f, bad in offenders.items() if bad} == {}


def test_private_loadgen_imports_are_found(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import loadgen\nfrom loadgen import _config, config\nimport loadgen._run\n")
    assert private_loadgen_imports(sample) == ["loadgen._config", "loadgen._run"]


def test_relative_imports_are_resolved():
    # In qdl/transports/_grpc.py, "from .._wire" is qdl._wire, "from ._queue" qdl.transports._queue.
    found = absolute_imports(ROOT / "qdl" / "transports" / "_grpc.py")
    assert "qdl._wire" in found and "qdl.transports._queue" in found


def test_only_the_grpc_transport_imports_grpc():
    """grpc, and the generated service stubs, belong to qdl/transports/_grpc*.py alone (the
    node, sut_server, is a gRPC server and may import both)."""
    offenders = {}
    for f in python_files("loadgen", "qdl", "lon"):
        grpc_modules = sorted(
            m for m in set(absolute_imports(f)) if m.split(".")[0] == "grpc" or "_pb2_grpc" in m
        )
        if grpc_modules and not (f.parent.name == "transports" and f.name.startswith("_grpc")):
            offenders[str(f.relative_to(ROOT))] = grpc_modules
    assert offenders == {}


def test_only_the_wire_module_uses_the_generated_messages():
    """qdl/_wire.py encodes and decodes every message; the rest of qdl goes through it."""
    offenders = {}
    for f in python_files("qdl"):
        messages = sorted({m for m in absolute_imports(f) if m.endswith("_pb2")})
        if messages and f != ROOT / "qdl" / "_wire.py":
            offenders[str(f.relative_to(ROOT))] = messages
    assert offenders == {}


def top_level_imports(path: pathlib.Path) -> list[str]:
    """What ``path`` imports at its top level (``if TYPE_CHECKING:`` blocks too: a circle the
    type checker follows is still a circle), not in function bodies."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top = [
        n
        for n in tree.body
        if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]
    return _imports(top, _package_of(path))


@pytest.mark.parametrize("package", ["qdl", "sut_server"])
def test_no_import_circles(package):
    """Each module depends only on modules that do not depend on it (qdl: dispatch on the
    Completer, the binding on dispatch; sut_server: the streams on the node's books, never the
    books on the streams), so any of them can be imported first."""
    files = python_files(package)
    names = {_package_of(f) if f.name == "__init__.py" else _package_of(f) + "." + f.stem: f
             for f in files}  # fmt: skip
    graph = {
        name: {m for m in top_level_imports(f) if m in names and m != name}
        for name, f in names.items()
    }
    circles = []
    for start in graph:
        stack, seen = [(start, [start])], {start}
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    circles.append(" -> ".join([*trail, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
    assert circles == []


def test_loadgen_public_names_are_pinned():
    import loadgen

    official = {
        "ConstructFastSUT", "ConstructQDL", "ConstructQSL", "ConstructSUT", "DestroyFastSUT",
        "DestroyQDL", "DestroyQSL", "DestroySUT", "FirstTokenComplete", "LogOutputSettings",
        "LogSettings", "LoggingMode", "QuerySample", "QuerySampleResponse",
        "QuerySamplesComplete", "StartTest", "StartTestWithLogSettings", "TestMode",
        "TestScenario", "TestSettings", "VectorQuerySample", "VectorQuerySampleResponse",
    }  # fmt: skip
    ours = {
        "AbortTest", "LogOutputError", "QuerySampleLibrary", "SystemUnderTest", "TestAborted",
        "TestReport", "run_test",
    }  # fmt: skip
    assert set(loadgen.__all__) == official | ours
    for name in loadgen.__all__:
        assert hasattr(loadgen, name), name


def test_official_names_exist_in_the_official_module_too():
    mlperf_loadgen = pytest.importorskip("mlperf_loadgen")
    import loadgen

    official_names = {n for n in dir(mlperf_loadgen) if not n.startswith("_")}
    ours = set(loadgen.__all__)
    # Everything the official module offers (but its pybind vector helpers) exists in ours.
    missing = official_names - ours - {"VectorQuerySample", "VectorQuerySampleResponse"}
    assert missing == set()
    settings_fields = {n for n in dir(mlperf_loadgen.TestSettings()) if not n.startswith("_")}
    assert settings_fields <= set(dir(loadgen.TestSettings()))


def loadgen_import_graph() -> dict[str, set[str]]:
    """Module -> the ``loadgen`` modules it imports at run time (lazy imports included,
    ``if TYPE_CHECKING:`` blocks not), for the modules directly in ``loadgen/``."""
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / "loadgen").glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        type_only = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)
        }
        found: set[str] = set()
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.level != 1 or id(node) in type_only:
                continue
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        graph[path.stem] = found
    return graph


def test_loadgen_modules_import_one_another_without_circles():
    graph = loadgen_import_graph()
    assert {"_run", "_find_peak", "_config", "_settings"} <= graph.keys()
    circles = []

    def visit(module: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(module, ())):
            if nxt in path:
                circles.append(" -> ".join(path[path.index(nxt) :] + [nxt]))
            elif len(path) < len(graph):
                visit(nxt, path + [nxt])

    for start in graph:
        visit(start, [start])
    assert circles == []
