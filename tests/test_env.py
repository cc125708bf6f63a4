"""Reward params, race rules and the environments, driven for real."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import simulation
from core import race_status as rs
from simulation import car
from simulation.controller import pure_pursuit
from simulation.env import BatchedEnv, DeepRacerEnv, episode_status
from simulation.params import PARAM_KEYS
from simulation.track import Track, available_tracks
from tests.conftest import circle_track, square_track

STATE_CONTINUOUS = {"action_space": {"steering_angle": {"low": -30, "high": 30}, "speed": {"low": 0.5, "high": 2.0}},
                    "action_space_type": "continuous", "sensor": ["STATE"]}
STATE_DISCRETE = {"action_space": [{"steering_angle": s, "speed": 1.0} for s in (-30, -15, 0, 15, 30)],
                  "sensor": ["STATE"]}



def recording_reward(tmp_path, body="return 1.0"):
    f = tmp_path / "reward_function.py"
    f.write_text("SEEN = []\n\ndef reward_function(params):\n    SEEN.append(params)\n    " + body + "\n")
    return f


def run_until_done(env: BatchedEnv, action_fn, max_steps=5000):
    for _ in range(max_steps):
        r = env.step(action_fn(env))
        if r.done[0]:
            return r
    raise AssertionError("episode did not end")


def test_params_have_every_key_with_spec_types(tmp_path):
    f = recording_reward(tmp_path)
    env = BatchedEnv(square_track(), f, STATE_DISCRETE, None, num_cars=1, seed=0)
    env.reset()
    env.step(np.array([0]))   # the prepare step: the reward function is not called
    env.step(np.array([2]))
    env.step(np.array([4]))
    seen = env.reward_fn.modules[0].SEEN
    first, second = seen
    assert tuple(first) == PARAM_KEYS
    types = {"all_wheels_on_track": bool, "x": float, "y": float, "heading": float, "distance_from_center": float,
             "projection_distance": float, "progress": float, "steps": float, "speed": float,
             "steering_angle": float, "track_width": float, "track_length": float, "waypoints": list,
             "closest_waypoints": list, "is_left_of_center": bool, "is_reversed": bool, "is_offtrack": bool,
             "is_crashed": bool, "closest_objects": list, "objects_location": list,
             "objects_left_of_center": list, "objects_distance": list, "objects_distance_from_center": list,
             "objects_heading": list, "objects_speed": list, "object_in_camera": bool, "sim_time": float}
    for k, t in types.items():
        assert isinstance(first[k], t), k
    assert first["steps"] == 2 and second["steps"] == 3
    assert first["speed"] == 1.0 and first["steering_angle"] == 0.0          # commanded values
    assert second["steering_angle"] == 30.0
    assert first["track_length"] == pytest.approx(16.0)
    assert first["sim_time"] == pytest.approx(1 / 15)
    assert first["waypoints"][0] == first["waypoints"][-1] == (0.0, 0.0)
    assert first["closest_objects"] == [0, 0] and first["objects_location"] == []


def test_reference_point_is_ahead_of_the_car(tmp_path):
    f = recording_reward(tmp_path)
    env = BatchedEnv(square_track(), f, STATE_DISCRETE, {"start_offset_m": 1.0}, num_cars=1, seed=0)
    env.reset()
    env.step(np.array([2]))   # the prepare step
    x0, y0 = env.state.x[0], env.state.y[0]
    env.step(np.array([2]))   # straight ahead along +x: params describe the pose before this move
    p = env.reward_fn.modules[0].SEEN[0]
    assert env.state.x[0] > x0
    assert p["x"] == pytest.approx(x0 + 0.14)
    assert p["y"] == pytest.approx(y0)
    assert p["projection_distance"] == pytest.approx(p["x"])      # bottom side of the square runs along y=0
    # progress counts from the start position (the chassis centre at 1.0 m), measured at the reference
    # point (simapp: ndist(reference point) - start_ndist)
    assert p["progress"] == pytest.approx((p["x"] - 1.0) / 16.0 * 100, abs=1e-6)
    assert p["heading"] == pytest.approx(0.0)
    assert p["closest_waypoints"] == [int(p["x"] // 0.5), int(p["x"] // 0.5) + 1]


def test_mutating_params_does_not_corrupt_the_simulator(tmp_path):
    f = tmp_path / "evil.py"
    f.write_text("def reward_function(params):\n    params['waypoints'].clear()\n    params['waypoints'].append((9, 9))\n"
                 "    params['closest_waypoints'][0] = -5\n    params['x'] = 1e9\n    params.clear()\n    return 1.0\n")
    env = BatchedEnv(square_track(), f, STATE_DISCRETE, None, num_cars=2, seed=0)
    env.reset()
    for _ in range(5):
        env.step(np.array([2, 2]))
    assert env.tracks.waypoint_list(False)[0] == (0.0, 0.0) and len(env.tracks.waypoint_list(False)) == 33


def test_progress_wraps_at_the_finish_line():
    t = circle_track()
    # episode 19 starts 95% of a lap along: the car crosses the finish line early in the episode
    env = BatchedEnv(t, None, STATE_CONTINUOUS, {"max_steps": 2000}, num_cars=1, seed=0, episode_offset=19)
    env.reset()
    last = 0.0
    for _ in range(2000):
        r = env.step(pure_pursuit(env, target_speed_mps=1.5))
        assert r.progress[0] >= last - 1e-9   # never jumps back at the line
        last = r.progress[0]
        if r.done[0]:
            break
    assert rs.STATUSES[r.status[0]] == "lap_complete" and r.progress[0] == 100.0


@pytest.mark.parametrize("alternate", [False, True])
def test_reverse_direction_progress(tmp_path, alternate):
    f = recording_reward(tmp_path)
    opts = {"alternate_direction": True} if alternate else {"reverse_direction": True}
    env = BatchedEnv(circle_track(), f, STATE_CONTINUOUS, opts, num_cars=1, seed=0,
                     episode_offset=1 if alternate else 0)   # odd episodes run reversed when alternating
    env.reset()
    for _ in range(30):
        env.step(pure_pursuit(env))
    seen = env.reward_fn.modules[0].SEEN
    assert all(p["is_reversed"] for p in seen)
    assert seen[-1]["progress"] > seen[0]["progress"] > 0
    assert seen[0]["waypoints"][1] != circle_track().waypoints[1].tolist()
    # driving clockwise around the circle, the centre (inside) is on the right
    assert seen[-1]["heading"] < 0 or seen[-1]["heading"] > 90


def test_off_track_when_all_wheels_leave():
    env = BatchedEnv(circle_track(), None, STATE_DISCRETE, None, num_cars=1, seed=0)
    env.reset()
    r = run_until_done(env, lambda e: np.array([2]))       # straight on: leaves the circle at a tangent
    assert rs.STATUSES[r.status[0]] == "off_track"
    assert not r.all_wheels_on_track[0]


def test_evaluation_resets_put_the_car_back_with_penalties():
    race = {"resets": True, "max_resets": 2, "off_track_penalty_s": 5.0, "training": False}
    env = BatchedEnv(circle_track(), None, STATE_DISCRETE, race, num_cars=1, seed=0, autoreset=False)
    env.reset()
    r = run_until_done(env, lambda e: np.array([2]))       # straight on: leaves the circle every time
    assert rs.STATUSES[r.status[0]] == "off_track"
    assert r.reset_count[0] == 2 and r.off_track_count[0] == 3
    assert r.penalty_s[0] == pytest.approx(10.0)
    assert 0 < r.progress[0] < 100      # the lap went on from where the car left the track


def test_reversed_when_driving_backwards(tmp_path):
    env = BatchedEnv(square_track(), None, STATE_DISCRETE, {"start_offset_m": 2.0}, num_cars=1, seed=0)
    env.reset()
    env.state.yaw[:] = np.pi        # turn the car round on the straight
    r = run_until_done(env, lambda e: np.array([2]))
    assert rs.STATUSES[r.status[0]] == "reversed"
    assert r.steps[0] == 17   # prepare, a step at rest, then 15 steps backwards


def test_time_up_is_a_truncation():
    env = BatchedEnv(circle_track(), None, STATE_CONTINUOUS, {"max_steps": 10}, num_cars=1, seed=0)
    env.reset()
    r = run_until_done(env, pure_pursuit)
    assert rs.STATUSES[r.status[0]] == "time_up" and r.truncated[0] and not r.terminated[0]


def test_crash_into_a_box():
    race = {"race_type": "OBJECT_AVOIDANCE", "obstacle_positions": [(0.15, "left")]}
    env = BatchedEnv(square_track(), None, STATE_CONTINUOUS, race, num_cars=1, seed=0)
    env.reset()
    r = run_until_done(env, pure_pursuit)
    assert rs.STATUSES[r.status[0]] == "crashed" and r.crash_count[0] == 1


def test_status_rules_and_their_order():
    one = lambda v: np.array([v])  # noqa: E731
    def status(progress=50.0, on=True, crashed=False, falling=0, immobile=0, steps=10, max_steps=100):
        return rs.STATUSES[episode_status(one(progress), one(on), one(crashed), one(falling), one(immobile),
                                          one(steps), max_steps)[0]]
    assert status() == "in_progress"
    assert status(progress=100.0) == "lap_complete"
    assert status(on=False) == "off_track"
    assert status(crashed=True) == "crashed"
    assert status(falling=15) == "reversed" and status(falling=14) == "in_progress"
    assert status(immobile=15) == "immobilized" and status(immobile=14) == "in_progress"
    assert status(steps=100) == "time_up"
    assert status(progress=100.0, on=False) == "lap_complete"
    assert status(crashed=True, on=False) == "crashed"


def test_object_params(tmp_path):
    f = recording_reward(tmp_path)
    race = {"race_type": "OBJECT_AVOIDANCE", "obstacle_positions": [(0.3, "left"), (0.8, "right")]}
    env = BatchedEnv(square_track(), f, STATE_CONTINUOUS, race, num_cars=1, seed=0)
    env.reset()
    env.step(pure_pursuit(env))
    env.step(pure_pursuit(env))
    p = env.reward_fn.modules[0].SEEN[0]
    # 30% of the 16 m lap is 0.8 m up the right-hand side; lanes sit a quarter width from the centre
    assert p["objects_location"] == [pytest.approx((4.0 - 0.25, 0.8)), pytest.approx((-0.25, 3.2))]
    assert p["objects_distance"] == pytest.approx([4.8, 12.8])
    assert p["objects_distance_from_center"] == pytest.approx([0.25, 0.25])
    assert p["objects_left_of_center"] == [True, False]
    assert p["closest_objects"] == [1, 0]
    assert p["objects_speed"] == [0.0, 0.0]
    assert p["object_in_camera"] is True


def test_bot_cars_drive_along_lanes():
    race = {"race_type": "HEAD_TO_BOT", "number_of_bot_cars": 2, "bot_car_speed_mps": 0.5, "bot_lane_change": True,
            "lower_lane_change_time_s": 1.2, "upper_lane_change_time_s": 1.2}
    env = BatchedEnv(circle_track(radius=5.0), None, STATE_CONTINUOUS, race, num_cars=1, seed=0)
    env.reset()
    arc0 = env.world.arc_m.copy()
    lanes0 = env.world.lane.copy()
    for _ in range(60):   # a lane change starts after 1.2 s and takes 1 m of track: 2 s at 0.5 m/s
        env.step(pure_pursuit(env, target_speed_mps=0.3))
    travelled = np.mod(env.world.arc_m - arc0, env.tracks.forward.length_m)
    assert travelled == pytest.approx(0.5 * 60 / 15, abs=1e-6)
    assert np.array_equal(env.world.lane, -lanes0)   # both bots are now in the other lane


def test_discrete_and_continuous_action_clipping():
    env = BatchedEnv(square_track(), None, STATE_CONTINUOUS, None, num_cars=2, seed=0)
    steer, speed = env.actions_to_commands(np.array([[-5.0, 5.0], [0.0, -1.0]]))
    assert list(steer) == [-30.0, 0.0] and list(speed) == [2.0, 0.5]
    d = BatchedEnv(square_track(), None, STATE_DISCRETE, None, num_cars=1)
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        d.actions_to_commands(np.array([7]))


def test_speed_ramps_at_the_grip_limit():
    env = BatchedEnv(square_track(), None, STATE_CONTINUOUS, {"start_offset_m": 0.5}, num_cars=1, seed=0)
    env.reset()
    env.step(np.array([[0.0, 1.0]]))       # the prepare step holds the car
    assert env.state.speed_mps[0] == 0.0
    speeds = []
    for _ in range(15):
        env.step(np.array([[0.0, 1.0]]))   # 2 m/s commanded
        speeds.append(env.state.speed_mps[0])
    # 4.9 m/s^2 of grip (friction 0.5), then the commanded wheel speed on 0.036 m wheels (/0.035)
    assert speeds[0] == pytest.approx(4.9 / 15, rel=0.01) and np.all(np.diff(speeds) >= -1e-12)
    assert speeds[-1] == pytest.approx(2.0 * 0.036 / 0.035, rel=1e-6)


def test_deterministic_under_a_seed():
    race = {"race_type": "OBJECT_AVOIDANCE", "randomize_obstacle_locations": True, "action_noise_steering_deg": 3.0}
    def trace(seed):
        env = BatchedEnv("reinvent", None, STATE_CONTINUOUS, race, num_cars=3, seed=seed)
        env.reset()
        out = [env.world.arc_m.copy()]
        for _ in range(60):
            r = env.step(pure_pursuit(env))
            out.append(np.concatenate([r.x, r.y, r.reward]))
        return out
    a, b, c = trace(7), trace(7), trace(8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("sensors", [["STATE"], ["FRONT_FACING_CAMERA"], ["STEREO_CAMERAS"], ["observation"],
                                     ["FRONT_FACING_CAMERA", "LIDAR"], ["STEREO_CAMERAS", "SECTOR_LIDAR"],
                                     ["FRONT_FACING_CAMERA", "DISCRETIZED_SECTOR_LIDAR"]])
def test_gymnasium_check_env(sensors):
    meta = dict(STATE_DISCRETE, sensor=sensors)
    env = DeepRacerEnv("reinvent", model_metadata=meta, race={"race_type": "OBJECT_AVOIDANCE"}, seed=0)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=1)
    assert set(obs) == set(sensors)


def test_gymnasium_make_and_continuous_episode():
    env = gym.make(simulation.ENV_ID, track="vegas", model_metadata=STATE_CONTINUOUS, seed=3)
    obs, info = env.reset(seed=3)
    assert obs["STATE"].shape == (62,) and info["episode_status"] == "in_progress"
    total = 0
    for _ in range(20):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        total += reward
        if terminated or truncated:
            break
    assert info["steps"] >= 1 and np.isfinite(total)


def test_bad_reward_file_is_a_clear_error(tmp_path):
    from simulation.reward import RewardFunctionError
    f = tmp_path / "r.py"
    f.write_text("def reward_function(params):\n    return params['speeed']\n")
    env = BatchedEnv("reinvent", f, STATE_DISCRETE, None, num_cars=1)
    env.reset()
    env.step(np.array([2]))   # the prepare step does not call it
    with pytest.raises(RewardFunctionError) as e:
        env.step(np.array([2]))
    msg = str(e.value)
    assert str(f) in msg and "line 2" in msg and "speeed" in msg and "episode 0" in msg and "step 2" in msg


def _drive_round(name: str) -> tuple[str, str, float] | None:
    """None when the centre-line controller laps track ``name`` from the start line, else (name, status, progress)."""
    env = BatchedEnv(name, None, STATE_CONTINUOUS, {"max_steps": 20000}, num_cars=1, seed=0)
    env.reset()
    for _ in range(20000):
        # 1.2 m/s: the default car (its wheels fight in corners) cannot hold 1.5 m/s in the tightest corners
        # of 34 of the tracks (it could with two contacts; DEEPRACER_DYNAMICS=v6-two)
        r = env.step(pure_pursuit(env, target_speed_mps=1.2))
        if r.done[0]:
            break
    status = rs.STATUSES[r.status[0]]
    return None if status == "lap_complete" else (name, status, round(float(r.progress[0]), 1))


@pytest.mark.slow
def test_every_loop_track_is_driven_round_by_the_centre_line_controller():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    loops = [n for n in available_tracks() if Track.load(n).is_loop]
    assert len(loops) == 58
    # the tracks are independent: two processes (CI's two cores) take 58-64 s, one took 108 s
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        failed = [f for f in pool.map(_drive_round, loops) if f]
    assert not failed


def test_car_dimensions_match_the_spec():
    assert car.WHEELBASE_M == 0.164 and car.TRACK_WIDTH_M == 0.16
    assert car.STEP_S == pytest.approx(1 / 15)
    assert np.ptp(car.BODY_CORNERS_M[:, 0]) == pytest.approx(0.32352)
    assert np.ptp(car.BODY_CORNERS_M[:, 1]) == pytest.approx(0.1961)


def test_multi_track_workers_take_turns():
    from simulation.worker import track_of_worker

    assert [track_of_worker("reinvent, Vegas_track", w) for w in range(3)] == ["reinvent", "Vegas_track", "reinvent"]
    with pytest.raises(ValueError):
        track_of_worker(" , ", 0)
