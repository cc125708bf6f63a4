"""The car's response in the Gazebo sim and in the fast simulator, measured the same way; JSON out.

    python -m simulation.gazebo.calibrate --master http://sim-gazebo:11311 --out calibration.json
    python -m simulation.gazebo.calibrate --fast-only            # the fast simulator's figures alone
    python -m simulation.gazebo.calibrate --fast-only --v5      # ... of the fast car fitted to the Gazebo car
    python -m simulation.gazebo.calibrate --fit-four-contact     # its slip compliances against the stored figures
    python -m simulation.gazebo.calibrate --dart --store         # the DART (v6) car's column, into calibration.json
    python -m simulation.gazebo.calibrate --dart-step-noise      # what DART's car does that the fast car cannot predict

Experiments (simulated time, 15 steps per second, commands held for whole steps; the car starts at rest
on the flat field of a world without walls):
- speed steps 0 -> 1 m/s and 0 -> 4 m/s straight ahead: the speed it settles at, the time to 63% and 90%
  of that;
- a steering step 0 -> 30 degrees while rolling at 1 m/s: the angle the front wheels settle at and the
  time they take to reach 63% and 90% of it;
- steady corners: for each steering angle and speed (0.25 m/s steps) held from rest for 4 s, the yaw rate
  over the last 1.5 s against the kinematic one, speed x tan(the wheels' actual angle) / wheelbase; the
  highest speed up to which the car keeps within 15% of its ratio at the lowest speed (it holds its
  slow corner before sliding wider: a car whose wheels fight each other turns wider than the kinematic
  circle even at walking pace, so the kinematic circle itself is not the mark), and the ratios on a
  small grid.
The Gazebo figures are those of our Gazebo 11 car built from the v5 reference's car facts
(docs/gazebo-v5-facts.md), ODE at 1 ms steps; the DART figures (``--dart``) those of our DART car built from
the v6 reference's facts (simulation/dart, docs/dart-v6-facts.md), DART at 1 ms steps as gz-sim runs it;
stored in simulation/gazebo/calibration.json, which tests/test_dynamics_calibration.py holds the fast
simulator to.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import car

CALIBRATION_FILE = Path(__file__).resolve().parent / "calibration.json"
CORNER_STEERING_DEG = (5.0, 10.0, 15.0, 20.0, 25.0, 30.0)
CORNER_SPEEDS_MPS = tuple(np.round(np.arange(0.5, 4.01, 0.25), 2).tolist())
#: The speeds of the yaw-ratio table (docs/gazebo.md), at every CORNER_STEERING_DEG.
RATIO_SPEEDS_MPS = (0.5, 1.0, 2.0, 3.0)
#: A car "holds" a corner while its yaw-rate ratio stays within this fraction of its ratio at the lowest speed.
HOLD_TOLERANCE = 0.15
#: A world without walls (nothing to hit while circling), for the Gazebo runs.
CALIBRATION_TRACK = "2022_april_pro"


@dataclass
class Sample:
    t_s: float
    speed_mps: float      # forward speed of the chassis
    steering_rad: float   # actual front wheel angle
    yaw_rate_rps: float


#: A backend: start(x, y, yaw) puts the car at rest; step(steering_rad, speed_mps) -> Sample after 1/15 s.
class Backend:
    def start(self) -> None: ...

    def step(self, steering_rad: float, speed_mps: float) -> Sample: ...


class FastBackend(Backend):
    """The fast simulator's car; ``dynamics``: its step function (car.step_kinematics, the default, or a
    candidate with the same signature such as dynamics_four.step_dynamics_four)."""

    def __init__(self, dynamics: Callable | None = None):
        self.dynamics = dynamics or car.step_kinematics

    def start(self) -> None:
        self.state = car.CarState.zeros(1)
        self.t = 0.0

    def step(self, steering_rad: float, speed_mps: float) -> Sample:
        self.dynamics(self.state, np.array([speed_mps]), np.array([steering_rad]), car.STEP_S)
        self.t += car.STEP_S
        s = self.state
        return Sample(self.t, float(s.speed_mps[0]), float(s.steering_rad[0]), float(s.yaw_rate_rps[0]))


class GazeboBackend(Backend):
    def __init__(self, master_uri: str):
        from ..track import Track
        from .client import GazeboClient
        from .world import world_bundle

        self.client = GazeboClient(master_uri)
        bundle = world_bundle(Track.load(CALIBRATION_TRACK), ["STATE"])
        self.client.load_world(bundle.message("calibration"), "calibration")

    def start(self) -> None:
        g = self.client.set_pose(0.0, 0.0, 0.0).state
        self.t0 = g["sim_time_s"]

    def step(self, steering_rad: float, speed_mps: float) -> Sample:
        from .env import body_motion

        g = self.client.step(steering_rad, speed_mps / car.WHEEL_RADIUS_M).state
        speed, _, steering = body_motion(g)
        return Sample(g["sim_time_s"] - self.t0, speed, steering, g["wz"])


class DartBackend(Backend):
    """The v6 reference's car in DART (simulation/dart/car.py): a new car for every experiment."""

    def start(self) -> None:
        from ..dart.car import DartCar

        self.car = DartCar()

    def step(self, steering_rad: float, speed_mps: float) -> Sample:
        self.car.step(steering_rad, speed_mps / car.WHEEL_RADIUS_M)
        m = self.car.motion()
        return Sample(m.sim_time_s, m.speed_mps, m.steering_rad, m.yaw_rate_rps)


def _rise(samples: list[Sample], value: Callable[[Sample], float], t0: float = 0.0) -> dict:
    """The value settled at (mean of the last 0.5 s) and the times [s] after t0 to reach 63% and 90% of it."""
    settled = float(np.mean([value(s) for s in samples if s.t_s >= samples[-1].t_s - 0.5]))
    out = {"settled": round(settled, 4)}
    for share in (0.63, 0.9):
        hit = next((s.t_s - t0 for s in samples if s.t_s >= t0 and value(s) >= share * settled), None)
        out[f"t{int(share * 100)}_s"] = None if hit is None else round(hit, 3)
    return out


def measure(backend: Backend) -> dict:
    steps = lambda seconds: int(round(seconds * car.STEP_HZ))  # noqa: E731
    result: dict = {}
    for target, seconds in ((1.0, 2.0), (4.0, 3.0)):
        backend.start()
        samples = [backend.step(0.0, target) for _ in range(steps(seconds))]
        result[f"speed_step_{target:g}_mps"] = _rise(samples, lambda s: s.speed_mps)
    backend.start()
    rolling = [backend.step(0.0, 1.0) for _ in range(steps(2.0))]
    t0 = rolling[-1].t_s
    turn = [backend.step(math.radians(30.0), 1.0) for _ in range(steps(2.0))]
    r = _rise(turn, lambda s: s.steering_rad, t0)
    r["settled"] = round(math.degrees(r["settled"]), 2)
    result["steering_step_30_deg"] = r
    corners, ratios = {}, {}
    for deg in CORNER_STEERING_DEG:
        row = {v: _corner_ratio(backend, deg, v, steps(4.0)) for v in CORNER_SPEEDS_MPS}
        held = None
        slow = row[CORNER_SPEEDS_MPS[0]]
        for v in CORNER_SPEEDS_MPS:     # the top of the unbroken run of held speeds from the lowest
            if abs(row[v] - slow) > HOLD_TOLERANCE * slow:
                break
            held = v
        corners[f"{deg:g}"] = held
        ratios[f"{deg:g}"] = {f"{v:g}": round(row[v], 2) for v in RATIO_SPEEDS_MPS}
    result["corner_max_speed_mps"] = corners
    result["corner_yaw_ratio"] = ratios
    return result


def _corner_ratio(backend: Backend, deg: float, speed_mps: float, n: int) -> float:
    """Hold (deg, speed) from rest for n steps; over the last 1.5 s, the yaw rate over the kinematic one
    for the speed and the front wheels' angle the car actually has (1: it follows its wheels; below:
    it slides wide; above: it spins in)."""
    backend.start()
    samples = [backend.step(math.radians(deg), speed_mps) for _ in range(n)]
    tail = [s for s in samples if s.t_s >= samples[-1].t_s - 1.5]
    speed = float(np.mean([s.speed_mps for s in tail]))
    steer = float(np.mean([s.steering_rad for s in tail]))
    kinematic = speed * math.tan(steer) / car.WHEELBASE_M
    return float(np.mean([s.yaw_rate_rps for s in tail])) / kinematic if abs(kinematic) > 1e-6 else 0.0


#: The speeds of the yaw-ratio table the four-contact fit is scored on (3 m/s spins in both cars).
FIT_SPEEDS_MPS = (0.5, 1.0, 2.0)


def yaw_ratio_table(backend: Backend, speeds=FIT_SPEEDS_MPS) -> dict[str, dict[str, float]]:
    """corner_yaw_ratio's table (steering deg -> speed -> ratio) at ``speeds``."""
    n = int(round(4.0 * car.STEP_HZ))
    return {f"{deg:g}": {f"{v:g}": round(_corner_ratio(backend, deg, v, n), 2) for v in speeds}
            for deg in CORNER_STEERING_DEG}


def table_error(table: dict, reference: dict, relative: bool = False) -> tuple[float, float]:
    """RMS and mean of (table - reference) over the cells of ``table``; with ``relative``, of
    (table - reference) / reference, so that the small ratios of fast corners weigh as much as the large
    ratios of slow ones."""
    err = np.array([(table[d][v] - reference[d][v]) / (reference[d][v] if relative else 1.0)
                    for d in table for v in table[d]])
    return float(np.sqrt(np.mean(err ** 2))), float(np.mean(err))


def fit_four_contact(reference: dict, along: tuple[float, ...], across: tuple[float, ...],
                     across_grip: tuple[float, ...] = (1.0,), relative: bool = False) -> list[tuple]:
    """Grid search of dynamics_four's slip compliances [N s/m per wheel] and grip across the wheels (x the grip
    along them) on the yaw-ratio table against ``reference`` (the Gazebo or the DART car's corner_yaw_ratio at
    FIT_SPEEDS_MPS), scored by table_error(relative=); rows (rms, mean error, along, across, across grip), best
    first."""
    from functools import partial

    from ..dynamics_four import step_dynamics_four
    rows = []
    for a in along:
        for c in across:
            for g in across_grip:
                step = partial(step_dynamics_four, slip_along_ns_m=a, slip_across_ns_m=c, across_grip_scale=g)
                rows.append((*table_error(yaw_ratio_table(FastBackend(step)), reference, relative), a, c, g))
    return sorted(rows)


def dart_step_noise(runs: int = 24, steps: int = 90, seed: int = 0) -> dict[str, float]:
    """What the DART car does that the default fast car cannot predict, one step at a time: the DART car drives
    ``runs`` sequences of ``steps`` racing actions (the racing preset's, each held while a coin says so, mirrored
    in every other run) after rolling up to 3 m/s; from each of its states the fast car takes the same command
    for one step. The standard deviations of the differences (DART's - fast car's) in heading [deg], yaw rate
    [rad/s], sideways speed [m/s] and forward speed [m/s]: mostly the DART car's polygonal wheels hopping, as
    they hardly have a mean (robust training's motion noise, simulation/robust.py)."""
    from core.config import preset_files

    from ..dart.car import DartCar

    actions = [(a["steering_angle"], a["speed"])
               for a in json.loads(preset_files("racing")[0].read_text())["action_space"]]
    rng = np.random.default_rng(seed)
    start, cmd, end = [], [], []
    for run in range(runs):
        dart = DartCar()
        dart.put(0.0, 0.0, 0.0)
        for _ in range(int(car.STEP_HZ)):
            dart.step(0.0, 3.0 / car.WHEEL_RADIUS_M)
        a = 0
        for _ in range(steps):
            if rng.random() < 0.5:
                a = int(rng.integers(len(actions)))
            steer_deg, speed_mps = actions[a]
            steer = math.radians(-steer_deg if run % 2 else steer_deg)
            m = dart.motion()
            start.append((m.x, m.y, m.yaw, m.speed_mps, m.steering_rad, m.lateral_mps, m.yaw_rate_rps))
            dart.step(steer, speed_mps / car.WHEEL_RADIUS_M)
            m = dart.motion()
            end.append((m.yaw, m.yaw_rate_rps, m.lateral_mps, m.speed_mps))
            cmd.append((steer, speed_mps))
    s0, c, e = np.array(start), np.array(cmd), np.array(end)
    fast = car.CarState(*(s0[:, i].copy() for i in range(7)))
    car.step_kinematics(fast, c[:, 1], c[:, 0], car.STEP_S)
    heading = np.angle(np.exp(1j * (e[:, 0] - fast.yaw)))
    return {"heading_deg": round(float(np.degrees(heading.std())), 3),
            "yaw_rate_rps": round(float((e[:, 1] - fast.yaw_rate_rps).std()), 3),
            "lateral_mps": round(float((e[:, 2] - fast.lateral_mps).std()), 3),
            "speed_mps": round(float((e[:, 3] - fast.speed_mps).std()), 3),
            "mean_speed_mps": round(float(s0[:, 3].mean()), 2)}


#: The grid and the score of ``--fit-four-contact --against`` each car. The v5 car was fitted on absolute
#: errors with equal grip along and across; the v6 car on relative errors, so that the 2 m/s column (ratios of
#: 0.2-0.4, the racing line's corners) weighs as much as the slow ones (0.5-0.75), which needs more grip across
#: the wheels than along them (docs/dart.md, "The racing regime").
FIT_GRIDS = {"gazebo": dict(along=(25.0, 50.0, 65.0), across=(50.0, 100.0, 150.0)),
             "dart": dict(along=(200.0, 300.0, 400.0), across=(300.0, 400.0, 500.0),
                          across_grip=(1.0, 1.05, 1.1, 1.15), relative=True)}


def main(argv: list[str] | None = None) -> int:
    import os

    from .env import DEFAULT_MASTER_URI, MASTER_URI_ENV

    ap = argparse.ArgumentParser(prog="python -m simulation.gazebo.calibrate", description=__doc__.split("\n")[0])
    ap.add_argument("--master", default=os.environ.get(MASTER_URI_ENV, DEFAULT_MASTER_URI))
    ap.add_argument("--fast-only", action="store_true", help="measure the fast simulator only")
    ap.add_argument("--out", help="write the JSON here too")
    ap.add_argument("--v5", action="store_true",
                    help="the fast car fitted to the Gazebo car (DEEPRACER_DYNAMICS=v5, simulation/dynamics_four.py)")
    ap.add_argument("--dynamics", help="the fast car model to measure (v6-two, v6-four, v5; default: the default)")
    ap.add_argument("--dart", action="store_true",
                    help="measure the DART (v6) car (simulation/dart) instead of a Gazebo sim; no sim needed")
    ap.add_argument("--store", action="store_true",
                    help=f"merge the figures into {CALIBRATION_FILE.name} (the keys measured replace the stored ones)")
    ap.add_argument("--fit-four-contact", action="store_true",
                    help="grid-search the four-contact slip compliances (and for dart the grip across the wheels) "
                         "against the stored figures of --against; no sim")
    ap.add_argument("--dart-step-noise", action="store_true",
                    help="the DART car's one-step differences from the default fast car on racing actions (robust "
                         "training's motion noise); no sim")
    ap.add_argument("--against", choices=("gazebo", "dart"), default="gazebo",
                    help="--fit-four-contact: the stored car to fit to (gazebo: the v5 car; dart: the v6 car); the "
                         "steady corners are measured with the v6 steering either way (they hardly depend on it)")
    args = ap.parse_args(argv)
    if args.dart_step_noise:
        print(json.dumps(dart_step_noise()))
        return 0
    if args.fit_four_contact:
        reference = json.loads(CALIBRATION_FILE.read_text())[args.against]["corner_yaw_ratio"]
        reference = {d: {v: reference[d][v] for v in map("{:g}".format, FIT_SPEEDS_MPS)} for d in reference}
        grid = FIT_GRIDS[args.against]
        score = "relative error" if grid.get("relative") else "error"
        for rms, mean, a, c, g in fit_four_contact(reference, **grid):
            print(f"along {a:5.0f} across {c:5.0f} N s/m per wheel, grip across x{g:.2f}: "
                  f"RMS {score} {rms:.3f}, mean {mean:+.3f}")
        return 0
    out = {"fast": measure(FastBackend(car.dynamics_step("v5" if args.v5 else (args.dynamics or ""))))}
    if args.dart:
        out["dart"] = measure(DartBackend())
    elif not args.fast_only:
        out["gazebo"] = measure(GazeboBackend(args.master))
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.store:
        stored = json.loads(CALIBRATION_FILE.read_text())
        stored.update(out)
        CALIBRATION_FILE.write_text(json.dumps(stored, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
