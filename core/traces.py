"""Writers for what users' analysis tools read (spec section 5): sim-trace CSV and metrics JSON.

The formats are the simapp's (markov/metrics): sim-trace files are its header plus ``str(value)``
per column (Python booleans as True/False, a continuous action as "[steer speed]" with a space, so
no field needs quoting); the ``SIM_TRACE_LOG:`` line uses its printf precisions. Metrics JSON use its
keys, integer milliseconds and the display form of the episode status.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, Mapping, Sequence

from . import race_status

SIMTRACE_COLUMNS: tuple[str, ...] = (
    "episode", "steps", "X", "Y", "yaw", "steer", "throttle", "action", "reward", "done",
    "all_wheels_on_track", "progress", "closest_waypoint", "track_len", "tstamp", "episode_status",
    "pause_duration", "obstacle_crash_counter", "wall_clock",
)
#: The simapp's sim_trace_log format, one conversion per column above.
_LOG_FORMATS = ("%d", "%d", "%.4f", "%.4f", "%.4f", "%.2f", "%.2f", "%s", "%.4f", "%s", "%s", "%.4f", "%d", "%.2f",
                "%s", "%s", "%.2f", "%d", "%.4f")
SIM_TRACE_LOG_PREFIX = "SIM_TRACE_LOG:"
#: TrainingMetrics.json "version" (markov.constants.METRICS_VERSION).
METRICS_VERSION = 2.0


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars; a float32 keeps its short decimal form (0.1, not 0.10000000149)."""
    if hasattr(value, "dtype") and getattr(value, "ndim", None) == 0:
        return float(str(value)) if value.dtype.kind == "f" else value.item()
    return value


def format_action(action: Any) -> Any:
    """A discrete action index as an int; a continuous (steer deg, speed m/s) pair as "[steer speed]"."""
    action = _plain(action)
    if isinstance(action, str) or isinstance(action, (int, float)) and not isinstance(action, bool):
        return int(action) if isinstance(action, float) and action.is_integer() else action
    values = [_plain(v) for v in action]
    if len(values) != 2:
        raise ValueError(f"a continuous action must be (steering, speed), got {action!r}")
    return f"[{values[0]} {values[1]}]"


def _rows(rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Row dicts from a list of rows or from columns (name -> equal-length sequence)."""
    if isinstance(rows, Mapping):
        lengths = {len(v) for v in rows.values()}
        if len(lengths) > 1:
            raise ValueError(f"sim-trace columns have different lengths: {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        rows = [{k: v[i] for k, v in rows.items()} for i in range(n)]
    out = []
    for i, row in enumerate(rows):
        missing = [c for c in SIMTRACE_COLUMNS if c not in row or row[c] is None]
        unknown = sorted(set(row) - set(SIMTRACE_COLUMNS))
        if missing or unknown:
            raise ValueError(f"sim-trace row {i}: missing {missing or 'nothing'}, unknown {unknown or 'nothing'}; "
                             f"columns are {', '.join(SIMTRACE_COLUMNS)}")
        out.append({c: format_action(row[c]) if c == "action" else _plain(row[c]) for c in SIMTRACE_COLUMNS})
    return out


def simtrace_csv(rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]], header: bool = True) -> str:
    """Sim-trace CSV text (header line first unless ``header`` is False), one line per step.

    ``rows``: dicts with exactly the SIMTRACE_COLUMNS keys, or columns of equal length. Units: X, Y
    and track_len in m, yaw and steer in degrees, throttle in m/s, progress in percent, tstamp
    simulated seconds, wall_clock epoch seconds, pause_duration seconds.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
        w.writerow(SIMTRACE_COLUMNS)
    for row in _rows(rows):
        w.writerow([str(row[c]) for c in SIMTRACE_COLUMNS])
    return buf.getvalue()


def sim_trace_log_line(row: Mapping[str, Any]) -> str:
    """The line the simapp logs per step: "SIM_TRACE_LOG:" + the values at its precisions (no newline)."""
    (r,) = _rows([row])
    return SIM_TRACE_LOG_PREFIX + ",".join(f % r[c] for f, c in zip(_LOG_FORMATS, SIMTRACE_COLUMNS))


def _status_label(status: str | int) -> str:
    """Display form ("Lap complete") of an internal status string ("lap_complete") or its index."""
    status = _plain(status)
    if isinstance(status, int) and not isinstance(status, bool):
        status = race_status.status_name(status)
    if status not in race_status.DISPLAY:
        raise ValueError(f"episode status {status!r} is not one of {', '.join(race_status.STATUSES)}")
    return race_status.DISPLAY[status]


def _ms(value: float) -> int:
    return int(round(float(value)))


class TrainingMetrics:
    """Builds metrics/TrainingMetrics.json: one entry per episode, training or evaluation phase."""

    def __init__(self, best_model_metric: str = "progress"):
        self.best_model_metric = best_model_metric
        self.metrics: list[dict[str, Any]] = []

    def add_episode(self, reward_score: float, episode: int, trial: int, phase: str, completion_percentage: float,
                    episode_status: str | int, start_time_ms: float, end_time_ms: float) -> dict[str, Any]:
        """Append and return one entry. Times are simulated milliseconds; ``completion_percentage`` is
        the episode's progress in percent (truncated to an int, as the reference does); ``reward_score``
        the episode's total reward (rounded)."""
        if phase not in ("training", "evaluation"):
            raise ValueError(f"phase {phase!r} must be 'training' or 'evaluation'")
        start, end = _ms(start_time_ms), _ms(end_time_ms)
        entry = {"reward_score": int(round(float(reward_score))), "metric_time": end, "start_time": start,
                 "elapsed_time_in_milliseconds": end - start, "episode": int(episode), "trial": int(trial),
                 "phase": phase, "completion_percentage": int(completion_percentage),
                 "episode_status": _status_label(episode_status)}
        self.metrics.append(entry)
        return entry

    def to_json_dict(self) -> dict[str, Any]:
        return {"metrics": list(self.metrics), "version": METRICS_VERSION, "best_model_metric": self.best_model_metric}

    @classmethod
    def from_json_dict(cls, data: Any) -> "TrainingMetrics":
        """Metrics written before (a resumed run appends to them); entries that are not dicts are dropped."""
        out = cls(str(data.get("best_model_metric", "progress")) if isinstance(data, dict) else "progress")
        entries = data.get("metrics", []) if isinstance(data, dict) else []
        out.metrics = [e for e in entries if isinstance(e, dict) and isinstance(e.get("trial"), int)]
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict())


class EvaluationMetrics:
    """Builds metrics/evaluation/evaluation-<ts>.json: one entry per trial (no "version" key, as the reference)."""

    def __init__(self) -> None:
        self.metrics: list[dict[str, Any]] = []

    def add_trial(self, trial: int, completion_percentage: float, episode_status: str | int, start_time_ms: float,
                  end_time_ms: float, crash_count: int = 0, immobilized_count: int = 0, off_track_count: int = 0,
                  reversed_count: int = 0) -> dict[str, Any]:
        """Append and return one trial. Times are simulated milliseconds; the counts are the resets of
        each kind during the trial (reset_count is their sum)."""
        start, end = _ms(start_time_ms), _ms(end_time_ms)
        counts = [int(crash_count), int(immobilized_count), int(off_track_count), int(reversed_count)]
        entry = {"completion_percentage": int(completion_percentage), "metric_time": end, "start_time": start,
                 "elapsed_time_in_milliseconds": end - start, "episode_status": _status_label(episode_status),
                 "crash_count": counts[0], "immobilized_count": counts[1], "off_track_count": counts[2],
                 "reversed_count": counts[3], "reset_count": sum(counts), "trial": int(trial)}
        self.metrics.append(entry)
        return entry

    def to_json_dict(self) -> dict[str, Any]:
        return {"metrics": list(self.metrics)}

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict())


def evaluation_metrics_json(trials: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The evaluation metrics JSON object from trials given as EvaluationMetrics.add_trial keyword dicts."""
    em = EvaluationMetrics()
    for t in trials:
        em.add_trial(**t)
    return em.to_json_dict()
