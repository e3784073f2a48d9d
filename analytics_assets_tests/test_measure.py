"""The bench's memory figure: a process tree's memory, each page counted once."""

import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from analytics_dev.benchmark.measure import tree_memory

pytestmark = pytest.mark.benchmark

MB = 2**20

# The parent writes 150 MB, then starts a child that holds `child_mb` of its own: either a fork
# that only sleeps (sharing the parent's pages, as a fork before exec does) or a fresh
# interpreter. Both wait for the test to read them.
SCRIPT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    held = bytearray(150 * 2**20)
    for i in range(0, len(held), 4096):
        held[i] = 1
    mode, child_mb = sys.argv[1], int(sys.argv[2])
    if mode == "fork":
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
    else:
        code = f"b = bytearray({child_mb} * 2**20)\\nfor i in range(0, len(b), 4096): b[i] = 1\\n"
        subprocess.Popen([sys.executable, "-c", code + "import time; time.sleep(30)"])
    print("ready", flush=True)
    time.sleep(30)
    """
)


def _tree(mode: str, child_mb: int) -> tuple[subprocess.Popen, psutil.Process]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, mode, str(child_mb)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc, psutil.Process(proc.pid)


def _child_ready(root: psutil.Process, child_mb: int) -> psutil.Process:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        children = root.children()
        if children and children[0].memory_info().rss >= child_mb * MB:
            return children[0]
        time.sleep(0.05)
    raise AssertionError("the child never reached its size")


def _stop(proc: subprocess.Popen, root: psutil.Process) -> None:
    for child in root.children(recursive=True):
        child.kill()
    proc.kill()
    proc.wait()


def test_a_forked_child_sharing_its_parents_pages_is_not_counted_twice():
    proc, root = _tree("fork", 0)
    try:
        child = _child_ready(root, 100)  # the fork's RSS shows the parent's shared pages
        rss_sum = root.memory_info().rss + child.memory_info().rss
        measured = tree_memory(root)
        assert rss_sum > root.memory_info().rss + 100 * MB  # what summing RSS would report
        assert root.memory_info().rss <= measured < root.memory_info().rss + 20 * MB
    finally:
        _stop(proc, root)


def test_a_child_holding_memory_of_its_own_is_counted():
    proc, root = _tree("exec", 100)
    try:
        child = _child_ready(root, 100)
        measured = tree_memory(root)
        assert measured >= root.memory_info().rss + 95 * MB
        assert measured <= root.memory_info().rss + child.memory_info().rss + 5 * MB
    finally:
        _stop(proc, root)
