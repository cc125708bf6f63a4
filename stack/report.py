"""`make report MODEL=...`: the pictures people look at instead of logs.

- ``training.png``: mean reward and mean progress per iteration (training episodes), and the
  greedy evaluation progress that picks the best checkpoint, from metrics/TrainingMetrics*.json.
- ``evaluation-laps.png``: the laps of the latest evaluation drawn on the track, from its sim-trace.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from core.config import ConfigError  # noqa: E402
from core.model_folder import ModelFolder  # noqa: E402
from core.traces import metrics_iterations  # noqa: E402
from simulation.track import Track  # noqa: E402

from .pictures import draw_track  # noqa: E402


def training_curves(folder: ModelFolder) -> dict[str, dict[int, list[float]]]:
    """{"reward"|"progress"|"eval_progress": {iteration: [values per episode]}} from every worker's metrics."""
    keys = folder.training_metrics_keys()
    if not keys:
        raise ConfigError(f"no training metrics in {folder.describe()}; train the model first")
    out: dict[str, dict[int, list[float]]] = {"reward": defaultdict(list), "progress": defaultdict(list),
                                               "eval_progress": defaultdict(list)}
    for key in keys:
        entries = folder.read_json(key).get("metrics", [])
        for m, it in zip(entries, metrics_iterations(entries)):
            if m["phase"] == "training":
                out["reward"][it].append(float(m["reward_score"]))
                out["progress"][it].append(float(m["completion_percentage"]))
            else:
                out["eval_progress"][it].append(float(m["completion_percentage"]))
    return out


def plot_training(folder: ModelFolder, out: Path) -> Path:
    curves = training_curves(folder)
    fig, (ax_r, ax_p) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
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
    ax_p.set_xlabel("iteration (policy version)")
    ax_p.set_ylim(0, 105)
    ax_p.legend()
    for ax in (ax_r, ax_p):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def latest_evaluation_trace(folder: ModelFolder) -> tuple[str, list[dict]] | None:
    keys = sorted(k for k in folder.storage.list(folder.key("")) if k.endswith("evaluation-simtrace/0-iteration.csv"))
    if not keys:
        return None
    text = folder.storage.get_bytes(keys[-1]).decode()
    return keys[-1], list(csv.DictReader(io.StringIO(text)))


def plot_evaluation_laps(folder: ModelFolder, track_name: str, out: Path) -> Path | None:
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
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def write_report(folder: ModelFolder, out_dir: str | Path, track_name: str) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [plot_training(folder, out_dir / "training.png")]
    laps = plot_evaluation_laps(folder, track_name, out_dir / "evaluation-laps.png")
    if laps is not None:
        written.append(laps)
    return written


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
