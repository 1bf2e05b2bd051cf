"""The golden data is complete and unedited: every file matches the hash recorded when it was copied in."""
from __future__ import annotations

import hashlib
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"  # as tests/conftest.py (not imported: the name `conftest` is ambiguous)


def _recorded() -> dict[str, str]:
    lines = (GOLDEN / "SHA256SUMS").read_text().splitlines()
    return {name.removeprefix("./"): digest for digest, name in (line.split(maxsplit=1) for line in lines if line)}


def test_every_golden_file_matches_its_recorded_hash() -> None:
    recorded = _recorded()
    assert len(recorded) == 9
    for name, digest in recorded.items():
        assert hashlib.sha256((GOLDEN / name).read_bytes()).hexdigest() == digest, name


def test_no_unrecorded_golden_file() -> None:
    present = {p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*") if p.is_file()}
    assert present - {"SHA256SUMS", "PROVENANCE.md"} == set(_recorded())


def test_no_test_reads_the_shared_folder() -> None:
    here = Path(__file__).resolve().parent
    offenders = [p.name for p in here.rglob("*.py") if p != Path(__file__).resolve() and '"shared"' in p.read_text()]
    assert offenders == []
