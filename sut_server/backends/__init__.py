"""Backends: the built-in ones by name, and any ``module:Class`` plugin (see ``base``)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from .._errors import BackendError

BUILTIN = {
    "echo": "sut_server.backends.echo:EchoBackend",
    "numpy-mlp": "sut_server.backends.numpy_mlp:NumpyMLPBackend",
    "onnx": "sut_server.backends.onnx:OnnxBackend",
    "openai": "sut_server.backends.openai:OpenAIBackend",
    "sglang": "sut_server.backends.sglang:SGLangBackend",
    "synthetic": "sut_server.backends.synthetic:SyntheticBackend",
    "synthetic-llm": "sut_server.backends.synthetic_llm:SyntheticLLMBackend",
}
"""Built-in backend name -> the ``module:Class`` implementing it."""


def load_backend(spec: str, options: Mapping[str, str]) -> Any:
    """Build the backend ``spec`` (a built-in name or ``module:Class``) with ``options``.

    Raises BackendError naming the backend for an unknown name, a failed import, a class that does
    not implement ``infer``, or options the backend rejects.
    """
    target = BUILTIN.get(spec, spec)
    if ":" not in target:
        raise BackendError(
            f"unknown backend {spec!r} (built-in: {', '.join(sorted(BUILTIN))}; "
            "or module:Class for a plugin)"
        )
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise BackendError(
            f"backend {spec!r}: cannot import module {module_name!r}: {exc}"
        ) from exc
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise BackendError(f"backend {spec!r}: module {module_name!r} has no class {class_name!r}")
    if not callable(getattr(cls, "infer", None)) and not inspect.iscoroutinefunction(
        getattr(cls, "generate", None)
    ):
        raise BackendError(
            f"backend {spec!r}: class {class_name!r} has neither infer() (a batch backend) nor "
            "async generate() (a per-request backend)"
        )
    try:
        return cls(dict(options))
    except BackendError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise BackendError(f"backend {spec!r}: {exc}") from exc
    except Exception as exc:
        raise BackendError(f"backend {spec!r} failed to start: {exc!r}") from exc
