"""The DART backend (simulation/dart): the v6 reference's car built from its facts, in DART, driven for real."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

pytest.importorskip("dartpy")

from simulation import car  # noqa: E402
from simulation.controller import pure_pursuit  # noqa: E402
from simulation.dart import DartError, import_dartpy  # noqa: E402
from simulation.dart.car import (CONTROL_PERIOD_STEPS, DartCar, lumped_body,  # noqa: E402
                                 set_first_friction_direction)
from simulation.dart.env import DartEnv  # noqa: E402
from simulation.env import BatchedEnv  # noqa: E402

STATE_DISCRETE = {"action_space": [{"steering_angle": s, "speed": 1.0} for s in (-30, -15, 0, 15, 30)],
                  "sensor": ["STATE"]}


def test_the_lumped_body_is_the_facts_table():
    # docs/dart-v6-facts.md section 1.3: base_link after sdformat lumps the fixed joints
    mass, com, inertia = lumped_body(stereo=False)
    assert mass == pytest.approx(5.98111, abs=1e-5)
    assert com == pytest.approx([0.01131, 0.0, 0.03553], abs=1e-5)
    assert np.diag(inertia) == pytest.approx([0.019404, 0.074775, 0.075546], abs=1e-6)
    assert inertia[0, 2] == pytest.approx(-0.008917, abs=1e-6)
    mass, com, inertia = lumped_body(stereo=True)
    assert mass == pytest.approx(6.66221, abs=1e-5)
    assert com[[0, 2]] == pytest.approx([0.02374, 0.04529], abs=1e-5)
    assert np.diag(inertia) == pytest.approx([0.026731, 0.090329, 0.086443], abs=1e-6)


def test_controllers_update_every_17_physics_steps():
    # gz_ros2_control updates when at least 1/60 s has passed since the last update, at 1 ms steps
    assert CONTROL_PERIOD_STEPS == 17


def _slide_distance(dart, with_direction: bool, heading: float) -> float:
    """A box sliding at 1 m/s along its own x at ``heading`` (world) on a flat floor, mu 0.5: the distance to rest."""
    world = dart.simulation.World()
    world.setTimeStep(0.001)
    world.setGravity([0.0, 0.0, -9.8])
    off = world.getDeactivationOptions()
    off.mEnabled = False
    world.setDeactivationOptions(off)
    world.getConstraintSolver().setCollisionDetector(dart.collision.OdeCollisionDetector())
    floor = dart.dynamics.Skeleton("floor")
    _, body = floor.createWeldJointAndBodyNodePair()
    shape = body.createShapeNode(dart.dynamics.BoxShape([10.0, 10.0, 1.0]))
    shape.createCollisionAspect()
    shape.createDynamicsAspect().setFrictionCoeff(1.0)
    tf = dart.math.Isometry3()
    tf.set_translation([0.0, 0.0, -0.5])
    shape.setRelativeTransform(tf)
    box = dart.dynamics.Skeleton("box")
    _, body = box.createFreeJointAndBodyNodePair()
    body.setInertia(dart.dynamics.Inertia(1.0, [0.0, 0.0, 0.0], np.diag([0.004, 0.004, 0.007])))
    shape = body.createShapeNode(dart.dynamics.BoxShape([0.2, 0.2, 0.1]))
    shape.createCollisionAspect()
    aspect = shape.createDynamicsAspect()
    if with_direction:
        set_first_friction_direction(aspect, (1.0, 0.0, 0.0))
    aspect.setFrictionCoeff(0.5)
    aspect.setRestitutionCoeff(0.0)
    world.addSkeleton(floor)
    world.addSkeleton(box)
    q = box.getPositions()
    q[2], q[5] = heading, 0.05
    box.setPositions(q)
    for _ in range(200):
        world.step()
    v = box.getVelocities()
    v[3], v[4] = math.cos(heading), math.sin(heading)    # a free joint's linear velocity is the world's here
    box.setVelocities(v)
    start = body.getWorldTransform().translation()[:2].copy()
    for _ in range(1000):
        world.step()
    return float(np.linalg.norm(body.getWorldTransform().translation()[:2] - start))


def test_the_first_friction_direction_turns_the_friction_pyramid_with_the_shape():
    # DART's friction is a box (two directions each bounded by mu N). Sliding along a box axis decelerates
    # at mu g (1 m/s -> 0.102 m); across the box's corner at sqrt(2) mu g (0.072 m). Without a direction the
    # box is the world's axes; with the shape's x as first direction it is the shape's, whatever its heading.
    dart = import_dartpy()
    along = 1.0 / (2 * 0.5 * 9.8)
    assert _slide_distance(dart, False, 0.0) == pytest.approx(along, rel=0.02)
    assert _slide_distance(dart, False, math.pi / 4) == pytest.approx(along / math.sqrt(2), rel=0.02)
    assert _slide_distance(dart, True, math.pi / 4) == pytest.approx(along, rel=0.02)
    assert _slide_distance(dart, True, 0.3) == pytest.approx(along, rel=0.02)


def test_the_car_rests_nose_up_and_drives_as_its_wheels_are_commanded():
    c = DartCar()
    for _ in range(15):
        c.step(0.0, 0.0)
    m = c.motion()
    assert m.speed_mps == pytest.approx(0.0, abs=1e-4) and abs(m.x) < 1e-3
    assert c.height_m() == pytest.approx(-0.001, abs=3e-4)        # on the front wheels' lower centres
    for _ in range(30):
        c.step(0.0, 1.0 / car.WHEEL_RADIUS_M)
    m = c.motion()
    # the wheels roll on 0.036 m while the command is divided by 0.035 m: 2.9% fast
    assert m.speed_mps == pytest.approx(1.0 * 0.036 / 0.035, rel=0.01)
    assert m.sim_time_s == pytest.approx(3.0, abs=1e-9)
    speeds = []
    for _ in range(45):
        c.step(0.0, 4.0 / car.WHEEL_RADIUS_M)
        speeds.append(c.motion().speed_mps)
    # the joints' 100 rad/s velocity limit caps the wheels (114 rad/s commanded): 3.6 m/s on 0.036 m, a little
    # less as the polygonal wheels hop
    assert all(97.0 < w <= 100.0 + 1e-6 for w in c.wheel_speeds_rad_s())
    assert np.mean(speeds[-8:]) == pytest.approx(3.57, abs=0.05)


def test_steering_follows_the_p_law_and_the_car_is_where_it_was_put():
    c = DartCar()
    c.put(2.0, -1.0, 1.2)
    for _ in range(15):
        c.step(0.0, 0.0)
    m = c.motion()
    assert (m.x, m.y, m.yaw) == pytest.approx((2.0, -1.0, 1.2), abs=2e-3)
    target = math.radians(30)
    angles = []
    for _ in range(15):
        c.step(target, 0.5 / car.WHEEL_RADIUS_M)
        angles.append(c.motion().steering_rad)
    # 0.1 x 60 x error per second, re-read every 17 ms: a lag of about 0.17 s
    t63 = (next(i for i, a in enumerate(angles) if a >= 0.63 * target) + 1) * car.STEP_S
    assert 0.13 <= t63 <= 0.27
    assert angles[-1] == pytest.approx(target, abs=0.01)
    assert abs(m.steering_rad) < 1e-6


def test_a_corner_turns_wider_than_the_kinematic_circle():
    # all four wheels at one speed and both hinges at one angle: the wheels of each axle fight in a turn
    c = DartCar()
    rates, speeds, angles = [], [], []
    for i in range(60):
        c.step(math.radians(20), 1.0 / car.WHEEL_RADIUS_M)
        if i >= 37:
            m = c.motion()
            rates.append(m.yaw_rate_rps)
            speeds.append(m.speed_mps)
            angles.append(m.steering_rad)
    kinematic = np.mean(speeds) * math.tan(np.mean(angles)) / car.WHEELBASE_M
    assert 0.4 < np.mean(rates) / kinematic < 0.95


def test_dart_env_drives_the_centre_line_with_the_fast_simulators_params(tmp_path):
    reward = tmp_path / "reward_function.py"
    reward.write_text("def reward_function(params):\n    return float(params['progress'])\n")
    env = DartEnv("reinvent_base", reward, STATE_DISCRETE, num_cars=2, seed=0, autoreset=False)
    fast = BatchedEnv("reinvent_base", reward, STATE_DISCRETE, num_cars=2, seed=0, autoreset=False)
    env.reset()
    fast.reset()
    assert np.array([env.state.x, env.state.y]) == pytest.approx(np.array([fast.state.x, fast.state.y]))
    for _ in range(150):
        r = env.step(pure_pursuit(env))
    assert not r.done.any()
    assert (r.progress > 15).all()                     # 10 s at 1 m/s on a 17.7 m track
    m = env.cars[0].motion()
    assert (env.state.x[0], env.state.y[0]) == (m.x, m.y)
    # the params are the fast simulator's code at DART's pose
    measure = fast.tracks.measure(env.state, env.reversed)
    assert measure.arc_m == pytest.approx(env._measure.arc_m)


def test_the_dart_car_drives_the_default_cars_racing_line():
    # the default car (v6-four) is fitted to this car's corners, so the racing line computed from it is as
    # drivable here: the simple line driver laps it at 85% or more of its speeds (90% on 2026-12-06; 85% in the
    # fast simulator), a check of the fit where the racing line drives (docs/dart.md, "The racing regime")
    from simulation import raceline
    from simulation.track import Track

    track = Track.load("reinvent_base")
    rl, _ = raceline.load_or_compute(track)
    share, drive = raceline.fastest_drive(track, rl, shares=(0.9, 0.85), backend="dart")
    assert share >= 0.85
    assert drive.lap_time_s == pytest.approx(rl.lap_time_s / share, rel=0.15)   # 8.0 s against 7.15 s
    assert drive.max_off_line_m < 0.5


def test_a_missing_dartpy_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "dartpy", None)
    with pytest.raises(DartError, match=r"BACKEND=dart needs .*dartpy>=6.19,<7.*make install"):
        import_dartpy()
