"""A model's laps against the track's reference lap (simulation.raceline): the ratio, and where the
time goes.

``compare_lap(rows, raceline)``: one evaluation trial's sim-trace rows (a completed lap) cut into
segments of equal centre-line progress (SEGMENTS of them); in each, the model's time (steps / 15 Hz,
as lap times are counted) against the racing line's time over the same stretch of track. The line's
times are those of a flying lap, so the first segment also holds the standing start (about
STANDING_START_NOTE). ``make evaluate`` prints the ratio and the costliest segments; ``make report``
draws the laps over the line and the time lost per segment (``lap_analysis_figure``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.car import STEP_HZ
from simulation.raceline import Raceline, load_or_compute
from simulation.track import Track

#: Segments of equal centre-line progress a lap is cut into.
SEGMENTS = 10
STANDING_START_NOTE = "the first segment includes the standing start; the reference line's times are a flying lap's"


@dataclass
class Segment:
    """One stretch of track, from ``start_pct`` to ``end_pct`` of the lap's progress."""

    start_pct: float
    end_pct: float
    model_s: float       # the model's time over it [simulated s]
    reference_s: float   # the racing line's time over it [s]

    @property
    def lost_s(self) -> float:
        """Time the model lost here against the line (negative: it was faster)."""
        return self.model_s - self.reference_s


@dataclass
class LapComparison:
    track: str
    lap_s: float                  # the model's lap [simulated s]
    reference_lap_s: float        # the racing line's lap (simulation.raceline)
    segments: list[Segment]

    @property
    def ratio(self) -> float:
        """The model's lap over the reference lap (1.0 = as fast as the line)."""
        return self.lap_s / self.reference_lap_s

    def costliest(self, n: int = 3) -> list[Segment]:
        """The ``n`` segments with the most time lost, most first."""
        return sorted(self.segments, key=lambda s: s.lost_s, reverse=True)[:n]


def reference_line(track: Track) -> Raceline:
    """The racing line of ``track`` in its driving direction (cached; computed in seconds otherwise)."""
    return load_or_compute(track)[0]


def _line_time_at(rl: Raceline, fraction: np.ndarray) -> np.ndarray:
    """Racing-line time [s] from the start line to ``fraction`` (0..1) of the lap's centre-line length."""
    step = rl.station_m[1] - rl.station_m[0]
    total = rl.station_m[-1] + (step if rl.is_loop else 0.0)
    stations = np.append(rl.station_m, total) if rl.is_loop else rl.station_m
    times = np.append(rl.time_s, rl.lap_time_s) if rl.is_loop else rl.time_s
    return np.interp(np.asarray(fraction) * total, stations, times)


def compare_lap(rows: list[dict], rl: Raceline, segments: int = SEGMENTS) -> LapComparison:
    """The lap in ``rows`` (one trial's sim-trace rows in step order, values as text, ending with
    lap_complete) against ``rl``. ValueError when the rows are not a completed lap."""
    if not rows or rows[-1].get("episode_status") != "lap_complete":
        raise ValueError("compare_lap needs the rows of a completed lap (last episode_status lap_complete)")
    steps = np.array([float(r["steps"]) for r in rows])
    progress = np.maximum.accumulate(np.array([float(r["progress"]) for r in rows]))  # resets never step back
    t = steps / STEP_HZ
    bounds = np.linspace(0.0, 100.0, segments + 1)
    # the model's time at each boundary: the first step at or past it, interpolated between steps
    model_t = np.interp(bounds, np.concatenate([[0.0], progress]), np.concatenate([[0.0], t]))
    model_t[-1] = t[-1]
    line_t = _line_time_at(rl, bounds / 100.0)
    segs = [Segment(float(a), float(b), float(m1 - m0), float(l1 - l0))
            for a, b, m0, m1, l0, l1 in zip(bounds[:-1], bounds[1:], model_t[:-1], model_t[1:], line_t[:-1], line_t[1:])]
    return LapComparison(rl.track_name, float(t[-1]), rl.lap_time_s, segs)


def summary_line(cmp: LapComparison) -> str:
    """One line for a terminal: the lap, the reference, the ratio and the costliest segments."""
    worst = ", ".join(f"{s.start_pct:.0f}-{s.end_pct:.0f}% {s.lost_s:+.2f} s" for s in cmp.costliest(3))
    return (f"best lap {cmp.lap_s:.2f} s = {cmp.ratio:.2f}x the reference lap {cmp.reference_lap_s:.2f} s "
            f"(racing line of {cmp.track}); most time lost at {worst} ({STANDING_START_NOTE})")


def lap_analysis_figure(track: Track, rl: Raceline, laps: list[tuple[str, list[dict]]], best: LapComparison,
                        title: str):
    """Left, the track with the racing line (coloured by speed) and the model's laps (``laps``:
    (label, rows)); right, the time lost per segment of ``best`` against the line."""
    from core.plotting import pyplot

    plt = pyplot()
    from matplotlib.collections import LineCollection

    from .pictures import draw_track

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(16, 6.5), gridspec_kw={"width_ratios": [1.6, 1.0]})
    draw_track(ax, track)
    pts = np.vstack([rl.xy, rl.xy[:1]]) if rl.is_loop else rl.xy
    sp = np.append(rl.speed_mps, rl.speed_mps[0]) if rl.is_loop else rl.speed_mps
    lc = LineCollection(np.stack([pts[:-1], pts[1:]], axis=1), cmap="plasma", linewidths=4.0, alpha=0.55, zorder=4)
    lc.set_array(0.5 * (sp[:-1] + sp[1:]))
    ax.add_collection(lc)
    fig.colorbar(lc, ax=ax, label="racing line speed [m/s]", shrink=0.7)
    for label, rows in laps:
        ax.plot([float(r["X"]) for r in rows], [float(r["Y"]) for r in rows], lw=1.4, zorder=6, label=label)
    # segment boundaries along the centre line, numbered
    for s in best.segments:
        x, y = track.center_at(track.length_m * s.start_pct / 100.0)
        ax.annotate(f"{s.start_pct:.0f}%", (x, y), fontsize=7, color="#333", zorder=7)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_aspect("equal")
    ax.set_title(title)
    lost = [s.lost_s for s in best.segments]
    names = [f"{s.start_pct:.0f}-{s.end_pct:.0f}%" for s in best.segments]
    bx.barh(names, lost, color=["#d62728" if v > 0 else "#2ca02c" for v in lost])
    bx.invert_yaxis()
    bx.axvline(0.0, color="#333", lw=0.8)
    bx.set_xlabel("time lost against the racing line [s]")
    bx.set_title(f"best lap {best.lap_s:.2f} s = {best.ratio:.2f}x the reference {best.reference_lap_s:.2f} s\n"
                 "(first segment: standing start against a flying lap)", fontsize=10)
    bx.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


__all__ = ["Segment", "LapComparison", "compare_lap", "reference_line", "summary_line", "lap_analysis_figure",
           "SEGMENTS"]
