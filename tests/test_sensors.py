"""Tests of simulation/sensors.py: camera frames, stereo, lidar encodings and observation spaces."""

import numpy as np
import pytest

from simulation import car, sensors
from simulation.obstacles import KIND_BOT, KIND_BOX, Obstacles, bot_sizes, box_sizes
from simulation.sensors import (GRAY, LIDAR_AHEAD_M, LIDAR_NUM_BEAMS, CameraRenderer, discretized_sector_lidar,
                                lidar_observation, lidar_ranges, observation_space_for, render_stereo,
                                sector_lidar)
from simulation.track import Track

ASPHALT, GROUND, BORDER = GRAY["asphalt"], GRAY["ground"], GRAY["border"]


@pytest.fixture(scope="module")
def straight() -> Track:
    """20 m straight along +x, 1 m wide (borders at y = +-0.5)."""
    c = np.stack([np.linspace(0.0, 20.0, 201), np.zeros(201)], axis=1)
    return Track.from_arrays("straight", c, c + [0.0, 0.5], c - [0.0, 0.5])


@pytest.fixture(scope="module")
def renderer(straight) -> CameraRenderer:
    return CameraRenderer(straight)


def make_obstacles(cars_and_boxes, kind=KIND_BOX) -> Obstacles:
    """One obstacle per car: a list of (x, y, yaw) footprint centres."""
    k = len(cars_and_boxes)
    obs = Obstacles.empty(k, 1)
    hl, hw, h = box_sizes() if kind == KIND_BOX else bot_sizes()
    obs.xy[:, 0] = [b[:2] for b in cars_and_boxes]
    obs.yaw[:, 0] = [b[2] for b in cars_and_boxes]
    obs.half_length_m[:], obs.half_width_m[:], obs.height_m[:] = hl, hw, h
    obs.kind[:] = kind
    obs.active[:] = True
    return obs


def project_ground(dist_ahead_m, left_m):
    """Pixel (u, v) of the ground point dist_ahead_m ahead of and left_m left of the camera
    (horizontally): the pinhole model, written out independently of sensors.py."""
    f = (car.CAMERA_WIDTH_PX / 2) / np.tan(car.CAMERA_HFOV_RAD / 2)
    th, h = car.CAMERA_PITCH_DOWN_RAD, car.CAMERA_HEIGHT_M
    zc = np.cos(th) * dist_ahead_m + np.sin(th) * h
    yc = -np.sin(th) * dist_ahead_m + np.cos(th) * h
    return 79.5 - f * left_m / zc, 59.5 + f * yc / zc


# ---------------------------------------------------------------------- camera
def test_shape_dtype_and_sky(renderer):
    img = renderer.render(np.array([5.0, 6.0, 7.0]), np.zeros(3), np.zeros(3))
    assert img.shape == (3, 120, 160) and img.dtype == np.uint8
    assert np.all(img[:, : renderer.first_ground_row] == GRAY["background"])
    assert 20 <= renderer.first_ground_row <= 35  # horizon ~ 60 - f tan(15 deg) = 26


def test_straight_track_view(renderer):
    # 0.2 m right of the centre line, heading along the track: asphalt straight ahead
    img = renderer.render([5.0], [-0.2], [0.0])[0]
    assert np.all(img[105:, 70:90] == ASPHALT)
    # the borders where the pinhole model puts them, 1.5 m ahead of the camera
    for left in (0.7, -0.3):
        u, v = project_ground(1.5, left)
        u, v = int(round(u)), int(round(v))
        assert 0 < u < 159
        assert img[v, u - 2: u + 3].max() > (ASPHALT + BORDER) / 2
    u_left = int(project_ground(1.5, 0.7)[0])
    u_right = int(project_ground(1.5, -0.3)[0])
    assert np.all(img[v, u_left + 6: u_right - 6] < 110)   # asphalt (and centre dash) between
    assert abs(int(img[v, max(u_left - 8, 0)]) - GROUND) < 10 or u_left < 8
    assert abs(int(img[v, min(u_right + 8, 159)]) - GROUND) < 10


def test_straight_track_is_symmetric(renderer):
    img = renderer.render([5.0], [0.0], [0.0])[0].astype(int)
    diff = np.abs(img - img[:, ::-1])
    assert diff.mean() < 2.0
    # the borders converge toward the top: fewer asphalt pixels in higher rows, none above the horizon
    on_track = (img == ASPHALT).sum(axis=1)
    assert on_track[0] == 0 and 0 < on_track[31] < on_track[34] < on_track[37] < on_track[60]


def test_borders_converge_upward(renderer):
    img = renderer.render([5.0], [-0.2], [0.0])[0]
    u1 = project_ground(0.5, -0.3)[0]
    u2 = project_ground(2.0, -0.3)[0]
    assert u1 > u2  # right border moves toward the centre farther away
    assert img[int(project_ground(0.5, -0.3)[1]), int(round(u1))] > 150


def test_off_road_shows_grass(renderer):
    img = renderer.render([5.0, 5.0, 0.0], [-0.2, 0.7, 0.0], [np.pi, np.pi / 2, np.pi])
    assert np.all(img[0, 105:, 70:90] == ASPHALT)   # turned around on the road: still road
    assert np.all(img[1, 105:, 70:90] == GROUND)    # outside the left border, facing away
    assert np.all(img[2, 105:, 70:90] == GROUND)    # at the start of the straight, turned 180 deg


def test_box_ahead_visible_behind_not(renderer):
    x, y, yaw = np.array([5.0, 5.0]), np.array([0.0, 0.0]), np.zeros(2)
    plain = renderer.render(x, y, yaw)
    obs = make_obstacles([(6.0, 0.0, 0.0), (4.0, 0.0, 0.0)])
    seen = renderer.render(x, y, yaw, obs)
    changed = seen != plain
    assert changed[0].sum() > 500 and np.all(changed[0, 10:40, 75:85])
    assert np.any(seen[0] == GRAY["box"])
    assert not changed[1].any()
    # inactive obstacles are not drawn
    obs.active[:] = False
    assert np.array_equal(renderer.render(x, y, yaw, obs), plain)


def test_bot_car_gray_and_painter_order(renderer):
    # a bot car 0.8 m ahead hides part of a box 2 m ahead, 0.3 m to the left
    obs = Obstacles.empty(1, 2)
    for m, (bx, by, kind) in enumerate([(5.8, 0.0, KIND_BOT), (7.0, 0.3, KIND_BOX)]):
        hl, hw, h = bot_sizes() if kind == KIND_BOT else box_sizes()
        obs.xy[0, m] = (bx, by)
        obs.half_length_m[0, m], obs.half_width_m[0, m], obs.height_m[0, m] = hl, hw, h
        obs.kind[0, m] = kind
    obs.active[:] = True
    img = renderer.render([5.0], [0.0], [0.0], obs)[0]
    u, v = project_ground(0.8 - car.CAMERA_AHEAD_M - bot_sizes()[0], 0.0)
    assert img[int(v) - 2, 80] == GRAY["bot"]
    assert np.any(img == GRAY["box"])
    alone = renderer.render([5.0], [0.0], [0.0], Obstacles(*(np.asarray(getattr(obs, f))[:, 1:] for f in (
        "xy", "yaw", "half_length_m", "half_width_m", "height_m", "kind", "speed_mps", "active"))))[0]
    assert (alone == GRAY["box"]).sum() > (img == GRAY["box"]).sum()  # the bot hides part of the box


def test_obstacle_beside_camera_is_clipped_not_dropped(renderer):
    # box centred 0.1 m ahead of the camera, 0.35 m to the left: some corners behind the camera
    obs = make_obstacles([(5.0 + car.CAMERA_AHEAD_M + 0.1, 0.35, 0.0)])
    img = renderer.render([5.0], [0.0], [0.0], obs)[0]
    assert np.any(img[:, :40] == GRAY["box"])


def test_stereo(renderer):
    st = render_stereo(renderer, [5.0], [-0.1], [0.05])
    assert st.shape == (1, 120, 160, 2) and st.dtype == np.uint8
    left, right = st[0, ..., 0].astype(int), st[0, ..., 1].astype(int)
    assert np.any(left != right)
    assert np.abs(left - right).mean() < 15
    mono_left = renderer.render([5.0], [-0.1], [0.05], camera_offset_left_m=car.STEREO_HALF_BASELINE_M)[0]
    assert np.array_equal(st[0, ..., 0], mono_left)


def test_domain_randomization(straight):
    x, y, yaw = np.full(4, 5.0), np.linspace(-0.2, 0.2, 4), np.zeros(4)
    plain = CameraRenderer(straight).render(x, y, yaw)
    a = CameraRenderer(straight, rng_seed=7, domain_randomization=True)
    b = CameraRenderer(straight, rng_seed=7, domain_randomization=True)
    ia, ib = a.render(x, y, yaw), b.render(x, y, yaw)
    assert ia.shape == plain.shape and ia.dtype == np.uint8
    assert np.array_equal(ia, ib)
    assert np.abs(ia.astype(int) - plain).mean() > 2
    assert not np.array_equal(a.render(x, y, yaw), ia)  # a new draw each call
    # the two stereo cameras of a car see the same randomized world (same variant and light)
    sky = render_stereo(a, x, y, yaw)[:, : a.first_ground_row].astype(float).mean(axis=(1, 2))  # (K, 2)
    assert np.all(np.abs(sky[:, 0] - sky[:, 1]) < 1.5)  # same light; only the noise differs
    assert np.ptp(sky[:, 0]) > 3                        # while the cars' worlds differ


def test_threads_give_the_same_frames(straight):
    k = 9
    x, y, yaw = np.linspace(2.0, 10.0, k), np.linspace(-0.3, 0.3, k), np.linspace(-0.5, 0.5, k)
    obs = make_obstacles([(xi + 1.0, 0.0, 0.3) for xi in x])
    serial = CameraRenderer(straight, rng_seed=3, domain_randomization=True)
    threaded = CameraRenderer(straight, rng_seed=3, domain_randomization=True, num_threads=2)
    assert np.array_equal(serial.render(x, y, yaw, obs), threaded.render(x, y, yaw, obs))


def test_reinvent_view():
    tr = Track.load("reinvent")
    x, y, yaw = tr.pose_at(2.0)
    img = CameraRenderer(tr).render([x], [y], [yaw])[0]
    # on the centre line: road (asphalt and the centre dash) at the bottom, grass only far away
    bottom = img[100:, 40:120]
    assert np.all((bottom >= ASPHALT) & (bottom <= GRAY["center"])) and (bottom == ASPHALT).mean() > 0.5
    assert np.all(img[60:, :40] == ASPHALT) and np.all(img[60:, 120:] == ASPHALT)


# ---------------------------------------------------------------------- lidar
def test_lidar_box_straight_ahead():
    obs = make_obstacles([(0.6, 0.0, 0.0), (0.6, 0.0, 0.0)])
    obs.active[1] = False
    r = lidar_ranges(np.zeros(2), np.zeros(2), np.zeros(2), obs)
    assert r.shape == (2, LIDAR_NUM_BEAMS) and r.dtype == np.float32
    expected = 0.6 - box_sizes()[0] - LIDAR_AHEAD_M
    mid = LIDAR_NUM_BEAMS // 2
    assert abs(r[0, mid - 1] - expected) < 0.02 and abs(r[0, mid] - expected) < 0.02
    assert abs(r[0].min() - expected) < 0.02
    side = [0, 10, 20, 43, 53, 63]
    assert np.all(r[0, side] == sensors.LIDAR_MAX_RANGE_M)
    assert np.all(r[1] == sensors.LIDAR_MAX_RANGE_M)  # inactive box


def test_lidar_rotated_pose_and_side():
    # car at (1, 2) heading +y; a box 0.5 m to its left (= -x in the world)
    obs = make_obstacles([(1.0 - 0.5, 2.0 + LIDAR_AHEAD_M, np.pi / 2)])  # long axis along +y
    r = lidar_ranges([1.0], [2.0], [np.pi / 2], obs)[0]
    beam = np.argmin(np.abs(sensors.LIDAR_ANGLES_RAD - np.pi / 2))
    assert abs(r[beam] - (0.5 - box_sizes()[1]) / np.cos(sensors.LIDAR_ANGLES_RAD[beam] - np.pi / 2)) < 0.02
    assert r[:LIDAR_NUM_BEAMS // 2].min() == sensors.LIDAR_MAX_RANGE_M  # nothing on the right


def test_lidar_no_obstacles_and_clip():
    r = lidar_ranges(np.zeros(3), np.zeros(3), np.zeros(3), None, max_range_m=5.0)
    assert r.shape == (3, 64) and np.all(r == 5.0)
    obs_r = lidar_observation(np.array([[0.05, 0.5, 3.0]]))
    assert obs_r.dtype == np.float32 and np.allclose(obs_r, [[0.15, 0.5, 1.0]])


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


# ---------------------------------------------------------------------- spaces
def test_observation_spaces():
    for name in ("FRONT_FACING_CAMERA", "observation", "LEFT_CAMERA"):
        sp = observation_space_for(name)
        assert sp.shape == (120, 160, 1) and sp.dtype == np.uint8 and sp.high.max() == 255
    assert observation_space_for("STEREO_CAMERAS").shape == (120, 160, 2)
    lid = observation_space_for("LIDAR")
    assert lid.shape == (64,) and lid.dtype == np.float32
    assert np.isclose(lid.low.min(), 0.15) and np.isclose(lid.high.max(), 1.0)
    assert observation_space_for("SECTOR_LIDAR").shape == (8,)
    assert observation_space_for("DISCRETIZED_SECTOR_LIDAR").shape == (64,)
    assert observation_space_for("DISCRETIZED_SECTOR_LIDAR",
                                 {"num_sectors": 4, "num_values_per_sector": 5, "clipping_dist": 1.0}).shape == (20,)
    assert observation_space_for("STATE").shape == (62,)       # one registry for every sensor (core.observations)
    with pytest.raises(ValueError, match="unknown sensor 'RADAR'"):
        observation_space_for("RADAR")


def test_lidar_input_dispatch():
    from core.config import LidarConfig
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


def test_observations_fit_spaces(renderer):
    img = renderer.render([5.0], [0.0], [0.0])
    assert observation_space_for("FRONT_FACING_CAMERA").contains(img[0][..., None])
    obs = make_obstacles([(0.6, 0.0, 0.0)])
    r = lidar_ranges([0.0], [0.0], [0.0], obs)
    assert observation_space_for("LIDAR").contains(lidar_observation(r)[0])
    assert observation_space_for("SECTOR_LIDAR").contains(sector_lidar(r)[0])
    assert observation_space_for("DISCRETIZED_SECTOR_LIDAR").contains(discretized_sector_lidar(r)[0])
