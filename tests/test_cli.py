"""The `deepracer-local` command: tracks, reward-check, render."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulation.env import REWARDS_DIR
from stack.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stack.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(ROOT), "COLUMNS": "200", "PATH": "/usr/bin:/bin",
                                            **{k: os.environ[k] for k in ("DEEPRACER_TRACKS", "DEEPRACER_TRACKS_URL",
                                                                          "XDG_CACHE_HOME")}})


def test_tracks_lists_every_track(capsys):
    assert main(["tracks"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.count("│") >= 6]
    assert len(rows) == 61
    assert sum(" cw " in r for r in rows) == 7 and sum(" ccw " in r for r in rows) == 54
    reinvent = next(r for r in rows if "reinvent_base" in r)
    assert "17.71" in reinvent and "0.762" in reinvent and "yes" in reinvent
    assert sum(" open " in r for r in rows) == 3


def test_reward_check_default_reward():
    r = run_cli("reward-check", str(REWARDS_DIR / "default.py"), "--track", "reinvent", "--episodes", "2")
    assert r.returncode == 0, r.stderr
    assert "lap_complete" in r.stdout
    assert "params read (2): distance_from_center, track_width" in r.stdout
    assert "OK" in r.stdout


def test_reward_check_reports_the_fault_with_file_line_and_params(tmp_path):
    f = tmp_path / "reward_function.py"
    f.write_text("import math\n\ndef reward_function(params):\n    if params['progress'] > 3:\n"
                 "        return math.nan\n    return 1.0\n")
    r = run_cli("reward-check", str(f), "--track", "reinvent")
    assert r.returncode == 1
    assert str(f) in r.stderr and "NaN" in r.stderr and "episode 0" in r.stderr and "progress:" in r.stderr


def test_reward_check_missing_file(tmp_path):
    r = run_cli("reward-check", str(tmp_path / "nope.py"))
    assert r.returncode == 1 and "nope.py" in r.stderr and "reward_function(params)" in r.stderr


def test_unknown_track_is_one_clear_message():
    r = run_cli("reward-check", str(REWARDS_DIR / "default.py"), "--track", "vegas_trak")
    assert r.returncode == 2
    assert "unknown track 'vegas_trak'" in r.stderr and "Vegas_track" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("name", [p.name for p in sorted(REWARDS_DIR.glob("*.py"))])
def test_every_shipped_reward_passes_the_checker(name):
    from simulation.checker import check_reward

    race = {"race_type": "OBJECT_AVOIDANCE"} if "object" in name else None
    report = check_reward(REWARDS_DIR / name, track="reinvent", episodes=2, race=race)
    assert len(report.episodes) == 2
    assert all(e.reward_min >= 0 for e in report.episodes)


def test_render_writes_a_png(tmp_path):
    out = tmp_path / "reinvent.png"
    assert main(["render", "--track", "reinvent", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
