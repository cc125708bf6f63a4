"""`make compare`: race several trained models on the same tracks and put the results side by side.

Every model is evaluated (stack.evaluate: ``trials`` laps from the start line with the greedy policy,
its metrics JSON and sim-trace written into the model folder as DRfC does) on every track of the
comparison, the held-out tracks included, with one checkpoint per model for all tracks. Out come a
rich table in the terminal and, in ``out_dir``:

- ``report.md``: model x track: mean progress of the trials [%], laps completed, best lap [s];
  held-out tracks and the tracks each model trained on marked; per model which checkpoint and why;
- ``learning-curves.png``: every model's mean training progress and greedy evaluation progress per
  iteration, overlaid (stack.report.training_curves);
- ``evaluation-matrix.png``: the same matrix as a heatmap coloured by mean progress;
- ``best-laps-<track>.png``: per track, each model's best trial drawn on the track in its colour.

A model that cannot be evaluated (no checkpoint, a graph that does not fit its model_metadata.json,
a track it cannot drive) gets a row saying why; the others go on.
"""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.plotting import pyplot

plt = pyplot()
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from rich.text import Text  # noqa: E402

from core.config import ConfigError  # noqa: E402
from core.model_folder import ModelFolder, format_timestamp  # noqa: E402
from simulation.track import Track  # noqa: E402
from simulation.track_sources import UnknownTrackError  # noqa: E402

from .compare_options import add_compare_arguments  # noqa: E402,F401  (the CLI's options, kept light)
from .export import choose_checkpoint  # noqa: E402
from .pictures import draw_track  # noqa: E402
from .report import mean_per_iteration, read_simtrace_episodes, training_curves  # noqa: E402

#: Mean progress [%] at or above which a cell counts as good (green), and below which as poor (red).
GOOD_PROGRESS_PCT = 90.0
POOR_PROGRESS_PCT = 40.0


@dataclass
class CompareRequest:
    """What to compare. ``tracks`` and ``held_out`` are track names (aliases work) or .npy paths;
    every model drives every one of them. ``checkpoint``: "best", "last" or a number (as
    stack.export.choose_checkpoint), the same for all tracks of a model. ``out_dir`` None:
    out/compare-<title or model names>. ``notes``: model name -> extra lines for the report (e.g.
    where an early stop ended its training). ``seed`` seeds the evaluation noise."""

    models: list[ModelFolder]
    tracks: list[str]
    held_out: list[str] = field(default_factory=list)
    trials: int = 3
    checkpoint: str | int = "best"
    out_dir: Path | None = None
    title: str = ""
    notes: dict[str, list[str]] = field(default_factory=dict)
    seed: int = 0


@dataclass
class TrackColumn:
    name: str           # the track's name (file stem), as the report shows it
    spec: str           # what the request said (a name, an alias or a path), passed to evaluate
    held_out: bool


@dataclass
class Cell:
    """One model on one track: ``trials`` laps, or the error that stopped them."""

    trials: int = 0
    mean_progress: float | None = None    # mean progress of the trials [%]
    laps: int = 0                         # trials that completed the lap
    best_lap_s: float | None = None       # fastest completed lap [simulated s, penalties included]
    best_trial: int | None = None         # the fastest lap's trial, else the trial that got furthest
    best_path: np.ndarray | None = None   # (N, 2) X, Y [m] of that trial, from the sim-trace
    best_status: str = ""
    best_progress: float | None = None    # that trial's progress [%]
    error: str | None = None
    metrics_key: str = ""
    simtrace_key: str = ""
    seconds: float = 0.0                  # wall time of the evaluation

    @property
    def lap_share(self) -> float | None:
        """Share of trials that completed the lap [%]."""
        return 100.0 * self.laps / self.trials if self.trials and self.error is None else None


@dataclass
class ModelRow:
    name: str
    where: str                            # the folder's storage and prefix
    folder: ModelFolder
    checkpoint: int | None = None
    checkpoint_note: str = ""             # which checkpoint and why, for the report
    trained_on: list[str] = field(default_factory=list)
    training_note: str = ""               # iterations / episodes trained, from the training metrics
    notes: list[str] = field(default_factory=list)
    error: str | None = None              # the model could not be evaluated at all
    cells: list[Cell] = field(default_factory=list)


@dataclass
class CompareReport:
    title: str
    tracks: list[TrackColumn]
    rows: list[ModelRow]
    out_dir: Path
    trials: int
    checkpoint: str
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    def matrix(self, what: str = "progress") -> np.ndarray:
        """(models, tracks) array: "progress" mean progress [%], "laps" share of completed laps [%],
        "best_lap" best lap [s]; NaN where there is no value (an error, no lap completed)."""
        get = {"progress": lambda c: c.mean_progress, "laps": lambda c: c.lap_share,
               "best_lap": lambda c: c.best_lap_s}.get(what)
        if get is None:
            raise ValueError(f"matrix({what!r}): use progress, laps or best_lap")
        out = np.full((len(self.rows), len(self.tracks)), np.nan)
        for i, row in enumerate(self.rows):
            for j, cell in enumerate(row.cells):
                value = get(cell) if cell.error is None else None
                if value is not None:
                    out[i, j] = value
        return out

    @property
    def errors(self) -> list[str]:
        """One line per model or (model, track) that could not be evaluated."""
        out = [f"{r.name}: {r.error}" for r in self.rows if r.error]
        out += [f"{r.name} on {t.name}: {c.error}" for r in self.rows if not r.error
                for t, c in zip(self.tracks, r.cells) if c.error]
        return out

    @property
    def ok(self) -> bool:
        return not self.errors


# ---- validation --------------------------------------------------------------------------------
def _check_request(req: CompareRequest) -> None:
    if not req.models:
        raise ConfigError("compare: no models given (MODELS=a,b or a scenario's models)")
    if not list(req.tracks) + list(req.held_out):
        raise ConfigError("compare: no tracks given (TRACKS=x,y, HELD_OUT=z or a scenario's tracks)")
    if not isinstance(req.trials, int) or req.trials < 1:
        raise ConfigError(f"compare: TRIALS must be an integer >= 1, got {req.trials!r}")
    if req.checkpoint not in ("best", "last"):
        try:
            int(req.checkpoint)
        except (TypeError, ValueError):
            raise ConfigError(f"compare: CHECKPOINT={req.checkpoint!r}: use best, last or a checkpoint number") from None
    seen: dict[str, str] = {}
    for f in req.models:
        if f.prefix in seen:
            raise ConfigError(f"compare: model {f.prefix!r} is named twice ({seen[f.prefix]} and {f.describe()}); "
                              "each model once")
        seen[f.prefix] = f.describe()
    unknown = sorted(set(req.notes) - set(seen))
    if unknown:
        raise ConfigError(f"compare: notes for {', '.join(unknown)}, which are not among the models ({', '.join(seen)})")


def _track_name(spec: str, folders: list[ModelFolder]) -> str:
    """The name a track spec stands for: a standard track, a .npy file, or a custom track that one
    of the model folders holds; UnknownTrackError (with the closest names) when none has it."""
    try:
        return Track.load(spec).name
    except (UnknownTrackError, FileNotFoundError) as first:
        for f in folders:
            try:
                return Track.from_model_folder(f, spec).name
            except (UnknownTrackError, FileNotFoundError, ValueError):
                continue
        raise first


def resolve_columns(req: CompareRequest) -> list[TrackColumn]:
    """The report's track columns: the request's tracks, then the held-out ones, each once (an alias
    and its name count as one); a track both in ``tracks`` and ``held_out`` is an error."""
    columns: list[TrackColumn] = []
    by_name: dict[str, TrackColumn] = {}
    for spec, held_out in [(t, False) for t in req.tracks] + [(t, True) for t in req.held_out]:
        spec = str(spec).strip()
        if not spec:
            raise ConfigError("compare: an empty track name in TRACKS or HELD_OUT")
        name = _track_name(spec, req.models)
        key = name.lower()
        if key in by_name:
            if by_name[key].held_out != held_out:
                raise ConfigError(f"compare: track {name} is both a scenario track and held out; name it once")
            continue
        by_name[key] = TrackColumn(name, spec, held_out)
        columns.append(by_name[key])
    return columns


def default_out_dir(req: CompareRequest) -> Path:
    """out/compare-<title>, or out/compare-<model names> without a title (file-name safe)."""
    stem = req.title or "-".join(f.prefix for f in req.models)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.")[:80] or "models"
    return Path("out") / f"compare-{stem}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


# ---- evaluation --------------------------------------------------------------------------------
def training_tracks(folder: ModelFolder) -> list[str]:
    """The tracks the folder's run specs name (the tracks it trained on), in order; [] without specs."""
    from .model_setup import read_run_specs

    return list(dict.fromkeys(spec.world_name for spec in read_run_specs(folder)))


def _prepare_row(folder: ModelFolder, req: CompareRequest) -> ModelRow:
    """The model's row with its checkpoint chosen and checked (graph against model_metadata.json),
    or with ``error`` set; nothing is evaluated yet."""
    from core.policy import check_graph_matches

    from .model_setup import folder_metadata

    row = ModelRow(folder.prefix, folder.describe(), folder, notes=list(req.notes.get(folder.prefix, [])))
    curves = None
    try:
        curves = training_curves(folder)
        its, _ = mean_per_iteration(curves["progress"])
        episodes = sum(len(v) for v in curves["progress"].values())
        row.training_note = f"{len(its)} iteration{'s' * (len(its) != 1)}, {episodes} training episodes"
    except Exception as exc:
        row.training_note = f"no training curve ({_message(exc)})"
    try:
        try:
            row.trained_on = training_tracks(folder)
        except Exception as exc:          # a damaged run spec does not stop the evaluation
            row.notes.append(f"run spec not readable: {exc}")
        n = choose_checkpoint(folder, req.checkpoint)
        metadata = folder_metadata(folder)
        try:
            check_graph_matches(folder.storage.get_bytes(folder.frozen_model(n)), metadata)
        except ValueError as exc:
            raise ConfigError(f"{folder.frozen_model(n)} does not match {folder.model_metadata()}: {exc}") from None
        row.checkpoint = n
        row.checkpoint_note = _checkpoint_note(folder, n, req.checkpoint, curves)
    except Exception as exc:
        row.error = _message(exc)
    return row


def _checkpoint_note(folder: ModelFolder, n: int, asked: str | int, curves: dict | None) -> str:
    """Which checkpoint and why: the choice, the metric deepracer_checkpoints.json records for it, and
    the greedy evaluation progress of that policy version during training (the metrics files)."""
    metric = None
    for entry in (folder.checkpoint_record() or {}).values():
        if isinstance(entry, dict) and str(entry.get("name", "")).startswith(f"{n}_Step-"):
            metric = entry.get("avg_eval_metric")
    latest = folder.latest_checkpoint()
    why = {"best": "best" if (folder.best_checkpoint() or latest).number == n else "last: no best recorded",
           "last": "last"}.get(str(asked), "as asked")
    recorded = f", recorded metric {metric:.0f}%" if isinstance(metric, (int, float)) else ""
    evals = (curves or {}).get("eval_progress", {}).get(n)
    seen = f"greedy evaluation in training {np.mean(evals):.0f}%" if evals else "not evaluated during training"
    return f"checkpoint {n} of {latest.number if latest else '?'} ({why}{recorded}; {seen})"


def _message(exc: BaseException) -> str:
    """An error for the report: the message of the errors users make, type and message otherwise."""
    from core.storage import StorageError

    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    known = (ConfigError, ValueError, StorageError, FileNotFoundError, KeyError)
    if isinstance(exc, known) and first:
        return first
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _wait_for_new_stamp(last_key: str | None) -> None:
    """evaluate names its files by the second: wait until the clock has left the second of the
    model's previous evaluation, so a second track does not overwrite the first one's files."""
    m = re.search(r"evaluation-(\d{14})", last_key or "")
    while m and format_timestamp(time.time()) == m.group(1):
        time.sleep(0.05)


def _evaluate_cell(row: ModelRow, column: TrackColumn, req: CompareRequest) -> Cell:
    from .evaluate import evaluate

    t0 = time.monotonic()
    try:
        res = evaluate(row.folder, column.spec, trials=req.trials, checkpoint=row.checkpoint, seed=req.seed)
    except Exception as exc:
        return Cell(error=_message(exc), seconds=time.monotonic() - t0)
    if res.car_line not in row.notes:
        row.notes.append(res.car_line)
    laps = [t for t in res.trials if t.lap_time_s is not None]
    best = min(laps, key=lambda t: t.lap_time_s) if laps else max(res.trials, key=lambda t: t.progress)
    cell = Cell(trials=len(res.trials), mean_progress=float(np.mean([t.progress for t in res.trials])),
                laps=len(laps), best_lap_s=best.lap_time_s, best_trial=best.trial, best_status=best.status,
                best_progress=best.progress,
                metrics_key=res.metrics_key, simtrace_key=res.simtrace_key)
    try:
        episodes = read_simtrace_episodes(row.folder, res.simtrace_key)
        rows = episodes[best.trial - 1]
        cell.best_path = np.array([[float(r["X"]), float(r["Y"])] for r in rows])
    except Exception:                      # the numbers stand without the drawing
        cell.best_path = None
    cell.seconds = time.monotonic() - t0
    return cell


def compare(req: CompareRequest, console: Console | None = None) -> CompareReport:
    """Evaluate every model on every track, write report.md and the PNGs into the out folder, print
    the table; returns the report (``report.ok`` False when some model or track failed)."""
    console = console or Console()
    t_start = time.monotonic()
    _check_request(req)
    columns = resolve_columns(req)
    out_dir = Path(req.out_dir) if req.out_dir is not None else default_out_dir(req)
    rows = [_prepare_row(f, req) for f in req.models]
    for row in rows:
        if row.error:
            console.print(f"{row.name}: not evaluated: {row.error}", style="red", markup=False, highlight=False)
            row.cells = [Cell(error=row.error) for _ in columns]
    console.print(f"comparing {len(rows)} model(s) on {len(columns)} track(s), {req.trials} trial(s) each -> {out_dir}")
    last_key: dict[str, str] = {}
    cells: dict[tuple[int, int], Cell] = {}
    for j, column in enumerate(columns):          # track by track: a model's evaluations lie apart in time
        for i, row in enumerate(rows):
            if row.error:
                continue
            _wait_for_new_stamp(last_key.get(row.name))
            cell = _evaluate_cell(row, column, req)
            cells[i, j] = cell
            if cell.error is None:
                last_key[row.name] = cell.metrics_key
            console.print(f"  {row.name} on {column.name}{' (held out)' if column.held_out else ''}: "
                          f"{_cell_text(cell)} ({cell.seconds:.1f} s)", markup=False, highlight=False)
    for i, row in enumerate(rows):
        if not row.error:
            row.cells = [cells[i, j] for j in range(len(columns))]
    report = CompareReport(req.title or "model comparison", columns, rows, out_dir, req.trials, str(req.checkpoint))
    out_dir.mkdir(parents=True, exist_ok=True)
    report.files.append(plot_learning_curves(report, out_dir / "learning-curves.png"))
    report.files.append(plot_evaluation_matrix(report, out_dir / "evaluation-matrix.png"))
    for j, column in enumerate(columns):
        path = plot_best_laps(report, j, out_dir / f"best-laps-{_safe(column.name)}.png")
        if path is not None:
            report.files.append(path)
    report.seconds = time.monotonic() - t_start
    md = out_dir / "report.md"
    md.write_text(markdown_report(report))
    report.files.insert(0, md)
    console.print(rich_table(report))
    for line in report.errors:
        console.print(f"not evaluated: {line}", style="red", markup=False, highlight=False)
    console.print(f"wrote {', '.join(str(p) for p in report.files)}")
    return report


# ---- text --------------------------------------------------------------------------------------
def _cell_text(cell: Cell) -> str:
    if cell.error is not None:
        return f"error: {cell.error}"
    lap = f", best lap {cell.best_lap_s:.2f} s" if cell.best_lap_s is not None else ""
    return f"{cell.mean_progress:.0f}%, {cell.laps}/{cell.trials} laps{lap}"


def _trained_on(row: ModelRow, column: TrackColumn) -> bool:
    return column.name.lower() in {t.lower() for t in row.trained_on}


def _column_title(column: TrackColumn) -> str:
    return f"{column.name} (held out)" if column.held_out else column.name


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_report(report: CompareReport) -> str:
    """report.md: the matrix as a table, then per model its checkpoint, training and notes."""
    held = sum(c.held_out for c in report.tracks)
    lines = [f"# {_md(report.title)}", "",
             f"{len(report.rows)} models on {len(report.tracks)} tracks ({held} held out), {report.trials} trials each "
             f"from the start line with the greedy policy, checkpoint `{report.checkpoint}`; "
             f"{time.strftime('%Y-%m-%d %H:%M')}, {report.seconds:.0f} s.", "",
             "Each cell: mean progress of the trials, laps completed of the trials, best lap (simulated time, "
             "penalties included). *(held out)*: a track outside the scenario's; † a track the model trained on.", "",
             "| model | checkpoint | " + " | ".join(_md(_column_title(c)) for c in report.tracks) + " |",
             "|---|---|" + "---|" * len(report.tracks)]
    for row in report.rows:
        if row.error:
            lines.append(f"| {_md(row.name)} | **not evaluated**: {_md(row.error)} | "
                         + " | ".join("—" for _ in report.tracks) + " |")
            continue
        cells = []
        for column, cell in zip(report.tracks, row.cells):
            if cell.error is not None:
                cells.append(f"error: {_md(cell.error)}")
                continue
            lap = f", **{cell.best_lap_s:.2f} s**" if cell.best_lap_s is not None else ""
            cells.append(f"{cell.mean_progress:.0f}%, {cell.laps}/{cell.trials} laps{lap}"
                         f"{' †' if _trained_on(row, column) else ''}")
        lines.append(f"| {_md(row.name)} | {row.checkpoint} | " + " | ".join(cells) + " |")
    lines += ["", "## Models", ""]
    for row in report.rows:
        lines.append(f"- **{_md(row.name)}** ({_md(row.where)}): " +
                     (f"not evaluated: {_md(row.error)}" if row.error else _md(row.checkpoint_note)) +
                     f"; trained on {', '.join(row.trained_on) or 'unknown tracks'}; {_md(row.training_note)}")
        for note in row.notes:
            lines.append(f"  - {_md(note)}")
        for column, cell in zip(report.tracks, row.cells):
            if not row.error and cell.error is None:
                lines.append(f"  - {column.name}: best trial {cell.best_trial} ({cell.best_status}); "
                             f"`{cell.metrics_key}`, `{cell.simtrace_key}`")
            elif not row.error:
                lines.append(f"  - {column.name}: not evaluated: {_md(cell.error or '')}")
    lines += ["", "## Pictures", "", "![learning curves](learning-curves.png)", "",
              "![evaluation matrix](evaluation-matrix.png)", ""]
    for p in report.files:
        if p.name.startswith("best-laps-"):
            lines += [f"![{p.stem}]({p.name})", ""]
    return "\n".join(lines)


def rich_table(report: CompareReport) -> Table:
    table = Table(title=f"{report.title}: mean progress, laps completed, best lap "
                        f"({report.trials} trials, † trained on)")
    table.add_column("model", no_wrap=True)
    table.add_column("ckpt", justify="right")
    for c in report.tracks:
        table.add_column(_column_title(c), justify="right", style="italic" if c.held_out else None)
    for row in report.rows:
        if row.error:
            table.add_row(Text(row.name), "-", *([Text(row.error, style="red")] + [""] * (len(report.tracks) - 1)))
            continue
        cells = []
        for column, cell in zip(report.tracks, row.cells):
            if cell.error is not None:
                cells.append(Text(f"error: {cell.error}", style="red"))
                continue
            colour = "green" if cell.mean_progress >= GOOD_PROGRESS_PCT else \
                "red" if cell.mean_progress < POOR_PROGRESS_PCT else "yellow"
            lap = f" {cell.best_lap_s:.2f} s" if cell.best_lap_s is not None else ""
            cells.append(Text.assemble((f"{cell.mean_progress:.0f}%", colour), f" {cell.laps}/{cell.trials}{lap}"
                                       f"{' †' if _trained_on(row, column) else ''}"))
        table.add_row(Text(row.name), str(row.checkpoint), *cells)
    return table


# ---- pictures ----------------------------------------------------------------------------------
def model_colours(n: int) -> list:
    """One colour per model, the same in every picture of a comparison."""
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def plot_learning_curves(report: CompareReport, out: Path) -> Path:
    """Mean training progress (top) and greedy evaluation progress (bottom) per iteration, one colour
    per model; a star marks the checkpoint the comparison evaluated."""
    colours = model_colours(len(report.rows))
    fig, (ax_t, ax_e) = plt.subplots(2, 1, figsize=(11, 8), sharex=True)
    missing = []
    for row, colour in zip(report.rows, colours):
        try:
            curves = training_curves(row.folder)
        except Exception:
            missing.append(row.name)
            continue
        its, mean = mean_per_iteration(curves["progress"])
        ax_t.plot(its, mean, color=colour, marker=".", label=row.name)
        ev_its, ev_mean = mean_per_iteration(curves["eval_progress"])
        if ev_its:
            ax_e.plot(ev_its, ev_mean, color=colour, marker="o", ms=4, label=row.name)
            if row.checkpoint is not None:
                ax_e.axvline(row.checkpoint, color=colour, ls=":", lw=1.2)
            if row.checkpoint in ev_its:
                ax_e.plot([row.checkpoint], [ev_mean[ev_its.index(row.checkpoint)]], marker="*", ms=16,
                          color=colour, markeredgecolor="black", linestyle="none")
    ax_t.set_title(f"{report.title}: learning curves"
                   + (f" (no training metrics: {', '.join(missing)})" if missing else ""))
    ax_t.set_ylabel("mean training progress %")
    ax_e.set_ylabel("greedy evaluation progress %")
    ax_e.set_xlabel("iteration (policy version = checkpoint number); dotted: the checkpoint compared")
    for ax in (ax_t, ax_e):
        ax.set_ylim(0, 105)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_evaluation_matrix(report: CompareReport, out: Path) -> Path:
    """Heatmap model x track coloured by mean progress [%]; each cell also says laps and best lap."""
    progress = report.matrix("progress")
    n_models, n_tracks = progress.shape
    fig, ax = plt.subplots(figsize=(max(6.0, 2.1 * n_tracks + 3), max(3.0, 0.9 * n_models + 2)))
    cmap = plt.get_cmap("RdYlGn").with_extremes(bad="#d0d0d0")
    im = ax.imshow(np.ma.masked_invalid(progress), cmap=cmap, vmin=0, vmax=100, aspect="auto")
    for i, row in enumerate(report.rows):
        for j, cell in enumerate(row.cells):
            if cell.error is not None:
                text = "not evaluated"
            else:
                text = f"{cell.mean_progress:.0f}%\n{cell.laps}/{cell.trials} laps"
                if cell.best_lap_s is not None:
                    text += f"\n{cell.best_lap_s:.2f} s"
                if _trained_on(row, report.tracks[j]):
                    text += "\n(trained on)"
            ax.text(j, i, text, ha="center", va="center", fontsize=8)
    ax.set_xticks(range(n_tracks), [_column_title(c).replace(" (held out)", "\n(held out)") for c in report.tracks])
    ax.set_yticks(range(n_models), [r.name if r.error else f"{r.name}\nckpt {r.checkpoint}" for r in report.rows])
    for j, c in enumerate(report.tracks):
        if c.held_out and (j == 0 or not report.tracks[j - 1].held_out):
            ax.axvline(j - 0.5, color="black", lw=2)
    ax.set_title(f"{report.title}: mean progress of {report.trials} trials, laps, best lap")
    fig.colorbar(im, ax=ax, label="mean progress %")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_best_laps(report: CompareReport, j: int, out: Path) -> Path | None:
    """Track ``j`` from above with each model's best trial on it (solid: a completed lap, dashed: the
    furthest try); None when no model has a trace there."""
    column = report.tracks[j]
    drawn = [(row, row.cells[j], colour) for row, colour in zip(report.rows, model_colours(len(report.rows)))
             if row.cells[j].error is None and row.cells[j].best_path is not None]
    if not drawn:
        return None
    track = Track.from_model_folder(drawn[0][0].folder, column.spec)
    fig, ax = plt.subplots(figsize=(11, 7))
    draw_track(ax, track)
    for row, cell, colour in drawn:
        xs, ys = cell.best_path[:, 0], cell.best_path[:, 1]
        if cell.best_lap_s is not None:
            label = f"{row.name}: {cell.best_lap_s:.2f} s (trial {cell.best_trial})"
            ax.plot(xs, ys, color=colour, lw=1.8, label=label)
        else:
            label = f"{row.name}: no lap, best try {cell.best_progress:.0f}% ({cell.best_status})"
            ax.plot(xs, ys, color=colour, lw=1.5, ls="--", label=label)
        ax.plot([xs[-1]], [ys[-1]], marker="x", color=colour, ms=8)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"{_column_title(column)}: each model's best trial ({report.trials} trials)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out



# ---- command line ------------------------------------------------------------------------------
def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def request_from_args(args: argparse.Namespace, folder_of=None) -> CompareRequest:
    """A CompareRequest from add_compare_arguments' options. ``folder_of(name) -> ModelFolder``
    finds a model (default: as `evaluate` does, models/ or the stack's bucket)."""
    if folder_of is None:
        from .cli import _folder

        def folder_of(name: str) -> ModelFolder:
            return _folder(argparse.Namespace(model=name, models_dir=args.models_dir, stack=args.stack))
    names = _split(args.models)
    if not names:
        raise ConfigError("compare: give the models, MODELS=a,b (--models a,b), or a SCENARIO=file")
    folders = [folder_of(n) for n in names]
    tracks = _split(args.tracks)
    if not tracks:
        for f in folders:
            try:
                tracks += [t for t in training_tracks(f) if t not in tracks]
            except Exception:
                continue
        if not tracks:
            raise ConfigError(f"compare: the models {', '.join(names)} name no training track; give TRACKS=x,y")
    return CompareRequest(models=folders, tracks=tracks, held_out=_split(args.held_out), trials=args.trials,
                          checkpoint=args.checkpoint, out_dir=Path(args.out) if args.out else None,
                          title=args.title, seed=args.seed)


def compare_main(argv: list[str] | None = None, console: Console | None = None) -> int:
    """`python -m stack.compare --models a,b [--tracks x,y --held-out z ...]`: 0 when every model was
    evaluated on every track, 1 when some were not (the report is written anyway), 2 on bad input."""
    from core.quiet import import_tensorflow
    from core.storage import StorageError

    p = argparse.ArgumentParser(prog="deepracer-local compare", description=__doc__.splitlines()[0])
    add_compare_arguments(p)
    args = p.parse_args(argv)
    console = console or Console()
    import_tensorflow()
    try:
        report = compare(request_from_args(args), console)
    except (ConfigError, ValueError, FileNotFoundError, StorageError) as exc:
        console.print(f"error: {exc}", style="red", markup=False, highlight=False)
        return 2
    return 0 if report.ok else 1


if __name__ == "__main__":
    import sys

    sys.exit(compare_main())
