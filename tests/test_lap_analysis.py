"""A lap against the track's reference lap (stack.lap_analysis): per-segment times from a sim-trace."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.car import STEP_HZ
from simulation.raceline import load_or_compute
from simulation.track import Track
from stack.lap_analysis import SEGMENTS, compare_lap, summary_line


@pytest.fixture(scope="module")
def line():
    return load_or_compute(Track.load("reinvent_base"))[0]


def lap_rows(line, time_at_fraction) -> list[dict]:
    """Sim-trace rows (text values, as csv.DictReader gives them) of a lap whose car reaches fraction f
    of the lap at time_at_fraction(f) [s], one row per 1/15 s step."""
    total_s = time_at_fraction(1.0)
    fractions = np.linspace(0.0, 1.0, 20001)
    times = np.array([time_at_fraction(f) for f in fractions])
    steps = np.arange(1, int(np.ceil(total_s * STEP_HZ)) + 1)
    progress = np.interp(steps / STEP_HZ, times, fractions) * 100.0
    rows = [{"steps": str(s), "progress": f"{p:.4f}", "episode_status": "in_progress", "X": "0", "Y": "0"}
            for s, p in zip(steps, progress)]
    rows[-1]["progress"], rows[-1]["episode_status"] = "100.0", "lap_complete"
    return rows


def line_time(line, f: float) -> float:
    step = line.station_m[1] - line.station_m[0]
    total = line.station_m[-1] + step
    return float(np.interp(f * total, np.append(line.station_m, total), np.append(line.time_s, line.lap_time_s)))


def test_a_lap_on_the_reference_timing_loses_nothing_anywhere(line):
    cmp = compare_lap(lap_rows(line, lambda f: line_time(line, f)), line)
    assert len(cmp.segments) == SEGMENTS
    assert cmp.ratio == pytest.approx(1.0, abs=1.0 / (STEP_HZ * line.lap_time_s))   # within a step
    assert all(abs(s.lost_s) < 1.5 / STEP_HZ for s in cmp.segments)
    assert sum(s.reference_s for s in cmp.segments) == pytest.approx(line.lap_time_s, abs=1e-6)


def test_time_lost_in_one_stretch_shows_in_that_segment(line):
    # as the line, but 1.5 s slower between 40% and 50% of the lap
    slow = lambda f: line_time(line, f) + 1.5 * float(np.clip((f - 0.4) / 0.1, 0.0, 1.0))  # noqa: E731
    cmp = compare_lap(lap_rows(line, slow), line)
    worst = cmp.costliest(1)[0]
    assert (worst.start_pct, worst.end_pct) == (40.0, 50.0)
    assert worst.lost_s == pytest.approx(1.5, abs=0.15)
    assert cmp.lap_s == pytest.approx(line.lap_time_s + 1.5, abs=0.1)
    text = summary_line(cmp)
    assert f"= {cmp.ratio:.2f}x the reference lap {line.lap_time_s:.2f} s" in text
    assert text.index(f"most time lost at 40-50% {worst.lost_s:+.2f} s") < text.index("(the first segment")


def test_an_unfinished_lap_is_refused(line):
    rows = lap_rows(line, lambda f: line_time(line, f))[:-5]
    with pytest.raises(ValueError, match="completed lap"):
        compare_lap(rows, line)
