"""The adversarial suite's world: a small Human3.6M-like prepared file, honest predictions, and a CLI runner.

Every case asserts its exact outcome. Cases are marked ``clear_error`` (one-line refusal, nothing written or
lost) or ``correct_result`` (the right score, or the right file left); `pytest tests/adversarial -m clear_error
--collect-only -q` counts them.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from posebench.cli import main
from posebench.data import write_prepared
from posebench.predictions import write_predictions
from posebench.skeleton import ROOT

OFFSET_MM = 40.0  # honest predictions: every non-root joint 40 mm off along x
HONEST_MPJPE = OFFSET_MM * 16 / 17  # h36m scores all 17 joints, root included (0 after centring)


def h36m_columns(seed: int = 0) -> dict[str, np.ndarray]:
    """S9 and S11, two actions, two cameras, frames 0..191 every 32 (stride 64 keeps half), plus the excluded view."""
    rng = np.random.default_rng(seed)
    rows = [(s, a, c, f) for s in (9, 11) for a in ("Directions", "Walking") for c in (54138969, 55011271)
            for f in range(0, 192, 32)]
    n = len(rows)
    base = rng.normal(0, 250, size=(1, 17, 3))
    j3 = base + rng.normal(0, 20, size=(n, 17, 3)) + np.array([0, 0, 4500.0])
    return {
        "joints3d": j3, "joints2d": rng.uniform(0, 1000, size=(n, 17, 2)),
        "intrinsics": np.tile([1145.0, 1144.0, 512.0, 515.0], (n, 1)),
        "subject": np.array([r[0] for r in rows]), "action": np.array([r[1] for r in rows], dtype=object),
        "sequence": np.array([r[1] for r in rows], dtype=object), "camera": np.array([r[2] for r in rows]),
        "frame": np.array([r[3] for r in rows]),
        "image": np.array([f"S{r[0]}/{r[1]}.{r[2]}/{r[3]:06d}.jpg" for r in rows], dtype=object),
    }


@dataclass
class World:
    root: Path
    data: Path  # DATA folder
    prepared: Path  # DATA/h36m/test.h5
    preds: Path  # honest predictions of every row
    gt: np.ndarray  # joints3d as stored (float32 -> float64)

    def path(self, name: str) -> Path:
        return self.root / name


@pytest.fixture(scope="session")
def _world_master(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("adversarial-master")
    cols = h36m_columns()
    write_prepared(root / "data" / "h36m" / "test.h5", cols, {"dataset": "h36m", "split": "test"})
    gt = cols["joints3d"].astype(np.float32).astype(np.float64)
    pred = gt.copy()
    pred[:, [j for j in range(17) if j != ROOT], 0] += OFFSET_MM
    write_predictions(root / "preds.h5", pred, np.arange(len(gt)))
    return root


@pytest.fixture
def world(_world_master, tmp_path) -> World:
    """A fresh copy per test (cases mutate and clobber files)."""
    shutil.copytree(_world_master, tmp_path, dirs_exist_ok=True)
    prepared = tmp_path / "data" / "h36m" / "test.h5"
    from posebench.data import read_prepared

    return World(tmp_path, tmp_path / "data", prepared, tmp_path / "preds.h5",
                 np.asarray(read_prepared(prepared)["joints3d"], dtype=np.float64))


@dataclass
class Outcome:
    code: int
    output: str


def cli(*args: str, env: dict[str, str] | None = None) -> Outcome:
    """Run `posebench ARGS` in-process; any exception other than click's exits is a traceback and fails the case."""
    result = CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        tb = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"traceback from posebench {' '.join(map(str, args))}:\n{tb}")
    return Outcome(result.exit_code, result.output)


def one_line_error(out: Outcome, *fragments: str) -> str:
    """Assert exit code 1 (or 2 for usage) with a single 'Error:' line holding every fragment; returns the line."""
    assert out.code in (1, 2), f"expected an error exit, got {out.code}: {out.output}"
    lines = [ln for ln in out.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, out.output
    assert "Traceback" not in out.output
    for frag in fragments:
        assert frag in lines[0], f"{frag!r} not in {lines[0]!r}"
    return lines[0]


def tree(folder: Path) -> set[str]:
    """Every file under ``folder`` (relative paths), to assert what a failure left behind."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
