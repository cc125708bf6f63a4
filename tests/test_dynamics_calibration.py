"""The fast simulator's car against the figures measured in the Gazebo sim (simulation/gazebo/calibrate.py,
stored in simulation/gazebo/calibration.json; docs/gazebo.md has the table and what the gaps mean).

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
