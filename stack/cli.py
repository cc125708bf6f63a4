"""`deepracer-local`: the command line.

Subcommands: tracks, reward-check, render, raceline, train, evaluate, export, import, report, bench. Every user error ends as one message naming the
thing that was wrong and what is allowed (exit code 2), never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

# In a pipe or a log file rich would cut tables to 80 columns ("lap_comple..."): give them room there.
_WIDE = 220
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else _WIDE)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() or os.environ.get("COLUMNS") else _WIDE)


def _cmd_tracks(args) -> int:
    from simulation import track_sources as ts
    from simulation.track import Track

    if args.download or args.all or args.names:
        return _download_tracks(args)
    local = ts.local_tracks()
    folder, cache = ts.tracks_dir(), ts.cache_dir()
    table = Table(title="tracks here (use the name, a short alias such as reinvent, or a path to a .npy file)",
                  caption="width: mean; dir: ccw = counter-clockwise, cw = clockwise, in the file's waypoint order")
    for col, justify in (("name", "left"), ("points", "right"), ("length m", "right"), ("width m", "right"),
                         ("dir", "left"), ("loop", "left")):
        table.add_column(col, justify=justify, no_wrap=True)
    for name in sorted(local, key=str.lower):
        i = Track.load(local[name]).info()
        table.add_row(i.name, str(i.num_waypoints), f"{i.length_m:.2f}", f"{i.mean_width_m:.3f}",
                      i.direction, "yes" if i.is_loop else "open")
    console.print(table)
    in_folder = sum(folder is not None and p.parent == folder for p in local.values())
    console.print(f"{in_folder} from the track folder ({folder or f'{ts.ENV_TRACKS_DIR} not set'}), "
                  f"{len(local) - in_folder} from the cache ({cache})")
    m = ts.manifest()
    missing = [n for n in sorted(m.tracks, key=str.lower) if n not in local]
    core = [n for n in missing if m.tracks[n].core]
    variants = [n for n in missing if not m.tracks[n].core]
    if core:
        console.print(f"downloadable, {len(core)} of the {len(m.core_names())} standard tracks "
                      f"(`deepracer-local tracks --download`, make tracks-download): {', '.join(core)}")
    if variants:
        console.print(f"downloadable variants ({len(variants)}; `tracks --download NAME`, or `--all`; "
                      f"each also downloads on first use): {', '.join(variants)}")
    if not missing:
        console.print("every track of the public source is here")
    return 0


def _download_tracks(args) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from simulation import track_sources as ts

    m = ts.manifest()
    names = list(args.names) or (sorted(m.tracks, key=str.lower) if args.all else m.core_names())
    unknown = [n for n in names if n not in m.tracks]
    if unknown:
        raise ts.UnknownTrackError(f"not in the public source's manifest: {', '.join(unknown)} "
                                   "(`deepracer-local tracks` lists the names)")
    console.print(f"downloading into {ts.cache_dir()} from {ts.base_url()}, each file checked against its sha256")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console) as bar:
        task = bar.add_task("tracks", total=len(names))

        def done(name, path, error) -> None:
            bar.update(task, advance=1, description=name)
            if error:
                bar.console.print(f"[red]failed[/red] {name}: {error}", highlight=False)

        errors = ts.download_tracks(names, on_done=done)
    if errors:
        raise ts.UnknownTrackError(f"{len(errors)} of {len(names)} tracks failed to download (first: "
                                   f"{next(iter(errors.values()))}); nothing partial was written to the cache")
    console.print(f"{len(names)} tracks verified in {ts.cache_dir()}")
    return 0


def _race_options(args) -> dict:
    opts = {"race_type": args.race_type}
    if getattr(args, "reverse", False):
        opts["reverse_direction"] = True
    return opts


def _cmd_reward_check(args) -> int:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from simulation.checker import check_reward

    if args.episodes < 1:
        raise ValueError(f"--episodes (EPISODES= with make) must be at least 1, got {args.episodes}")
    # On stderr and transient: the table below is the result; the bar only shows that it is moving
    # (a reward function stuck in a loop shows as a step count that stands still).
    with Progress(SpinnerColumn(), TextColumn("checking {task.description}: episode {task.fields[episode]}"
                                              " of {task.total}, step {task.fields[step]}"),
                  BarColumn(), TimeElapsedColumn(), console=err_console, transient=True) as bar:
        task = bar.add_task(Path(args.file).name, total=args.episodes, episode=1, step=0)

        def show(done: int, step: int) -> None:
            bar.update(task, completed=done, episode=min(done + 1, args.episodes), step=step)

        report = check_reward(args.file, track=args.track, episodes=args.episodes, race=_race_options(args),
                              seed=args.seed, progress=show)
    table = Table(title=f"reward check: {args.file} on {report.track}")
    for col in ("episode", "steps", "status", "progress", "reward min", "reward max", "reward total"):
        table.add_column(col, justify="right", no_wrap=True)
    for e in report.episodes:
        table.add_row(str(e.episode), str(e.steps), e.status, f"{e.progress:.1f}", f"{e.reward_min:.4g}",
                      f"{e.reward_max:.4g}", f"{e.reward_sum:.4g}")
    console.print(table)
    console.print(f"params read ({len(report.keys_read)}): {', '.join(sorted(report.keys_read)) or 'none'}")
    console.print(f"params not read: {', '.join(report.keys_unread) or 'none'}")
    console.print("[green]OK[/green]: no reward-function faults.")
    return 0


def _cmd_render(args) -> int:
    from simulation.track import Track

    from .pictures import render_track_picture

    track = Track.load(args.track, reverse=args.reverse)
    out = render_track_picture(track, args.out, camera_arc_m=args.camera_at)
    console.print(f"wrote {out}")
    return 0


def _cmd_raceline(args) -> int:
    from simulation.raceline import check_speed_share, load_or_compute, write_outputs
    from simulation.track import Track

    check_speed_share(args.speed_share)
    k = None
    if args.actions not in (None, "continuous"):
        from core.config import ConfigError

        try:
            k = int(args.actions)
        except ValueError:
            raise ConfigError(f"--actions: a number of actions or 'continuous', got {args.actions!r}") from None
    track = Track.load(args.track, reverse=args.reverse)
    rl, cached = load_or_compute(track, use_cache=not args.no_cache)
    out = Path(args.out or f"out/raceline-{track.name}{'-reversed' if track.reversed else ''}")
    csv_path, png_path = write_outputs(rl, out, track)
    kind = "lap" if rl.is_loop else "start to finish"
    console.print(f"{track.name}: reference {kind} time {rl.lap_time_s:.3f} s (centre line {rl.centre_lap_time_s:.3f} s), "
                  f"top speed {rl.speed_mps.max():.2f} m/s, slowest {rl.speed_mps[rl.speed_mps > 0].min():.2f} m/s")
    console.print(f"last refinement (round {rl.iterations}): {rl.last_improvement_s * 1000:.1f} ms faster, line moved "
                  f"{rl.last_move_max_m:.3f} m at most ({rl.last_move_mean_m:.4f} m mean)"
                  + ("; from the cache" if cached else f"; computed in {rl.compute_s:.1f} s"))
    if not rl.converged:
        console.print("not converged: the time budget ran out while rounds still gained; the lap time is an upper bound")
    console.print(f"wrote {csv_path} and {png_path}")
    if args.drive or args.backend == "dart":
        from simulation.raceline import fastest_drive

        for backend in ("fast", "dart") if args.backend == "dart" else ("fast",):
            where = "in the simulator" if backend == "fast" else "in DART (the v6 reference's car)"
            found = fastest_drive(track, rl, backend=backend)
            if found is None:
                console.print(f"driven {where}: the line driver left the track even at half the line's speeds")
            else:
                share, drive = found
                console.print(f"driven {where} from a standing start: lap {drive.lap_time_s:.2f} s at "
                              f"{100 * share:.0f}% of the line's speeds (the fastest share, in 5% steps, at which the "
                              f"simple line driver stays on the track; at most {drive.max_off_line_m:.2f} m off the line)")
    if args.actions is not None:
        import json

        from simulation.raceline import action_space_metadata

        meta = action_space_metadata(rl, k, speed_share=args.speed_share)
        (out / "model_metadata.json").write_text(json.dumps(meta, indent=4) + "\n")
        share = f" at {100 * args.speed_share:.0f}% of its speeds" if args.speed_share != 1 else ""
        console.print(f"wrote {out / 'model_metadata.json'} ({len(meta['action_space']) if k else 'continuous'} "
                      f"actions from the line{share})")
    if args.reward:
        from simulation.raceline import reward_source

        (out / "reward_function.py").write_text(reward_source(rl, track.name))
        console.print(f"wrote {out / 'reward_function.py'} (progress, closeness to the line and its speed)")
    return 0


def _cmd_bench(args) -> int:
    from .bench import SENSOR_SETUPS, bench_sim

    if args.what == "scenario":
        from .bench import bench_scenario, scenario_bench_table

        r = bench_scenario(args.models, args.episodes, args.preset, track=args.track, sims=args.sims, seed=args.seed,
                           console=console)
        console.print(scenario_bench_table(r))
        return 0
    if args.what == "soak":
        from .soak_bench import WORK_MATCH, bench_soak, soak_table_lines

        r = bench_soak(args.minutes, args.preset, track=args.track, seed=args.seed, console=console)
        console.print(f"bench soak: {r.preset}, {r.minutes:g} min, {r.iterations} iterations, {r.episodes} episodes")
        console.print("\n".join(soak_table_lines(r)), markup=False, highlight=False)
        if r.tenths:
            console.print(f"the last tenth is compared with tenth {r.baseline}"
                          + ("" if r.baseline == 2 else f" (the first after the second whose iterations do {WORK_MATCH:.0%} of "
                                                        "the last tenth's env steps: the policy was still learning)"))
        for failure in r.failures:
            err_console.print(f"soak: {failure}", style="red", markup=False, highlight=False)
        return 1 if r.failures else 0
    if args.what == "transfer":
        import os

        from .transfer_bench import bench_transfer, parse_hp_options, pick_lines, table_lines

        r = bench_transfer(args.minutes, args.state_minutes, track=args.track, trials=args.trials, seed=args.seed,
                           out_dir=args.out or "out/bench-transfer", checkpoints=args.checkpoints, seeds=args.seeds,
                           speed_share=args.speed_share, hyperparameters=parse_hp_options(args.hp),
                           gazebo_master_uri=args.gazebo or os.environ.get("GAZEBO_MASTER_URI"), console=console,
                           pick_in=args.pick_in, pick_trials=args.pick_trials)
        console.print("\n".join(table_lines(r) + pick_lines(r)), markup=False, highlight=False)
        for note in r.notes:
            console.print(note)
        console.print(f"wrote {r.out_dir / 'report.md'} and {r.out_dir / 'curves.png'}")
        return 0
    if args.what == "laps":
        from .bench import LAPS_MARKS_MIN, bench_laps

        marks = tuple(float(m) for m in args.marks.split(",")) if args.marks else LAPS_MARKS_MIN
        r = bench_laps(args.preset, marks, track=args.track, actions=args.actions, sims=args.sims, seed=args.seed,
                       console=console)
        table = Table(title=f"best evaluation lap, preset {r.preset} with {len(r.actions)} raceline actions and the "
                            f"raceline reward, {r.track} (reference lap {r.reference_lap_s:.2f} s)")
        for col in ("after", "best lap", "x reference"):
            table.add_column(col, justify="right", no_wrap=True)
        for mark, lap in zip(r.marks_min, r.best_at_mark_s):
            table.add_row(f"{mark:g} min", f"{lap:.2f} s" if lap else "no lap", f"{r.ratio(lap):.2f}x" if lap else "-")
        console.print(table)
        first = f"{r.first_lap_min:.1f} min" if r.first_lap_min is not None else "never"
        console.print(f"{r.iterations} iterations, {r.episodes} episodes; first evaluation lap after {first}; "
                      f"PPO update {r.samples_per_s:,.0f} samples/s; actions {r.actions}")
        return 0
    if args.what == "ppo":
        from trainer.precision import PRECISIONS

        from .bench import PPO_NETWORKS, bench_ppo

        table = Table(title=f"PPO update (one epoch over {args.samples or '20 minibatches of'} samples, "
                            f"about {args.seconds:g} s each)")
        for col in ("network", "batch", *(f"{p} samples/s" for p in PRECISIONS), "speed-up"):
            table.add_column(col, justify="right", no_wrap=True)
        for network in (args.network or list(PPO_NETWORKS)):
            rates = [bench_ppo(network, p, seconds=args.seconds, iteration_samples=args.samples, seed=args.seed)
                     for p in PRECISIONS]
            table.add_row(network, str(rates[0].batch_size), *(f"{r.samples_per_s:,.0f}" for r in rates),
                          f"{rates[-1].samples_per_s / rates[0].samples_per_s:.2f}x")
        console.print(table)
        return 0
    if args.what == "train":
        from .bench import bench_train

        r = bench_train(args.preset, minutes=args.minutes, track=args.track, sims=args.sims, seed=args.seed,
                        console=console)
        done = f"{r.laps_done_after_s / 60:.1f} min" if r.laps_done_after_s is not None else f"not within {args.minutes} min"
        best = f"{r.best_lap_s:.2f} s" if r.best_lap_s else "-"
        console.print(f"train benchmark, preset {r.preset}, {args.track}, {args.sims} sim(s): 3 of 3 evaluation laps "
                      f"after {done}; {r.iterations} iterations, {r.episodes} episodes; best evaluation lap {best}; "
                      f"PPO update {r.ppo_samples_per_s:,.0f} samples/s")
        return 0
    backend = getattr(args, "backend", None) or "fast"
    where = ("" if backend == "fast" else f", the cars moved by {backend.upper()}") + \
        (", robust training (randomized cars and cameras)" if getattr(args, "robust", False) else "")
    table = Table(title=f"simulator benchmark: {args.cars} cars, track {args.track}, one process{where}")
    for col in ("sensor", "env steps/s", "reward fn %", "episodes", "s"):
        table.add_column(col, justify="right", no_wrap=True)
    for sensor in (args.sensor or list(SENSOR_SETUPS)):
        if sensor not in SENSOR_SETUPS:
            raise ValueError(f"unknown sensor setup {sensor!r}; available: {', '.join(SENSOR_SETUPS)}")
        r = bench_sim(sensor, cars=args.cars, seconds=args.seconds, track=args.track, backend=backend,
                      robust=bool(getattr(args, "robust", False)))
        table.add_row(sensor, f"{r.steps_per_s:,.0f}", f"{100 * r.reward_share:.1f}%", str(r.episodes),
                      f"{r.seconds:.1f}")
    console.print(table)
    return 0


def _folder(args):
    """The model's folder wherever it is: models/ (local mode) or the compose stack's bucket (--stack,
    as `make ... MODE=compose` passes); when it is not where the mode says, the other place is tried."""
    from core.model_folder import ModelFolder
    from core.storage import LocalStorage, StorageError

    from .train import DEFAULT_MODELS_DIR

    if not args.model:
        raise ValueError("MODEL is required: the name of a model folder under models/ or in the stack's bucket")
    root = Path(args.models_dir or DEFAULT_MODELS_DIR)
    local = ModelFolder(LocalStorage(root), args.model) if (root / args.model).is_dir() else None

    def in_bucket(wait_s: float):
        from .compose_launch import DEFAULT_ENV_FILE, stack_storage

        if not (args.stack or DEFAULT_ENV_FILE.exists() or os.environ.get("S3_ENDPOINT")):
            return None, "no stack env file (compose/stack.env)"
        try:
            folder = ModelFolder(stack_storage(wait_s=wait_s), args.model)
        except StorageError as exc:
            return None, str(exc)
        return (folder, "") if folder.latest_checkpoint() is not None else (None, f"not in {folder.describe()}")

    if getattr(args, "stack", False):
        folder, why = in_bucket(10.0)
        if folder is None and local is None:
            raise ValueError(f"no model {args.model!r} in the stack's bucket ({why}) or in {root}/")
        if folder is None:
            err_console.print(f"model {args.model!r} is not in the stack's bucket; using {local.describe()}")
        return folder or local
    if local is not None:
        return local
    folder, why = in_bucket(2.0)
    if folder is not None:
        err_console.print(f"model {args.model!r} is not in {root}/; using {folder.describe()}")
        return folder
    from .train import local_model_names

    known = local_model_names(root)
    raise ValueError(f"no model {args.model!r} in {root}/ (models there: {', '.join(known) or 'none'}) "
                     f"or in the stack's bucket ({why})")


def _cmd_train(args) -> int:
    import signal

    from .model_setup import race_options_from_args
    from .train import TrainRequest, run_training

    # Ctrl-C ends training with the last checkpoint saved, even when this process was started with
    # SIGINT ignored (as background jobs of a non-interactive shell are).
    signal.signal(signal.SIGINT, signal.default_int_handler)

    if args.scenario:
        return _train_scenario(args)
    if args.episodes is None and args.minutes is None:
        raise ValueError("give a limit: --episodes N or --minutes M (EPISODES= or MINUTES= with make)")
    req = TrainRequest(track=args.track, model=args.model, reward=args.reward, preset=args.preset,
                       metadata=args.metadata, hyperparameters=args.hyperparameters, sims=args.sims,
                       episodes=args.episodes, minutes=args.minutes, resume=args.resume, clone=args.clone,
                       seed=args.seed, race=race_options_from_args(args), multi_track=args.multi_track,
                       **({"models_dir": Path(args.models_dir)} if args.models_dir else {}))
    run_training(req, console)
    return 0


def _train_scenario(args) -> int:
    """train --scenario FILE: every model of the scenario at once (stack.scenario_run)."""
    from .model_setup import race_options_from_args
    from .scenario import load_scenario
    from .scenario_run import run_scenario

    given = [flag for flag, value in (("--track", args.track), ("--model", args.model), ("--reward", args.reward),
                                      ("--preset", args.preset), ("--metadata", args.metadata),
                                      ("--hyperparameters", args.hyperparameters), ("--episodes", args.episodes),
                                      ("--minutes", args.minutes), ("--clone", args.clone))
             if value is not None]
    if args.sims != 1:
        given.append("--sims")
    if race_options_from_args(args):
        given.append("race options")
    if given:
        raise ValueError(f"--scenario takes every model's settings from the scenario file; drop {', '.join(given)} "
                         "(or set them in the file's defaults or models)")
    scenario = load_scenario(args.scenario)
    kwargs = {"models_dir": Path(args.models_dir)} if args.models_dir else {}
    result = run_scenario(scenario, console=console, resume=args.resume, **kwargs)
    console.print(f"scenario {scenario.name}: {result.out_dir / 'summary.md'}")
    ok = all(r.state != "failed" for r in result.runs)
    if any(r.state != "failed" for r in result.runs):          # the comparison the scenario was run for
        from .compare import compare
        from .scenario_run import compare_request

        ok &= compare(compare_request(scenario, runs=result.runs, **kwargs), console).ok
    return 0 if ok else 1


def _cmd_compare(args) -> int:
    """compare: several models on the same tracks (stack.compare), from a scenario or by name."""
    from .compare import compare, request_from_args

    if args.scenario:
        import dataclasses

        from .scenario import load_scenario
        from .scenario_run import compare_request

        if args.models:
            raise ValueError("give MODELS=a,b or SCENARIO=file, not both")
        scenario = load_scenario(args.scenario)
        storage = None
        if args.stack:                    # the models are in the compose stack's bucket
            from .compose_launch import stack_storage

            storage = stack_storage(wait_s=10.0)
        req = compare_request(scenario, storage=storage,
                              **({"models_dir": Path(args.models_dir)} if args.models_dir else {}))
        extra = [t.strip() for t in args.held_out.split(",") if t.strip() and t.strip() not in req.held_out]
        req = dataclasses.replace(req, held_out=req.held_out + extra,
                                  **({"trials": args.trials} if args.trials != 3 else {}),
                                  **({"checkpoint": args.checkpoint} if args.checkpoint != "best" else {}),
                                  **({"out_dir": Path(args.out)} if args.out else {}),
                                  **({"tracks": [t.strip() for t in args.tracks.split(",") if t.strip()]}
                                     if args.tracks else {}))
    else:
        req = request_from_args(args)
    return 0 if compare(req, console).ok else 1


def _cmd_evaluate(args) -> int:
    from .evaluate import evaluate
    from .model_setup import race_options_from_args

    race = {"resets": True} if args.resets else {}
    if args.off_track_penalty is not None:
        race["off_track_penalty_s"] = args.off_track_penalty
    folder = _folder(args)
    if args.backend in ("gazebo", "dart"):
        return _sim_to_sim(args, folder, race, race_options_from_args(args))
    res = evaluate(folder, args.track, trials=args.trials, checkpoint=args.checkpoint, race=race,
                   seed=args.seed, spec_race=race_options_from_args(args), video=args.video,
                   video_dir=(args.video_dir or f"out/{args.model}") if args.video else None)
    table = Table(title=f"evaluation of {args.model} checkpoint {res.checkpoint} on {res.track}")
    for col in ("trial", "time s", "progress", "status", "off track", "crashes", "penalty s", "resets"):
        table.add_column(col, justify="right", no_wrap=True)
    for t in res.trials:
        table.add_row(str(t.trial), f"{t.lap_time_s:.3f}" if t.lap_time_s is not None else f"({t.sim_time_s:.1f})",
                      f"{t.progress:.1f}%", t.status, str(t.off_track), str(t.crashed), f"{t.penalty_s:.0f}",
                      str(t.resets))
    console.print(table)
    console.print(res.car_line)
    console.print(f"wrote {res.metrics_key} and {res.simtrace_key}")
    for key, path in zip(res.video_keys, res.video_files):
        console.print(f"wrote {key} and {path} ({path.stat().st_size / 1e6:.1f} MB)")
    if res.video_keys:
        console.print(f"videos drawn and encoded in {res.video_seconds:.1f} s")
    if any(t.lap_time_s is not None for t in res.trials):
        from simulation.track import Track

        from .lap_analysis import reference_line, summary_line
        from .report import evaluation_laps

        rl = reference_line(Track.from_model_folder(folder, res.track, reverse=res.reversed))
        best, _ = evaluation_laps(folder, res.simtrace_key, rl)
        console.print(summary_line(best))
    return 0


def _sim_to_sim(args, folder, race: dict, spec_race: dict) -> int:
    """evaluate --backend gazebo|dart: the same trials in the fast simulator and in the other, side by side."""
    from .sim_to_sim import LABELS, compare_backends, plot_sim_to_sim

    video_dir = args.video_dir or f"out/{args.model}"
    summaries = compare_backends(folder, args.track, trials=args.trials, checkpoint=args.checkpoint, race=race,
                                 seed=args.seed, spec_race=spec_race, gazebo_master_uri=args.gazebo,
                                 video=args.video, video_dir=video_dir if args.video else None, other=args.backend)
    res = summaries[0].result
    table = Table(title=f"{args.model} checkpoint {res.checkpoint} on {res.track}: "
                        f"fast simulator vs {LABELS[args.backend]}")
    for col in ("simulator", "laps", "mean progress", "best lap s", "mean lap s", "off track", "trials (status)"):
        table.add_column(col, justify="right", no_wrap=True)
    for s in summaries:
        table.add_row(s.backend, f"{s.laps}/{s.trials}", f"{s.mean_progress:.1f}%",
                      f"{s.best_lap_s:.3f}" if s.best_lap_s is not None else "-",
                      f"{s.mean_lap_s:.3f}" if s.mean_lap_s is not None else "-", str(s.off_track),
                      ", ".join(f"{t.progress:.0f}% {t.status}" for t in s.result.trials))
    console.print(table)
    console.print(res.car_line)
    for s in summaries:
        console.print(f"{s.backend}: wrote {s.result.metrics_key} and {s.result.simtrace_key}")
        for path in s.result.video_files:
            console.print(f"{s.backend}: wrote {path}")
    console.print(f"wrote {plot_sim_to_sim(folder, summaries, args.video_dir or f'out/{args.model}')}")
    return 0


def _cmd_pick(args) -> int:
    """pick: race the model's last checkpoints and name (or, --mark, record) the one that laps most."""
    from .pick import pick

    folder = _folder(args)
    res = pick(folder, args.track, backend=args.backend, trials=args.trials, checkpoints=args.checkpoints,
               seed=args.seed, mark=args.mark, console=console)
    where = "DART (v6 car)" if res.backend == "dart" else "the fast simulator"
    console.print(f"{args.model} on {res.track}: {res.checkpoints[0].trials} selection laps per checkpoint in {where}, "
                  f"seed {res.seed}")
    table = Table()
    for col in ("checkpoint", "laps", "mean progress", "best lap s", "mean lap s", ""):
        table.add_column(col, justify="right", no_wrap=True)
    for c in res.checkpoints:
        table.add_row(str(c.checkpoint), f"{c.laps}/{c.trials}", f"{c.mean_progress:.1f}%",
                      f"{c.best_lap_s:.3f}" if c.best_lap_s is not None else "-",
                      f"{c.mean_lap_s:.3f}" if c.mean_lap_s is not None else "-",
                      "pick" if c.checkpoint == res.picked else "")
    console.print(table)
    stack = " MODE=compose" if args.stack else ""
    console.print(f"picked checkpoint {res.picked} of {args.model} (most laps; a tie goes to the newer)")
    if res.replaced_best is not None:
        console.print(f"recorded checkpoint {res.picked} as the best in deepracer_checkpoints.json (it was "
                      f"{res.replaced_best or 'none'}): make export MODEL={args.model}{stack} exports it")
    else:
        console.print(f"race it held out: make evaluate MODEL={args.model} CHECKPOINT={res.picked} "
                      f"BACKEND={res.backend}{stack}; export it: make export MODEL={args.model} "
                      f"CHECKPOINT={res.picked}{stack} (or make pick ... MARK=1 to record it as the best)")
    return 0


def _cmd_export(args) -> int:
    from .export import VIRTUAL_SUFFIX, export_car_package, export_virtual_model

    folder = _folder(args)
    if args.format == "virtual":
        out, tarball = export_virtual_model(folder, args.out or f"out/{args.model}{VIRTUAL_SUFFIX}", args.checkpoint)
        console.print(f"wrote {out}/ and {tarball}: a virtual model (rl_coach checkpoint, model_<n>.pb, "
                      "model_metadata.json, reward_function.py, training_params.yaml, hyperparameters.json, metrics) "
                      "for deepracer-for-cloud's S3 prefix or DeepRacer-on-AWS's import")
        return 0
    out = args.out or f"out/{args.model}-car.tar.gz"
    path = export_car_package(folder, out, args.checkpoint)
    console.print(f"wrote {path} (agent/model.pb + model_metadata.json)")
    return 0


def _cmd_import(args) -> int:
    from .model_import import import_model
    from .train import DEFAULT_MODELS_DIR

    res = import_model(args.source, args.model, args.models_dir or DEFAULT_MODELS_DIR, args.checkpoint, args.track)
    diff = "not checked" if res.max_difference != res.max_difference else f"max |difference| {res.max_difference:.2g}"
    console.print(f"imported {args.source} as {res.folder}: checkpoint {res.checkpoint} (weights from "
                  f"{res.weights_from}; value network: {res.value_from}); policy output against its own frozen graph "
                  f"on {res.frames} frames: {diff}; {res.seconds:.1f} s")
    for note in res.notes:
        console.print(f"note: {note}")
    console.print(f"race it: make evaluate MODEL={res.model}; train on from it: make train CLONE={res.model} MODEL=...")
    return 0


def _cmd_report(args) -> int:
    from core.config import TrainingParams

    from .report import write_report

    folder = _folder(args)
    spec = TrainingParams.from_yaml(folder.read_text(folder.training_params()))
    report = write_report(folder, args.out or f"out/{args.model}", args.track or spec.world_name,
                          reverse=spec.reverse_dir)
    for path in report.written:
        console.print(f"wrote {path}")
    if report.best_lap is not None:
        from .lap_analysis import summary_line

        console.print(f"latest evaluation: {summary_line(report.best_lap)}")
    elif report.reference_lap_s is not None:
        console.print(f"latest evaluation: no completed lap; the track's reference lap is {report.reference_lap_s:.2f} s")
    return 0


def _cmd_viewer(args) -> int:
    from core.stop_signal import leave_on_sigterm
    from core.storage import LocalStorage, open_storage

    leave_on_sigterm("viewer")      # the compose stack's viewer service: docker stop leaves at once

    from .train import DEFAULT_MODELS_DIR
    from .viewer import ViewerState, serve

    if args.storage:
        storage = open_storage(args.storage)
    elif args.stack:
        from .compose_launch import stack_storage

        storage = stack_storage(wait_s=10.0)
    else:
        storage = LocalStorage(Path(args.models_dir or DEFAULT_MODELS_DIR))
    models = [m for m in (args.model or "").split(",") if m]
    if args.scenario:
        from .scenario import load_scenario

        models += [m.name for m in load_scenario(args.scenario).models]
    console.print(f"viewer on http://{args.host}:{args.port}/ reading {storage.describe()} "
                  f"({', '.join(models) if models else 'every model with preview frames'}); Ctrl-C stops it")
    serve(ViewerState(storage, models or None), host=args.host, port=args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .model_setup import add_race_arguments

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--tracks-dir", default=argparse.SUPPRESS,
                        help="a folder of track .npy files, looked in first (same as DEEPRACER_TRACKS)")
    p = argparse.ArgumentParser(prog="deepracer-local", description="Train AWS DeepRacer models on your own machine.",
                                parents=[common])
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, **kw) -> argparse.ArgumentParser:  # --tracks-dir also after the command
        return sub.add_parser(name, parents=[common], **kw)

    tk = command("tracks", help="list the tracks here and those that can be downloaded; --download fetches them")
    tk.add_argument("names", nargs="*", help="with --download: these tracks (default: the 61 standard ones)")
    tk.add_argument("--download", action="store_true", help="download the 61 standard tracks into the cache")
    tk.add_argument("--all", action="store_true", help="with --download: every track of the manifest (135)")
    tk.set_defaults(func=_cmd_tracks)

    rc = command("reward-check", help="drive a built-in controller with your reward function and report")
    rc.add_argument("file", help="a Python file defining reward_function(params)")
    rc.add_argument("--track", default="reinvent_base")
    rc.add_argument("--episodes", type=int, default=3, help="episodes to drive (>= 1)")
    rc.add_argument("--race-type", default="TIME_TRIAL", choices=["TIME_TRIAL", "OBJECT_AVOIDANCE", "HEAD_TO_BOT"])
    rc.add_argument("--reverse", action="store_true", help="drive the track in reverse direction")
    rc.add_argument("--seed", type=int, default=0)
    rc.set_defaults(func=_cmd_reward_check)

    rd = command("render", help="draw the track from above and the car's camera view to a PNG")
    rd.add_argument("--track", default="reinvent_base")
    rd.add_argument("--out", default="track.png", help="PNG file to write")
    rd.add_argument("--reverse", action="store_true")
    rd.add_argument("--camera-at", type=float, default=1.0, help="arc length [m] of the car whose camera is shown")
    rd.set_defaults(func=_cmd_render)

    rl = command("raceline", help="the racing line, its speed profile and the reference lap time (CSV and PNG)")
    rl.add_argument("track", help="track name or .npy path")
    rl.add_argument("--out", help="folder, default out/raceline-<track>")
    rl.add_argument("--reverse", action="store_true", help="the track driven in reverse direction")
    rl.add_argument("--no-cache", action="store_true", help="compute again even when the cache has it")
    rl.add_argument("--actions", metavar="K", help="also write model_metadata.json with K discrete actions "
                    "clustered from the line (or 'continuous': bounds covering it)")
    rl.add_argument("--speed-share", type=float, default=1.0, help="with --actions: their speeds at this share of the "
                    "line's (0.5-1; default 1; 0.9 left camera models a margin for the v6 car, docs/dart.md)")
    rl.add_argument("--reward", action="store_true", help="also write reward_function.py: progress, the line and "
                    "its speed (the line embedded)")
    rl.add_argument("--drive", action="store_true", help="also drive the line in the simulator: the fastest share "
                    "of its speeds a simple driver laps at (a check of the car model)")
    rl.add_argument("--backend", choices=("fast", "dart"), default="fast",
                    help="dart: drive the line in the simulator and in DART, the v6 reference's car (implies --drive)")
    rl.set_defaults(func=_cmd_raceline)

    tr = command("train", help="train a model on this machine (embedded: no Docker, no servers)")
    tr.add_argument("--track", help="track name or .npy path, or several comma-separated; default reinvent_base "
                                    "(RESUME/CLONE: the model's own)")
    tr.add_argument("--model", help="model name (folder under models/); default <track>-<date>")
    tr.add_argument("--reward", help="reward_function.py; default rewards/default.py (RESUME/CLONE: the model's own)")
    tr.add_argument("--preset", help="default, continuous, 10-actions, stereo, lidar, state; default: default "
                                     "(RESUME/CLONE: the model's own files)")
    tr.add_argument("--metadata", help="model_metadata.json (overrides the preset's)")
    tr.add_argument("--hyperparameters", help="hyperparameters.json (overrides the preset's)")
    tr.add_argument("--sims", type=int, default=1, help="rollout worker processes")
    tr.add_argument("--episodes", type=int, help="stop after this many training episodes")
    tr.add_argument("--minutes", type=float, help="stop after this many minutes")
    tr.add_argument("--resume", action="store_true", help="continue MODEL from its last checkpoint")
    tr.add_argument("--clone", help="start the new MODEL from this model's last checkpoint")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--models-dir", help="where model folders live (default models/)")
    tr.add_argument("--scenario", help="a scenario file: train every model in it at once (presets/scenarios/)")
    tr.add_argument("--multi-track", choices=("auto", "own", "spread"), default="auto",
                    help="several tracks: own = each sim its own track, spread = each sim's cars over every track, "
                         "auto = spread when there are more tracks than sims")
    add_race_arguments(tr)
    tr.set_defaults(func=_cmd_train)

    cp = command("compare", help="race several models on the same tracks: a table, report.md and PNGs")
    from .compare_options import add_compare_arguments

    add_compare_arguments(cp)
    cp.add_argument("--scenario", help="a scenario file: its models, tracks and held-out tracks")
    cp.set_defaults(func=_cmd_compare)

    ev = command("evaluate", help="race a trained model: trials from the start line, a table per trial")
    ev.add_argument("--model", required=True)
    ev.add_argument("--track", help="default: the track the model trained on")
    ev.add_argument("--trials", type=int, default=3)
    ev.add_argument("--checkpoint", default="last", help="best, last or a number")
    ev.add_argument("--resets", action="store_true", help="put the car back on the track instead of ending the trial")
    ev.add_argument("--off-track-penalty", type=float, help="seconds per off-track reset (default 5)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--video", action="store_true", help="also an MP4 per trial: the camera view beside the car on "
                    "the track (into the model folder's evaluation-<ts>/video/ and --video-dir)")
    ev.add_argument("--video-dir", help="where the videos are copied to (default out/<model>)")
    ev.add_argument("--models-dir")
    ev.add_argument("--stack", action="store_true", help="the model in the compose stack's bucket (make up)")
    ev.add_argument("--backend", choices=("fast", "gazebo", "dart"), default="fast",
                    help="gazebo: race in the fast simulator and in a Gazebo sim, side by side (sim-to-sim); "
                    "dart: ... and in DART, the v6 reference's car (in this process)")
    ev.add_argument("--gazebo", help="the Gazebo sim's ROS master (default $GAZEBO_MASTER_URI or "
                    "http://127.0.0.1:11311; make evaluate BACKEND=gazebo runs it in compose)")
    add_race_arguments(ev)
    ev.set_defaults(func=_cmd_evaluate)

    pk = command("pick", help="pick the checkpoint to race and export: the one of the last CHECKPOINTS that laps most "
                 "of TRIALS laps in the fast simulator or in DART")
    from .pick import DEFAULT_PICK_CHECKPOINTS, DEFAULT_PICK_TRIALS, PICK_SEED_OFFSET, PICK_SIMULATORS

    pk.add_argument("--model", required=True)
    pk.add_argument("--track", help="default: the track the model trained on")
    pk.add_argument("--backend", default="dart", help=f"where the selection laps race: {', '.join(PICK_SIMULATORS)} "
                    "(default dart, the v6 reference's car)")
    pk.add_argument("--trials", type=int, default=DEFAULT_PICK_TRIALS, help="selection laps per checkpoint")
    pk.add_argument("--checkpoints", type=int, default=DEFAULT_PICK_CHECKPOINTS, help="how many of the newest to race")
    pk.add_argument("--seed", type=int, default=PICK_SEED_OFFSET,
                    help=f"the selection laps' seed (default {PICK_SEED_OFFSET}: evaluate's seeds stay held out)")
    pk.add_argument("--mark", action="store_true", help="record the pick as the model's best checkpoint "
                    "(deepracer_checkpoints.json), what export, evaluate --checkpoint best and compare take")
    pk.add_argument("--models-dir")
    pk.add_argument("--stack", action="store_true", help="the model in the compose stack's bucket (make up)")
    pk.set_defaults(func=_cmd_pick)

    ex = command("export", help="write the car package (tar.gz: agent/model.pb + model_metadata.json)")
    ex.add_argument("--model", required=True)
    ex.add_argument("--checkpoint", default="best", help="best, last or a number")
    ex.add_argument("--format", choices=("car", "virtual"), default="car",
                    help="car: the physical car's package; virtual: a DRfC / DeepRacer-on-AWS model folder and tar.gz "
                    "(rl_coach checkpoint)")
    ex.add_argument("--out", help="default out/<model>-car.tar.gz (virtual: out/<model>-virtual)")
    ex.add_argument("--models-dir")
    ex.add_argument("--stack", action="store_true", help="the model in the compose stack's bucket (make up)")
    ex.set_defaults(func=_cmd_export)

    im = command("import", help="a DRfC / DeepRacer-on-AWS model folder, a console or car tar.gz, or s3://bucket/prefix "
                 "as a model folder here (checked against its own frozen graph)")
    im.add_argument("--from", dest="source", required=True, help="a model folder, a .tar.gz or s3://bucket/prefix")
    im.add_argument("--model", required=True, help="the new model folder's name under models/")
    im.add_argument("--checkpoint", default="best", help="best (deepracer_checkpoints.json), last or a number")
    im.add_argument("--track", help="the track it races on when the source names none (default reinvent_base)")
    im.add_argument("--models-dir")
    im.set_defaults(func=_cmd_import)

    rp = command("report", help="PNGs: reward and progress per iteration, evaluation laps on the track")
    rp.add_argument("--model", required=True)
    rp.add_argument("--track", help="default: the model's training track")
    rp.add_argument("--out", help="folder, default out/<model>")
    rp.add_argument("--models-dir")
    rp.add_argument("--stack", action="store_true", help="the model in the compose stack's bucket (make up)")
    rp.set_defaults(func=_cmd_report)

    vw = command("viewer", help="a page on 127.0.0.1 showing training live: every sim's cars on the track, a camera, "
                                 "the learning curves")
    vw.add_argument("--model", help="models to show, comma-separated (default: every model with preview frames)")
    vw.add_argument("--scenario", help="show the models of this scenario file")
    vw.add_argument("--models-dir", help="local model folders (default models/)")
    vw.add_argument("--stack", action="store_true", help="the compose stack's bucket (make up)")
    vw.add_argument("--storage", help="a storage spec: a folder, or s3://bucket (endpoint and keys from the environment)")
    vw.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback only)")
    vw.add_argument("--port", type=int, default=8100)
    vw.set_defaults(func=_cmd_viewer)

    b = command("bench", help="benchmarks: `bench sim` (simulator steps/s), `bench train` (time to 3/3 laps), "
                              "`bench scenario` (several models at once against one after another), "
                              "`bench ppo` (PPO update samples/s per network, float32 and mixed bfloat16), "
                              "`bench laps` (best lap after 15 and 30 minutes against the reference lap), "
                              "`bench transfer` (camera models trained at racing speed, with and without robust "
                              "training, raced in the fast simulator, in DART and in Gazebo)")
    b.add_argument("what", choices=["sim", "train", "scenario", "ppo", "laps", "transfer", "soak"])
    b.add_argument("--preset", default="state", help="train, scenario, laps: the preset to train from scratch")
    b.add_argument("--marks", help="laps: minutes at which to report the best lap, comma-separated (default 15,30)")
    b.add_argument("--actions", type=int, help="laps: how many suggested actions (default 7)")
    b.add_argument("--minutes", type=float, default=5.0, help="train: give up after this long; soak: the run's length; transfer: each camera "
                                                              "model's training time")
    b.add_argument("--state-minutes", type=float, help="transfer: the STATE model's training time (default a third "
                                                       "of --minutes; 0: none)")
    b.add_argument("--trials", type=int, default=10, help="transfer: evaluation laps per model, simulator, checkpoint "
                                                         "and seed")
    b.add_argument("--checkpoints", type=int, default=1, help="transfer: race each model's last N checkpoints (1-4; "
                                                              "default 1, the last)")
    b.add_argument("--speed-share", type=float, default=1.0, help="transfer: the models' actions at this share of "
                                                                  "the racing line's speeds (0.5-1; default 1)")
    b.add_argument("--hp", action="append", metavar="KEY=VALUE", help="transfer: a key of hyperparameters.json set "
                   "on top of each preset's file for every model trained (repeat for more), e.g. --hp num_epochs=3")
    b.add_argument("--seeds", type=int, default=1, help="transfer: race each checkpoint at N evaluation seeds "
                                                        "(--seed, --seed + 1, ...; default 1)")
    b.add_argument("--pick-in", help="transfer: pick each model's checkpoint among its last --checkpoints (2-4) by "
                                     "--pick-trials laps each in this simulator (fast or dart) at a seed no evaluation "
                                     "uses; then race the pick (and the last checkpoint beside it)")
    b.add_argument("--pick-trials", type=int, default=20, help="transfer: selection laps per checkpoint with --pick-in "
                                                               "(default 20)")
    b.add_argument("--out", help="transfer: the report's folder (default out/bench-transfer)")
    b.add_argument("--gazebo", help="transfer: a Gazebo sim's ROS master (default $GAZEBO_MASTER_URI; none: no "
                                    "Gazebo column)")
    b.add_argument("--sims", type=int, default=1, help="train, scenario: rollout workers (per model)")
    b.add_argument("--seed", type=int, default=0, help="train, scenario, transfer: random seed of the run "
                                                       "(scenario: of the first model; the others count up; transfer: "
                                                       "of the training and the first evaluation seed)")
    b.add_argument("--models", type=int, default=3, help="scenario: how many models")
    b.add_argument("--episodes", type=int, default=1200, help="scenario: each model's budget in episodes (the state preset "
                                                             "stops at 2000, its term_cond_max_episodes)")
    b.add_argument("--cars", type=int, default=256)
    b.add_argument("--seconds", type=float, default=5.0, help="sim, ppo: seconds per measurement")
    b.add_argument("--track", default="reinvent_base")
    b.add_argument("--sensor", action="append", help="sim: sensor setup to measure (repeatable); default all")
    b.add_argument("--backend", choices=("fast", "dart"), default="fast",
                   help="sim: dart moves the cars in DART, the v6 reference's car (simulation/dart); try --cars 1")
    b.add_argument("--robust", action="store_true", help="sim: with robust training's randomized cars and cameras")
    b.add_argument("--network", action="append", help="ppo: network to measure (repeatable); default all")
    b.add_argument("--samples", type=int, help="ppo: samples per iteration (default 20 minibatches)")
    b.set_defaults(func=_cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    from .user_errors import run_stopping_title, run_stopping_types, user_error_types

    args = build_parser().parse_args(argv)
    if args.command in ("train", "evaluate", "pick", "export", "bench", "compare", "import"):
        from core.quiet import import_tensorflow

        import_tensorflow()      # without TensorFlow's start-up notices
    try:
        if getattr(args, "tracks_dir", None):
            from simulation.track_sources import set_tracks_dir

            set_tracks_dir(args.tracks_dir)
        return int(args.func(args) or 0)
    except run_stopping_types() as exc:
        err_console.print(run_stopping_title(exc), style="red")
        err_console.print(str(exc), markup=False, highlight=False)
        return 1
    except user_error_types() as exc:
        err_console.print(f"error: {exc}", style="red", markup=False, highlight=False)
        return 2
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
