"""Shared fixtures: the ../shared folder beside the repository (golden data; never copied in)."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared/ beside the repo root; tests that need it fail (not skip) when it is missing."""
    if not (SHARED / "testdata").is_dir():
        pytest.fail(f"golden data folder {SHARED / 'testdata'} is missing: CI must provide ../shared")
    return SHARED


@pytest.fixture(scope="session")
def testdata(shared_dir: Path) -> Path:
    return shared_dir / "testdata"
