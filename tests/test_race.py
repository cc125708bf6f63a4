"""Objects and bots as the reference places, moves and hits them (simulation/race.py, obstacles.py).

The tracks are circles (tests/conftest.py): centre radius 3 m, inner border (the file's columns
2:4) at 2.5 m, outer at 3.5 m, so the simapp's inner lane runs at 2.75 m and the outer at 3.25 m
whichever way the circle is drawn or driven, and an arc a of the centre line is the angle a / 3.
"""

from __future__ import annotations

import numpy as np
import pytest

from core import race_status as rs
from core.config import ConfigError
from simulation import car, obstacles
from simulation.controller import pure_pursuit
from simulation.env import BatchedEnv
from simulation.race import RaceConfig, World
from tests.conftest import circle_track

R = 3.0
L = circle_track().length_m        # a 240-gon: a little short of 2 pi R
INNER_R, OUTER_R = 2.75, 3.25
STATE_CONTINUOUS = {"action_space": {"steering_angle": {"low": -30, "high": 30}, "speed": {"low": 0.5, "high": 2.0}},
                    "action_space_type": "continuous", "sensor": ["STATE"]}


def world(race: dict, k: int = 1, clockwise: bool = False, direction: float = 1.0, seed: int = 0) -> World:
    w = World(RaceConfig.from_dict(race), circle_track(clockwise=clockwise), k, np.random.default_rng(seed))
    w.reset(np.arange(k), None, np.full(k, direction))
    return w


def radius(xy: np.ndarray) -> np.ndarray:
    return np.linalg.norm(xy, axis=-1)


def car_corners(x: float, y: float, yaw: float) -> np.ndarray:
    return car.to_world(np.array([x]), np.array([y]), np.array([yaw]), car.BODY_CORNERS_M)


# ---------------------------------------------------------------------- boxes
def test_box_is_the_reference_box():
    hl, hw, h = obstacles.box_sizes()
    assert (2 * hl, 2 * hw, h) == (0.4, 0.3, 0.25)                     # models/box_obstacle/model.sdf
    assert tuple(2 * v for v in obstacles.box_rect()) == (0.5, 0.4)     # ObstacleDimensions, crash test
    assert obstacles.BOX_COLOR_RGB == (123, 97, 79)                     # #7b614f
    w = world({"race_type": "OBJECT_AVOIDANCE", "number_of_obstacles": 2})
    assert np.all(w.obstacles.rect_half_length_m == 0.25) and np.all(w.obstacles.half_width_m == 0.15)


@pytest.mark.parametrize("clockwise", [False, True])
@pytest.mark.parametrize("direction", [1.0, -1.0])
def test_default_boxes_are_evenly_spread_inner_lane_first(clockwise, direction):
    w = world({"race_type": "OBJECT_AVOIDANCE", "number_of_obstacles": 4, "min_distance_between_obstacles_m": 5.0},
              clockwise=clockwise, direction=direction)
    # MIN_DISTANCE_BETWEEN_OBSTACLES is a percentage of the lap: from 5% of it to 1 m before the line
    assert w.drive_m[0] == pytest.approx(np.linspace(0.05 * L, L - 1.0, 4))
    assert radius(w.obstacles.xy[0]) == pytest.approx([INNER_R, OUTER_R, INNER_R, OUTER_R], abs=1e-3)
    # measured from the start line along the driving direction
    expect_fwd = w.drive_m[0] if direction > 0 else L - w.drive_m[0]
    assert w.arc_m[0] == pytest.approx(expect_fwd)
    # the box is where the circle's angle says (the file runs clockwise when drawn so)
    angle = np.arctan2(w.obstacles.xy[0, :, 1], w.obstacles.xy[0, :, 0])
    sign = -1.0 if clockwise else 1.0
    assert np.allclose(np.mod(angle - sign * expect_fwd / R + np.pi, 2 * np.pi) - np.pi, 0.0, atol=2e-3)


def test_fixed_positions_use_the_reference_lane_codes():
    race = {"race_type": "OBJECT_AVOIDANCE", "obstacle_positions": [(0.25, 1), (0.5, -1), (0.75, "left")]}
    for clockwise in (False, True):
        w = world(race, clockwise=clockwise)
        assert w.arc_m[0] == pytest.approx([0.25 * L, 0.5 * L, 0.75 * L])
        r = radius(w.obstacles.xy[0])
        assert r[:2] == pytest.approx([INNER_R, OUTER_R], abs=1e-3)      # 1 inner, -1 outer
        # "left" is left of the forward direction: inside on a counter-clockwise circle
        assert r[2] == pytest.approx(OUTER_R if clockwise else INNER_R, abs=1e-3)
    with pytest.raises(ConfigError, match="lap fraction"):
        RaceConfig.from_dict({"race_type": "OBJECT_AVOIDANCE", "obstacle_positions": [(0.2, 0)]})


def test_random_boxes_keep_the_gap_and_the_range():
    race = {"race_type": "OBJECT_AVOIDANCE", "number_of_obstacles": 5, "randomize_obstacle_locations": True}
    w = world(race, k=200, seed=3)
    gap = 0.02 * L
    d = w.drive_m
    assert np.all(np.diff(d, axis=1) >= gap - 1e-9)
    assert np.all(d[:, 0] >= gap - 1e-9) and np.all(d[:, -1] <= L - 1.0 + 1e-9)
    assert np.unique(d[:, 2].round(6)).size > 100                     # really moved
    inner = np.isclose(radius(w.obstacles.xy), INNER_R, atol=1e-3)
    assert 0.35 < inner.mean() < 0.65                                  # random lanes
    again = world(race, k=200, seed=3)
    assert np.array_equal(again.drive_m, d)


# ---------------------------------------------------------------------- bots
def test_bots_start_at_fixed_positions_and_drive_their_lane():
    race = {"race_type": "HEAD_TO_BOT", "number_of_bot_cars": 3, "bot_car_speed_mps": 0.2}
    for direction in (1.0, -1.0):
        w = world(race, direction=direction)
        assert w.drive_m[0] == pytest.approx(np.linspace(2.0, L - 1.0, 3))   # metres this time
        assert radius(w.obstacles.xy[0]) == pytest.approx([INNER_R, OUTER_R, INNER_R], abs=1e-3)
        d0 = w.drive_m.copy()
        for _ in range(30):
            w.step(1 / 15)
        assert np.mod(w.drive_m - d0, L) == pytest.approx(np.full((1, 3), 0.4))
        # heading along the driving direction: tangent of the circle
        pos = w.obstacles.xy[0]
        tangent = np.arctan2(pos[:, 0], -pos[:, 1]) + (np.pi if direction < 0 else 0.0)
        assert np.allclose(np.cos(w.obstacles.yaw[0] - tangent), 1.0, atol=1e-3)   # a 240-gon's lanes
        assert np.all(w.obstacles.speed_mps == 0.2)


@pytest.mark.parametrize("speed,change_s", [(0.2, 5.0), (0.5, 2.0)])
def test_a_lane_change_covers_one_metre_of_track(speed, change_s):
    race = {"race_type": "HEAD_TO_BOT", "number_of_bot_cars": 1, "bot_car_speed_mps": speed, "bot_lane_change": True,
            "lower_lane_change_time_s": 3.0, "upper_lane_change_time_s": 3.0}
    w = world(race)
    radii = {}
    for i in range(1, int((3.0 + change_s + 2.0) * 15) + 1):
        w.step(1 / 15)
        radii[i] = radius(w.obstacles.xy[0, 0])
    at = lambda t: radii[int(round(t * 15))]
    assert at(2.9) == pytest.approx(INNER_R, abs=1e-3)                    # holds its lane 3 s
    assert INNER_R < at(3.0 + 0.5 * change_s) < OUTER_R                   # half way
    assert at(3.0 + 0.5 * change_s) == pytest.approx(R, abs=0.02)
    assert at(3.0 + 0.95 * change_s) < OUTER_R - 1e-4                     # still changing
    assert at(3.0 + change_s + 0.1) == pytest.approx(OUTER_R, abs=1e-3)   # done after distance / speed


# ---------------------------------------------------------------------- crashes
def test_crash_is_a_car_corner_inside_the_box_rectangle():
    w = world({"race_type": "OBJECT_AVOIDANCE", "obstacle_positions": [(0.25, 1)]})
    bx, by = w.obstacles.xy[0, 0]
    yaw = w.obstacles.yaw[0, 0]
    along, across = np.array([np.cos(yaw), np.sin(yaw)]), np.array([-np.sin(yaw), np.cos(yaw)])

    def hit(offset_along, offset_across, car_yaw):
        p = np.array([bx, by]) + offset_along * along + offset_across * across
        return w.collisions(car_corners(p[0], p[1], yaw + car_yaw), np.array([0.2 * L]))

    # nose 5 cm into the 0.5 m rectangle, but not into the 0.4 m box body: crashed
    h = hit(-(0.25 + 0.162 - 0.05), 0.0, 0.0)
    assert h.crashed[0] and h.object[0] == 0 and not h.rear_ended[0]
    assert not hit(-(0.25 + 0.162 + 0.01), 0.0, 0.0).crashed[0]         # 1 cm short
    # the car across the box's corner: the corner is inside the car, no car corner inside the box
    p = np.array([bx, by]) + (0.25 + 0.06) * along + (0.2 + 0.06) * across
    overlap = w.collisions(car_corners(p[0], p[1], yaw - np.pi / 4), np.array([0.2 * L]))
    assert not overlap.crashed[0] and overlap.object[0] == -1


def test_a_bot_hit_from_ahead_is_no_crash_and_stops_the_bots():
    race = {"race_type": "HEAD_TO_BOT", "number_of_bot_cars": 2, "bot_car_speed_mps": 0.2, "bot_pause_s": 2.0}
    w = world(race, k=2)
    bx, by = w.obstacles.xy[0, 0]
    yaw = w.obstacles.yaw[0, 0]
    back = car.BODY_LENGTH_M - 0.05                                 # the car's nose 5 cm past the bot's tail
    corners = np.concatenate([car_corners(bx - back * np.cos(yaw), by - back * np.sin(yaw), yaw)] * 2)
    front = w.drive_m[0, 0] + car.REFERENCE_POINT_AHEAD_M          # the bot's front point
    ref = np.array([front - 0.05, front + 0.05])                   # car 0 behind it, car 1 ahead of it
    h = w.collisions(corners, ref)
    assert list(h.crashed) == [True, False] and list(h.rear_ended) == [False, True]
    assert list(h.object) == [0, 0]
    w.hold_bots(h.rear_ended)
    d0 = w.drive_m.copy()
    for _ in range(30):                                             # 2 s: car 1's bots stand still
        w.step(1 / 15)
    assert np.mod(w.drive_m - d0, L)[0] == pytest.approx([0.4, 0.4])
    assert np.mod(w.drive_m - d0, L)[1] == pytest.approx([0.0, 0.0], abs=1e-9)
    w.step(1 / 15)
    assert np.mod(w.drive_m - d0, L)[1] == pytest.approx(np.full(2, 0.2 / 15))


# ---------------------------------------------------------------------- evaluation resets
def test_reset_behind_a_box_goes_on_the_other_lane():
    w = world({"race_type": "OBJECT_AVOIDANCE", "obstacle_positions": [(0.25, 1), (0.75, -1)]})
    box = w.drive_m[0]
    car_xy = np.array([[INNER_R, 0.0]])
    for b, other_r in ((0, OUTER_R), (1, INNER_R)):
        pose = w.reset_poses(np.array([0]), np.array([box[b] - 0.4]), car_xy)[0]
        assert radius(pose[:2]) == pytest.approx(other_r, abs=1e-3)
        angle = np.arctan2(pose[1], pose[0])
        assert np.mod(angle * R - (box[b] - 1.0) + L / 2, L) - L / 2 == pytest.approx(0.0, abs=6e-3)  # 1 m behind
        assert np.cos(pose[2] - (angle + np.pi / 2)) == pytest.approx(1.0, abs=1e-3)   # facing the driving direction
    # no box within 1 m: the lane nearer to the car
    far = 0.5 * L
    for xy, r in (([-2.6, 0.0], INNER_R), ([-3.6, 0.0], OUTER_R)):
        pose = w.reset_poses(np.array([0]), np.array([far]), np.array([xy]))[0]
        assert radius(pose[:2]) == pytest.approx(r, abs=1e-3)
        assert np.mod(np.arctan2(pose[1], pose[0]) - far / R + np.pi, 2 * np.pi) - np.pi == pytest.approx(0, abs=2e-3)


def test_training_starts_next_to_an_object_take_the_other_lane():
    w = world({"race_type": "OBJECT_AVOIDANCE", "obstacle_positions": [(0.25, 1)]})
    lanes = w.start_lanes(np.array([0, 0, 0]), np.array([0.25 * L - 0.9, 0.25 * L + 0.5, 0.25 * L + 1.1]))
    assert list(lanes) == [-1.0, -1.0, 0.0]          # inner box on a counter-clockwise circle: go right
    pose = w.lane_poses(np.array([0]), np.array([0.25 * L]), np.array([-1.0]))[0]
    assert radius(pose[:2]) == pytest.approx(OUTER_R, abs=1e-3)


def test_pause_is_the_penalty_of_the_incident():
    cfg = RaceConfig(off_track_penalty_s=3.0, collision_penalty_s=5.0)
    assert list(cfg.pause_s([rs.OFF_TRACK, rs.CRASHED, rs.REVERSED, rs.IMMOBILIZED])) == [3.0, 5.0, 3.0, 0.0]
    assert RaceConfig(reversed_penalty_s=1.0).pause_s(rs.REVERSED) == 1.0


def test_evaluation_crash_resets_behind_the_box_and_holds_the_car():
    race = {"race_type": "OBJECT_AVOIDANCE", "obstacle_positions": [(0.25, 1)], "training": False, "resets": True,
            "collision_penalty_s": 2.0}
    env = BatchedEnv(circle_track(), None, STATE_CONTINUOUS, race, num_cars=1, seed=0, autoreset=False)
    env.reset()
    box = env.world.drive_m[0, 0]
    for _ in range(400):
        r = env.step(pure_pursuit(env))
        if r.status[0] == rs.CRASHED:
            break
    assert r.status[0] == rs.CRASHED and not r.done[0] and r.reset_count[0] == 1
    crash_progress = r.progress[0]
    pose = np.array([env.state.x[0], env.state.y[0]])
    assert radius(pose) == pytest.approx(OUTER_R, abs=1e-3)
    assert np.arctan2(pose[1], pose[0]) * R == pytest.approx(box - 1.0, abs=1e-3)
    t0 = r.sim_time_s[0]
    held = []
    for _ in range(40):
        r = env.step(pure_pursuit(env))
        held.append((r.status[0], env.state.x[0], env.state.y[0], r.progress[0]))
    paused = [h for h in held if h[0] == rs.PAUSE]
    assert len(paused) in (30, 31)              # 2 s at 15 steps per second (+ the step that ends it)
    assert all(np.allclose(h[1:3], pose) for h in paused)                # at rest meanwhile
    assert held[len(paused)][0] == rs.IN_PROGRESS and not np.allclose(held[-1][1:3], pose)
    assert r.sim_time_s[0] == pytest.approx(t0 + 40 / 15)               # the clock ran on
    # progress follows the car back (the simapp's progress is where the car is): the reference point,
    # 0.14 m ahead of the chassis centre, 1 m behind the box
    assert held[0][3] == pytest.approx(100 * (box - 1.0 + car.REFERENCE_POINT_AHEAD_M) / L, abs=0.2)
    assert held[0][3] < crash_progress
