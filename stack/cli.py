"""`deepracer-local`: the command line.

Subcommands: tracks, reward-check, render, bench. Every user error ends as one message naming the
thing that was wrong and what is allowed (exit code 2), never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def _cmd_tracks(args) -> int:
    from simulation.track import Track, available_tracks

    table = Table(title="DeepRacer tracks (use the name or a short alias, e.g. reinvent)",
                  caption="width: mean; dir: ccw = counter-clockwise, cw = clockwise, in the file's waypoint order")
    for col, justify in (("name", "left"), ("points", "right"), ("length m", "right"),
                         ("width m", "right"), ("dir", "left"), ("loop", "left")):
        table.add_column(col, justify=justify, no_wrap=True)
    for name in available_tracks():
        i = Track.load(name).info()
        table.add_row(i.name, str(i.num_waypoints), f"{i.length_m:.2f}", f"{i.mean_width_m:.3f}",
                      i.direction, "yes" if i.is_loop else "open")
    console.print(table)
    return 0


def _race_options(args) -> dict:
    opts = {"race_type": args.race_type}
    if getattr(args, "reverse", False):
        opts["reverse_direction"] = True
    return opts


def _cmd_reward_check(args) -> int:
    from simulation.checker import check_reward

    report = check_reward(args.file, track=args.track, episodes=args.episodes, race=_race_options(args),
                          seed=args.seed)
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


def _cmd_bench(args) -> int:
    from .bench import SENSOR_SETUPS, bench_sim

    if args.what != "sim":
        raise ValueError(f"unknown benchmark {args.what!r}; available: sim")
    table = Table(title=f"simulator benchmark: {args.cars} cars, track {args.track}, one process")
    for col in ("sensor", "env steps/s", "reward fn %", "episodes", "s"):
        table.add_column(col, justify="right", no_wrap=True)
    for sensor in (args.sensor or list(SENSOR_SETUPS)):
        if sensor not in SENSOR_SETUPS:
            raise ValueError(f"unknown sensor setup {sensor!r}; available: {', '.join(SENSOR_SETUPS)}")
        r = bench_sim(sensor, cars=args.cars, seconds=args.seconds, track=args.track)
        table.add_row(sensor, f"{r.steps_per_s:,.0f}", f"{100 * r.reward_share:.1f}%", str(r.episodes),
                      f"{r.seconds:.1f}")
    console.print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepracer-local", description="Train AWS DeepRacer models on your own machine.")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("tracks", help="list every track with length, width and direction").set_defaults(func=_cmd_tracks)

    rc = sub.add_parser("reward-check", help="drive a built-in controller with your reward function and report")
    rc.add_argument("file", help="a Python file defining reward_function(params)")
    rc.add_argument("--track", default="reinvent_base")
    rc.add_argument("--episodes", type=int, default=3)
    rc.add_argument("--race-type", default="TIME_TRIAL", choices=["TIME_TRIAL", "OBJECT_AVOIDANCE", "HEAD_TO_BOT"])
    rc.add_argument("--reverse", action="store_true", help="drive the track in reverse direction")
    rc.add_argument("--seed", type=int, default=0)
    rc.set_defaults(func=_cmd_reward_check)

    rd = sub.add_parser("render", help="draw the track from above and the car's camera view to a PNG")
    rd.add_argument("--track", default="reinvent_base")
    rd.add_argument("--out", default="track.png", help="PNG file to write")
    rd.add_argument("--reverse", action="store_true")
    rd.add_argument("--camera-at", type=float, default=1.0, help="arc length [m] of the car whose camera is shown")
    rd.set_defaults(func=_cmd_render)

    b = sub.add_parser("bench", help="benchmarks: `bench sim`")
    b.add_argument("what", choices=["sim"])
    b.add_argument("--cars", type=int, default=256)
    b.add_argument("--seconds", type=float, default=5.0)
    b.add_argument("--track", default="reinvent_base")
    b.add_argument("--sensor", action="append", help="sensor setup to measure (repeatable); default all")
    b.set_defaults(func=_cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    from core.config import ConfigError
    from simulation.reward import RewardFunctionError
    from simulation.track import UnknownTrackError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except RewardFunctionError as exc:
        err_console.print("reward function error", style="red")
        err_console.print(str(exc), markup=False, highlight=False)
        return 1
    except (UnknownTrackError, ConfigError, ValueError, FileNotFoundError) as exc:
        err_console.print(f"error: {exc}", style="red", markup=False, highlight=False)
        return 2
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
