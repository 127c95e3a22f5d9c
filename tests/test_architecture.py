"""The package boundaries that make the architecture: checked on every import statement."""

from __future__ import annotations

import ast
import pathlib

import pytest

from tests.conftest import ROOT

FORBIDDEN = {
    "loadgen": {"grpc", "google", "protos", "qdl", "sut_server", "zstandard"},
    "qdl": {"sut_server"},
    "sut_server": {"loadgen", "qdl"},
}


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


def private_loadgen_imports(path: pathlib.Path) -> list[str]:
    """``loadgen._x`` modules (or ``_x`` names from ``loadgen``) that ``path`` imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] == "loadgen" and any(p.startswith("_") for p in parts[1:]):
                found.append(module)
    return found


def test_qdl_uses_only_the_public_loadgen():
    offenders = {
        str(f.relative_to(ROOT)): private_loadgen_imports(f)
        for f in sorted((ROOT / "qdl").rglob("*.py"))
    }
    assert {f: bad for f, bad in offenders.items() if bad} == {}


def test_private_loadgen_imports_are_found(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import loadgen\nfrom loadgen import _config, config\nimport loadgen._run\n")
    assert private_loadgen_imports(sample) == ["loadgen._config", "loadgen._run"]


def test_loadgen_public_names_are_pinned():
    import loadgen

    official = {
        "ConstructFastSUT", "ConstructQDL", "ConstructQSL", "ConstructSUT", "DestroyFastSUT",
        "DestroyQDL", "DestroyQSL", "DestroySUT", "FirstTokenComplete", "LogOutputSettings",
        "LogSettings", "LoggingMode", "QuerySample", "QuerySampleResponse",
        "QuerySamplesComplete", "StartTest", "StartTestWithLogSettings", "TestMode",
        "TestScenario", "TestSettings",
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
