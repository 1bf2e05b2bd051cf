"""_heap: on glibc, reuse_freed makes repeated block temporaries reuse their pages instead of faulting in new ones."""
from __future__ import annotations

import subprocess
import sys

import pytest

from posebench import _heap

SCRIPT = """
import resource, sys, numpy as np
from posebench import _heap
if sys.argv[1] == "reuse":
    assert _heap.reuse_freed()
for _ in range(3):
    np.ones((8192, 17, 3)).sum()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):  # a block's temporaries, made and freed again and again (3.3 MB each)
    a = np.ones((8192, 17, 3)); b = a * 2.0; c = b - a; del a, b, c
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(_heap._glibc() is None, reason="glibc only")
def test_reuse_freed_stops_block_temporaries_from_faulting_in_fresh_pages():
    faults = {mode: int(subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                                       check=True).stdout) for mode in ("default", "reuse")}
    assert faults["reuse"] * 10 < faults["default"], faults  # measured: ~1,600 against ~96,000 (3 x 820 pages a round)


def test_trim_and_reuse_report_whether_the_library_offers_them():
    assert _heap.trim() is (_heap._glibc() is not None)



ARENAS = """
import re, sys, threading, numpy as np
from posebench import _heap
if sys.argv[1] == "one":
    assert _heap.one_arena()
ready = threading.Barrier(4)
def work():
    ready.wait()  # all four alive at once: an exited thread's arena would be handed to the next
    for _ in range(50):
        np.ones(100_000).sum()  # 0.8 MB temporaries, from the heap of the thread's arena
threads = [threading.Thread(target=work) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
print(sum(1 for line in open("/proc/self/maps") if re.match(r"[0-9a-f]+-[0-9a-f]+ ---p 00000000 00:00 0", line)))
"""


@pytest.mark.skipif(_heap._glibc() is None or not sys.platform.startswith("linux"), reason="glibc on Linux only")
def test_one_arena_keeps_threads_in_the_main_arena():
    """A thread arena is a 64 MB reservation whose unused part is mapped without access: with one arena, the
    threads make none (the other such mappings, e.g. thread stacks' guard pages, are the same either way)."""
    counts = {mode: int(subprocess.run([sys.executable, "-c", ARENAS, mode], capture_output=True, text=True,
                                       check=True).stdout) for mode in ("default", "one")}
    assert counts["one"] < counts["default"], counts
