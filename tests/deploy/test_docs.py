"""The deploy docs name files that exist."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

# A repository path, alone or inside the installed checkout (/opt/lon/src/deploy/...).
PATH = re.compile(r"(?:(?<=/opt/lon/src/)|(?<![\w/]))deploy/[\w./@*-]*[\w@*]")


@pytest.mark.parametrize("doc", ["README.md", "deploy/README.md"])
def test_every_deploy_path_in_the_docs_exists(doc):
    named = set(PATH.findall((ROOT / doc).read_text()))
    assert named, doc
    missing = sorted(p for p in named if not list(ROOT.glob(p)))
    assert missing == []
