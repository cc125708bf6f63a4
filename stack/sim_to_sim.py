"""Sim-to-sim: one model raced in the fast simulator and in another simulator, side by side.

``make evaluate MODEL=m BACKEND=gazebo`` (``deepracer-local evaluate --backend gazebo``) or ``BACKEND=dart``
runs the same trials (same checkpoint, seed, race options) in the fast simulator and in the other one and
shows, per simulator: laps completed, mean progress, best and mean lap time, off-track count; and a picture
of every trial's path in both over the track (``sim-to-sim-<ts>.png``). The Gazebo figures are those of our
Gazebo 11 car built from the v5 reference's car facts (docs/gazebo-v5-facts.md); the DART ones those of our
DART car built from the v6 reference's facts (docs/dart-v6-facts.md); neither is the reference simulator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.model_folder import ModelFolder, format_timestamp

from .evaluate import EvaluationResult, evaluate

#: Colours of the simulators in the picture, and their names in tables and titles.
COLOURS = {"fast": "#30a0ff", "gazebo": "#ff8c00", "dart": "#d0309a"}
LABELS = {"fast": "fast simulator", "gazebo": "Gazebo (v5 car)", "dart": "DART (v6 car)"}


@dataclass
class BackendSummary:
    backend: str
    trials: int
    laps: int
    mean_progress: float
    best_lap_s: float | None
    mean_lap_s: float | None
    off_track: int
    result: EvaluationResult

    @classmethod
    def of(cls, backend: str, res: EvaluationResult) -> "BackendSummary":
        laps = [t.lap_time_s for t in res.trials if t.lap_time_s is not None]
        return cls(backend, len(res.trials), len(laps), float(np.mean([t.progress for t in res.trials])),
                   min(laps) if laps else None, float(np.mean(laps)) if laps else None,
                   sum(t.off_track for t in res.trials), res)


def compare_backends(folder: ModelFolder, track: str | None = None, trials: int = 3, checkpoint="last",
                     race: dict | None = None, seed: int = 0, spec_race: dict | None = None,
                     gazebo_master_uri: str | None = None, video: bool = False,
                     video_dir: str | Path | None = None, other: str = "gazebo") -> list[BackendSummary]:
    """Evaluate ``folder``'s policy in the fast simulator, then in ``other`` ("gazebo": the Gazebo sim;
    "dart"); a summary of each (``video``: an MP4 per trial of each, as stack.evaluate.evaluate writes them)."""
    out = []
    for backend in ("fast", other):
        res = evaluate(folder, track, trials=trials, checkpoint=checkpoint, race=race, seed=seed,
                       spec_race=spec_race, backend=backend, gazebo_master_uri=gazebo_master_uri, video=video,
                       video_dir=video_dir)
        out.append(BackendSummary.of(backend, res))
    return out


def plot_sim_to_sim(folder: ModelFolder, summaries: list[BackendSummary], out_dir: str | Path) -> Path:
    """Every trial's path of every simulator over the track: ``out_dir/sim-to-sim-<ts>.png``."""
    from core.plotting import pyplot

    plt = pyplot()

    from simulation.track import Track

    from .pictures import draw_track
    from .report import read_simtrace_episodes

    first = summaries[0].result
    track = Track.from_model_folder(folder, first.track, reverse=first.reversed)
    fig, ax = plt.subplots(figsize=(11, 7))
    draw_track(ax, track)
    for s in summaries:
        for i, rows in enumerate(read_simtrace_episodes(folder, s.result.simtrace_key)):
            xy = np.array([[float(r["X"]), float(r["Y"])] for r in rows])
            if len(xy):
                ax.plot(xy[:, 0], xy[:, 1], color=COLOURS[s.backend], lw=1.4, alpha=0.85,
                        label=f"{s.backend}: {s.laps}/{s.trials} laps" if i == 0 else None)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"{folder.prefix} checkpoint {first.checkpoint} on {track.name}: "
                 + " vs ".join(LABELS[s.backend] for s in summaries))
    out = Path(out_dir) / f"sim-to-sim-{format_timestamp(time.time())}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out
