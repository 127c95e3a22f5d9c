"""The descriptive files of a submission: the system description, measurements, README.

They are written once as skeletons and then left to the person who completes them: what the
runs can tell (division, submitter, how many nodes, the transport, the compression, the node
software) is filled in; everything only a person knows reads ``FILL ME: ...``. The checker
only requires those fields to be non-empty, so it does not catch a forgotten ``FILL ME``;
:func:`unfilled` finds them.

The scenario README gets, per placed run, the exact command line that produced it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import SubmissionError
from ._layout import Layout

FILL_ME = "FILL ME"
DEFAULT_SYSTEM_TYPE = "datacenter,edge"
DEFAULT_STATUS = "available"

_PERSON_FIELDS = {
    "system_name": "the system's name as it should appear in the results table",
    "host_processor_model_name": "CPU model of the SUT nodes",
    "host_processors_per_node": "CPU sockets per SUT node",
    "host_processor_core_count": "cores per CPU",
    "host_processor_frequency": "CPU frequency",
    "host_processor_caches": "CPU caches",
    "host_processor_interconnect": "CPU interconnect",
    "host_memory_capacity": "memory per SUT node",
    "host_memory_configuration": "memory configuration",
    "host_storage_capacity": "storage per SUT node",
    "host_storage_type": "storage type",
    "host_networking": "NICs of the SUT nodes, e.g. 2x 100GbE",
    "host_networking_topology": "how the nodes are cabled",
    "host_network_card_count": "NICs per SUT node",
    "accelerators_per_node": "accelerators per SUT node (0 for none)",
    "accelerator_model_name": "accelerator model, or N/A",
    "accelerator_memory_capacity": "accelerator memory, or N/A",
    "accelerator_memory_configuration": "accelerator memory configuration, or N/A",
    "accelerator_frequency": "accelerator frequency, or N/A",
    "accelerator_host_interconnect": "e.g. PCIe Gen5 x16, or N/A",
    "accelerator_interconnect": "accelerator interconnect, or N/A",
    "accelerator_interconnect_topology": "accelerator interconnect topology, or N/A",
    "accelerator_on-chip_memories": "accelerator on-chip memories, or N/A",
    "framework": "the inference framework the nodes' backend uses",
    "operating_system": "OS of the SUT nodes",
    "other_software_stack": "drivers, libraries and their versions",
    "cooling": "e.g. air",
    "hw_notes": "anything else about the hardware, or empty",
    "system_type_detail": "e.g. rack servers",
    "network_type": "e.g. Ethernet or InfiniBand",
    "network_media": "e.g. copper, fiber",
    "network_rate": "link rate, e.g. 100 Gb/s",
    "nic_loadgen": "NIC of the LoadGen host",
    "number_nic_loadgen": "NICs of the LoadGen host used for the runs",
    "nic_sut": "NIC of the SUT nodes",
    "number_nic_sut": "NICs per SUT node used for the runs",
}

_MEASUREMENT_FIELDS = {
    "input_data_types": "e.g. uint8",
    "retraining": "yes or no",
    "starting_weights_filename": "the reference weights file the model starts from",
    "weight_data_types": "e.g. int8",
    "weight_transformations": "e.g. quantization, or none",
}


def fill_me(hint: str) -> str:
    return f"{FILL_ME}: {hint}"


def system_skeleton(
    layout: Layout, nodes: Sequence[Mapping[str, Any]], network: Mapping[str, str]
) -> dict[str, Any]:
    """The system description for ``nodes`` (each a node's report: name, backend, version...).

    ``network`` holds what the client side knows: ``protocol`` (e.g. "gRPC"), ``compression``,
    ``client_software`` and ``connections``.
    """
    names = ", ".join(str(n.get("name", "?")) for n in nodes) or "none"
    node_software = sorted({_node_software(n) for n in nodes})
    engines = sorted({_engine_version(n) for n in nodes} - {""})
    doc: dict[str, Any] = {
        "division": layout.division,
        "submitter": layout.submitter,
        "status": DEFAULT_STATUS,
        "system_type": DEFAULT_SYSTEM_TYPE,
        "number_of_nodes": len(nodes),
        "is_network": "true" if layout.division == "network" else "false",
        "network_protocol": network.get("protocol", fill_me("e.g. gRPC")),
        "number_connections": network.get("connections", fill_me("connections to the SUT")),
        "net_software_stack_loadgen": network.get("client_software", fill_me("client stack")),
        "net_software_stack_sut": "; ".join(node_software) or fill_me("node software"),
        "network_topology": f"one LoadGen host, {len(nodes)} SUT node(s) ({names}); "
        + fill_me("switches and links between them"),
        "sw_notes": f"samples sent with compression {network.get('compression', 'none')}",
    }
    if engines and all(_engine_version(n) for n in nodes):
        doc["framework"] = ", ".join(engines)  # what every node said serves its backend
    for key, hint in _PERSON_FIELDS.items():
        doc.setdefault(key, fill_me(hint))
    return doc


def _engine_version(node: Mapping[str, Any]) -> str:
    """The version the node's serving engine reported (an LLM server), or ""."""
    engine = node.get("engine")
    return str(engine.get("version") or "") if isinstance(engine, Mapping) else ""


def _node_software(node: Mapping[str, Any]) -> str:
    text = f"sut-server {node.get('version') or '?'} (backend {node.get('backend') or '?'}"
    engine = _engine_version(node)
    return text + (f", engine {engine})" if engine else ")")


def write_json_once(path: str, doc: Mapping[str, Any]) -> bool:
    """Write ``doc`` unless the file exists (a person may have completed it); True if written."""
    if os.path.exists(path):
        return False
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    except OSError as exc:
        raise SubmissionError(f"cannot write {path}: {exc.strerror}") from None
    return True


def measurements_skeleton() -> dict[str, str]:
    return {key: fill_me(hint) for key, hint in _MEASUREMENT_FIELDS.items()}


README_HEAD = """# {benchmark} {scenario} on {system}

FILL ME: how to reproduce these results: the nodes (hardware, `sut-server` command line and
backend), the data set and the model, and anything else a reviewer needs.

The system description `systems/{system}.json` and `measurements.json` were written as
skeletons: replace every `FILL ME` value. `status` ({status}) and `system_type` ({system_type})
are defaults; `system_type` decides which scenarios the checker requires.

## Commands that produced the results

"""


def append_command(layout: Layout, scenario: str, placed: str, command: str) -> str:
    """Record ``command`` (and where its run was placed) in the scenario README, in place of
    the command of the run it replaced there, if any; return the README's path."""
    path = os.path.join(layout.scenario_dir(scenario), "README.md")
    rel = os.path.relpath(placed, layout.scenario_dir(scenario))
    entry = f"`{rel}`:\n\n```sh\n"
    try:
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                text = f.read()
        else:
            text = README_HEAD.format(
                benchmark=layout.benchmark,
                scenario=scenario,
                system=layout.system,
                status=DEFAULT_STATUS,
                system_type=DEFAULT_SYSTEM_TYPE,
            )
        text = re.sub(re.escape(entry) + r".*?\n```\n\n", "", text, flags=re.DOTALL)
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"{text}{entry}{command}\n```\n\n")
    except OSError as exc:
        raise SubmissionError(f"cannot write {path}: {exc.strerror}") from None
    return path


def write_records(
    layout: Layout,
    scenario: str,
    nodes: Sequence[Mapping[str, Any]],
    network: Mapping[str, str],
) -> list[str]:
    """Write the skeletons that do not exist yet (system, measurements, src/); return them."""
    written = []
    if write_json_once(layout.system_json, system_skeleton(layout, nodes, network)):
        written.append(layout.system_json)
    measurements = os.path.join(layout.scenario_dir(scenario), "measurements.json")
    if write_json_once(measurements, measurements_skeleton()):
        written.append(measurements)
    src_readme = os.path.join(layout.src_dir, "README.md")
    if not os.path.exists(src_readme):
        try:
            os.makedirs(layout.src_dir, exist_ok=True)
            with open(src_readme, "w", encoding="utf-8") as f:
                f.write(
                    f"{FILL_ME}: the code that produced these results (the submission's src/).\n"
                )
        except OSError as exc:
            raise SubmissionError(f"cannot write {src_readme}: {exc.strerror}") from None
        written.append(src_readme)
    return written


def unfilled(paths: Sequence[str]) -> dict[str, int]:
    """How many ``FILL ME`` markers each existing file of ``paths`` still holds."""
    counts = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                n = f.read().count(FILL_ME)
        except OSError:
            continue
        if n:
            counts[path] = n
    return counts
