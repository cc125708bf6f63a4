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
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from . import race_status

if TYPE_CHECKING:
    from .messages import Episode

SIMTRACE_COLUMNS: tuple[str, ...] = (
    "episode", "steps", "X", "Y", "yaw", "steer", "throttle", "action", "reward", "done",
    "all_wheels_on_track", "progress", "closest_waypoint", "track_len", "tstamp", "episode_status",
    "pause_duration", "obstacle_crash_counter", "wall_clock",
)
#: The simapp's sim_trace_log format, one conversion per column above.
_LOG_FORMATS = ("%d", "%d", "%.4f", "%.4f", "%.4f", "%.2f", "%.2f", "%s", "%.4f", "%s", "%s", "%.4f", "%d", "%.2f",
                "%s", "%s", "%.2f", "%d", "%.4f")
SIM_TRACE_LOG_PREFIX = "SIM_TRACE_LOG:"
#: The column this project adds after the reference's: the track the row's episode ran on (a model
#: trained on several tracks has one sim-trace per worker and iteration, whatever tracks its cars
#: drove). Written when the rows carry it, always last, so the reference's columns keep their
#: order and readers by header (deepracer-utils) get it as one more column. Not in SIM_TRACE_LOG lines.
TRACK_COLUMN = "track"
#: TrainingMetrics.json "version" (markov.constants.METRICS_VERSION).
METRICS_VERSION = 2.0
#: The key this project adds to each TrainingMetrics.json entry, after the reference's: the iteration
#: (policy version) that played the episode. The reference's "episode" and "trial" count episodes
#: (TrainingMetrics.add_iteration); readers that pick their keys (deepracer-utils) ignore it.
ITERATION_KEY = "iteration"


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


def simtrace_columns(with_track: bool = False) -> tuple[str, ...]:
    """The sim-trace CSV's columns: the reference's, then ``track`` when ``with_track``."""
    return SIMTRACE_COLUMNS + ((TRACK_COLUMN,) if with_track else ())


def _rows(rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]
          ) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """(columns, row dicts) from a list of rows or from columns (name -> equal-length sequence). The
    columns are the reference's, plus ``track`` when the first row has it (then every row must)."""
    if isinstance(rows, Mapping):
        lengths = {len(v) for v in rows.values()}
        if len(lengths) > 1:
            raise ValueError(f"sim-trace columns have different lengths: {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        rows = [{k: v[i] for k, v in rows.items()} for i in range(n)]
    columns = simtrace_columns(bool(rows) and TRACK_COLUMN in rows[0])
    out = []
    for i, row in enumerate(rows):
        missing = [c for c in columns if c not in row or row[c] is None]
        unknown = sorted(set(row) - set(columns))
        if missing or unknown:
            raise ValueError(f"sim-trace row {i}: missing {missing or 'nothing'}, unknown {unknown or 'nothing'}; "
                             f"columns are {', '.join(columns)}")
        out.append({c: format_action(row[c]) if c == "action" else _plain(row[c]) for c in columns})
    return columns, out


def simtrace_csv(rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]], header: bool = True) -> str:
    """Sim-trace CSV text (header line first unless ``header`` is False), one line per step.

    ``rows``: dicts with exactly the SIMTRACE_COLUMNS keys (plus ``track``, the track's name, in every
    row or in none), or columns of equal length. Units: X, Y and track_len in m, yaw and steer in
    degrees, throttle in m/s, progress in percent, tstamp simulated seconds, wall_clock epoch
    seconds, pause_duration seconds.
    """
    columns, out = _rows(rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
        w.writerow(columns)
    for row in out:
        w.writerow([str(row[c]) for c in columns])
    return buf.getvalue()


def sim_trace_log_line(row: Mapping[str, Any]) -> str:
    """The line the simapp logs per step: "SIM_TRACE_LOG:" + the values at its precisions (no newline);
    the reference's columns only (a ``track`` value is left out)."""
    _, (r,) = _rows([row])
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
        #: entries recorded and then dropped from memory by forget() (they are in a stored file)
        self.forgotten = 0
        #: (iteration, last training "episode") of the newest entries, while known without a scan (see _tail_now)
        self._tail: tuple[int, int] | None = (-1, 0)

    def add_episode(self, reward_score: float, episode: int, trial: int, phase: str, completion_percentage: float,
                    episode_status: str | int, start_time_ms: float, end_time_ms: float,
                    track: str | None = None) -> dict[str, Any]:
        """Append and return one entry. Times are simulated milliseconds; ``completion_percentage`` is
        the episode's progress in percent (truncated to an int, as the reference does); ``reward_score``
        the episode's total reward (rounded). ``track``: the track the episode ran on, kept as one more
        key, ``track``, after the reference's (readers that pick their keys ignore it); None: no such key."""
        if phase not in ("training", "evaluation"):
            raise ValueError(f"phase {phase!r} must be 'training' or 'evaluation'")
        start, end = _ms(start_time_ms), _ms(end_time_ms)
        entry = {"reward_score": int(round(float(reward_score))), "metric_time": end, "start_time": start,
                 "elapsed_time_in_milliseconds": end - start, "episode": int(episode), "trial": int(trial),
                 "phase": phase, "completion_percentage": int(completion_percentage),
                 "episode_status": _status_label(episode_status)}
        if track is not None:
            entry[TRACK_COLUMN] = str(track)
        self.metrics.append(entry)
        self._tail = None            # an entry added by hand: the counters are read from the entries when needed
        return entry

    def _tail_now(self) -> tuple[int, int]:
        """(iteration, last training "episode") of the entries recorded; (-1, 0) when there are none."""
        if self._tail is None:
            its = metrics_iterations(self.metrics)
            self._tail = (max(its, default=-1), max((m["episode"] for m in self.metrics if m.get("phase") == "training"
                                                     and isinstance(m.get("episode"), int)), default=0))
        return self._tail

    @property
    def last_iteration(self) -> int:
        """The newest iteration recorded (kept after forget()); -1 when none is."""
        return self._tail_now()[0]

    def entries_of(self, iteration: int) -> list[dict[str, Any]]:
        """The entries in memory that add_iteration recorded for ``iteration`` (the newest run of entries)."""
        i = len(self.metrics)
        while i > 0 and self.metrics[i - 1].get(ITERATION_KEY) == iteration:
            i -= 1
        return self.metrics[i:]

    def add_iteration(self, iteration: int, training: Sequence["Episode"], evaluation: Sequence["Episode"],
                      rows: Sequence[Mapping[str, Any]], step_s: float) -> list[dict[str, Any]]:
        """Record one worker's episodes of one iteration with the simapp's numbering; return ``rows``
        renumbered to match, sorted by episode and step.

        ``training`` and ``evaluation``: the iteration's finished episodes (core.messages.Episode, in
        the order they finished); ``rows``: the training episodes' sim-trace rows, whose ``episode`` is
        the env's episode id (Episode.episode_id); ``step_s``: simulated seconds per step.

        The simapp (markov/metrics/s3_metrics.py TrainingMetrics) counts a worker's training episodes
        0, 1, 2, ... across iterations in its sim-trace; in its metrics "episode" is that count + 1,
        "trial" counts the iteration's training episodes from 1, and an evaluation entry repeats the
        episode and trial of the last training episode. deepracer-utils reads iterations from these
        (see metrics_iterations). Each entry also gets ITERATION_KEY. Entries of ``iteration`` or later
        already recorded (a resumed run plays an interrupted iteration again) are replaced, and the
        count goes on from the last training episode kept. Times: start_time is the episode's wall
        clock start [ms since the epoch] (the reference's is its simulator's clock),
        elapsed_time_in_milliseconds simulated time, steps x ``step_s`` (as in the evaluation
        metrics), metric_time start_time + elapsed.
        """
        iteration = int(iteration)
        for phase, episodes in (("training", training), ("evaluation", evaluation)):
            for ep in episodes:
                if ep.phase != phase:
                    raise ValueError(f"episode {ep.episode_id} has phase {ep.phase!r} among the {phase} episodes")
        ids = [ep.episode_id for ep in training]
        if len(set(ids)) != len(ids):
            raise ValueError(f"training episode {next(i for i in ids if ids.count(i) > 1)} is given twice")
        unknown = sorted({row["episode"] for row in rows} - set(ids))
        if unknown:
            raise ValueError(f"sim-trace rows of episode {unknown[0]}, which is not one of the {len(ids)} training "
                             f"episodes of iteration {iteration}")
        newest, last = self._tail_now()
        if iteration <= newest:      # a replay: drop the entries of this iteration and later (a scan, rare)
            if self.forgotten:
                raise ValueError(f"iteration {iteration} replays one recorded before {self.forgotten} entries were "
                                 f"forgotten (stored); read the stored metrics back before recording it")
            self.metrics = [m for m, it in zip(self.metrics, metrics_iterations(self.metrics)) if it < iteration]
            self._tail = None
            last = self._tail_now()[1]
        numbers = {episode_id: last + i for i, episode_id in enumerate(ids, 1)}   # env id -> metrics "episode"
        for ep in list(training) + list(evaluation):
            trial = numbers[ep.episode_id] - last if ep.phase == "training" else len(ids)
            entry = self.add_episode(
                reward_score=float(ep.rewards.sum()), episode=last + trial, trial=trial, phase=ep.phase,
                completion_percentage=ep.progress, episode_status=ep.status, start_time_ms=ep.start_time_ms,
                end_time_ms=ep.start_time_ms + 1000.0 * ep.steps * float(step_s), track=ep.track or None)
            entry[ITERATION_KEY] = iteration
        self._tail = (iteration, last + len(ids))
        out = [{**row, "episode": numbers[row["episode"]] - 1} for row in rows]
        out.sort(key=lambda r: (r["episode"], r["steps"]))
        return out

    def forget(self) -> None:
        """Drop the entries from memory once they are stored (see appended_json); the counters stay, so
        later iterations number on. A long run's sim holds only the entries since its last metrics file."""
        self._tail_now()
        self.forgotten += len(self.metrics)
        self.metrics = []

    def to_json_dict(self) -> dict[str, Any]:
        """The file's content for the entries in memory (every entry, unless some were forgotten)."""
        return {"metrics": list(self.metrics), "version": METRICS_VERSION, "best_model_metric": self.best_model_metric}

    def _json_suffix(self) -> bytes:
        """What follows the entries in to_json(): the reference's key order puts "metrics" first."""
        rest = json.dumps({"version": METRICS_VERSION, "best_model_metric": self.best_model_metric})
        return ("], " + rest[1:]).encode()

    def appended_json(self, stored: bytes) -> bytes:
        """``stored`` (this object's to_json() or appended_json() from before forget()) with the entries in
        memory appended: the bytes json.dumps gives for all of them together, made without parsing or
        re-encoding what is stored (the cost is a copy of its bytes). ValueError when ``stored`` does not
        end the way this object writes its files (another writer, another best_model_metric, a cut file)."""
        suffix = self._json_suffix()
        if not stored.startswith(b'{"metrics": [') or not stored.endswith(suffix):
            raise ValueError("the stored TrainingMetrics file does not end as this sim writes it "
                             f"(expected ...{suffix.decode()!r})")
        if not self.metrics:
            return stored
        body = stored[:-len(suffix)]
        new = ", ".join(json.dumps(e) for e in self.metrics).encode()
        return body + (b"" if body.endswith(b"[") else b", ") + new + suffix

    @classmethod
    def from_json_dict(cls, data: Any) -> "TrainingMetrics":
        """Metrics written before (a resumed run appends to them); entries that are not dicts are dropped."""
        out = cls(str(data.get("best_model_metric", "progress")) if isinstance(data, dict) else "progress")
        entries = data.get("metrics", []) if isinstance(data, dict) else []
        out.metrics = [e for e in entries if isinstance(e, dict) and isinstance(e.get("trial"), int)]
        out._tail = None
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict())


def metrics_iterations(entries: Sequence[Mapping[str, Any]]) -> list[int]:
    """The iteration of each TrainingMetrics.json entry: its ITERATION_KEY (this project writes it),
    else the reference's reading, deepracer-utils': (episode - 1) // episodes per iteration, that
    being the largest "trial" of the entries without the key (0 for entries it cannot read)."""
    def number(entry: Mapping[str, Any], key: str) -> int | None:
        value = entry.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    per_iteration = max((number(e, "trial") or 0 for e in entries if number(e, ITERATION_KEY) is None), default=0)
    out = []
    for e in entries:
        it, episode = number(e, ITERATION_KEY), number(e, "episode")
        if it is None:
            it = max(episode - 1, 0) // per_iteration if episode is not None and per_iteration > 0 else 0
        out.append(it)
    return out


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
