"""Every failure is one line and leaves nothing: full disk, read-only folder, a path under a file, kill -9."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.adversarial.conftest import cli, one_line_error, tree

# Runs `posebench ARGS` with file writes capped at LIMIT bytes (what a full disk does to a writer: EFBIG
# instead of ENOSPC, without needing a small file system).
CAPPED = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from posebench.cli import main
    sys.argv = ["posebench", *sys.argv[2:]]
    main()
""")


def _capped(limit: int, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CAPPED, str(limit), *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def _temps(folder) -> list[str]:
    return sorted(p for p in tree(folder) if p.endswith(".tmp"))


@pytest.mark.clear_error
@pytest.mark.parametrize("limit", [0, 20_000])
def test_disk_full_during_evaluate_save(world, limit):
    before = tree(world.root)
    res = _capped(limit, "evaluate", "-p", "h36m", "-d", world.data, "--predictions", world.preds,
                  "--results-dir", world.path("results"))
    assert res.returncode == 1, (res.returncode, res.stderr)  # not -11 (SIGSEGV), not a traceback
    assert res.stderr.startswith("Error: cannot write ") and res.stderr.strip().endswith("File too large"), res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr  # no 'Exception ignored in ... h5py' at exit
    assert tree(world.root) == before  # no temp file, no errors file without its JSON


@pytest.mark.clear_error
def test_disk_full_while_writing_a_template_or_a_prepared_file(world):
    res = _capped(2_000, "evaluate", "-p", "h36m", "-d", world.data, "--template", world.path("t.h5"))
    assert res.returncode == 1 and res.stderr.strip() == f"Error: cannot write {world.path('t.h5')}: File too large"
    res = _capped(4_000, "sample", "h36m", "--out", world.path("raw"))
    assert res.returncode == 1 and "File too large" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert cli("sample", "mpi3dhp", "--out", world.path("raw3"), "--split", "test", "--labels", "corrected").code == 0
    res = _capped(60_000, "prepare", "mpi3dhp", "--split", "test", "--labels", "corrected", "--src", world.path("raw3"),
                  "--out", world.path("prepared"), "--no-images", "--quiet")
    assert res.returncode == 1, (res.returncode, res.stderr)
    assert res.stderr.strip().splitlines()[-1].startswith("Error: cannot write ") and "Traceback" not in res.stderr
    assert "File too large" in res.stderr
    assert not (world.path("prepared") / "mpi3dhp" / "test-corrected.h5").exists()
    assert _temps(world.root) == []


@pytest.mark.clear_error
def test_read_only_results_folder(world, monkeypatch):
    ro = world.path("ro")
    ro.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: make the folder refuse the way a read-only mount does
        import tempfile

        def refuse(*a, **k):
            raise OSError(errno.EROFS, "Read-only file system")

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    else:
        ro.chmod(0o555)
    try:
        before = tree(world.root)
        one_line_error(cli("evaluate", "-p", "h36m", "-d", world.data, "--predictions", world.preds,
                           "--results-dir", ro), "cannot write", str(ro / "runs"))
        assert tree(world.root) == before
    finally:
        ro.chmod(0o755)


@pytest.mark.clear_error
def test_an_output_path_under_a_regular_file(world):
    before = tree(world.root)
    one_line_error(cli("evaluate", "-p", "h36m", "-d", world.data, "--template", world.prepared / "t.h5"),
                   f"{world.prepared} is a file, not a folder")
    one_line_error(cli("evaluate", "-p", "h36m", "-d", world.data, "--predictions", world.preds,
                       "--results-dir", world.preds / "sub"), f"{world.preds} is a file, not a folder")
    assert tree(world.root) == before


def killed_cli(condition: str) -> str:
    """A script running the posebench CLI (its arguments) that kills itself with SIGKILL when HDF5 is asked to
    create a dataset ``name`` in a file ``self`` for which ``condition`` holds."""
    return textwrap.dedent(f"""
        import os, sys
        import h5py
        real = h5py.Group.create_dataset
        def die(self, name, *a, **k):
            if {condition}:
                os.kill(os.getpid(), 9)
            return real(self, name, *a, **k)
        h5py.Group.create_dataset = die
        from posebench.cli import main
        sys.argv = ["posebench", *sys.argv[1:]]
        main()
    """)


KILLED = killed_cli('name.startswith("errors/")')  # in the middle of writing the run's errors file


@pytest.mark.correct_result
def test_kill_9_during_save_leaves_a_temp_that_the_next_run_sweeps(world):
    results = world.path("results")
    args = ("evaluate", "-p", "h36m", "-d", world.data, "--predictions", world.preds, "--results-dir", results)
    res = subprocess.run([sys.executable, "-c", KILLED, *map(str, args)], capture_output=True, timeout=120)
    assert res.returncode == -signal.SIGKILL
    (leftover,) = _temps(results)
    assert leftover.startswith("runs/.h36m--preds--") and ".errors.h5." in leftover
    out = cli(*args)
    assert out.code == 0, out.output
    files = sorted(tree(results))
    assert [f.rsplit(".", 1)[-1] for f in files] == ["aggregates", "h5", "json"], files
    assert files[1].endswith(".errors.h5"), files


@pytest.mark.correct_result
def test_a_live_writers_temp_file_is_never_swept(world):
    from posebench.io_utils import sweep_leftovers

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = world.path(f".x.h5.{sleeper.pid}.abcd1234.tmp")
        live.write_bytes(b"partial")
        dead = world.path(".y.h5.999999999.abcd1234.tmp")
        dead.write_bytes(b"partial")
        unrelated = world.path(".notes.tmp")
        unrelated.write_bytes(b"mine")
        assert sweep_leftovers(world.root) == [dead]
        assert live.exists() and unrelated.exists() and not dead.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


# while the final file is being written
KILLED_PREPARE = killed_cli('".test-corrected.h5." in self.file.filename and name == "joints3d_univ"')


@pytest.mark.correct_result
def test_an_interrupted_prepare_mpi3dhp_leaves_a_temp_that_the_rerun_sweeps(world):
    raw, data = world.path("raw"), world.path("prepared")
    assert cli("sample", "mpi3dhp", "--out", raw, "--split", "test", "--labels", "corrected").code == 0
    args = ("prepare", "mpi3dhp", "--split", "test", "--labels", "corrected", "--src", raw, "--out", data,
            "--no-images", "--quiet")
    res = subprocess.run([sys.executable, "-c", KILLED_PREPARE, *map(str, args)], capture_output=True, timeout=300)
    assert res.returncode == -signal.SIGKILL, res.stderr
    folder = data / "mpi3dhp"
    (leftover,) = [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert leftover.startswith(".test-corrected.h5.")
    out = cli(*args)
    assert out.code == 0, out.output
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".shards")) == ["test-corrected.h5"]
