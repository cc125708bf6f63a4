"""`make up SCENARIO=file` (and `make train SCENARIO=file MODE=compose`): every model of a scenario in
one compose stack: one Redis and one S3 server shared, one trainer per model with its own sims, each
model its own run id (its model name), so their Redis keys and bucket folders never meet.

Compose 1.29 cannot start one service several times with different settings, so the per-model
services are generated: ``compose/scenario.generated.yml`` holds ``trainer-<model>`` and
``sim-<model>`` for each model, copied from the ``trainer`` and ``sim`` services of the compose files
in use (so a CI or GPU override reaches them too) with the model's name, budget and multi-track mode
written in. A model with ``sim_backend: gazebo`` also gets ``sim-gazebo-<model>``, a copy of the
``sim-gazebo`` service (without its profile), as many as its sims, and its sims drive those
(``http://sim-gazebo-<model>:11311``, one claim each), never another model's. The Makefile adds that
file to every compose command while it exists, so `make ps`, `make logs` and `make down` see the
models' containers; `make scale MODEL=name SIMS=n` scales one model's sims (``--scale sim-<model>=n``,
and its Gazebo sims with them).

    python -m stack.compose_scenario up --scenario FILE --compose "docker-compose -f compose/docker-compose.yml ..."
    python -m stack.compose_scenario scale --model NAME --sims N --compose "..."
"""

from __future__ import annotations

import argparse
import copy
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.live import Live

from core.config import ConfigError
from core.model_folder import ModelFolder, ModelLock
from core.storage import StorageError
from core.traces import metrics_iterations
from simulation.reward import RewardFunctionError

from .compose_launch import DEFAULT_ENV_FILE, stack_storage
from .model_setup import ModelSetup, prepare_model
from .scenario import ModelSpec, Scenario, load_scenario
from .scenario_run import ModelRun, early_stop, status_table
from .train import setup_request

ROOT = Path(__file__).resolve().parent.parent
GENERATED_FILE = ROOT / "compose" / "scenario.generated.yml"
#: The placeholders of the shipped trainer / sim services that name the model and its settings.
_MODEL_VARS = ("${DEEPRACER_MODEL:-my-model}",)
_MULTI_TRACK_VAR = "${DEEPRACER_MULTI_TRACK:-auto}"
_SIM_BACKEND_VAR = "${DEEPRACER_SIM_BACKEND:-fast}"
_GAZEBO_URI_VAR = "${GAZEBO_MASTER_URI:-http://sim-gazebo:11311}"


def service_names(model: str) -> tuple[str, str]:
    """(trainer service, sim service) of a scenario model."""
    return f"trainer-{model}", f"sim-{model}"


def gazebo_service_name(model: str) -> str:
    """The Gazebo sims of a scenario model with ``sim_backend: gazebo``."""
    return f"sim-gazebo-{model}"


def compose_files(compose_cmd: list[str]) -> list[Path]:
    """The -f files of a compose command line, relative to the repository root when not absolute."""
    files = [compose_cmd[i + 1] for i, a in enumerate(compose_cmd[:-1]) if a in ("-f", "--file")]
    return [Path(f) if Path(f).is_absolute() else ROOT / f for f in files
            if not Path(f).name.endswith(".generated.yml")]


def _merged_service(files: list[Path], name: str) -> dict[str, Any]:
    """Service ``name`` as the compose files define it together (later files override keys; their
    ``environment`` mappings merge key by key, as compose merges them)."""
    out: dict[str, Any] = {}
    for f in files:
        services = (yaml.safe_load(f.read_text()) or {}).get("services") or {}
        svc = services.get(name)
        if not svc:
            continue
        for key, value in svc.items():
            if key == "environment" and isinstance(out.get(key), dict) and isinstance(value, dict):
                out[key] = {**out[key], **value}
            else:
                out[key] = copy.deepcopy(value)
    if not out:
        raise ConfigError(f"no {name!r} service in {', '.join(str(f) for f in files)}")
    return out


def _fill(value: Any, model: ModelSpec) -> Any:
    """``value`` with the model's name, multi-track mode and simulator (its own Gazebo sims) in place of
    the shipped placeholders (so a DEEPRACER_SIM_BACKEND left in compose/.env by a single-model `make up`
    does not reach a scenario's sims)."""
    if isinstance(value, str):
        for var in _MODEL_VARS:
            value = value.replace(var, model.name)
        value = value.replace(_SIM_BACKEND_VAR, model.sim_backend)
        value = value.replace(_GAZEBO_URI_VAR, f"http://{gazebo_service_name(model.name)}:11311")
        return value.replace(_MULTI_TRACK_VAR, model.multi_track)
    if isinstance(value, list):
        return [_fill(v, model) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, model) for k, v in value.items()}
    return value


def generate(scenario: Scenario, files: list[Path]) -> dict[str, Any]:
    """The generated compose file (a mapping) with a trainer and a sim service per model."""
    trainer, sim = _merged_service(files, "trainer"), _merged_service(files, "sim")
    gazebo = (_merged_service(files, "sim-gazebo") if any(m.sim_backend == "gazebo" for m in scenario.models)
              else None)
    services: dict[str, Any] = {}
    for m in scenario.models:
        t_name, s_name = service_names(m.name)
        t = _fill({k: v for k, v in trainer.items() if k != "build"}, m)     # the image is built once, by `trainer`
        t.setdefault("environment", {}).update(
            DEEPRACER_MODEL=m.name, DEEPRACER_RUN_ID=m.name,
            DEEPRACER_EPISODES="" if m.episodes is None else str(m.episodes),
            DEEPRACER_MINUTES="" if m.minutes is None else f"{m.minutes:g}")
        services[t_name] = t
        services[s_name] = _fill({k: v for k, v in sim.items() if k != "build"}, m)
        if m.sim_backend == "gazebo":     # the image is built once, by `sim-gazebo`; no profile: it runs with the model
            services[gazebo_service_name(m.name)] = {k: v for k, v in gazebo.items() if k not in ("build", "profiles")}
    return {"services": services}


def write_generated(scenario: Scenario, files: list[Path], path: Path = GENERATED_FILE) -> Path:
    """Write the generated compose file (see ``generate``) to ``path``."""
    header = (f"# Generated by `python -m stack.compose_scenario` from {scenario.source}: a trainer and a sim service\n"
              "# per model of the scenario (see stack/compose_scenario.py). Do not edit; `make down` leaves it,\n"
              "# the next `make up SCENARIO=...` rewrites it, and `make up` without SCENARIO removes it.\n")
    path.write_text(header + yaml.safe_dump(generate(scenario, files), sort_keys=False, width=1000))
    return path


def prepare_uploads(storage, scenario: Scenario, resume: bool = False) -> list[ModelSetup]:
    """Every model's setup against the bucket, validated before anything is written."""
    setups = []
    for m in scenario.models:
        folder = ModelFolder(storage, m.name)
        try:
            setups.append(prepare_model(folder, setup_request(m.train_request(scenario.source, resume=resume), m.name)))
        except ConfigError as exc:
            raise ConfigError(f"{scenario.source}: model {m.name!r}: {exc}") from None
    return setups


def upload(storage, scenario: Scenario, resume: bool = False) -> list[ModelFolder]:
    """Write every model's folder configuration into the bucket (all validated first)."""
    setups = prepare_uploads(storage, scenario, resume)
    for s in setups:
        lock = ModelLock(s.folder, what="an upload (make up SCENARIO=...)", lease_s=30.0).acquire()
        try:
            s.write()
        finally:
            lock.release()
    return [s.folder for s in setups]


def _run(cmd: list[str], env: dict | None = None) -> None:
    print("+ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    r = subprocess.run(cmd, cwd=ROOT, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed with exit status {r.returncode}")


def up(scenario: Scenario, compose_cmd: list[str], s3_service: str | None = "s3", resume: bool = False,
       endpoint: str | None = None, bucket: str | None = None, env_file: str | Path = DEFAULT_ENV_FILE,
       build: bool = True, wait_s: float = 120.0, generated: Path = GENERATED_FILE,
       run_env: dict | None = None) -> list[ModelFolder]:
    """Generate the model services (into ``generated``), start Redis and the S3 server, upload every
    model, then start one trainer and its sims per model. ``run_env``: the compose commands'
    environment (default this process's)."""
    files = compose_files(compose_cmd)
    write_generated(scenario, files, generated)
    dc = [c for c in compose_cmd] + ["-f", str(generated)]
    _run(dc + ["up", "-d", "redis"] + ([s3_service] if s3_service else []), run_env)
    storage = stack_storage(endpoint, bucket, env_file, wait_s)
    folders = upload(storage, scenario, resume)
    gazebo_models = [m for m in scenario.models if m.sim_backend == "gazebo"]
    if build:
        _run(dc + ["build", "trainer"], run_env)
        if gazebo_models:
            _run(dc + ["--profile", "gazebo", "build", "sim-gazebo"], run_env)
    services, scale = [], []
    for m in gazebo_models:        # first, so the sims find theirs
        g = gazebo_service_name(m.name)
        services.append(g)
        scale += ["--scale", f"{g}={m.sims}"]
    for m in scenario.models:
        t, s = service_names(m.name)
        services += [t, s]
        scale += ["--scale", f"{s}={m.sims}"]
    _run(dc + ["up", "-d", "--no-build"] + scale + services, run_env)
    print(f"scenario {scenario.name}: {len(scenario.models)} model(s) training in the stack: "
          + ", ".join(f"{m.name} ({m.sims} {'Gazebo ' if m.sim_backend == 'gazebo' else ''}sim{'s' if m.sims > 1 else ''}, "
                      f"{m.budget})" for m in scenario.models))
    return folders


def read_bucket_status(folder: ModelFolder, run: ModelRun, started: float) -> None:
    """Fill ``run`` from the model's folder in the bucket: its training metrics (iterations, episodes,
    progress, evaluation progress) and the trainer's finish marker. ``started``: when the watch began
    (time.monotonic()), for budgets in minutes."""
    entries: list[dict] = []
    for worker_entries in folder.read_training_metrics(run.metrics_cache).values():
        entries += worker_entries
    if entries:
        its = metrics_iterations(entries)
        last = max(its)
        run.iteration = last + 1
        train = [e for e in entries if e.get("phase") == "training"]
        run.episodes = len(train)
        latest = [e for e, i in zip(entries, its) if i == last]
        progress = [float(e["completion_percentage"]) for e in latest if e.get("phase") == "training"]
        evals = [float(e["completion_percentage"]) for e in latest if e.get("phase") == "evaluation"]
        run.progress = sum(progress) / len(progress) if progress else run.progress
        run.eval_progress = sum(evals) / len(evals) if evals else run.eval_progress
    run.elapsed_s = time.monotonic() - started
    if folder.storage.exists(folder.finished_marker()) and run.state in ("training", "stopped early"):
        run.state = "stopped early" if run.stopped_at else "done"
        run.finished = True


def watch(scenario: Scenario, storage, poll_s: float = 5.0, console: Console | None = None) -> list[ModelRun]:
    """Follow a scenario's models in the compose stack until every trainer has finished: a live table
    from the bucket, and the scenario's early stop (a stop marker the trainer reads after each
    iteration). Returns how each model ended; Ctrl-C leaves the stack running."""
    console = console or Console()
    runs = [ModelRun(m, state="training") for m in scenario.models]
    folders = {m.name: ModelFolder(storage, m.name) for m in scenario.models}
    stop_points = list(scenario.early_stop.at) if scenario.early_stop else []
    started = time.monotonic()

    def stop(run: ModelRun, where: str) -> None:
        folder = folders[run.spec.name]
        folder.write_text(folder.stop_marker(), where)
        run.stopped_at = where
        run.state = "stopped early"

    with Live(status_table(scenario, runs), console=console, refresh_per_second=1) as live:
        while not all(r.finished for r in runs):
            for r in runs:
                read_bucket_status(folders[r.spec.name], r, started)
            early_stop(scenario, runs, stop_points, stop)
            live.update(status_table(scenario, runs))
            if all(r.finished for r in runs):
                break
            time.sleep(poll_s)
    return runs


def generated_models(path: Path = GENERATED_FILE) -> list[str]:
    """The models whose services the generated file holds ([] without one)."""
    if not path.exists():
        return []
    services = (yaml.safe_load(path.read_text()) or {}).get("services") or {}
    return [name[len("trainer-"):] for name in services if name.startswith("trainer-")]


def scale(model: str, sims: int, compose_cmd: list[str], generated: Path = GENERATED_FILE,
          run_env: dict | None = None) -> None:
    """Change the number of one scenario model's sims while it trains."""
    models = generated_models(generated)
    if model not in models:
        raise ConfigError(f"MODEL={model!r} is not a model of the running scenario (models: {', '.join(models) or 'none'}; "
                          "start one with `make up SCENARIO=file`)")
    if sims < 1:
        raise ConfigError(f"SIMS must be >= 1, got {sims}")
    _, s = service_names(model)
    services = (yaml.safe_load(generated.read_text()) or {}).get("services") or {}
    g = gazebo_service_name(model)
    names = ([g] if g in services else []) + [s]           # the Gazebo sims first, so the sims find theirs
    scale_args = [a for n in names for a in ("--scale", f"{n}={sims}")]
    _run(list(compose_cmd) + ["-f", str(generated), "up", "-d", "--no-recreate", "--no-build"] + scale_args + names,
         run_env)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stack.compose_scenario", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="start every model of a scenario in the compose stack")
    u.add_argument("--scenario", required=True)
    u.add_argument("--compose", required=True, help="the compose command with its -f files, as one string")
    u.add_argument("--no-s3", action="store_true", help="an external S3 endpoint: start no S3 server")
    u.add_argument("--resume", action="store_true")
    u.add_argument("--endpoint")
    u.add_argument("--bucket")
    u.add_argument("--env-file", default=str(DEFAULT_ENV_FILE))
    sc = sub.add_parser("scale", help="change one scenario model's number of sims")
    sc.add_argument("--model", required=True)
    sc.add_argument("--sims", type=int, required=True)
    sc.add_argument("--compose", required=True)
    w = sub.add_parser("watch", help="a live table of a scenario's models in the stack, with its early stop")
    w.add_argument("--scenario", required=True)
    w.add_argument("--env-file", default=str(DEFAULT_ENV_FILE))
    sub.add_parser("forget", help="remove the generated file (a single-model `make up` does)")
    args = p.parse_args(argv)
    try:
        if args.cmd == "up":
            up(load_scenario(args.scenario), shlex.split(args.compose), None if args.no_s3 else "s3", args.resume,
               args.endpoint, args.bucket, args.env_file)
        elif args.cmd == "scale":
            scale(args.model, args.sims, shlex.split(args.compose))
        elif args.cmd == "watch":
            runs = watch(load_scenario(args.scenario), stack_storage(env_file=args.env_file, wait_s=30.0))
            for r in runs:
                print(f"{r.spec.name}: {r.state}" + (f" {r.stopped_at}" if r.stopped_at else ""))
        else:
            GENERATED_FILE.unlink(missing_ok=True)
        return 0
    except (ConfigError, StorageError, RewardFunctionError, OSError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
