"""The record lon-run leaves beside the LoadGen's logs, which lon-accuracy reads back.

``lon_node_stats.json`` holds what the logs cannot: the nodes (their backend and its options),
the data set (so lon-accuracy can regenerate a synthetic one), the QDL's books and the
per-node traffic. It lives here, apart from both commands, so neither imports the other.
"""

from __future__ import annotations

import json
import os
from typing import Any

NODE_STATS_FILE = "lon_node_stats.json"


def read_node_stats(directory: str) -> tuple[dict[str, Any], str]:
    """The record in ``directory`` and its path; an empty record if it is missing or unreadable
    (the caller then needs the values from its options)."""
    path = os.path.join(directory, NODE_STATS_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return {}, path
    return (record if isinstance(record, dict) else {}), path
