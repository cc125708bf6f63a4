"""The Python API (the package docstring says how to use it): thin, typed wrappers over the functions
the command line runs (stack.train.run_training, stack.evaluate.evaluate, stack.pick.pick, stack.compare.compare,
stack.report, stack.export, stack.scenario_run.run_scenario); nothing here trains, races or plots on
its own. Results come back as pandas DataFrames and matplotlib figures."""

from __future__ import annotations

import dataclasses
import functools
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, TypeVar

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from core.model_folder import ModelFolder

ROOT = Path(__file__).resolve().parent.parent

_F = TypeVar("_F", bound=Callable[..., Any])


class UserError(Exception):
    """Something the user can fix (a wrong argument, file, track name, credential, a dead service, a fault
    of the reward function): ``str()`` is the command line's one-line message for it."""


def _one_line_errors(fn: _F) -> _F:
    """Turn the command line's user errors (stack.user_errors) into UserError, its message unchanged."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from stack.user_errors import run_stopping_title, run_stopping_types, user_error_types

        try:
            return fn(*args, **kwargs)
        except UserError:
            raise
        except run_stopping_types() as exc:
            raise UserError(f"{run_stopping_title(exc)}: {exc}") from None
        except user_error_types() as exc:
            raise UserError(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def _show_user_errors_as_one_line() -> None:
    """In IPython / Jupyter, a UserError shows as ``error: <message>``, not a traceback."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def handler(shell, etype, value, _tb, tb_offset=None):
        # IPython's run_code shows nothing for a custom exception: the handler does, through the hook the
        # kernel overrides to send the error to the notebook (one line as its whole traceback)
        shell._showtraceback(etype, value, [f"\x1b[31merror: {value}\x1b[0m"])
        return None

    shell.set_custom_exc((UserError,), handler)


def _console():
    from rich.console import Console

    return Console()


def _frame(rows: Sequence[Any]) -> "pd.DataFrame":
    import pandas as pd

    return pd.DataFrame([dataclasses.asdict(r) if dataclasses.is_dataclass(r) else dict(r) for r in rows])


def _check_models_dir(models_dir: str | os.PathLike | None) -> Path:
    from stack.train import DEFAULT_MODELS_DIR

    return Path(models_dir) if models_dir is not None else DEFAULT_MODELS_DIR


@_one_line_errors
def tracks() -> "pd.DataFrame":
    """The tracks here (the track folder and the download cache): name, waypoints, length, width, direction."""
    import pandas as pd

    from simulation import track_sources as ts
    from simulation.track import Track

    local = ts.local_tracks()
    rows = []
    for name in sorted(local, key=str.lower):
        i = Track.load(local[name]).info()
        rows.append({"name": i.name, "waypoints": i.num_waypoints, "length_m": round(i.length_m, 2),
                     "width_m": round(i.mean_width_m, 3), "direction": i.direction, "loop": i.is_loop})
    return pd.DataFrame(rows)


@dataclass
class Model:
    """One model folder, ``models_dir/name`` (default models/, as ``make``): train it, race it, report on it,
    export it. The folder need not exist until ``train``."""

    name: str
    models_dir: Path = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise UserError(f"a model name must be a non-empty string, got {self.name!r}")
        self.models_dir = _check_models_dir(self.models_dir)

    @property
    def folder(self) -> "ModelFolder":
        from core.model_folder import ModelFolder
        from core.storage import LocalStorage

        return ModelFolder(LocalStorage(self.models_dir), self.name)

    def _existing_folder(self) -> "ModelFolder":
        from stack.train import local_model_names

        folder = self.folder
        if folder.latest_checkpoint() is None:
            known = local_model_names(self.models_dir)
            raise UserError(f"model {self.name!r} has no checkpoint in {self.models_dir}; train it first"
                            + (f" (models there: {', '.join(known)})" if known else ""))
        return folder

    @_one_line_errors
    def train(self, track: str | None = None, *, minutes: float | None = None, episodes: int | None = None,
              preset: str | None = None, reward: str | os.PathLike | None = None,
              metadata: str | os.PathLike | None = None, hyperparameters: str | os.PathLike | None = None,
              sims: int = 1, resume: bool = False, clone: str | None = None, seed: int = 0,
              race: Mapping[str, Any] | None = None, hyperparameter_overrides: Mapping[str, Any] | None = None,
              multi_track: str = "auto") -> "pd.DataFrame":
        """``make train``: train for ``minutes`` or ``episodes`` (one is needed) with a progress bar (in
        Jupyter too); returns one row per iteration (trainer.learner.IterationReport's fields: reward,
        progress, lap share, evaluation progress, steps/s, seconds ...). ``track``: a name, an alias or a
        .npy path, several comma-separated; ``race``: the run spec's race options (race_type,
        number_of_obstacles, ... as ``make train``'s RACE_TYPE= etc.); ``hyperparameter_overrides``: single
        keys on top of the preset's hyperparameters."""
        from stack.train import TrainRequest, run_training

        if episodes is None and minutes is None:
            raise UserError("give a limit: episodes=N or minutes=M")
        req = TrainRequest(track=track, model=self.name, reward=reward, preset=preset, metadata=metadata,
                           hyperparameters=hyperparameters, sims=sims, episodes=episodes, minutes=minutes,
                           resume=resume, clone=clone, models_dir=self.models_dir, seed=seed,
                           race=dict(race) if race else None,
                           hyperparameter_overrides=dict(hyperparameter_overrides) if hyperparameter_overrides else None,
                           overrides_source="hyperparameter_overrides", multi_track=multi_track)
        reports, _ = run_training(req, _console())
        frame = _frame(reports)
        if "update" in frame:
            frame = frame.drop(columns="update")
        return frame

    @_one_line_errors
    def evaluate(self, track: str | None = None, *, trials: int = 3, checkpoint: str | int = "last", seed: int = 0,
                 resets: bool = False, off_track_penalty_s: float | None = None, video: bool = False) -> "pd.DataFrame":
        """``make evaluate``: race ``trials`` laps (default on the track the model trained on) and record them
        in the folder as the reference's evaluation does; returns one row per trial (status, progress,
        lap_time_s (None when not completed), off-track and crash counts, penalties). ``resets``: go on
        after an off-track with a penalty (``off_track_penalty_s``) instead of ending the trial."""
        from stack.evaluate import evaluate

        race: dict[str, Any] = {"resets": True} if resets else {}
        if off_track_penalty_s is not None:
            race["off_track_penalty_s"] = off_track_penalty_s
        res = evaluate(self._existing_folder(), track, trials=trials, checkpoint=checkpoint, race=race, seed=seed,
                       video=video, video_dir=f"out/{self.name}" if video else None)
        frame = _frame(res.trials)
        frame.insert(0, "checkpoint", res.checkpoint)
        frame.insert(1, "track", res.track)
        return frame

    @_one_line_errors
    def pick(self, track: str | None = None, *, backend: str = "dart", trials: int = 20, checkpoints: int = 4,
             seed: int = 1000, mark: bool = False) -> "pd.DataFrame":
        """``make pick``: race each of the last ``checkpoints`` checkpoints ``trials`` laps in ``backend`` ("dart",
        the v6 reference's car, or "fast") at ``seed`` and pick the one that laps most (a tie: the newer);
        ``mark``: record it as the best checkpoint (what export takes by default). One row per checkpoint
        (checkpoint, trials, laps, mean_progress [%], best_lap_s, mean_lap_s, picked)."""
        import pandas as pd

        from stack.pick import pick

        res = pick(self._existing_folder(), track, backend=backend, trials=trials, checkpoints=checkpoints, seed=seed,
                   mark=mark)
        frame = pd.DataFrame([dataclasses.asdict(c) for c in res.checkpoints])
        frame["picked"] = frame["checkpoint"] == res.picked
        return frame

    @_one_line_errors
    def training_metrics(self) -> "pd.DataFrame":
        """Every TrainingMetrics entry of every sim (a row per episode, the reference's keys, plus ``sim``),
        what deepracer-utils reads from ``metrics/TrainingMetrics*.json`` and what the running sims added since."""
        import pandas as pd

        from core.traces import metrics_iterations

        rows = []
        for sim, entries in self._existing_folder().read_training_metrics().items():
            for entry, it in zip(entries, metrics_iterations(entries)):
                rows.append({"sim": sim, **entry, "iteration": it})
        return pd.DataFrame(rows)

    @_one_line_errors
    def report(self, track: str | None = None, out: str | os.PathLike | None = None) -> list["Figure"]:
        """``make report``: the training curves, the latest evaluation's laps and (when it completed one) the
        lap analysis against the racing line, written as PNGs to ``out`` (default out/<model>) and returned
        as figures."""
        from core.config import TrainingParams
        from stack.report import write_report

        folder = self._existing_folder()
        spec = TrainingParams.from_yaml(folder.read_text(folder.training_params()))
        report = write_report(folder, out or f"out/{self.name}", track or spec.world_name, reverse=spec.reverse_dir)
        return report.figures

    @_one_line_errors
    def export(self, format: str = "car", out: str | os.PathLike | None = None, checkpoint: str | int = "best") -> Path:
        """``make export``: ``format="car"`` the physical car's package (agent/model.pb and
        model_metadata.json in a .tar.gz); ``"virtual"`` a virtual model (rl_coach's checkpoint) for
        deepracer-for-cloud and DeepRacer-on-AWS. Returns the file or folder written."""
        from stack.export import VIRTUAL_SUFFIX, export_car_package, export_virtual_model

        folder = self._existing_folder()
        if format == "virtual":
            path, _ = export_virtual_model(folder, out or f"out/{self.name}{VIRTUAL_SUFFIX}", checkpoint)
            return Path(path)
        if format != "car":
            raise UserError(f"format {format!r} is not one of car, virtual")
        return Path(export_car_package(folder, out or f"out/{self.name}-car.tar.gz", checkpoint))


@dataclass
class Comparison:
    """What ``compare`` found: ``table`` one row per model and track (mean progress [%], laps completed [%],
    best lap [s], held out or trained on), ``files`` the report and pictures it wrote."""

    table: "pd.DataFrame"
    files: list[Path]
    out_dir: Path
    errors: list[str]

    def pictures(self) -> list[Path]:
        return [p for p in self.files if p.suffix == ".png"]

    def __repr__(self) -> str:           # a terminal or a plain-text output shows the table too
        return f"Comparison ({self.out_dir}):\n{self.table.to_string(index=False, na_rep='-')}"

    def _repr_html_(self) -> str:      # Jupyter shows the table
        return self.table.to_html(index=False, na_rep="-", float_format=lambda v: f"{v:.1f}")


def _comparison(report) -> Comparison:
    import pandas as pd

    rows = []
    for row in report.rows:
        for column, cell in zip(report.tracks, row.cells or [None] * len(report.tracks)):
            rows.append({"model": row.name, "track": column.name, "held_out": column.held_out,
                         "checkpoint": row.checkpoint,
                         "mean_progress": None if cell is None else cell.mean_progress,
                         "laps_pct": None if cell is None else cell.lap_share,
                         "best_lap_s": None if cell is None else cell.best_lap_s,
                         "error": row.error or (cell.error if cell is not None else None)})
    return Comparison(pd.DataFrame(rows), list(report.files), report.out_dir, report.errors)


@_one_line_errors
def compare(models: Sequence[str | Model], tracks: Sequence[str] | None = None, *, held_out: Sequence[str] = (),
            trials: int = 3, checkpoint: str | int = "best", out: str | os.PathLike | None = None,
            models_dir: str | os.PathLike | None = None) -> Comparison:
    """``make compare``: every model on every track (default: the tracks they trained on) and ``held_out``
    ones, ``trials`` laps each; writes the report (Markdown and pictures) to ``out`` (default
    out/compare-<models>)."""
    from stack.compare import CompareRequest, compare as run_compare, training_tracks

    folders = [(m if isinstance(m, Model) else Model(m, models_dir))._existing_folder() for m in models]
    if not folders:
        raise UserError("compare needs at least one model")
    if tracks is None:
        tracks = list(dict.fromkeys(t for f in folders for t in training_tracks(f)))
    req = CompareRequest(models=folders, tracks=list(tracks), held_out=list(held_out), trials=trials,
                         checkpoint=checkpoint, out_dir=Path(out) if out else None)
    return _comparison(run_compare(req, _console()))


@dataclass
class Scenario:
    """A scenario (presets/scenarios/*.yaml, or the same as a dict): several models trained at once,
    then compared. ``source``: a file path or a mapping with the file's keys (name, defaults, models,
    compare, early_stop)."""

    source: str | os.PathLike | Mapping[str, Any]
    models_dir: Path = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.models_dir = _check_models_dir(self.models_dir)
        self.spec = self._load()

    @_one_line_errors
    def _load(self):
        import yaml

        from stack.scenario import load_scenario, parse_scenario
        from stack.scenario_run import out_dir_for

        if not isinstance(self.source, Mapping):
            return load_scenario(self.source)
        checked = parse_scenario(dict(self.source), source="the scenario dict", base_dir=Path.cwd())
        # each model trains in a process of its own, which reads the scenario from a file: write it where
        # the scenario's run writes everything else (relative paths in it still resolve from here)
        path = out_dir_for(checked) / "scenario.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(dict(self.source), sort_keys=False))
        return load_scenario(path)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def models(self) -> list[Model]:
        return [Model(m.name, self.models_dir) for m in self.spec.models]

    @_one_line_errors
    def train(self, resume: bool = False) -> "pd.DataFrame":
        """``make train SCENARIO=``: every model at once, a live table; returns one row per model (state,
        iterations, episodes, progress, evaluation progress, where an early stop ended it)."""
        import pandas as pd

        from stack.scenario_run import run_scenario

        result = run_scenario(self.spec, models_dir=self.models_dir, console=_console(), resume=resume)
        self._runs = result.runs
        return pd.DataFrame([{"model": r.spec.name, "state": r.state, "iterations": r.iteration,
                              "episodes": r.episodes, "progress": r.progress, "eval_progress": r.eval_progress,
                              "best_lap_s": r.best_lap_s, "seconds": round(r.elapsed_s, 1),
                              "stopped_at": r.stopped_at, "error": r.error} for r in result.runs])

    @_one_line_errors
    def compare(self, trials: int | None = None, out: str | os.PathLike | None = None) -> Comparison:
        """``make compare SCENARIO=``: every model on the scenario's tracks and held-out tracks."""
        from stack.compare import compare as run_compare
        from stack.scenario_run import compare_request

        req = compare_request(self.spec, models_dir=self.models_dir, runs=getattr(self, "_runs", None))
        changes: dict[str, Any] = {}
        if trials is not None:
            changes["trials"] = trials
        if out is not None:
            changes["out_dir"] = Path(out)
        return _comparison(run_compare(dataclasses.replace(req, **changes), _console()))


@_one_line_errors
def scale(sims: int, model: str | None = None) -> None:
    """``make scale SIMS=``: the compose stack's number of sims while it trains (a scenario's model:
    ``model=``); runs that Make target, so the Docker commands are the same."""
    if not isinstance(sims, int) or sims < 1:
        raise UserError(f"sims must be a whole number >= 1, got {sims!r}")
    cmd = ["make", "-C", str(ROOT), "scale", f"SIMS={sims}"] + ([f"MODEL={model}"] if model else [])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise UserError(f"make scale SIMS={sims} failed: {tail[0]}")
    sys.stdout.write(done.stdout)


_show_user_errors_as_one_line()
