"""deploy/kubernetes: every manifest is valid against the Kubernetes API types (no cluster), and
the manifests agree with each other and with the project: ports, labels and selectors, the
Service name lon-run's Job resolves, the health service the probes ask, the flags passed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lon._discovery import DNS_PREFIX
from lon._run import build_parser as lon_run_parser
from sut_server._cli import build_parser as sut_server_parser
from sut_server._servicer import SERVICE_NAME
from tests.conftest import ROOT

pytest.importorskip("kubernetes")

from . import k8s_schema  # noqa: E402  (needs the kubernetes client)

MANIFESTS = ROOT / "deploy" / "kubernetes"


def documents() -> dict[str, dict]:
    """kind/name -> the manifest, from every .yaml file but the kustomization."""
    found: dict[str, dict] = {}
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


@pytest.fixture(scope="module")
def docs() -> dict[str, dict]:
    return documents()


@pytest.mark.parametrize("name", sorted(documents()))
def test_every_manifest_is_valid_against_the_api_types(docs, name):
    assert k8s_schema.problems(docs[name]) == []


def test_the_schema_check_catches_a_misspelt_field(docs):
    broken = yaml.safe_load(yaml.safe_dump(docs["StatefulSet/sut-node"]))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["grcp"] = container["readinessProbe"].pop("grpc")
    container["ports"][0]["containerPort"] = "50051"
    found = k8s_schema.problems(broken)
    assert any("'grcp' is not a field of V1Probe" in p for p in found), found
    assert any("containerPort: '50051' is not int" in p for p in found), found
    del container["name"]
    del broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grcp"]
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = 50051
    (missing,) = k8s_schema.problems(broken)  # a required field, found by the client's models
    assert missing.startswith("StatefulSet: ") and "V1Container" in missing and "name" in missing


def test_kustomization_lists_files_that_exist():
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (MANIFESTS / resource).is_file(), resource
    if shutil.which("kubectl"):
        built = subprocess.run(
            ["kubectl", "kustomize", str(MANIFESTS)], capture_output=True, text=True, timeout=60
        )
        assert built.returncode == 0, built.stderr
        kinds = {d["kind"] for d in yaml.safe_load_all(built.stdout)}
        assert kinds == {"Service", "StatefulSet", "PersistentVolumeClaim"}


def node_container(docs) -> dict:
    (container,) = docs["StatefulSet/sut-node"]["spec"]["template"]["spec"]["containers"]
    return container


def test_the_service_selects_the_statefulsets_pods_on_the_nodes_port(docs):
    service, nodes = docs["Service/sut-nodes"], docs["StatefulSet/sut-node"]
    labels = nodes["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["clusterIP"] == "None"  # headless: one DNS record per ready pod
    assert nodes["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert nodes["spec"]["selector"]["matchLabels"].items() <= labels.items()
    container = node_container(docs)
    args = sut_server_parser().parse_args(container["args"])
    port = int(args.listen.rsplit(":", 1)[1])
    (container_port,) = container["ports"]
    (service_port,) = service["spec"]["ports"]
    assert container_port["containerPort"] == service_port["port"] == port
    assert service_port["targetPort"] == container_port["name"]


def test_probes_ask_the_nodes_grpc_health_service(docs):
    container = node_container(docs)
    port = container["ports"][0]["containerPort"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == port
    assert container["readinessProbe"]["grpc"]["service"] == SERVICE_NAME


def test_one_node_per_machine_with_resources_and_a_grace_longer_than_the_nodes(docs):
    pod = docs["StatefulSet/sut-node"]["spec"]["template"]
    (term,) = pod["spec"]["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    container = node_container(docs)
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    grace = sut_server_parser().parse_args(container["args"]).grace
    assert pod["spec"]["terminationGracePeriodSeconds"] > grace
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_job_runs_lon_run_against_the_services_dns_name(docs):
    job, service = docs["Job/lon-run"], docs["Service/sut-nodes"]
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["lon-run"]
    assert container["image"] == node_container(docs)["image"]
    args = lon_run_parser().parse_args(container["args"])
    name, port = args.nodes.removeprefix(DNS_PREFIX).rsplit(":", 1)
    assert args.nodes.startswith(DNS_PREFIX)
    assert name == service["metadata"]["name"] and int(port) == service["spec"]["ports"][0]["port"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "results"]
    assert Path(args.output).is_relative_to(mount["mountPath"])
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert f"PersistentVolumeClaim/{volume['persistentVolumeClaim']['claimName']}" in docs
    assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 0
    reader = docs["Pod/lon-results-reader"]["spec"]
    assert [v["persistentVolumeClaim"] for v in reader["volumes"]] == [
        volume["persistentVolumeClaim"]
    ]
    assert reader["containers"][0]["volumeMounts"][0]["mountPath"] == mount["mountPath"]
