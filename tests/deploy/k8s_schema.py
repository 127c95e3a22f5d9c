"""Check a Kubernetes manifest against the API's own types, as the ``kubernetes`` client holds
them (``openapi_types`` and ``attribute_map`` of each model): every key must be a field of its
object, every value of the field's type, and the client's models must build from it (which
enforces required fields). What a server-side dry run would say about the shape, with no cluster.
"""

from __future__ import annotations

import re
from typing import Any

import kubernetes.client as k8s

KINDS = {
    ("v1", "Service"): "V1Service",
    ("v1", "Pod"): "V1Pod",
    ("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("apps/v1", "StatefulSet"): "V1StatefulSet",
    ("batch/v1", "Job"): "V1Job",
}

_LIST = re.compile(r"list\[(.+)\]", re.IGNORECASE)
_DICT = re.compile(r"dict\(str, (.+)\)|Dict\[str, (.+)\]")
_PRIMITIVES = {"str": (str,), "int": (int,), "bool": (bool,), "float": (int, float)}


def problems(doc: dict[str, Any]) -> list[str]:
    """What is wrong with one manifest document (empty when nothing)."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    model = KINDS.get(key)  # type: ignore[arg-type]
    if model is None:
        return [f"apiVersion/kind {key} is not one this check knows"]
    found: list[str] = []
    _walk(doc, model, doc.get("kind", "?"), found)
    if not found:
        try:
            k8s.ApiClient()._ApiClient__deserialize(doc, model)  # type: ignore[attr-defined]
        except (ValueError, TypeError) as exc:
            found.append(f"{doc['kind']}: {exc}")
    return found


def _walk(value: Any, type_name: str, path: str, found: list[str]) -> None:
    if type_name in ("object", "IntOrString"):
        return  # int-or-string and free-form fields
    if type_name in _PRIMITIVES:
        if not isinstance(value, _PRIMITIVES[type_name]) or (
            type_name != "bool" and isinstance(value, bool)
        ):
            found.append(f"{path}: {value!r} is not {type_name}")
        return
    if type_name == "datetime":
        return
    listed = _LIST.fullmatch(type_name)
    if listed:
        if not isinstance(value, list):
            found.append(f"{path}: expected a list")
            return
        for i, item in enumerate(value):
            _walk(item, listed.group(1), f"{path}[{i}]", found)
        return
    mapped = _DICT.fullmatch(type_name)
    if mapped:
        if not isinstance(value, dict):
            found.append(f"{path}: expected a mapping")
            return
        for k, item in value.items():
            _walk(item, mapped.group(1) or mapped.group(2), f"{path}.{k}", found)
        return
    cls = getattr(k8s, type_name, None)
    if cls is None:
        found.append(f"{path}: unknown API type {type_name}")
        return
    if not isinstance(value, dict):
        found.append(f"{path}: expected an object ({type_name})")
        return
    fields = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    for key, item in value.items():
        if key not in fields:
            found.append(f"{path}: {key!r} is not a field of {type_name}")
            continue
        _walk(item, cls.openapi_types[fields[key]], f"{path}.{key}", found)
