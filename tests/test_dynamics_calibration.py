"""The fast simulator's cars against the figures measured in the Gazebo sim and in DART (simulation/gazebo/
calibrate.py, stored in simulation/gazebo/calibration.json: "fast" is the default car, v6-four; docs/gazebo.md and
docs/dart.md have the tables and what the gaps mean).

What both agree on is held within tolerance; the stored fast-simulator figures must be the current
ones (re-run `python -m simulation.gazebo.calibrate --fast-only` after changing the dynamics and update
the file and docs/gazebo.md)."""

from __future__ import annotations

import json

import pytest

from simulation.gazebo.calibrate import CALIBRATION_FILE, FastBackend, measure


@pytest.fixture(scope="module")
def stored():
    return json.loads(CALIBRATION_FILE.read_text())


@pytest.fixture(scope="module")
def fast():
    return measure(FastBackend())


def test_the_stored_fast_figures_are_current(stored, fast):
    assert fast == stored["fast"], "the fast car changed: re-run the calibration and update docs/gazebo.md"


def test_top_speed_is_gazebos(stored, fast):
    # both cap the wheels at 100 rad/s (the URDF's joint velocity limit binds in Gazebo 11 too, loosely:
    # its trimesh wheels run at about 104 rad/s, docs/gazebo.md)
    assert fast["speed_step_4_mps"]["settled"] == pytest.approx(stored["gazebo"]["speed_step_4_mps"]["settled"],
                                                                 rel=0.03)


def test_speed_at_1_mps_is_gazebos(stored, fast):
    # commands are divided by 0.035 m while the wheels roll on 0.036 m: both run a few % fast
    assert fast["speed_step_1_mps"]["settled"] == pytest.approx(stored["gazebo"]["speed_step_1_mps"]["settled"],
                                                                 rel=0.05)


def _yaw_table_fit(stored: dict, against: str, model: str) -> tuple[float, float, float]:
    """(RMS, mean error) of car model ``model``'s yaw-ratio table against the stored ``against`` car's, and the
    two-contact car's RMS against the same table."""
    from simulation import car
    from simulation.gazebo.calibrate import table_error, yaw_ratio_table

    reference = stored[against]["corner_yaw_ratio"]
    rms, mean = table_error(yaw_ratio_table(FastBackend(car.dynamics_step(model))), reference)
    rms_two, _ = table_error(yaw_ratio_table(FastBackend(car.dynamics_step("v6-two"))), reference)
    return rms, mean, rms_two


def test_the_v5_car_corners_like_the_gazebo_car(stored):
    # DEEPRACER_DYNAMICS=v5 (simulation/dynamics_four.py): each wheel its own contact, so the wheels of an axle
    # fight as in the Gazebo car; its fitted slip compliances keep the yaw-ratio table close
    rms, mean, rms_two = _yaw_table_fit(stored, "gazebo", "v5")
    assert rms < 0.1 and abs(mean) < 0.05
    assert rms_two > 3 * rms                                      # the gap it closes


def test_the_v5_car_steers_like_the_gazebo_car_and_drives_straight_as_the_default(stored, fast):
    from simulation.dynamics_four import step_dynamics_v5

    v5 = measure(FastBackend(step_dynamics_v5))
    gz = stored["gazebo"]["steering_step_30_deg"]
    assert v5["steering_step_30_deg"]["t63_s"] == pytest.approx(gz["t63_s"], abs=0.07)    # one 1/15 s step
    assert v5["steering_step_30_deg"]["t90_s"] == pytest.approx(gz["t90_s"], abs=0.07)
    for key in ("speed_step_1_mps", "speed_step_4_mps"):
        assert v5[key]["settled"] == pytest.approx(fast[key]["settled"], rel=0.01)


def test_deepracer_dynamics_selects_the_car_model(monkeypatch):
    import numpy as np

    from simulation import car

    def turn(model: str) -> float:
        monkeypatch.setenv("DEEPRACER_DYNAMICS", model)
        s = car.CarState.zeros(1)
        for _ in range(45):
            car.step_kinematics(s, np.array([0.5]), np.array([np.radians(30)]))
        return float(s.yaw_rate_rps[0] / (s.speed_mps[0] * np.tan(s.steering_rad[0]) / car.WHEELBASE_M))

    assert turn("v6") == pytest.approx(0.7, abs=0.1)                # v6 is the default, the car fitted to DART
    assert turn("") == pytest.approx(0.7, abs=0.1)                  # the default
    assert turn("v6-two") == pytest.approx(1.0, abs=0.05)
    assert turn("v5") == pytest.approx(0.6, abs=0.1)                # the Gazebo car's 0.55
    assert turn("v6-four") == pytest.approx(0.7, abs=0.1)           # the DART car's 0.71
    monkeypatch.setenv("DEEPRACER_DYNAMICS", "V5")
    with pytest.raises(ValueError, match=r"DEEPRACER_DYNAMICS='V5' is not a car model this version knows; "
                                         r"allowed: v6-four, v6-two, v5, v6"):
        car.step_kinematics(car.CarState.zeros(1), np.array([1.0]), np.array([0.0]))


def test_the_v6_four_contact_car_corners_like_the_dart_car(stored):
    # v6-four, the default: four contacts, the v6 steering, slip compliances fitted to the DART car's
    # yaw-ratio table (python -m simulation.gazebo.calibrate --fit-four-contact --against dart)
    from simulation.dynamics_four import step_dynamics_v6_four

    rms, mean, rms_two = _yaw_table_fit(stored, "dart", "v6-four")
    assert rms < 0.1 and abs(mean) < 0.05
    assert rms_two > 5 * rms                                      # the gap it closes
    # the racing line's corners (2 m/s, 10-30 deg): within 10% of the DART car's yaw ratio; with equal grip
    # along and across the wheels the car turned 25-35% less there (docs/dart.md, "The racing regime")
    fast, dart = stored["fast"]["corner_yaw_ratio"], stored["dart"]["corner_yaw_ratio"]
    for deg in ("10", "15", "20", "25", "30"):
        assert fast[deg]["2"] == pytest.approx(dart[deg]["2"], rel=0.1), deg
    v6_four = measure(FastBackend(step_dynamics_v6_four))
    dart = stored["dart"]
    # the same steering controller as the DART car's (gz_ros2_control's P-law), the same top speed
    assert v6_four["steering_step_30_deg"] == dart["steering_step_30_deg"]
    assert v6_four["speed_step_4_mps"]["settled"] == pytest.approx(dart["speed_step_4_mps"]["settled"], rel=0.02)
    assert v6_four["speed_step_1_mps"]["settled"] == pytest.approx(dart["speed_step_1_mps"]["settled"], rel=0.01)


@pytest.mark.slow
def test_the_stored_dart_figures_are_current(stored):
    pytest.importorskip("dartpy")
    from simulation.gazebo.calibrate import DartBackend

    assert measure(DartBackend()) == stored["dart"], \
        "the DART car changed: re-run `python -m simulation.gazebo.calibrate --dart --store` and update docs/dart.md"
