"""The two-contact car (simulation/dynamics.py, ``v6-two``, the default until 2026-12-05): grip-limited speeding
up and braking, the v6 steering controller, the wheel-radius speed factor, kinematic circles while the tyres
hold, and sliding wide when they do not. The default car (``v6-four``) at the end."""

from __future__ import annotations

import numpy as np
import pytest

from simulation import car, dynamics


@pytest.fixture(autouse=True)
def two_contact_car(monkeypatch):
    """These tests are of the two-contact car; DEEPRACER_DYNAMICS selects it for car.step_kinematics."""
    monkeypatch.setenv("DEEPRACER_DYNAMICS", "v6-two")


def drive(state: car.CarState, speed_mps: float, steering_deg: float, steps: int, dt_s: float = car.STEP_S):
    """Hold one command for ``steps`` steps; returns per-step (rear axle point, speed, yaw rate)."""
    k = state.x.shape[0]
    rear, speed, yaw_rate = [], [], []
    for _ in range(steps):
        car.step_kinematics(state, np.full(k, speed_mps), np.full(k, np.radians(steering_deg)), dt_s)
        rear.append(state.rear_axle())
        speed.append(state.speed_mps.copy())
        yaw_rate.append(state.yaw_rate_rps.copy())
    return np.array(rear), np.array(speed), np.array(yaw_rate)


def circle_radius(points: np.ndarray) -> float:
    """Least-squares circle through (N, 2) points."""
    a = np.c_[2 * points, np.ones(len(points))]
    cx, cy, k = np.linalg.lstsq(a, (points ** 2).sum(1), rcond=None)[0]
    return float(np.sqrt(k + cx ** 2 + cy ** 2))


def steady_corner(speed_mps: float, steering_deg: float) -> tuple[float, car.CarState]:
    """Start at rest, hold the command for 8 s; the rear axle's circle over the last 3 s, and the state."""
    st = car.CarState.zeros(1)
    rear, _, _ = drive(st, speed_mps, steering_deg, 120)
    return circle_radius(rear[-45:, 0]), st


def front_slip_deg(st: car.CarState) -> float:
    """Angle between the front wheels and the front axle's velocity [deg]."""
    lateral = st.lateral_mps[0] + st.yaw_rate_rps[0] * car.FRONT_AXLE_X_M
    return float(np.degrees(st.steering_rad[0] - np.arctan2(lateral, st.speed_mps[0])))


def test_car_state_fields_default_create_copy_and_stop():
    st = car.CarState(np.ones(2), np.ones(2), np.zeros(2), np.full(2, 1.5), np.full(2, 0.2))
    assert np.array_equal(st.lateral_mps, np.zeros(2)) and np.array_equal(st.yaw_rate_rps, np.zeros(2))
    car.step_kinematics(st, np.full(2, 3.0), np.full(2, 0.5))
    assert np.all(st.yaw_rate_rps != 0) and np.all(st.lateral_mps != 0)
    sub = st.subset(np.array([1]))
    assert sub.yaw_rate_rps[0] == st.yaw_rate_rps[1] and sub.lateral_mps[0] == st.lateral_mps[1]
    sub.yaw_rate_rps[0] = 99.0
    assert st.yaw_rate_rps[1] != 99.0                                     # a copy
    pose = (st.x.copy(), st.y.copy(), st.yaw.copy())
    st.stop(np.array([0]))
    for name in ("speed_mps", "steering_rad", "lateral_mps", "yaw_rate_rps"):
        assert getattr(st, name)[0] == 0.0 and getattr(st, name)[1] != 0.0, name
    assert all(np.array_equal(a, b) for a, b in zip(pose, (st.x, st.y, st.yaw)))
    z = car.CarState.zeros(3)
    assert z.yaw_rate_rps.shape == (3,) and z.lateral_mps.shape == (3,)


def test_wheel_speed_factor_and_cap():
    # speed / 0.035 rad/s on wheels of radius 0.036 m: 2.9% faster; 100 rad/s at most (3.6 m/s)
    assert dynamics.wheel_ground_speed(np.array([1.0]))[0] == pytest.approx(0.036 / 0.035)
    assert dynamics.wheel_ground_speed(np.array([4.0]))[0] == pytest.approx(3.6)
    st = car.CarState.zeros(1)
    _, speed, _ = drive(st, 2.0, 0.0, 30)
    assert speed[-1, 0] == pytest.approx(2.0 * 0.036 / 0.035, rel=1e-6)


def test_speeds_up_and_brakes_at_the_grip_limit():
    st = car.CarState.zeros(1)
    _, speed, _ = drive(st, 2.0, 0.0, 60, dt_s=1 / 60)
    accel = np.diff(np.r_[0.0, speed[:, 0]]) * 60
    assert accel[:20] == pytest.approx(dynamics.GRIP_MPS2, rel=1e-6)       # a ramp, not a lag
    t1 = (np.argmax(speed[:, 0] >= 1.0) + 1) / 60
    t2 = (np.argmax(speed[:, 0] >= 2.0) + 1) / 60
    assert 0.19 < t1 < 0.24 and 0.39 < t2 < 0.44
    _, speed, _ = drive(st, 0.1, 0.0, 6, dt_s=1 / 60)                      # braking
    assert np.diff(speed[:, 0]) == pytest.approx(-dynamics.GRIP_MPS2 / 60, rel=1e-6)


def test_steering_moves_as_the_v6_position_controller():
    # each 60 Hz tick closes 10% of the error: 1 - 0.9**4 of it in one 1/15 s step, moving or not
    st = car.CarState.zeros(2)
    st.speed_mps[1] = 1.0
    car.step_kinematics(st, np.array([0.1, 1.0]), np.full(2, 0.5))
    assert st.steering_rad == pytest.approx(0.5 * (1 - 0.9 ** 4), rel=1e-9)


def test_low_speed_circle_is_the_kinematic_one():
    for deg in (30.0, 15.0):
        radius, st = steady_corner(0.5, deg)
        assert radius == pytest.approx(car.WHEELBASE_M / np.tan(np.radians(deg)), rel=0.01)
        assert abs(front_slip_deg(st)) < 0.1


def test_beyond_the_grip_limit_the_car_slides_wide():
    kinematic = car.WHEELBASE_M / np.tan(np.radians(30))
    radii = [steady_corner(v, 30.0)[0] for v in (0.5, 1.0, 1.5)]
    assert radii[0] < radii[1] < radii[2]
    radius, st = steady_corner(1.5, 30.0)
    assert radius > 1.5 * kinematic                     # a kinematic car would hold 0.284 m
    assert front_slip_deg(st) > 5.0                     # the front wheels slide sideways
    # the lateral acceleration is capped by grip, not by the path the wheels point along
    assert st.speed_mps[0] * st.yaw_rate_rps[0] <= dynamics.GRIP_MPS2
    assert st.speed_mps[0] ** 2 * np.tan(np.radians(30)) / car.WHEELBASE_M > 1.5 * dynamics.GRIP_MPS2


def test_sliding_car_keeps_its_momentum():
    # straight at 3 m/s, then full lock: the car does not turn on the spot like a kinematic one,
    # its velocity leaves the heading (sideslip) and its yaw rate stays well below v tan(30) / L
    st = car.CarState.zeros(1)
    drive(st, 3.0, 0.0, 20)
    _, speed, yaw_rate = drive(st, 3.0, 30.0, 3)
    assert np.all(yaw_rate[:, 0] < 0.5 * speed[:, 0] * np.tan(np.radians(30)) / car.WHEELBASE_M)
    rear_lateral = st.lateral_mps[0] + st.yaw_rate_rps[0] * car.REAR_AXLE_X_M
    assert abs(front_slip_deg(st)) > 10.0 or abs(rear_lateral) > 0.3


def test_mask_and_batch_independence():
    st = car.CarState.zeros(3)
    st.speed_mps[:] = [1.0, 2.0, 3.0]
    before = st.subset(np.arange(3))
    mask = np.array([True, False, True])
    cmd_v, cmd_d = np.array([1.0, 2.0, 3.0]), np.radians([10.0, 20.0, 30.0])
    moved = car.step_kinematics(st, cmd_v, cmd_d, mask=mask)
    assert moved[1] == 0.0 and moved[0] > 0 and moved[2] > 0
    for name in ("x", "y", "yaw", "speed_mps", "steering_rad", "lateral_mps", "yaw_rate_rps"):
        assert getattr(st, name)[1] == getattr(before, name)[1], name
    # each car moves as it would alone
    alone = before.subset(np.array([2]))
    car.step_kinematics(alone, cmd_v[2:], cmd_d[2:])
    assert (alone.x[0], alone.y[0], alone.yaw_rate_rps[0]) == (st.x[2], st.y[2], st.yaw_rate_rps[2])


def test_the_default_car_turns_wider_than_its_wheels_already_at_walking_pace(monkeypatch):
    # v6-four, fitted to the v6 car in DART: the wheels of each axle fight in a turn (docs/dart.md)
    monkeypatch.delenv("DEEPRACER_DYNAMICS")
    for deg in (30.0, 15.0):
        radius, _ = steady_corner(0.5, deg)
        kinematic = car.WHEELBASE_M / np.tan(np.radians(deg))
        assert 1.3 * kinematic < radius < 1.7 * kinematic         # yaw-rate ratio about 0.67
    # straight ahead it is the two-contact car: the same speed, grip and steering controller
    st = car.CarState.zeros(1)
    _, speed, _ = drive(st, 1.0, 0.0, 30)
    assert speed[-1, 0] == pytest.approx(1.0 * dynamics.WHEEL_CONTACT_RADIUS_M / dynamics.SPEED_FACTOR_RADIUS_M, rel=0.01)
