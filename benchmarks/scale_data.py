"""The full-size Human3.6M test file for bench_evaluate_scale.py: look-alike S9/S11 rows tiled to the real counts.

The real per-view frame counts come from the official metadata.xml (tests/golden/h36m/metadata.xml), counted as
H36MDataBase.m getNumFrames does: min(min over cameras, mocap // 4) per (subject, action, subaction). S9 317,668 +
S11 232,976 = 550,644 rows; `h36m-lifting` selects 543,344 and `h36m` 8,695. The poses are the look-alike tree's
(`posebench sample h36m`, prepared by `posebench prepare h36m`), repeated cyclically within each view, each
row then jittered (2 mm, 0.5 px) so that the file is not periodic and compresses as unique rows do.

    python benchmarks/scale_data.py WORK      # builds WORK/data/h36m/test.h5 and the predictions files
"""
from __future__ import annotations

import math
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
METADATA = REPO / "tests" / "golden" / "h36m" / "metadata.xml"
EXPECTED = {"rows": 550644, "h36m-lifting": 543344, "h36m": 8695}
JITTER_MM, JITTER_PX = 2.0, 0.5  # per-row jitter of the tiled poses (see unrepeat)


def view_counts(metadata: Path = METADATA) -> dict[tuple[int, str], int]:
    """(subject, sequence) -> pose frames per camera of S9 and S11, from metadata.xml <frames>."""
    from posebench.prepare import h36m_tables as T

    frames = list(ET.parse(metadata).getroot().find("frames"))
    out = {}
    for s in T.TEST_SUBJECTS:
        cells = list(frames[s - 1])[1:]
        for a in T.ACTIONS:
            for k in T.SUBACTIONS:
                counts = [int(x) for x in cells[2 * (a - 1) + (k - 1)].text.strip("[]").split()]
                out[(s, T.sequence_table()[(s, a, k)])] = min(min(counts[:4]), counts[4] // 4)
    return out


def lookalike_rows(work: Path) -> dict[str, np.ndarray]:
    """A prepared look-alike S9/S11 test file (every sequence, all cameras), built once under WORK/lookalike."""
    from posebench.data import read_prepared
    from posebench.prepare.h36m import prepare_h36m
    from posebench.sample.h36m import write_tree

    small = work / "lookalike" / "data" / "h36m" / "test.h5"
    if not small.is_file():
        raw = work / "lookalike" / "raw"
        write_tree(raw, seed=0, full=True, subjects=[9, 11], size=32, n_frames=70)
        prepare_h36m(raw, work / "lookalike" / "data", jobs=2, subjects=[9, 11], progress=False)
    return read_prepared(small).columns


def tile(small: dict[str, np.ndarray], counts: dict[tuple[int, str], int]) -> dict[str, np.ndarray]:
    """Columns of the full-size file: each view's look-alike rows repeated to its real frame count."""
    subj, seq, cam = small["subject"], np.asarray(small["sequence"]).astype(str), small["camera"]
    parts, frames, images = [], [], []
    for (s, name), n in sorted(counts.items()):
        for c in np.unique(cam):
            rows = np.flatnonzero((subj == s) & (seq == name) & (cam == c))
            rows = rows[np.argsort(small["frame"][rows])]
            f = np.arange(n)
            parts.append(rows[f % len(rows)])
            frames.append(f)
            img = np.full(n, "", dtype=object)
            img[::64] = [f"images/S{s}/{name}.{c}/{i:06d}.jpg" for i in f[::64]]
            images.append(img)
    take = np.concatenate(parts)
    cols = {k: np.asarray(v)[take] for k, v in small.items()}
    cols["frame"] = np.concatenate(frames).astype(np.int64)
    cols["image"] = np.concatenate(images)
    return unrepeat(cols)


def unrepeat(cols: dict[str, np.ndarray], seed: int = 0) -> dict[str, np.ndarray]:
    """Independent jitter on every tiled row's poses (3D: sigma JITTER_MM, the same offsets on both 3D columns;
    2D: JITTER_PX), so no two rows are equal. Real recordings never repeat: a periodic file gzips ~20x, where
    unique rows gzip as the look-alike's own file does (printed by the benchmark), so only an aperiodic file
    makes a size comparison with it mean anything."""
    rng = np.random.default_rng([seed, len(cols["frame"])])
    jitter = rng.normal(0.0, JITTER_MM, cols["joints3d"].shape).astype(np.float32)
    for k in ("joints3d", "joints3d_univ"):
        if k in cols:
            cols[k] = cols[k] + jitter
    if "joints2d" in cols:
        cols["joints2d"] = cols["joints2d"] + rng.normal(0.0, JITTER_PX, cols["joints2d"].shape).astype(np.float32)
    return cols


def compression(path: Path, column: str = "joints3d") -> float:
    """Stored bytes over raw bytes of one column of a prepared file."""
    import h5py

    with h5py.File(path, "r") as f:
        ds = f[column]
        return ds.id.get_storage_size() / (ds.size * ds.dtype.itemsize)


def build(work: str | Path, seed: int = 0, noise_mm: float = 40.0) -> dict[str, Path]:
    """WORK/data/h36m/test.h5 plus predictions (ground truth + noise) for h36m-lifting and h36m; cached."""
    from posebench.data import read_attrs, write_prepared
    from posebench.evaluation import select_rows
    from posebench.predictions import write_predictions
    from posebench.data import read_prepared
    from posebench.protocols import load_protocol

    work = Path(work)
    data = work / "data" / "h36m" / "test.h5"
    out = {"data": data}
    if not data.is_file():
        counts = view_counts()
        assert 4 * sum(counts.values()) == EXPECTED["rows"], 4 * sum(counts.values())
        small = lookalike_rows(work)
        write_prepared(data, tile(small, counts), {k: v for k, v in read_attrs(
            work / "lookalike" / "data" / "h36m" / "test.h5").items() if k in ("dataset", "split", "sources")})
    for name in ("h36m-lifting", "h36m"):
        path = work / f"pred-{name}.h5"
        out[name] = path
        if path.is_file():
            continue
        p = load_protocol(name)
        prepared = read_prepared(data, columns=["subject", "frame", "sequence", "camera", "action", "joints3d"])
        rows = select_rows(p, prepared)
        assert len(rows) == EXPECTED[name], (name, len(rows))
        rng = np.random.default_rng([seed, len(rows)])
        gt = prepared["joints3d"][rows].astype(np.float64)
        write_predictions(path, gt + rng.normal(0.0, noise_mm / math.sqrt(3), gt.shape), rows)
    return out


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else "/tmp/posebench-scale"))
