"""`make report MODEL=...`: the pictures people look at instead of logs.

- ``training.png``: mean reward and mean progress per iteration (training episodes), and the
  greedy evaluation progress that picks the best checkpoint, from metrics/TrainingMetrics*.json.
- ``evaluation-laps.png``: the laps of the latest evaluation drawn on the track, from its sim-trace.
- ``lap-analysis.png`` (when the latest evaluation completed a lap): its laps over the track's racing
  line and the time the best one lost per segment against it (stack.lap_analysis).

The training picture also shows the greedy evaluation lap times per iteration against the track's
reference lap (simulation.raceline), and ``write_report`` returns the best lap's comparison.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from core.plotting import pyplot

plt = pyplot()
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from core import race_status  # noqa: E402
from core.config import ConfigError  # noqa: E402
from core.model_folder import ModelFolder  # noqa: E402
from core.traces import metrics_iterations  # noqa: E402
from simulation.track import Track  # noqa: E402

from .lap_analysis import LapComparison, compare_lap, lap_analysis_figure, reference_line  # noqa: E402
from .pictures import draw_track  # noqa: E402

LAP_COMPLETE = race_status.DISPLAY["lap_complete"]


def training_curves(folder: ModelFolder, file_cache: dict | None = None) -> dict[str, dict[int, list[float]]]:
    """{"reward"|"progress"|"eval_progress"|"eval_lap_s": {iteration: [values per episode]}} from every
    worker's metrics (eval_lap_s: the completed greedy evaluation laps [simulated s]). ``file_cache``:
    see ModelFolder.read_training_metrics (the viewer keeps one per model)."""
    per_worker = folder.read_training_metrics(file_cache)
    if not per_worker:
        raise ConfigError(f"no training metrics in {folder.describe()}; train the model first")
    out: dict[str, dict[int, list[float]]] = {"reward": defaultdict(list), "progress": defaultdict(list),
                                               "eval_progress": defaultdict(list), "eval_lap_s": defaultdict(list)}
    for entries in per_worker.values():
        for m, it in zip(entries, metrics_iterations(entries)):
            if m["phase"] == "training":
                out["reward"][it].append(float(m["reward_score"]))
                out["progress"][it].append(float(m["completion_percentage"]))
            else:
                out["eval_progress"][it].append(float(m["completion_percentage"]))
                if m.get("episode_status") == LAP_COMPLETE:
                    out["eval_lap_s"][it].append(float(m["elapsed_time_in_milliseconds"]) / 1000.0)
    return out


def save_figure(fig, out: Path) -> Path:
    """Write ``fig`` as a PNG and let pyplot forget it (the Figure itself can still be shown)."""
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def training_figure(folder: ModelFolder, reference_lap_s: float | None = None):
    """Reward, progress and (when any evaluation lap completed) lap time per iteration; the lap
    panel has ``reference_lap_s`` (the track's racing line) as a dashed line when given."""
    curves = training_curves(folder)
    laps = sorted(i for i, v in curves["eval_lap_s"].items() if v)
    rows = 3 if laps else 2
    fig, axes = plt.subplots(rows, 1, figsize=(10, 3.5 * rows), sharex=True)
    ax_r, ax_p = axes[0], axes[1]
    its = sorted(curves["reward"])
    ax_r.plot(its, [np.mean(curves["reward"][i]) for i in its], color="#1f77b4", marker=".")
    ax_r.set_ylabel("mean episode reward")
    ax_r.set_title(f"{folder.prefix}: training")
    ax_p.plot(its, [np.mean(curves["progress"][i]) for i in its], color="#2ca02c", marker=".", label="training episodes")
    ev = sorted(curves["eval_progress"])
    if ev:
        ax_p.plot(ev, [np.mean(curves["eval_progress"][i]) for i in ev], color="#d62728", marker="o",
                  label="greedy evaluation")
    ax_p.set_ylabel("mean progress %")
    ax_p.set_ylim(0, 105)
    ax_p.legend()
    if laps:
        ax_l = axes[2]
        ax_l.plot(laps, [min(curves["eval_lap_s"][i]) for i in laps], color="#9467bd", marker="o",
                  label="fastest greedy evaluation lap")
        if reference_lap_s is not None:
            ax_l.axhline(reference_lap_s, color="#333", ls="--", lw=1.0,
                         label=f"reference lap {reference_lap_s:.2f} s (racing line)")
        ax_l.set_ylabel("lap time [s]")
        ax_l.legend()
    axes[-1].set_xlabel("iteration (policy version)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def latest_evaluation_trace(folder: ModelFolder) -> tuple[str, list[dict]] | None:
    keys = sorted(k for k in folder.storage.list(folder.key("evaluation-"))
                  if k.endswith("evaluation-simtrace/0-iteration.csv"))
    if not keys:
        return None
    text = folder.storage.get_bytes(keys[-1]).decode()
    return keys[-1], list(csv.DictReader(io.StringIO(text)))


def evaluation_laps_figure(folder: ModelFolder, track_name: str):
    """The latest evaluation's trials drawn on the track; None when there is no evaluation."""
    found = latest_evaluation_trace(folder)
    if found is None:
        return None
    key, rows = found
    track = Track.from_model_folder(folder, track_name)
    fig, ax = plt.subplots(figsize=(11, 7))
    draw_track(ax, track)
    by_episode: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_episode[r["episode"]].append(r)
    for i, (ep, rs_) in enumerate(sorted(by_episode.items(), key=lambda kv: int(kv[0]))):
        xs = [float(r["X"]) for r in rs_]
        ys = [float(r["Y"]) for r in rs_]
        last = rs_[-1]
        ax.plot(xs, ys, lw=1.6, label=f"trial {i + 1}: {float(last['progress']):.0f}% {last['episode_status']}, "
                                      f"{float(last['tstamp']) - float(rs_[0]['tstamp']):.2f} s")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"{folder.prefix}: evaluation laps ({Path(key).parent.parent.name})")
    fig.tight_layout()
    return fig


class Figures(list):
    """matplotlib figures that Jupyter shows one after another (a plain list would show as text)."""

    def _ipython_display_(self) -> None:
        from IPython.display import display

        for fig in self:
            display(fig)


@dataclass
class Report:
    written: list[Path]                  # the pictures, in order
    best_lap: LapComparison | None       # the latest evaluation's best lap against the racing line
    reference_lap_s: float | None        # the track's reference lap (None: no line for it)
    figures: Figures = field(default_factory=Figures)   # the same pictures as figures, in order


def evaluation_laps(folder: ModelFolder, simtrace_key: str, rl) -> tuple[LapComparison, list[tuple[str, list[dict]]]] | None:
    """The best completed lap of the evaluation whose sim-trace is ``simtrace_key`` against ``rl``,
    and every completed lap of it as (label, rows); None when it completed none."""
    laps = [(f"trial {i + 1}", rows)
            for i, rows in enumerate(read_simtrace_episodes(folder, simtrace_key))
            if rows and rows[-1]["episode_status"] == "lap_complete"]
    if not laps:
        return None
    comparisons = [compare_lap(rows, rl) for _, rows in laps]
    labels = [(f"{label}: {c.lap_s:.2f} s", rows) for (label, rows), c in zip(laps, comparisons)]
    return min(comparisons, key=lambda c: c.lap_s), labels


def best_evaluation_lap(folder: ModelFolder, rl) -> tuple[LapComparison, list[tuple[str, list[dict]]]] | None:
    """evaluation_laps of the latest evaluation; None without one."""
    found = latest_evaluation_trace(folder)
    return None if found is None else evaluation_laps(folder, found[0], rl)


def write_report(folder: ModelFolder, out_dir: str | Path, track_name: str, reverse: bool = False) -> Report:
    """The pictures of ``folder`` in ``out_dir`` (see the module docstring), for ``track_name`` driven
    in its own direction or ``reverse``d."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    track = Track.from_model_folder(folder, track_name, reverse=reverse)
    rl = reference_line(track)
    figures = Figures([training_figure(folder, rl.lap_time_s)])
    written = [save_figure(figures[-1], out_dir / "training.png")]
    laps = evaluation_laps_figure(folder, track_name)
    if laps is not None:
        figures.append(laps)
        written.append(save_figure(laps, out_dir / "evaluation-laps.png"))
    best = best_evaluation_lap(folder, rl)
    if best is not None:
        cmp, labelled = best
        figures.append(lap_analysis_figure(track, rl, labelled, cmp,
                                           f"{folder.prefix}: evaluation laps over the racing line of {track.name}"))
        written.append(save_figure(figures[-1], out_dir / "lap-analysis.png"))
    return Report(written, best[0] if best else None, rl.lap_time_s, figures)


def mean_per_iteration(curve: dict[int, list[float]]) -> tuple[list[int], list[float]]:
    """(iterations in order, the mean of each iteration's values) of one of training_curves' curves."""
    its = sorted(i for i, values in curve.items() if values)
    return its, [float(np.mean(curve[i])) for i in its]


def read_simtrace_episodes(folder: ModelFolder, key: str) -> list[list[dict]]:
    """The rows (csv.DictReader dicts, values as text) of the sim-trace ``key``, one list per episode
    in episode order, each in step order: for an evaluation, list i is trial i + 1."""
    rows = csv.DictReader(io.StringIO(folder.storage.get_bytes(key).decode()))
    by_episode: dict[int, list[dict]] = defaultdict(list)
    for r in rows:
        by_episode[int(r["episode"])].append(r)
    return [sorted(by_episode[ep], key=lambda r: int(r["steps"])) for ep in sorted(by_episode)]
