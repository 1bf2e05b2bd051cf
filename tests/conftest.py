"""Shared fixtures: the golden data kept in the repository (tests/golden/, see its PROVENANCE.md)."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden"


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The golden data folder inside the repository; a clone without it is broken, so fail, never skip."""
    if not (GOLDEN / "README.md").is_file():
        pytest.fail(f"golden data folder {GOLDEN} is missing from this checkout")
    return GOLDEN
