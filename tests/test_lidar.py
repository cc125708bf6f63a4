"""Tests of the LIDAR (simulation/lidar.py) and its network encodings.

The reference facts the expectations are written from (simapp urdf/deepracer/*_lidar.urdf,
urdf/deepracer/racecar.gazebo, markov/sensors/constants.py): the scanner sits 0.02913 m ahead of the
car origin, turned 3.1416 rad; its 64 beams span [-2.61799, 2.61799] rad in its own frame, in
Gazebo's order; ranges [0.15, 12] m; Gaussian noise 0.01 m.
"""

import numpy as np
import pytest

from core.config import LidarConfig
from core.observations import SENSOR_SPECS
from simulation import lidar, sensors
from simulation.env import BatchedEnv
from simulation.lidar import LidarSensor, lidar_ranges
from simulation.obstacles import KIND_BOT, KIND_BOX, Obstacles, box_sizes
from simulation.scenery import field_rectangle
from simulation.sensors import discretized_sector_lidar, lidar_observation, observation_space_for, sector_lidar
from simulation.track import Track

MOUNT_X = 0.02913                                   # hokuyo_joint x [m]
REF_ANGLES = 3.1416 + np.linspace(-2.61799, 2.61799, 64)   # beam i in the car frame [rad], unwrapped
BOX_HALF = (0.2, 0.15)                              # models/box_obstacle: 0.4 x 0.3 x 0.25 m
MAX = 12.0


@pytest.fixture(scope="module")
def straight() -> Track:
    """20 m straight along +x, 1 m wide: walls (0.9 m beyond the borders) at x -0.9 / 20.9, y -1.4 / 1.4."""
    c = np.stack([np.linspace(0.0, 20.0, 201), np.zeros(201)], axis=1)
    return Track.from_arrays("straight", c, c + [0.0, 0.5], c - [0.0, 0.5])


def make_obstacles(poses, kind=KIND_BOX) -> Obstacles:
    """One obstacle per car: a list of (x, y, yaw) poses; a bot car gets a box's body (its shell cut is
    the lidar's business)."""
    obs = Obstacles.empty(len(poses), 1)
    obs.xy[:, 0] = [p[:2] for p in poses]
    obs.yaw[:, 0] = [p[2] for p in poses]
    obs.half_length_m[:], obs.half_width_m[:], obs.height_m[:] = box_sizes()
    obs.rect_half_length_m[:], obs.rect_half_width_m[:] = 0.25, 0.2        # crash rectangle: not what beams see
    obs.kind[:] = kind
    obs.active[:] = True
    return obs


def beam(deg: float) -> int:
    """Index of the beam nearest to ``deg`` in the car frame."""
    return int(np.argmin(np.abs(np.angle(np.exp(1j * (REF_ANGLES - np.deg2rad(deg)))))))


# ---------------------------------------------------------------------- mount and beam order
def test_beam_order_is_the_references():
    a = lidar.LIDAR_ANGLES_RAD
    assert a.shape == (64,)
    assert np.allclose(np.exp(1j * a), np.exp(1j * REF_ANGLES))
    assert np.isclose(np.degrees(a[0]), 30.0, atol=0.01) and np.isclose(np.degrees(a[63]), -30.0, atol=0.01)
    assert np.allclose(np.diff(np.unwrap(a)), np.deg2rad(300.0 / 63))          # counter-clockwise
    assert np.degrees(a[31]) > 170 and np.degrees(a[32]) < -170                 # straight back between 31 and 32
    assert sensors.LIDAR_AHEAD_M == MOUNT_X


def test_blind_spot_in_front():
    # boxes straight ahead at 0.5 m and 1.0 m, and 10 deg to the left at 1.0 m: inside the 60 deg gap
    poses = [(0.5, 0.0, 0.0), (1.0, 0.0, 0.0), (np.cos(0.17), np.sin(0.17), 0.0)]
    r = lidar_ranges(np.zeros(3), np.zeros(3), np.zeros(3), make_obstacles(poses))
    assert np.all(r == MAX)
    # the same box at 60 deg to the left is seen, by the beams around +60 deg
    r = lidar_ranges([0.0], [0.0], [0.0], make_obstacles([(0.7 * np.cos(1.05), 0.7 * np.sin(1.05), 1.05)]))[0]
    assert r[beam(60)] < 0.7 and r[beam(-60)] == MAX


def test_box_behind_is_seen_at_the_right_range():
    # box centred 0.8 m behind the origin: its front face is at x = -0.6, 0.62913 m behind the scanner
    r = lidar_ranges([0.0], [0.0], [0.0], make_obstacles([(-0.8, 0.0, 0.0)]))[0]
    face = 0.8 - BOX_HALF[0] + MOUNT_X
    seen = np.abs(face * np.tan(REF_ANGLES - np.pi)) <= BOX_HALF[1]           # beams that meet the face
    assert seen.sum() == 6 and seen[31] and seen[32]
    assert np.allclose(r[seen], face / np.abs(np.cos(REF_ANGLES[seen])), atol=1e-4)
    assert np.all(r[~seen] == MAX)


def test_pose_rotation_and_translation():
    # car at (3, -2) heading +y; the box 0.8 m behind it (world -y), turned with it
    r = lidar_ranges([3.0], [-2.0], [np.pi / 2], make_obstacles([(3.0, -2.8, np.pi / 2)]))[0]
    face = 0.8 - BOX_HALF[0] + MOUNT_X
    assert np.isclose(r[31], face / np.cos(np.deg2rad(300 / 63 / 2)), atol=1e-4)
    # a box 0.5 m to the car's right (world +x) is seen by the beams around -90 deg, at its near side
    r = lidar_ranges([3.0], [-2.0], [np.pi / 2], make_obstacles([(3.5, -2.0 + MOUNT_X, np.pi / 2)]))[0]
    b = beam(-90)
    assert np.isclose(r[b], (0.5 - BOX_HALF[1]) / np.abs(np.sin(REF_ANGLES[b])), atol=1e-4)
    assert r[beam(90)] == MAX


def test_walls_from_the_field_centre(straight):
    x0, y0, x1, y1 = field_rectangle(straight)
    assert np.allclose([x0, y0, x1, y1], [-0.9, -1.4, 20.9, 1.4])
    sensor = LidarSensor(straight, np.random.default_rng(0), noise=False)
    for yaw in (0.0, np.pi / 2, -2.5):
        r = sensor.ranges([10.0], [0.0], [yaw])[0]
        ox, oy = 10.0 + MOUNT_X * np.cos(yaw), MOUNT_X * np.sin(yaw)
        c, s = np.cos(yaw + REF_ANGLES), np.sin(yaw + REF_ANGLES)
        with np.errstate(divide="ignore"):
            tx = np.where(c > 0, (x1 - ox) / c, (x0 - ox) / c)
            ty = np.where(s > 0, (y1 - oy) / s, (y0 - oy) / s)
        expected = np.minimum(np.minimum(tx, ty), MAX)   # the border lines at y = +-0.5 are not hit
        assert np.allclose(r, expected, atol=1e-4), yaw
    r = sensor.ranges([10.0], [0.0], [0.0])[0]
    assert np.isclose(r[31], (10.0 + MOUNT_X + 0.9) / np.cos(np.deg2rad(300 / 63 / 2)), atol=1e-4)


def test_walls_and_obstacles_together(straight):
    sensor = LidarSensor(straight, noise=False)
    r = sensor.ranges([10.0], [0.0], [0.0], make_obstacles([(9.2, 0.0, 0.0)]))[0]
    assert np.isclose(r[31], (0.8 - BOX_HALF[0] + MOUNT_X) / np.cos(np.deg2rad(300 / 63 / 2)), atol=1e-4)
    assert r[0] < MAX   # the walls still answer elsewhere


def test_nearer_than_the_minimum_range_is_not_seen():
    # a box whose near side is 0.10 m to the scanner's left: inside the near clip plane, and the scanner
    # does not see its far side (back face) either; at 0.20 m it is seen
    near = lidar_ranges([0.0], [0.0], [0.0], make_obstacles([(MOUNT_X, 0.10 + BOX_HALF[1], 0.0)]))[0]
    far = lidar_ranges([0.0], [0.0], [0.0], make_obstacles([(MOUNT_X, 0.20 + BOX_HALF[1], 0.0)]))[0]
    b = beam(90)
    assert near[b] == MAX
    assert np.isclose(far[b], 0.20 / np.sin(REF_ANGLES[b]), atol=1e-4)
    inside = lidar_ranges([0.0], [0.0], [0.0], make_obstacles([(0.0, 0.0, 0.0)]))[0]
    assert np.all(inside == MAX)


def test_bot_car_is_seen_only_where_its_shell_reaches_the_beams():
    # a bot car 0.5 m to the left, pointing the same way: the beam plane cuts only its raised front,
    # x 0.079..0.159 m ahead of its pose, |y| <= 0.044 m (car_body_link_v3.STL at 0.18 m)
    ahead, hl, hw = lidar.LIDAR_OBSTACLE_SECTIONS[KIND_BOT]
    assert 0.1 < ahead < 0.14 and hl < 0.05 and hw < 0.05
    bot = make_obstacles([(MOUNT_X - ahead, 0.5, 0.0)], kind=KIND_BOT)
    r = lidar_ranges([0.0], [0.0], [0.0], bot)[0]
    b = beam(90)
    assert np.isclose(r[b], (0.5 - hw) / np.sin(REF_ANGLES[b]), atol=1e-4)
    # the beam at 111 deg meets the bot's 0.32 x 0.20 m footprint but passes above its low rear
    b = beam(111)
    assert r[b] == MAX
    box = make_obstacles([(MOUNT_X - ahead, 0.5, 0.0)])
    assert lidar_ranges([0.0], [0.0], [0.0], box)[0][b] < MAX


def test_inactive_and_low_obstacles_are_ignored():
    assert box_sizes() == (0.2, 0.15, 0.25)
    obs = make_obstacles([(-0.8, 0.0, 0.0)] * 3)
    obs.active[1] = False
    obs.height_m[2] = 0.17                     # below the beam plane (0.18 m)
    r = lidar_ranges(np.zeros(3), np.zeros(3), np.zeros(3), obs)
    assert r.shape == (3, 64) and r.dtype == np.float32
    assert r[0, 31] < 1.0 and np.all(r[1:] == MAX)
    assert np.isclose(lidar.LIDAR_HEIGHT_M, 0.1817, atol=1e-4)


# ---------------------------------------------------------------------- noise
def test_noise_statistics(straight):
    k = 4000
    sensor = LidarSensor(straight, np.random.default_rng(1))
    exact = LidarSensor(straight, noise=False).ranges(np.full(k, 10.0), np.zeros(k), np.zeros(k))
    noisy = sensor.ranges(np.full(k, 10.0), np.zeros(k), np.zeros(k))
    err = (noisy.astype(np.float64) - exact)
    n = err.size
    assert abs(err.mean()) < 4 * 0.01 / np.sqrt(n)
    assert abs(err.std() - 0.01) < 0.0005
    assert abs(np.corrcoef(err[:, 10], err[:, 11])[0, 1]) < 0.1   # independent per beam
    # no hit: exactly the maximum range, no noise
    assert np.all(lidar_ranges(np.zeros(3), np.zeros(3), np.zeros(3), None, None, np.random.default_rng(0)) == MAX)


def test_noise_is_clamped_to_the_range_limits():
    k = 2000
    # the box's side 0.151 m from the scanner: noisy readings never go below 0.15
    obs = make_obstacles([(MOUNT_X, 0.151 + BOX_HALF[1], 0.0)] * k)
    r = lidar_ranges(np.zeros(k), np.zeros(k), np.zeros(k), obs, rng=np.random.default_rng(2))[:, beam(90)]
    assert r.min() == np.float32(0.15) and (r == np.float32(0.15)).mean() > 0.3


def test_seeded_determinism(straight):
    x, y, yaw = np.full(5, 10.0), np.linspace(-0.3, 0.3, 5), np.linspace(-1, 1, 5)
    a = LidarSensor(straight, np.random.default_rng(7)).ranges(x, y, yaw)
    b = LidarSensor(straight, np.random.default_rng(7)).ranges(x, y, yaw)
    c = LidarSensor(straight, np.random.default_rng(8)).ranges(x, y, yaw)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_env_lidar_is_seeded_and_sees_the_walls():
    md = {"action_space": [{"steering_angle": 0, "speed": 1.0}], "sensor": ["FRONT_FACING_CAMERA", "LIDAR"]}
    a = BatchedEnv("reinvent_base", None, md, {"race_type": "OBJECT_AVOIDANCE"}, num_cars=2, seed=3)
    b = BatchedEnv("reinvent_base", None, md, {"race_type": "OBJECT_AVOIDANCE"}, num_cars=2, seed=3)
    oa, ob = a.reset()["LIDAR"], b.reset()["LIDAR"]
    assert np.array_equal(oa, ob)
    s = a.state
    ranges = a._lidar.ranges(s.x, s.y, s.yaw, a.world.obstacles)
    assert ranges.shape == (2, 64) and np.all(ranges < MAX)   # walls all round reinvent_base's 9.2 x 6.4 m field


# ---------------------------------------------------------------------- encodings from the ranges
def test_sectors_from_the_ranges():
    # a box behind (0.38 m: beams 27..36, sectors 3 and 4) and one 0.45 m away at 46.7 deg left, in the
    # middle of sector 0 (beams 0..7 = 30..63 deg), narrow enough to miss beam 8
    obs = Obstacles.empty(1, 2)
    obs.xy[0] = [(-0.55, 0.0), (MOUNT_X + 0.65 * np.cos(0.815), 0.65 * np.sin(0.815))]
    obs.yaw[0] = [0.0, 0.815]
    obs.kind[:], obs.active[:] = KIND_BOX, True
    obs.half_length_m[:], obs.half_width_m[:], obs.height_m[:] = box_sizes()
    r = lidar_ranges([0.0], [0.0], [0.0], obs)
    assert sector_lidar(r)[0].tolist() == [1, 0, 0, 1, 1, 0, 0, 0]
    d = discretized_sector_lidar(r, 8, 8, 2.0).reshape(8, 8)         # 0.25 m bins
    assert d[3].tolist() == [0, 1, 0, 0, 0, 0, 0, 0] and d[4].tolist() == d[3].tolist()
    assert d[0].argmax() == 1 and not d[[1, 2, 5, 6, 7]].any()


def test_shapes_match_the_sensor_specs(straight):
    r = LidarSensor(straight, np.random.default_rng(0)).ranges(np.full(3, 10.0), np.zeros(3), np.zeros(3),
                                                               make_obstacles([(9.2, 0.0, 0.0)] * 3))
    assert r.shape == (3, 64) and r.dtype == np.float32
    for lc in (None, LidarConfig(num_sectors=4, num_values_per_sector=3, clipping_dist_m=1.0)):
        for name in ("LIDAR", "SECTOR_LIDAR", "DISCRETIZED_SECTOR_LIDAR"):
            spec = SENSOR_SPECS[name]
            o = sensors.lidar_input(name, r, lc)
            assert o.shape == (3, *spec.shape(lc)) and o.dtype == spec.dtype, name
            assert o.min() >= spec.low and o.max() <= spec.high, name


def test_lidar_observation_clips():
    obs_r = lidar_observation(np.array([[0.05, 0.5, 3.0, np.inf]]))
    assert obs_r.dtype == np.float32 and np.allclose(obs_r, [[0.15, 0.5, 1.0, 1.0]])


def test_sector_lidar():
    r = np.full((2, 64), 12.0, np.float32)
    r[0, 10] = 0.3    # sector 1 (beams 8-15)
    r[0, 63] = 0.49   # sector 7
    r[1, 20] = 0.5    # not closer than 0.5
    s = sector_lidar(r)
    assert s.shape == (2, 8) and s.dtype == np.float32
    assert s[0].tolist() == [0, 1, 0, 0, 0, 0, 0, 1] and not s[1].any()
    assert sector_lidar(r, num_sectors=4, clip_m=0.4)[0].tolist() == [1, 0, 0, 0]


def test_discretized_sector_lidar():
    r = np.full((1, 64), 12.0, np.float32)
    r[0, 40] = 0.6    # sector 5, bin floor(0.6 / 0.25) = 2
    r[0, 0] = 0.1     # sector 0, bin 0
    d = discretized_sector_lidar(r)
    assert d.shape == (1, 64) and d.dtype == np.float32
    expected = np.zeros(64)
    expected[[0, 5 * 8 + 2]] = 1
    assert np.array_equal(d[0], expected)
    t = discretized_sector_lidar(r, encoding="thermometer")
    expected = np.zeros(64)
    expected[0:8] = 1
    expected[5 * 8 + 2: 6 * 8] = 1
    assert np.array_equal(t[0], expected)
    small = discretized_sector_lidar(r, num_sectors=4, num_values_per_sector=3, clip_m=1.0)
    assert small.shape == (1, 12)
    assert small[0].tolist() == [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]  # 0.6 m -> bin 1 of 3 in sector 2


def test_discretized_clipping_distance_is_clamped_like_the_simapps():
    r = np.full((1, 64), 11.0, np.float32)
    # clipping_dist 20 m acts as 12 m (the sensor's maximum range): 11 m -> bin floor(11 / 1.5) = 7
    assert discretized_sector_lidar(r, 1, 8, 20.0)[0].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    # 0.05 m acts as 0.15 m: 0.1 m -> bin 0 of 1
    assert discretized_sector_lidar(np.full((1, 64), 0.1), 1, 1, 0.05)[0].tolist() == [1]


def test_lidar_input_dispatch():
    r = np.full((2, 64), 12.0, np.float32)
    r[:, 5] = 0.3
    assert np.array_equal(sensors.lidar_input("LIDAR", r), lidar_observation(r))
    assert np.array_equal(sensors.lidar_input("SECTOR_LIDAR", r), sector_lidar(r))
    cfg = LidarConfig(num_sectors=4, num_values_per_sector=2, clipping_dist_m=1.0)
    d = sensors.lidar_input("DISCRETIZED_SECTOR_LIDAR", r, cfg)
    assert d.shape == (2, 8) and d[0].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    assert np.array_equal(d, sensors.lidar_input("DISCRETIZED_SECTOR_LIDAR", r, {
        "num_sectors": 4, "num_values_per_sector": 2, "clipping_dist": 1.0}))
    assert observation_space_for("DISCRETIZED_SECTOR_LIDAR", cfg).shape == (8,)
    with pytest.raises(ValueError, match="not a lidar sensor"):
        sensors.lidar_input("STATE", r)


# ---------------------------------------------------------------------- horizon and fast paths
def test_encoding_horizon_and_the_envs_sensor(straight):
    m = lidar.LIDAR_HORIZON_MARGIN_M
    assert np.isclose(lidar.encoding_horizon_m(["FRONT_FACING_CAMERA", "LIDAR"]), 1.0 + m)
    assert np.isclose(lidar.encoding_horizon_m(["STEREO_CAMERAS", "SECTOR_LIDAR"]), 0.5 + m)
    cfg = LidarConfig(num_sectors=8, num_values_per_sector=4, clipping_dist_m=3.0)
    assert np.isclose(lidar.encoding_horizon_m(["DISCRETIZED_SECTOR_LIDAR"], cfg), 3.0 + m)
    assert np.isclose(lidar.encoding_horizon_m(["DISCRETIZED_SECTOR_LIDAR"], {"clipping_dist": 40.0}), 12.0 + m)
    assert LidarSensor.for_sensors(straight, ["FRONT_FACING_CAMERA"]) is None
    assert LidarSensor.for_sensors(straight, ["STATE", "SECTOR_LIDAR"]).horizon_m == pytest.approx(0.5 + m)


@pytest.mark.parametrize("sensor, cfg", [("LIDAR", None), ("SECTOR_LIDAR", None),
                                         ("DISCRETIZED_SECTOR_LIDAR", LidarConfig(8, 8, 2.0))])
def test_the_horizon_changes_no_observation(straight, sensor, cfg):
    rng = np.random.default_rng(5)
    k, m = 400, 8
    x, y, yaw = rng.uniform(1, 19, k), rng.uniform(-0.6, 0.6, k), rng.uniform(-np.pi, np.pi, k)
    obs = Obstacles.empty(k, m)
    obs.xy[..., 0], obs.xy[..., 1] = x[:, None] + rng.uniform(-3, 3, (k, m)), rng.uniform(-0.8, 0.8, (k, m))
    obs.yaw[:] = rng.uniform(-np.pi, np.pi, (k, m))
    obs.half_length_m[:], obs.half_width_m[:], obs.height_m[:] = box_sizes()
    obs.kind[:] = rng.integers(0, 2, (k, m))
    obs.active[:] = rng.random((k, m)) < 0.8
    near = LidarSensor.for_sensors(straight, [sensor], cfg)
    near.noise = False
    full = LidarSensor(straight, noise=False).ranges(x, y, yaw, obs)
    r = near.ranges(x, y, yaw, obs)
    close = full <= near.horizon_m
    assert close.mean() > 0.05 and np.array_equal(r[close], full[close])
    assert np.all(r[~close] > near.horizon_m)
    assert np.array_equal(sensors.lidar_input(sensor, r, cfg), sensors.lidar_input(sensor, full, cfg))


def test_a_scanner_outside_the_field_sees_the_walls_from_outside(straight):
    # heading -x from x = -2 (the wall is at x = -0.9): the beams behind meet the wall's outer side
    sensor = LidarSensor(straight, noise=False)
    r = sensor.ranges([-2.0, 10.0], [0.0, 0.0], [np.pi, 0.0])
    assert np.isclose(r[0, 31], (2.0 + MOUNT_X - 0.9) / np.cos(np.deg2rad(300 / 63 / 2)), atol=1e-4)
    assert np.isclose(r[1, 31], (10.0 + MOUNT_X + 0.9) / np.cos(np.deg2rad(300 / 63 / 2)), atol=1e-4)
    assert r[0, 0] == MAX   # front-left, away from the field
