"""deploy/container: the Containerfile and compose file hold together (what they copy exists,
their commands are the project's and parse, ports and names agree), and the commands the image
and compose file run work here, from this checkout's virtual env. Where a container engine with
a daemon and the base image are at hand, the image is also built and run."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from lon._discovery import node_addresses
from lon._run import build_parser as lon_run_parser
from sut_server._cli import build_parser as sut_server_parser
from tests.conftest import FINISHED, ROOT, free_port

CONTAINER = ROOT / "deploy" / "container"
CONTAINERFILE = CONTAINER / "Containerfile"
COMPOSE = CONTAINER / "compose.yaml"
PORT = 50051
BIN = Path(sys.executable).parent


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    lines = [ln for ln in CONTAINERFILE.read_text().splitlines() if not ln.lstrip().startswith("#")]
    text = "\n".join(lines).replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def one(name: str, stage: int = -1) -> str:
    """The argument of instruction ``name`` in build stage ``stage`` (-1: the final image)."""
    stages: list[list[tuple[str, str]]] = []
    for word, rest in instructions():
        if word == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((word, rest))
    (found,) = [rest for word, rest in stages[stage] if word == name]
    return found


def exec_form(text: str) -> list[str]:
    argv = json.loads(text)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), text
    return argv


def healthcheck_argv() -> list[str]:
    options, _, command = one("HEALTHCHECK").partition("CMD ")
    assert options.strip().startswith("--interval")
    return exec_form(command)


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def packages() -> set[str]:
    """The top-level packages pyproject.toml installs."""
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r"packages = \{ find = \{ include = \[([^]]*)\]", text)
    assert match, "pyproject.toml: [tool.setuptools] packages not found"
    return {name.strip(' "*') for name in match.group(1).split(",")}


def test_what_the_containerfile_copies_and_installs_exists():
    for word, rest in instructions():
        if word == "COPY" and not rest.startswith("--from"):
            *sources, _ = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    copied = {rest.split()[0] for w, rest in instructions() if w == "COPY"}
    assert packages() <= copied  # every package goes into the image
    extras = set(metadata.metadata("lon").get_all("Provides-Extra") or [])
    (default_extras,) = [r for w, r in instructions() if w == "ARG" and r.startswith("EXTRAS=")]
    assert set(default_extras.partition("=")[2].split(",")) <= extras


def test_the_image_runs_as_a_user_not_root_and_its_commands_are_the_projects():
    user = one("USER").split(":")[0]
    assert user not in ("", "0", "root")
    entrypoint = exec_form(one("ENTRYPOINT"))
    assert entrypoint == ["sut-server"]
    scripts = {e.name for e in metadata.entry_points(group="console_scripts")}
    assert {"sut-server", "lon-run"} <= scripts
    args = sut_server_parser().parse_args(exec_form(one("CMD")))
    assert args.listen == f"0.0.0.0:{PORT}" and one("EXPOSE") == str(PORT)
    probe = healthcheck_argv()
    assert probe[:3] == ["python", "-m", "sut_server.probe"] and probe[3] == f"127.0.0.1:{PORT}"
    assert one("STOPSIGNAL") == "SIGTERM"


def test_compose_starts_nodes_and_a_lon_run_that_finds_them_on_a_private_network():
    doc = compose()
    node, run = doc["services"]["node"], doc["services"]["lon-run"]
    build = node["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == CONTAINERFILE
    assert node["image"] == run["image"]
    assert node["deploy"]["replicas"] >= 2
    node_args = sut_server_parser().parse_args(node["command"])
    assert node_args.listen.endswith(f":{PORT}")
    assert int(node["stop_grace_period"].rstrip("s")) > node_args.grace
    assert run["entrypoint"] == ["lon-run"]
    run_args = lon_run_parser().parse_args(run["command"])
    assert run_args.nodes == f"dns:node:{PORT}"  # the service's name: every replica
    assert run["depends_on"]["node"]["condition"] == "service_healthy"
    volume, _, mount = run["volumes"][0].partition(":")
    assert volume in doc["volumes"] and run_args.output.startswith(mount + "/")
    assert node["networks"] == run["networks"] == ["sut"]
    assert doc["networks"]["sut"]["internal"] is True


def test_the_images_node_healthcheck_and_the_compose_lon_run_work_here(tmp_path):
    """What the containers would run, from this checkout: the node answers the HEALTHCHECK,
    and the compose file's lon-run command (its node name and output mapped to here) runs."""
    port = str(free_port())
    node_cmd = [
        a.replace(f"0.0.0.0:{PORT}", f"127.0.0.1:{port}")
        for a in compose()["services"]["node"]["command"]
    ]
    node = subprocess.Popen(
        [str(BIN / "sut-server"), *node_cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        probe = healthcheck_argv()
        probe = [sys.executable, *probe[1:3], probe[3].replace(str(PORT), port), "--wait", "60"]
        health = subprocess.run(probe, capture_output=True, text=True, timeout=60)
        assert health.returncode == 0, health.stdout + health.stderr
        run_cmd = [
            a.replace(f"dns:node:{PORT}", f"dns:localhost:{port}").replace(
                "/results", str(tmp_path)
            )
            for a in compose()["services"]["lon-run"]["command"]
        ]
        run = subprocess.run(
            [str(BIN / "lon-run"), *run_cmd, "--set", "min_duration_ms=300",
             "--set", "offline_expected_qps=500"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert run.returncode in FINISHED, run.stderr
        node.send_signal(signal.SIGTERM)
        node.communicate(timeout=30)
    finally:
        if node.poll() is None:
            node.kill()
            node.communicate()
    assert node.returncode == 0
    stats = json.loads((tmp_path / "offline" / "lon_node_stats.json").read_text())
    assert len(stats["nodes"]) == len(node_addresses(f"dns:localhost:{port}", None))
    assert stats["samples_completed"] == stats["samples_issued"] > 0


def engine() -> str:
    """A container engine that can build here, or skip."""
    for name in ("podman", "docker"):
        path = shutil.which(name)
        if path and subprocess.run([path, "info"], capture_output=True, timeout=30).returncode == 0:
            return path
    pytest.skip("no container engine with a running daemon (podman or docker)")


def base_image() -> str:
    args = [r for w, r in instructions() if w == "ARG" and r.startswith("BASE=")]
    return args[0].partition("=")[2]


def test_the_image_builds_and_serves(tmp_path):
    tool = engine()
    base = base_image()
    if subprocess.run([tool, "image", "inspect", base], capture_output=True).returncode != 0:
        pytest.skip(f"base image {base} is not present and cannot be pulled here")
    tag = "lon-test:latest"
    build = [tool, "build", "-f", str(CONTAINERFILE), "-t", tag, str(ROOT)]
    if tool.endswith("podman"):
        build[2:2] = ["--format", "docker"]
    subprocess.run(build, check=True, timeout=900)
    name = f"lon-test-{free_port()}"
    subprocess.run(
        [tool, "run", "-d", "--name", name, tag, "--listen", f"0.0.0.0:{PORT}"],
        check=True, timeout=60,
    )  # fmt: skip
    try:
        probe = subprocess.run(
            [tool, "exec", name, *healthcheck_argv()[:4], "--wait", "60"],
            capture_output=True, text=True, timeout=90,
        )  # fmt: skip
        assert probe.returncode == 0, probe.stdout + probe.stderr
        uid = subprocess.run(
            [tool, "exec", name, "id", "-u"], capture_output=True, text=True, timeout=30
        )
        assert uid.stdout.strip() not in ("", "0")
    finally:
        subprocess.run(shlex.split(f"{tool} rm -f {name}"), capture_output=True, timeout=60)
