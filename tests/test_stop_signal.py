"""core.stop_signal: a program that is a container's first process leaves at once on docker stop's SIGTERM,
running its ``finally`` blocks, instead of waiting for docker's SIGKILL 10 s later (the Docker side is in
tests/test_docker_faults.py, (d))."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys, time
from pathlib import Path
from core.stop_signal import leave_on_sigterm
leave_on_sigterm("probe")
try:
    print("ready", flush=True)
    time.sleep(60)                      # blocked, as a trainer waiting for episodes
finally:
    Path(sys.argv[1]).write_text("released")   # what a lease or a Gazebo claim does on the way out
"""


def test_sigterm_leaves_at_once_with_143_and_runs_finally_blocks(tmp_path):
    marker = tmp_path / "released"
    p = subprocess.Popen([sys.executable, "-c", PROBE, str(marker)], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    code = p.wait(timeout=10)
    took = time.monotonic() - t
    err = p.stderr.read()
    assert code == 143 and took < 2, (code, took, err)
    assert marker.read_text() == "released"
    assert "probe: SIGTERM (docker stop): leaving now" in err and "Traceback" not in err, err
