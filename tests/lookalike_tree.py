"""Test helper: a look-alike MPI-INF-3DHP test set sampled and prepared through the CLI (shared by several tests)."""
from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from posebench.cli import main


def sample_and_prepare_mpi3dhp(root: Path, size: int = 32) -> Path:
    """`posebench sample` into root/raw, then `posebench prepare` into root/data; returns the prepared file."""
    run = CliRunner().invoke
    r = run(main, ["sample", "mpi3dhp", "--out", str(root / "raw"), "--split", "test", "--labels", "corrected",
                   "--size", str(size)])
    assert r.exit_code == 0, r.output
    r = run(main, ["prepare", "mpi3dhp", "--split", "test", "--src", str(root / "raw"), "--out", str(root / "data"),
                   "--labels", "corrected", "--size", str(size), "--quiet"])
    assert r.exit_code == 0, r.output
    return root / "data" / "mpi3dhp" / "test-corrected.h5"
