"""`make train SCENARIO=file` in embedded mode: every model of a scenario trained at once.

Each model is one child process running the usual embedded training (its learner and its SIMS
rollout workers, stack.train), so the models share nothing but the machine: one model failing does
not stop the others. The parent:

- checks every model's setup before starting any (nothing is written until all are valid);
- shows a live table with a row per model, from the status lines each child appends after each
  iteration (``<out>/status/<model>.jsonl``; the child's own output goes to ``<out>/logs/<model>.log``);
- shares the CPU: each child's TensorFlow gets cpu_count / models threads, its workers one each;
- stops the worst models at the scenario's early-stop points (successive halving: a stop file the
  child checks after each iteration, so it ends with its checkpoint saved);
- on Ctrl-C stops every child the same way (each saves its last checkpoint) and waits for them.

``<out>`` is ``out/<scenario name>/`` unless given; ``summary.md`` there records how each model ended.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from core.config import ConfigError

from .scenario import ModelSpec, Scenario, load_scenario
from .train import DEFAULT_MODELS_DIR, ROOT, prepare

#: How often the parent looks at the children [s].
POLL_S = 1.0
#: A failed child's last line starts with this; the text after it is shown in its row and the summary
#: (else the last FAIL_TAIL_LINES lines of its log).
ERROR_PREFIX = "error: "
FAIL_TAIL_LINES = 3


@dataclass
class ModelRun:
    """What the parent knows of one model's training."""

    spec: ModelSpec
    state: str = "waiting"          # waiting, training, done, stopped early, stopped (Ctrl-C), failed
    iteration: int = 0
    episodes: int = 0
    mean_reward: float | None = None
    progress: float | None = None
    eval_progress: float | None = None
    steps_per_s: float | None = None
    best_lap_s: float | None = None
    elapsed_s: float = 0.0
    stopped_at: str = ""            # where early stopping ended it
    error: str = ""
    process: subprocess.Popen | None = field(default=None, repr=False)
    status_offset: int = field(default=0, repr=False)
    episodes_at_start: int | None = field(default=None, repr=False)
    finished: bool = False          # the trainer wrote its finish marker (compose stack)
    #: ModelFolder.read_training_metrics' file cache while the watch polls the bucket
    metrics_cache: dict = field(default_factory=dict, repr=False)

    def budget_fraction(self) -> float:
        """The share of its budget the model has used (episodes or minutes)."""
        if self.spec.episodes is not None:
            return self.episodes / self.spec.episodes
        return self.elapsed_s / (60.0 * self.spec.minutes)

    @property
    def running(self) -> bool:
        return self.state in ("waiting", "training")


@dataclass
class ScenarioResult:
    scenario: Scenario
    runs: list[ModelRun]
    out_dir: Path


def compare_request(scenario: Scenario, models_dir: Path = DEFAULT_MODELS_DIR, runs: list[ModelRun] | None = None,
                    out_dir: Path | None = None, storage=None):
    """The comparison of a scenario's models (stack.compare): every model on every track the scenario
    trains on, plus its held-out tracks; ``runs`` add how each training ended to the report. The
    models are in ``storage`` (the compose stack's bucket) or else under ``models_dir``."""
    from core.model_folder import ModelFolder
    from core.storage import LocalStorage

    from .compare import CompareRequest

    notes = {}
    for r in runs or []:
        if r.state == "stopped early":
            notes[r.spec.name] = [f"training stopped early {r.stopped_at} (successive halving)"]
        elif r.state in ("failed", "stopped"):
            notes[r.spec.name] = [f"training {r.state}" + (f": {r.error}" if r.error else "")]
    c = scenario.compare
    held = [t for t in c.held_out if t not in scenario.tracks]
    store = storage if storage is not None else LocalStorage(models_dir)
    return CompareRequest(models=[ModelFolder(store, m.name) for m in scenario.models],
                          tracks=list(scenario.tracks), held_out=held, trials=c.trials, checkpoint=c.checkpoint,
                          out_dir=out_dir or (out_dir_for(scenario) / "compare"), title=f"scenario {scenario.name}",
                          notes=notes)


def out_dir_for(scenario: Scenario) -> Path:
    return Path("out") / scenario.name


def check_scenario(scenario: Scenario, models_dir: Path = DEFAULT_MODELS_DIR, resume: bool = False) -> None:
    """Validate every model's setup (files, metadata, hyperparameters, tracks, folder state) before
    anything starts; raises the first fault as a ConfigError naming the model."""
    for m in scenario.models:
        if m.sim_backend != "fast":
            raise ConfigError(f"{scenario.source}: model {m.name!r}: sim_backend {m.sim_backend} trains in the Docker "
                              "stack only (make train SCENARIO=... MODE=compose, or make up SCENARIO=...): a Gazebo "
                              "sim and its worker talk ROS between containers")
        try:
            prepare(m.train_request(scenario.source, models_dir, resume))
        except ConfigError as exc:
            raise ConfigError(f"{scenario.source}: model {m.name!r}: {exc}") from None


def run_scenario(scenario: Scenario, models_dir: Path = DEFAULT_MODELS_DIR, console: Console | None = None,
                 resume: bool = False, out_dir: Path | None = None) -> ScenarioResult:
    """Train every model of ``scenario`` at once (see the module docstring); returns how each ended."""
    console = console or Console()
    check_scenario(scenario, models_dir, resume)
    out = out_dir or out_dir_for(scenario)
    for sub in ("status", "logs", "stop"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    runs = [ModelRun(m) for m in scenario.models]
    for r in runs:
        for stale in (_status_file(out, r), _stop_file(out, r)):
            stale.unlink(missing_ok=True)
    threads = max(1, (os.cpu_count() or 1) // len(runs))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS="1",
               TF_CPP_MIN_LOG_LEVEL="2")
    console.print(f"scenario [bold]{scenario.name}[/bold]: {len(runs)} model(s) "
                  f"({', '.join(m.name for m in scenario.models)}) on {', '.join(scenario.tracks)}; "
                  f"logs in {out / 'logs'}")
    stop_points = list(scenario.early_stop.at) if scenario.early_stop else []
    interrupted = False
    for r in runs:
        r.process = _start_child(scenario, r, out, models_dir, resume, env)
        r.state = "training"
    try:
        with Live(status_table(scenario, runs), console=console, refresh_per_second=2, transient=False) as live:
            while any(r.process is not None and r.process.poll() is None for r in runs):
                time.sleep(POLL_S)
                _poll(runs, out)
                early_stop(scenario, runs, stop_points, lambda r, where: _stop(r, out, "stopped early", where))
                live.update(status_table(scenario, runs))
            _poll(runs, out)
            live.update(status_table(scenario, runs))
    except KeyboardInterrupt:
        interrupted = True
        console.print("stopping every model; each saves its last checkpoint ...")
        for r in runs:
            _stop(r, out, "stopped")
            if r.process is not None and r.process.poll() is None:
                r.process.send_signal(signal.SIGINT)
        for r in runs:
            if r.process is not None:
                try:
                    r.process.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    r.process.kill()
        _poll(runs, out)
        console.print(status_table(scenario, runs))
    result = ScenarioResult(scenario, runs, out)
    (out / "summary.md").write_text(summary_markdown(result, interrupted))
    return result


def _status_file(out: Path, r: ModelRun) -> Path:
    return out / "status" / f"{r.spec.name}.jsonl"


def _stop_file(out: Path, r: ModelRun) -> Path:
    return out / "stop" / r.spec.name


def _start_child(scenario: Scenario, r: ModelRun, out: Path, models_dir: Path, resume: bool,
                 env: dict) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "stack.scenario_run", "--child", scenario.source, r.spec.name,
           "--out", str(out), "--models-dir", str(models_dir)] + (["--resume"] if resume else [])
    log = open(out / "logs" / f"{r.spec.name}.log", "wb")
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=os.getcwd())
    finally:
        log.close()          # the child holds its own copy


def _poll(runs: list[ModelRun], out: Path) -> None:
    """Read new status lines and notice children that ended."""
    for r in runs:
        path = _status_file(out, r)
        if path.exists():
            with open(path, "rb") as f:
                f.seek(r.status_offset)
                chunk = f.read()
            complete = chunk[:chunk.rfind(b"\n") + 1]
            r.status_offset += len(complete)
            for line in complete.decode().splitlines():
                if line.strip():
                    _apply(r, json.loads(line))
        if r.process is not None and r.process.poll() is not None and r.state in ("training", "waiting"):
            code = r.process.returncode
            if code == 0:
                r.state = "done"
            elif code in (130, -signal.SIGINT) and r.stopped_at:
                r.state = "stopped"
            else:
                r.state = "failed"
                r.error = _log_tail(out, r) or f"exit status {code}"
        elif r.process is not None and r.process.poll() is not None and r.state in ("stopped early", "stopped") \
                and r.process.returncode not in (0, 130, -signal.SIGINT):
            r.error = _log_tail(out, r)


def _apply(r: ModelRun, status: dict) -> None:
    r.iteration = status["iteration"]
    if r.episodes_at_start is None:     # a resumed model counts this run's episodes, as its budget does
        r.episodes_at_start = status["total_episodes"] - status["episodes"]
    r.episodes = status["total_episodes"] - r.episodes_at_start
    r.mean_reward = status["mean_reward"]
    r.progress = status["mean_progress"]
    if status.get("eval_progress") is not None:
        r.eval_progress = status["eval_progress"]
    r.steps_per_s = status["env_steps_per_s"]
    if status.get("eval_best_lap_s") is not None:
        r.best_lap_s = min(status["eval_best_lap_s"], r.best_lap_s or float("inf"))
    r.elapsed_s = status["elapsed_s"]


def _log_tail(out: Path, r: ModelRun) -> str:
    path = out / "logs" / f"{r.spec.name}.log"
    if not path.exists():
        return ""
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln[len(ERROR_PREFIX):] for ln in lines if ln.startswith(ERROR_PREFIX)]
    return errors[-1] if errors else " | ".join(lines[-FAIL_TAIL_LINES:])


def _stop(r: ModelRun, out: Path, state: str, where: str = "") -> None:
    """Ask a running child to stop after its current iteration (it saves its checkpoint first)."""
    if r.process is None or r.process.poll() is not None:
        return
    _stop_file(out, r).touch()
    r.state = state
    r.stopped_at = where or r.stopped_at or f"at {100 * r.budget_fraction():.0f}% of its budget"


def early_stop(scenario: Scenario, runs: list[ModelRun], stop_points: list[float], stop) -> None:
    """Successive halving: once every running model has used ``stop_points[0]`` of its budget, keep
    the best share by evaluation progress (training progress while none) and call
    ``stop(run, where)`` for the rest. ``stop_points`` is consumed as the points pass."""
    if not stop_points or scenario.early_stop is None:
        return
    running = [r for r in runs if r.running]
    if len(running) <= 1:
        stop_points.clear()
        return
    point = stop_points[0]
    if not all(r.budget_fraction() >= point for r in running):
        return
    stop_points.pop(0)
    score = {r.spec.name: (r.eval_progress if r.eval_progress is not None else (r.progress or 0.0), r.progress or 0.0)
             for r in running}
    ranked = sorted(running, key=lambda r: score[r.spec.name], reverse=True)
    keep = scenario.early_stop.survivors(len(ranked))
    for r in ranked[keep:]:
        stop(r, f"at {100 * point:.0f}% of its budget (iteration {r.iteration}, eval progress "
                f"{_pct(r.eval_progress)}; ranked {ranked.index(r) + 1} of {len(ranked)})")


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}%"


def status_table(scenario: Scenario, runs: list[ModelRun]) -> Table:
    """The live table of a scenario run: a row per model."""
    t = Table(title=f"scenario {scenario.name}", title_justify="left")
    for col in ("model", "tracks", "state", "iteration", "episodes", "mean reward", "progress", "eval progress",
                "steps/s", "best lap", "budget"):
        t.add_column(col, justify="left" if col in ("model", "tracks", "state") else "right")
    for r in runs:
        state = r.state + (f": {r.error}" if r.state == "failed" and r.error else "")
        t.add_row(r.spec.name, ",".join(r.spec.tracks), state, str(r.iteration), str(r.episodes),
                  "-" if r.mean_reward is None else f"{r.mean_reward:.1f}", _pct(r.progress), _pct(r.eval_progress),
                  "-" if r.steps_per_s is None else f"{r.steps_per_s:,.0f}",
                  "-" if r.best_lap_s is None else f"{r.best_lap_s:.2f} s",
                  f"{min(100, 100 * r.budget_fraction()):.0f}% of {r.spec.budget}")
    return t


def summary_markdown(result: ScenarioResult, interrupted: bool = False) -> str:
    """How each model of a scenario run ended, as markdown (``summary.md``)."""
    s = result.scenario
    lines = [f"# Scenario {s.name}", "", f"From `{s.source}`" + (" (stopped with Ctrl-C)" if interrupted else "") + ".", "",
             "| model | tracks | ended | iterations | episodes | eval progress | best lap | note |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result.runs:
        note = r.stopped_at if r.state == "stopped early" else (r.error if r.state == "failed" else "")
        lines.append(f"| {r.spec.name} | {', '.join(r.spec.tracks)} | {r.state} | {r.iteration} | {r.episodes} | "
                     f"{_pct(r.eval_progress)} | {'-' if r.best_lap_s is None else f'{r.best_lap_s:.2f} s'} | "
                     f"{note.replace('|', '/')} |")
    if s.early_stop:
        lines += ["", f"Early stop (successive halving) at {', '.join(f'{100 * a:.0f}%' for a in s.early_stop.at)} "
                      f"of the budget, keeping {100 * s.early_stop.keep:.0f}% each time."]
    return "\n".join(lines) + "\n"


# -- the child: one model's embedded training ----------------------------------------------------------

def _child_main(argv: list[str]) -> int:
    import argparse

    from .train import run_training

    ap = argparse.ArgumentParser(prog="stack.scenario_run --child")
    ap.add_argument("--child", nargs=2, metavar=("SCENARIO", "MODEL"), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--models-dir", required=True)
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    scenario_file, name = args.child
    scenario = load_scenario(scenario_file)
    spec = scenario.model(name)
    out = Path(args.out)
    status = out / "status" / f"{name}.jsonl"
    stop = out / "stop" / name

    def on_report(report, folder) -> None:
        row = {k: v for k, v in asdict(report).items() if k != "update"}
        with open(status, "a") as f:
            f.write(json.dumps(row) + "\n")

    console = Console(force_terminal=False, width=160)
    from core.quiet import import_tensorflow

    import_tensorflow()
    try:
        run_training(spec.train_request(scenario.source, Path(args.models_dir), args.resume), console,
                     on_report=on_report, should_stop=stop.exists)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the log keeps the whole story; its last line is what the parent's table shows
        traceback.print_exc()
        head = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][:2] or [type(exc).__name__]
        print(f"{ERROR_PREFIX}{' - '.join(head)}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
