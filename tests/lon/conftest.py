"""Fixtures the command tests share with the QDL tests (pytest finds fixtures by name)."""

from tests.qdl.conftest import echo_nodes, recording  # noqa: F401

__all__ = ["echo_nodes", "recording"]
