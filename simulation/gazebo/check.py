"""Drive a Gazebo sim through the bridge and check what a sim worker relies on; prints one JSON line.

    python -m simulation.gazebo.check [--master http://sim-gazebo:11311] [--track reinvent_base] [--steps 50]
    python -m simulation.gazebo.check --lidar      # a lidar car instead (a fresh Gazebo sim: it keeps its car)

Checks (each a key of "failures" when it does not hold):
- frames: a camera frame (640x480 RGB) with every step, the simulated clock advancing 1/15 s
  (to the 1 ms physics step) per step, with no late frames, also in a second episode after a reset;
- follows: driving straight (the default action space's straight action, 4/5 of the steps) the car runs
  0.9-1.2 times the commanded speed after a second; then steering fully left turns it left (yaw rate
  > 0.3 rad/s);
- pose: a car put at a pose reports that pose (within 2 cm and 0.02 rad) after settling for a frame;
- params: the reward params GazeboEnv passes to the reward function equal the fast simulator's for the
  same pose (the fast env with its car placed where Gazebo's is), within 1e-6 relative;
- objects: in an object-avoidance world (a second world in the same Gazebo sim, replacing the first), a
  box 0.8 m ahead of the car is in the camera frame (over 5% of the 160x120 pixels change by more than
  20 gray levels against the same pose with the box moved away) and driving at it the car stops at its
  face (its body's front within 3 cm of the box), then bot cars move at their speed (HEAD_TO_BOT, a
  third world).
With --lidar, instead: a car with a camera and the lidar drives 20 steps among boxes, then stands for
1 s (the scan is up to 0.1 s old, as the reference's at 10 Hz: on the move it lags the pose); its
Gazebo scan against the fast simulator's ray caster at the same pose (without noise, and looking for
objects at any range: in training it skips those beyond what the clipped encodings can tell apart), over
the beams that see something within 6 m in either (walls too): the median difference under 0.03 m and at least 90%
within 0.1 m.
Also reports the bridge's steps per second (wall clock) over the run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

from .. import car
from ..env import BatchedEnv
from ..track import Track
from .client import GazeboClient
from . import world
from .env import MASTER_URI_ENV, DEFAULT_MASTER_URI, GazeboEnv


class _Recorder:
    """A reward function that keeps the params it was given."""

    def __init__(self):
        self.params: list[dict] = []

    def __call__(self, params, car_index, episode, step):
        self.params.append(dict(params))
        return 1.0


def _compare_params(a: dict, b: dict) -> list[str]:
    bad = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, (float, int)) and not isinstance(va, bool) and isinstance(vb, (float, int)):
            if not math.isclose(float(va), float(vb), rel_tol=1e-6, abs_tol=1e-6):
                bad.append(f"{key}: {va} != {vb}")
        elif isinstance(va, (list, tuple)) and isinstance(vb, (list, tuple)):
            if len(va) != len(vb) or not np.allclose(np.asarray(va, float), np.asarray(vb, float), atol=1e-6):
                bad.append(f"{key}: {va} != {vb}")
        elif va != vb:
            bad.append(f"{key}: {va!r} != {vb!r}")
    return bad


def run_check(master_uri: str, track: str = "reinvent_base", steps: int = 50) -> dict:
    failures: dict[str, str] = {}
    client = GazeboClient(master_uri)
    rec = _Recorder()
    t0 = time.perf_counter()
    env = GazeboEnv(track, reward_function=rec, model_metadata=None, seed=0, autoreset=False, client=client)
    load_s = time.perf_counter() - t0
    env.reset(seed=0)
    straight = 0   # discrete default action space: find the straight and the hardest-left actions
    table = list(zip(env._steer_table, env._speed_table))
    straight = min(range(len(table)), key=lambda i: (abs(table[i][0]), -table[i][1]))
    left = max(range(len(table)), key=lambda i: table[i][0])
    times, frames_ok, late, speeds, yaw_rates = [], 0, 0, [], []
    t0 = time.perf_counter()
    for i in range(steps):
        action = straight if i < steps * 4 // 5 else left
        judged = (env.state.subset(np.arange(1)), env.steps.copy(), env.lap_distance_m.copy(),
                  env.prev_arc_m.copy(), env.sim_time_s.copy(), action)
        r = env.step(np.array([action]))
        g = env.last_gazebo
        times.append(g.state["sim_time_s"])
        frames_ok += int(len(g.frames) == 1 and g.frames[0].shape == (480, 640, 3))
        late += int(g.state["extra_steps"] > 0)
        speeds.append(float(env.state.speed_mps[0]))
        yaw_rates.append(float(env.state.yaw_rate_rps[0]))
        if r.done[0]:
            if i < steps * 4 // 5:
                failures["episode"] = f"the episode ended at step {i + 1} while driving straight ({r.status[0]})"
            break
    last = rec.params[-1] if rec.params else None    # the first episode's last reward call
    # a second episode: frames stay on time after a reset (a set pose) too
    env.reset()
    for _ in range(20):
        env.step(np.array([straight]))
        g = env.last_gazebo
        late += int(g.state["extra_steps"] > 0)
        frames_ok += int(len(g.frames) == 1 and g.frames[0].shape == (480, 640, 3))
    wall_s = time.perf_counter() - t0
    dts = np.diff(times)
    if frames_ok != len(times) + 20 or late or not np.all(np.abs(dts - car.STEP_S) <= 0.0011):
        failures["frames"] = (f"{frames_ok}/{len(times) + 20} steps had a 640x480 frame, {late} late, "
                              f"clock steps {sorted(set(np.round(dts, 4).tolist()))} s")
    n_straight = steps * 4 // 5
    cmd = table[straight][1]
    v = float(np.mean(speeds[15:n_straight])) if n_straight > 15 else float("nan")
    turn = float(np.mean(yaw_rates[n_straight + 3:])) if len(yaw_rates) > n_straight + 3 else float("nan")
    if not (0.9 * cmd <= v <= 1.2 * cmd) or not turn > 0.3:
        failures["follows"] = (f"straight at {cmd} m/s commanded ran {v:.3f} m/s; "
                               f"{table[left][0]} deg left turned at {turn:.3f} rad/s")
    # pose: put the car somewhere else on the track and read it back
    tr = env.tracks.forward
    x, y, yaw = tr.pose_at(tr.length_m * 0.37)
    g = client.set_pose(float(x), float(y), float(yaw)).state
    if math.hypot(g["x"] - x, g["y"] - y) > 0.02 or abs(math.remainder(g["yaw"] - yaw, 2 * math.pi)) > 0.02:
        failures["pose"] = f"put at ({x:.3f}, {y:.3f}, {yaw:.3f}), reported ({g['x']:.3f}, {g['y']:.3f}, {g['yaw']:.3f})"
    # params: the last reward call's params against the fast env's for the same pose and step facts
    fast_rec = _Recorder()
    fast = BatchedEnv(Track.load(track), reward_function=fast_rec, seed=0, autoreset=False)
    fast.reset(seed=0)
    param_diffs: list[str] = ["no reward call"] if last is None else []
    if last is not None:
        # the fast env in the state the last Gazebo step was judged in: same pose, motion and counters
        state, steps_done, lap_m, prev_arc, sim_s, action = judged
        fast.state = state
        fast.steps[:], fast.lap_distance_m[:], fast.prev_arc_m[:], fast.sim_time_s[:] = steps_done, lap_m, prev_arc, sim_s
        fast.preparing[:] = False
        fast._measure = None
        fast.step(np.array([action]))
        param_diffs = _compare_params(last, fast_rec.params[-1])
    if param_diffs:
        failures["params"] = "; ".join(param_diffs[:6])
    objects = _check_objects(client, track)
    if objects.pop("failure", None):
        failures["objects"] = objects["why"]
    return {"ok": not failures, "failures": failures, "steps": len(times), "steps_per_s": (len(times) + 20) / wall_s,
            "late_frames": late,
            "world_load_s": round(load_s, 2), "speed_mps": round(v, 3), "turn_rate_rps": round(turn, 3),
            "clock_steps_s": sorted(set(np.round(dts, 4).tolist())), "cameras": env.world_reply.get("cameras"),
            "objects": objects}


def _check_objects(client: GazeboClient, track: str) -> dict:
    """The objects check (see the module's docstring); {"failure": True, "why": ...} when it fails."""
    from .env import frame_to_y
    from .world import HIDDEN_X_M

    env = GazeboEnv(track, race={"race_type": "OBJECT_AVOIDANCE", "number_of_obstacles": 2}, seed=1,
                    autoreset=False, client=client)
    env.reset(seed=1)
    poses = env.object_poses()
    x, y, yaw = poses[0]
    c, s = math.cos(yaw), math.sin(yaw)
    gap_m = 0.8
    cx, cy = x - gap_m * c, y - gap_m * s
    seen = frame_to_y(client.set_pose(cx, cy, yaw, poses).frames[0]).astype(int)
    away = poses.copy()
    away[0] = (HIDDEN_X_M, 0.0, 0.0)
    empty = frame_to_y(client.set_pose(cx, cy, yaw, away).frames[0]).astype(int)
    changed = float(np.mean(np.abs(seen - empty) > 20))
    client.set_pose(cx, cy, yaw, poses)
    for _ in range(30):     # 2 s at 1 m/s: the box face is 0.6 m ahead of the car's front
        g = client.step(0.0, 1.0 / car.WHEEL_RADIUS_M, poses).state
    front_m = (g["x"] - cx) * c + (g["y"] - cy) * s + world.BODY_BOX_M[1][0]
    face_m = gap_m - float(env.world.obstacles.half_length_m[0, 0])
    bots = GazeboEnv(track, race={"race_type": "HEAD_TO_BOT", "number_of_bot_cars": 2, "bot_car_speed_mps": 0.5},
                     seed=2, autoreset=False, client=client)
    bots.reset(seed=2)
    p0 = bots.object_poses().copy()
    for _ in range(15):
        bots.step(np.array([0]))
    moved = np.hypot(*(bots.object_poses() - p0)[:, :2].T)
    out = {"box_pixels_changed": round(changed, 3), "stopped_at_m": round(front_m, 3), "box_face_m": round(face_m, 3),
           "bots_moved_m": np.round(moved, 3).tolist()}
    why = []
    if changed < 0.05:
        why.append(f"the box changed only {changed:.1%} of the frame")
    if abs(front_m - face_m) > 0.03:
        why.append(f"driving at the box the car's front stopped at {front_m:.3f} m, the box face is at {face_m:.3f} m")
    if not np.allclose(moved, 0.5 * 15 * car.STEP_S, rtol=0.1):
        why.append(f"bot cars moved {moved.round(3).tolist()} m in 1 s at 0.5 m/s")
    if why:
        out.update(failure=True, why="; ".join(why))
    return out


def run_lidar_check(master_uri: str, track: str = "reinvent_base") -> dict:
    """The --lidar check (see the module's docstring)."""
    from ..lidar import LIDAR_MAX_RANGE_M, lidar_ranges

    metadata = {"sensor": ["FRONT_FACING_CAMERA", "LIDAR"], "neural_network": "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
                "action_space": [{"steering_angle": 0.0, "speed": 1.0}, {"steering_angle": 15.0, "speed": 1.0}],
                "version": "5"}
    env = GazeboEnv(track, model_metadata=metadata, race={"race_type": "OBJECT_AVOIDANCE", "number_of_obstacles": 3},
                    seed=1, autoreset=False, master_uri=master_uri)
    env.reset(seed=1)
    for i in range(20):
        env.step(np.array([i % 2]))
    for _ in range(15):
        env._take(env.client.step(0.0, 0.0, env.object_poses()), pose=True)
    gz = env._lidar_ranges(env.world.obstacles)[0]
    s = env.state
    fast = lidar_ranges(s.x, s.y, s.yaw, env.world.obstacles, None, None, field_m=env._lidar.field_m)[0]
    near = (gz < 6.0) | (fast < 6.0)
    diff = np.abs(gz - fast)[near]
    out = {"lidars": env.world_reply.get("lidars"), "near_beams": int(near.sum()),
           "median_diff_m": round(float(np.median(diff)), 4) if near.any() else None,
           "within_10cm": round(float(np.mean(diff <= 0.1)), 3) if near.any() else None,
           "max_range_m": float(gz.max()), "ok": True, "failures": {}}
    if out["lidars"] != 1 or not near.any() or out["median_diff_m"] > 0.03 or out["within_10cm"] < 0.9 \
            or gz.max() > LIDAR_MAX_RANGE_M + 0.05:
        out["ok"] = False
        far = [(b, round(float(gz[b]), 3), round(float(fast[b]), 3)) for b in np.flatnonzero(near)
               if abs(gz[b] - fast[b]) > 0.1]
        out["failures"]["lidar"] = (f"Gazebo scan vs fast ray caster: {out['near_beams']} near beams, median "
                                    f"{out['median_diff_m']} m, {out['within_10cm']} within 0.1 m; "
                                    f"(beam, Gazebo, fast) beyond 0.1 m: {far[:8]}")
    return out


def main(argv: list[str] | None = None) -> int:
    import os
    ap = argparse.ArgumentParser(prog="python -m simulation.gazebo.check", description=__doc__.split("\n")[0])
    ap.add_argument("--master", default=os.environ.get(MASTER_URI_ENV, DEFAULT_MASTER_URI))
    ap.add_argument("--track", default="reinvent_base")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--lidar", action="store_true", help="check a lidar car instead (needs a fresh Gazebo sim)")
    args = ap.parse_args(argv)
    result = run_lidar_check(args.master, args.track) if args.lidar else run_check(args.master, args.track, args.steps)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
