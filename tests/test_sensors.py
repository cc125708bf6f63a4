"""Tests of simulation/sensors.py: camera frames, stereo, lidar encodings and observation spaces."""

import numpy as np
import pytest

from simulation import car, scenery, sensors
from simulation.obstacles import KIND_BOT, KIND_BOX, Obstacles, bot_sizes, box_sizes
from simulation.sensors import (CameraRenderer, discretized_sector_lidar, lidar_observation, lidar_ranges,
                                observation_space_for, render_stereo, sector_lidar)
from simulation.track import Track

SKY = round(scenery.SKY_GRAY)


@pytest.fixture(scope="module")
def straight() -> Track:
    """20 m straight along +x, 1 m wide (borders at y = +-0.5). Not a reference track: reinvent_base
    colours, walls 0.9 m beyond the borders (x in [-0.9, 20.9], y in [-1.4, 1.4])."""
    return straight_track("straight", 20.0)


def straight_track(name: str, length_m: float) -> Track:
    c = np.stack([np.linspace(0.0, length_m, int(length_m * 10) + 1), np.zeros(int(length_m * 10) + 1)], axis=1)
    return Track.from_arrays(name, c, c + [0.0, 0.5], c - [0.0, 0.5])


@pytest.fixture(scope="module")
def renderer(straight) -> CameraRenderer:
    return CameraRenderer(straight)


def lit(renderer: CameraRenderer, material: str) -> int:
    """Gray of a ground material of the renderer's own palette in the reference light."""
    return round(getattr(renderer.palettes[0], material) * renderer.ground_gain)


def wall_gray(renderer: CameraRenderer, normal, point) -> int:
    """Gray of a wall face (inner normal, a point on it) in the reference light."""
    light = scenery.Lights.reference(1).irradiance([normal], [point])[0, 0]
    return round(renderer.palettes[0].wall * scenery.EXPOSURE * light)


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


def project(dist_ahead_m, left_m, up_m=0.0):
    """Pixel (u, v) of the point dist_ahead_m ahead of, left_m left of and up_m above the ground below
    the camera lens: the pinhole model, written out independently of sensors.py."""
    f = (car.CAMERA_WIDTH_PX / 2) / np.tan(car.CAMERA_HFOV_RAD / 2)
    th, h = car.CAMERA_VIEW_PITCH_DOWN_RAD, car.CAMERA_HEIGHT_M - up_m
    zc = np.cos(th) * dist_ahead_m + np.sin(th) * h
    yc = -np.sin(th) * dist_ahead_m + np.cos(th) * h
    return 79.5 - f * left_m / zc, 59.5 + f * yc / zc


def pixel(img, dist_ahead_m, left_m, up_m=0.0):
    u, v = project(dist_ahead_m, left_m, up_m)
    return int(img[int(round(v)), int(round(u))])


# ---------------------------------------------------------------------- camera
def test_camera_pose_is_the_reference_one():
    # urdf/deepracer/deepracer_single_cam.urdf: chassis 0.023249 m above base_link, zed_camera_joint
    # (0.091711, 0, 0.080023) pitched 0.2618 rad, camera_joint (0.044755, 0, 0.04) in the pitched frame
    p = 0.2618
    ahead = 0.091711 + 0.044755 * np.cos(p) + 0.04 * np.sin(p)
    up = 0.023249 + 0.080023 - 0.044755 * np.sin(p) + 0.04 * np.cos(p)
    assert abs(car.CAMERA_AHEAD_M - ahead) < 1e-4 and abs(car.CAMERA_HEIGHT_M - up) < 1e-4
    assert car.CAMERA_PITCH_DOWN_RAD == p and car.CAMERA_HFOV_RAD == 1.13
    assert abs(car.CAMERA_VFOV_RAD - 2 * np.arctan(np.tan(0.565) * 0.75)) < 1e-9
    # the car rests nose up on its wheels: rear wheel centres 0.038999 m, front 0.035008 m above base_link
    assert car.CAMERA_VIEW_PITCH_DOWN_RAD == pytest.approx(p - np.arctan(0.003991 / 0.163974))


def test_shape_dtype_horizon_and_sky(renderer):
    img = renderer.render(np.array([2.0, 3.0, 4.0]), np.zeros(3), np.zeros(3))
    assert img.shape == (3, 120, 160) and img.dtype == np.uint8
    # the horizon: 15 deg less the car's 1.4 deg resting tilt above the optical axis, f tan(13.6 deg)
    # = 30.6 px above the centre row 59.5
    assert renderer.horizon_row == 29 and 29 <= renderer.first_ground_row <= 33
    # the end wall, about 17 m ahead and 1 m high, reaches 2.9 deg above the horizon; the sky above it
    # (the side walls, 1.4 m aside, fill the upper corners)
    assert np.all(img[:, :12, 72:88] == SKY)
    east = wall_gray(renderer, [-1.0, 0.0, 0.0], [20.9, 0.0, 0.5])
    assert np.all(img[:, 23:29, 72:88] == east)
    assert not np.any(np.all(img[:, renderer.first_ground_row:] == SKY, axis=-1))  # no sky below the horizon


def test_white_lines_lie_inside_the_road_edge(renderer):
    # 0.2 m left / right of the centre line, heading along the track: the nearer road edge, 0.3 m
    # aside, seen 1 m ahead of the lens
    img = renderer.render([5.0, 5.0], [0.2, -0.2], [0.0, 0.0])
    road, field, line = lit(renderer, "road"), lit(renderer, "field"), lit(renderer, "line")
    for frame, edge in zip(img, (0.3, -0.3)):
        inward = -np.sign(edge)
        assert abs(pixel(frame, 1.0, edge + inward * 0.038) - line) <= 3      # the line's middle
        assert abs(pixel(frame, 1.0, edge - inward * 0.04) - field) <= 3      # just outside the edge
        assert abs(pixel(frame, 1.0, edge + inward * 0.11) - road) <= 3       # past the line, on the road
        # 7.6 cm wide: 1 m ahead the line spans 126.2 px/m x 0.0762 m / 1.0 m = 9.6 px of one row
        u_edge, v = project(1.0, edge)
        bright = np.flatnonzero(frame[int(round(v))] > (field + line) / 2)
        assert 9 <= bright.size <= 10
        assert (bright.min() >= u_edge - 1) if edge > 0 else (bright.max() <= u_edge + 1)  # all inside the edge


def test_centre_line_dashes(renderer):
    # dash k covers arc [0.0519 + 0.1016 k, 0.1027 + 0.1016 k]; put the lens 0.35 m before dash 40's middle
    mid = scenery.CENTER_DASH_START_M + scenery.CENTER_DASH_M / 2 + 40 * (scenery.CENTER_DASH_M + scenery.CENTER_GAP_M)
    x = mid - 0.35 - car.CAMERA_AHEAD_M
    img = renderer.render([x], [0.0], [0.0])[0]
    center, road = lit(renderer, "center"), lit(renderer, "road")
    assert abs(pixel(img, 0.35, 0.0) - center) <= 3
    assert abs(pixel(img, 0.35 + 0.0508, 0.0) - road) <= 3            # the gap after it
    assert abs(pixel(img, 0.35 + 0.1016, 0.0) - center) <= 3          # the next dash
    assert abs(pixel(img, 0.35, 0.0254) - road) <= 3                  # 2.5 cm wide: 2.5 cm aside is road


def test_straight_track_is_symmetric(renderer):
    img = renderer.render([5.0], [0.0], [0.0])[0].astype(int)
    diff = np.abs(img - img[:, ::-1])
    assert diff[renderer.horizon_row:].mean() < 2.0
    # the borders converge toward the horizon: fewer road pixels in higher rows
    road = np.abs(img - lit(renderer, "road")) <= 2
    on_track = road.sum(axis=1)
    assert on_track[0] == 0 and 0 < on_track[32] < on_track[36] < on_track[40] < on_track[60]


def test_off_road_shows_field(renderer):
    img = renderer.render([5.0, 5.0, 0.2], [-0.2, 0.8, 0.0], [np.pi, np.pi / 2, np.pi])
    road, field = lit(renderer, "road"), lit(renderer, "field")
    assert np.all(img[0, 105:, 70:90] == road)     # turned around on the road: still road
    assert np.all(img[1, 105:, 70:90] == field)    # outside the left border, facing away
    assert np.all(img[2, 105:, 70:90] == field)    # at the start of the straight, turned 180 deg


def test_wall_ahead_at_the_reference_distance(renderer):
    # facing the end wall (x = 20.9) from the centre line: 0.6 m from the lens (0.14529 m ahead of the
    # chassis centre, test_camera_pose_is_the_reference_one) to the wall
    x = 20.9 - 0.6 - 0.14529
    img = renderer.render([x], [0.0], [0.0])[0]
    east = wall_gray(renderer, [-1.0, 0.0, 0.0], [20.9, 0.0, 0.5])
    _, v_base = project(0.6, 0.0)
    assert np.all(img[: int(v_base) - 1, 40:120] == east)           # the 1 m wall fills the view above its base
    assert np.all(img[int(v_base) + 2:, 70:90] != east)             # the ground below it
    # walls are lit from the side: darker than the same albedo on the ground
    assert east < renderer.palettes[0].wall * renderer.ground_gain


def test_wall_beside_the_camera_is_clipped_not_dropped(renderer):
    # 0.1 m from the north wall (y = 1.4), heading along it: the wall runs past the lens
    img = renderer.render([10.0], [1.3], [0.0])[0]
    north = wall_gray(renderer, [0.0, -1.0, 0.0], [10.0, 1.4, 0.5])
    south = wall_gray(renderer, [0.0, 1.0, 0.0], [10.0, -1.4, 0.5])
    assert north != south
    assert np.all(img[10:60, :8] == north)
    assert np.all(img[renderer.horizon_row - 3:renderer.horizon_row - 1, 150:] == south)


def test_clip_to_view():
    # a quad straddling the near plane and the left edge of the view, in camera coordinates
    quad = np.array([[[-3.0, 0.1, -1.0], [0.2, 0.1, 2.0], [0.2, -0.2, 2.0], [-3.0, -0.2, -1.0]]])
    poly, valid = sensors._clip_to_view(quad)
    pts = poly[0, valid[0]]
    assert valid[0].sum() >= 3 and np.all(pts[:, 2] >= car.CAMERA_CLIP_NEAR_M - 1e-12)
    u, v = pts[:, 0] / pts[:, 2] * sensors.FOCAL_PX + 79.5, pts[:, 1] / pts[:, 2] * sensors.FOCAL_PX + 59.5
    assert np.all((u >= -1 - 1e-6) & (u <= 160 + 1e-6) & (v >= -1 - 1e-6) & (v <= 120 + 1e-6))
    assert np.all(poly[0, ~valid[0]] == pts[-1])   # padding repeats the last vertex
    inside = np.array([[[-0.1, -0.1, 1.0], [0.1, -0.1, 1.0], [0.1, 0.1, 1.0], [-0.1, 0.1, 1.0]]])
    poly, valid = sensors._clip_to_view(inside)
    assert valid[0].sum() == 4 and np.allclose(poly[0, :4], inside[0])
    behind = inside * [1, 1, -1]
    assert not sensors._clip_to_view(behind)[1].any()


def test_walls_and_colours_per_track():
    assert scenery.walls_rectangle(Track.load("reinvent_base")) == scenery.REFERENCE_WALLS_M["reinvent_base"]
    assert scenery.REFERENCE_WALLS_M["reinvent_base"] == (-0.587, -0.613, 8.575, 5.795)
    assert scenery.walls_rectangle(Track.load("2022_april_pro")) is None       # a backdrop, no walls
    assert scenery.palette_name("reinvent_base") == "reinvent_base"
    assert scenery.palette_name("2022_march_pro") == "generated" and scenery.palette_name("caecer_gp") == "caecer"
    assert scenery.palette_name("H_track") is None and scenery.palette_name("straight") is None
    # a hand-made straight under a reference name gets that world's colours and, when they enclose it, walls
    short = CameraRenderer(straight_track("2022_march_pro", 10.0))
    assert short.walls_rect == scenery.REFERENCE_WALLS_M["2022_march_pro"]
    img = short.render([5.0], [0.0], [0.0])[0]
    assert np.all(img[110:, 40:60] == round(62.9 * short.ground_gain))          # the generated road
    assert CameraRenderer(straight_track("2022_march_pro", 30.0)).walls_rect[2] == pytest.approx(30.9)
    # no walls: the sky down to the horizon
    none = CameraRenderer(straight_track("2022_april_pro", 10.0))
    assert np.all(none.render([5.0], [0.0], [0.0])[0, :none.horizon_row] == SKY)


def test_box_ahead_lit_on_its_face_behind_not_seen(renderer):
    x, y, yaw = np.array([5.0, 5.0]), np.array([0.0, 0.0]), np.zeros(2)
    plain = renderer.render(x, y, yaw)
    obs = make_obstacles([(6.0, 0.0, 0.0), (4.0, 0.0, 0.0)])
    seen = renderer.render(x, y, yaw, obs)
    changed = seen != plain
    assert changed[0].sum() > 500 and np.all(changed[0, 20:45, 75:85])
    # the face toward the camera (normal -x) in the reference light
    light = scenery.Lights.reference(1).irradiance_each([[-1.0, 0.0, 0.0]], [[6.0, 0.0, box_sizes()[2] / 2]])[0]
    assert seen[0, 35, 80] == round(scenery.BOX_GRAY * scenery.EXPOSURE * light)
    assert not changed[1].any()
    # inactive obstacles are not drawn
    obs.active[:] = False
    assert np.array_equal(renderer.render(x, y, yaw, obs), plain)


def test_bot_car_hides_the_box_behind_it(renderer):
    # a bot car 0.8 m ahead hides part of a box 2 m ahead, 0.3 m to the left
    def world(with_bot: bool) -> Obstacles:
        obs = Obstacles.empty(1, 2)
        for m, (bx, by, kind) in enumerate([(5.8, 0.0, KIND_BOT), (7.0, 0.3, KIND_BOX)]):
            hl, hw, h = bot_sizes() if kind == KIND_BOT else box_sizes()
            obs.xy[0, m] = (bx, by)
            obs.half_length_m[0, m], obs.half_width_m[0, m], obs.height_m[0, m] = hl, hw, h
            obs.kind[0, m] = kind
        obs.active[0] = [with_bot, True]
        return obs
    both = renderer.render([5.0], [0.0], [0.0], world(True))[0]
    box_only = renderer.render([5.0], [0.0], [0.0], world(False))[0]
    box = box_only[int(project(2.0 - car.CAMERA_AHEAD_M - 0.2, 0.3, 0.1)[1]), int(project(1.9, 0.3)[0])]
    bot = both[int(project(0.8 - car.CAMERA_AHEAD_M - bot_sizes()[0], 0.0, 0.05)[1]), 80]
    assert box != bot
    assert (box_only == box).sum() > (both == box).sum() > 0   # the bot hides part of the box


def test_stereo(renderer):
    obs = make_obstacles([(6.0, 0.0, 0.0)])
    st = render_stereo(renderer, [5.0], [-0.1], [0.05], obs)
    assert st.shape == (1, 120, 160, 2) and st.dtype == np.uint8
    left, right = st[0, ..., 0].astype(int), st[0, ..., 1].astype(int)
    assert np.any(left != right) and np.abs(left - right).mean() < 15
    mono_left = renderer.render([5.0], [-0.1], [0.05], obs, camera_offset_left_m=car.STEREO_HALF_BASELINE_M)[0]
    assert np.array_equal(st[0, ..., 0], mono_left)
    # channel 0 is the left lens: a thing ahead shows further right in it than in the right lens
    plain = render_stereo(renderer, [5.0], [-0.1], [0.05])[0].astype(int)
    cols = [np.flatnonzero((st[0, ..., c].astype(int) != plain[..., c]).any(axis=0)).mean() for c in (0, 1)]
    assert cols[0] > cols[1] + 3


def test_domain_randomization_per_car_and_episode(straight):
    x, y, yaw = np.full(6, 5.0), np.linspace(-0.2, 0.2, 6), np.zeros(6)
    plain = CameraRenderer(straight).render(x, y, yaw)
    a = CameraRenderer(straight, rng_seed=7, domain_randomization=True)
    b = CameraRenderer(straight, rng_seed=7, domain_randomization=True)
    ia, ib = a.render(x, y, yaw), b.render(x, y, yaw)
    assert ia.shape == plain.shape and ia.dtype == np.uint8
    assert np.array_equal(ia, ib)
    assert np.abs(ia.astype(int) - plain).mean() > 2
    assert np.array_equal(a.render(x, y, yaw), ia)          # a car keeps its world within an episode
    road = ia[:, 115, 80].astype(int)                        # the road under the lens, per car
    assert np.ptp(road) > 3                                  # the cars' worlds differ
    a.randomize([1, 4])                                      # cars 1 and 4 start new episodes
    again = a.render(x, y, yaw)
    changed = [not np.array_equal(again[i], ia[i]) for i in range(6)]
    assert changed == [False, True, False, False, True, False]
    # the two stereo lenses of a car see the same world and light
    st = render_stereo(a, x, y, yaw)
    assert np.array_equal(st[:, 115, 80, 0], st[:, 115, 80, 1])
    # a track without colours of its own draws the reference's palettes; one with them keeps its own
    assert len(a.palettes) == len(scenery.RANDOMIZED_PALETTES)
    assert len(CameraRenderer(straight_track("reinvent_base", 5.0), domain_randomization=True).palettes) == 1
    # without domain randomization, randomize() changes nothing
    r = CameraRenderer(straight)
    r.randomize()
    assert np.array_equal(r.render(x, y, yaw), plain)


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
    r = CameraRenderer(tr)
    img = r.render([x], [y], [yaw])[0]
    # the measured texture grays of reinvent_base (scenery.PALETTES), lit
    road, center = round(46.6 * r.ground_gain), round(126.5 * r.ground_gain)
    bottom = img[100:, 40:120]
    assert np.all((bottom >= road) & (bottom <= center)) and (bottom == road).mean() > 0.5
    assert np.all(img[65:, :40] == road) and np.all(img[65:, 120:] == road)
    assert np.all(img[:r.horizon_row] < 60)                  # the dark walls fill the view above the horizon


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


def test_observations_fit_spaces(renderer):
    img = renderer.render([5.0], [0.0], [0.0])
    assert observation_space_for("FRONT_FACING_CAMERA").contains(img[0][..., None])
    obs = make_obstacles([(0.6, 0.0, 0.0)])
    r = lidar_ranges([0.0], [0.0], [0.0], obs)
    assert observation_space_for("LIDAR").contains(lidar_observation(r)[0])
    assert observation_space_for("SECTOR_LIDAR").contains(sector_lidar(r)[0])
    assert observation_space_for("DISCRETIZED_SECTOR_LIDAR").contains(discretized_sector_lidar(r)[0])


def test_clipping_a_few_polygons_one_by_one_matches_the_batched_clip():
    """The camera's wall clipping has a plain-Python path for a few polygons (one car's camera); it must
    give the batched path's vertices."""
    from simulation import sensors as S

    rng = np.random.default_rng(0)
    shown = 0
    for _ in range(500):
        count = int(rng.integers(1, S.CLIP_ONE_BY_ONE_MAX + 1))
        a, b = rng.normal(size=3), rng.normal(size=3)
        base = rng.normal(0, 2, (count, 1, 3)) + np.array([0.0, 0.0, rng.uniform(-1, 4)])
        poly = base + np.stack([0 * a, a, a + b, b])[None] * rng.uniform(0.2, 3, (count, 1, 1))
        p1, v1 = S._clip_to_view_few(poly)
        p2, v2 = S._clip_to_view_batched(poly)
        np.testing.assert_array_equal(v1, v2)
        np.testing.assert_allclose(p1[v1.any(-1)], p2[v2.any(-1)], atol=1e-9)
        shown += int(v1.any(-1).sum())
    assert shown > 200          # most draws put something in view
