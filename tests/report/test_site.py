"""`posebench site`: a static site that opens from disk in a real headless Chromium without console errors,
whose tables sort, and whose look-alike banner shows on a screenshot.

Run as a script (`python tests/report/test_site.py`) to rewrite the screenshots in docs/img/.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import posebench
from posebench.data import read_prepared
from posebench.predictions import write_predictions
from posebench.report.site import build_site

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import browser  # noqa: E402
from lookalike_tree import sample_and_prepare_mpi3dhp  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BANNER_RGB = (0xFF, 0xF3, 0xCD)


def make_runs(root: Path) -> Path:
    """Two look-alike MPI-INF-3DHP runs (sample + prepare; predictions kept, so worst cases draw); returns RESULTS."""
    data_path = sample_and_prepare_mpi3dhp(root)
    data = read_prepared(data_path)
    gt = np.asarray(data["joints3d_univ"], dtype=np.float64)
    for name, noise in (("lifter-small", 25.0), ("lifter-large", 45.0)):
        pred = gt + np.random.default_rng(len(name) + int(noise)).normal(0, noise, gt.shape)
        write_predictions(root / f"{name}.h5", pred, np.arange(len(gt)))
        posebench.evaluate(root / f"{name}.h5", "mpi3dhp-corrected", data_path, results_dir=root / "results",
                           save=True)
    return root / "results"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    results = make_runs(root)
    files = build_site(root / "site", results, n_boot=200)
    return root / "site", files


def test_pages_are_self_contained(site):
    out, files = site
    names = {f.name for f in files}
    assert "index.html" in names and any(n.startswith("leaderboard-mpi3dhp-corrected") for n in names)
    assert sum(n.startswith("run-") for n in names) == 2
    for f in files:
        text = f.read_text()
        # nothing fetched from a network: no http(s) in any src/href, no external scripts or styles
        assert not re.search(r'(src|href)="(https?:)?//', text), f
        for ref in re.findall(r'(?:src|href)="([^"#]+)"', text):
            assert (out / ref).is_file(), f"{f.name} links {ref}, which is not in the site"
    board = next(f for f in files if f.name.startswith("leaderboard-mpi3dhp-corrected")).read_text()
    assert board.count('<td><a href="run-') == 2  # each local run's row links its page
    run = next(f for f in files if f.name.startswith("run-")).read_text()
    for part in ("LOOK-ALIKE DATA", "Summary (95% cluster-bootstrap intervals)", "Ceiling", "By activity",
                 "Worst cases by pck", "per joint group", "frames pooled"):
        assert part in run, part
    assert "Not drawn" not in run  # the predictions were kept, so the worst cases are drawn


@pytest.mark.skipif(browser.available() is not None, reason=str(browser.available()))
def test_site_in_headless_chromium(site, tmp_path):
    out, files = site
    with browser.Browser() as b:
        for f in files:
            b.open(f)
            assert b.errors() == [], f"{f.name}: {b.errors()}"
            assert b.js("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"), f.name
        board = next(f for f in files if f.name.startswith("leaderboard-mpi3dhp-corrected"))
        b.open(board)
        col = b.js("Array.from(document.querySelectorAll('table.sortable th')).findIndex(th => "
                   "th.textContent.startsWith('mpjpe'))")
        assert col > 0

        def column() -> list[float | None]:
            cells = b.js(f"Array.from(document.querySelectorAll('table.sortable tbody tr')).map(r => "
                         f"r.cells[{col}].getAttribute('data-value'))")
            return [float(c) if c not in (None, "") else None for c in cells]

        before = column()
        b.js(f"document.querySelectorAll('table.sortable th')[{col}].click()")
        up = column()
        numbers = [v for v in up if v is not None]
        assert numbers == sorted(numbers) and up[:len(numbers)] == numbers  # empty cells last
        b.js(f"document.querySelectorAll('table.sortable th')[{col}].click()")
        down = [v for v in column() if v is not None]
        assert down == sorted(numbers, reverse=True)
        assert sorted(numbers) == sorted(v for v in before if v is not None)
        assert b.js(f"document.querySelectorAll('table.sortable th')[{col}].getAttribute('aria-sort')") == "descending"
        b.open(board)
        shot = b.screenshot(tmp_path / "board.png", max_height=900)
        img = np.asarray(Image.open(shot).convert("RGB"))
        band = np.all(np.abs(img[:300].astype(int) - BANNER_RGB) <= 2, axis=-1)
        assert band.sum() > 20000, "no look-alike banner near the top of the leaderboard"
        assert b.js("document.querySelector('.banner').textContent").startswith("LOOK-ALIKE DATA")


def write_screenshots() -> None:
    """Regenerate docs/img/site-leaderboard.png and docs/img/site-run.png."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = build_site(root / "site", make_runs(root), n_boot=500)
        board = next(f for f in files if f.name.startswith("leaderboard-mpi3dhp-corrected"))
        run = next(f for f in files if f.name.startswith("run-"))
        (REPO / "docs" / "img").mkdir(parents=True, exist_ok=True)
        with browser.Browser(width=1280, height=900) as b:
            for f, name in ((board, "site-leaderboard.png"), (run, "site-run.png")):
                b.open(f)
                assert b.errors() == [], b.errors()
                b.screenshot(REPO / "docs" / "img" / name, max_height=2200)
                print(f"wrote docs/img/{name}")


if __name__ == "__main__":
    write_screenshots()
