"""Reward params the reference way (simapp v6), one fact at a time.

track_width as the reference computes it (simapp track_data.get_nearest_points): the distance
between the inner- and outer-border points nearest to the projection's centre-line point, checked
against an independent brute-force re-computation of that algorithm (every border segment) on the
tracks the fidelity issue names, driven both ways, at random off-centre poses. objects_heading of
boxes and bots; the training step cap."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.track import Track

TRACKS = ["reinvent_base", "reInvent2019_track", "Spain_track", "Tokyo_Training_track", "AWS_track", "China_track"]


def _nearest_on_polyline(line: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Global nearest point of the polyline ``line`` (N, 2) to each of ``p`` (K, 2), by brute force."""
    a, b = line[:-1], line[1:]
    d = b - a
    t = np.clip(((p[:, None, :] - a[None]) * d[None]).sum(2) / np.maximum((d ** 2).sum(1), 1e-18)[None], 0, 1)
    q = a[None] + t[..., None] * d[None]
    return q[np.arange(len(p)), ((p[:, None, :] - q) ** 2).sum(2).argmin(1)]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", TRACKS)
def test_track_width_agrees_with_the_reference_algorithm(name, reverse):
    track = Track.load(name, reverse=reverse)
    rng = np.random.default_rng(7)
    arc = rng.uniform(0, track.length_m, 3000)
    points = track.pose_at(arc, rng.uniform(-0.6, 0.6, arc.size) * track.width_at(arc))[:, :2]
    proj = track.project(points)
    inner, outer = (track.inner_border, track.outer_border)
    expected = np.linalg.norm(_nearest_on_polyline(inner, proj.point) - _nearest_on_polyline(outer, proj.point), axis=1)
    got = track.nearest_border_width(proj)
    assert np.mean(np.abs(got - expected) < 0.01) >= 0.99, name
    if name == "Tokyo_Training_track":       # the row-to-row width it replaces was wrong here most of the time
        assert np.mean(np.abs(track.local_width(proj) - expected) < 0.01) < 0.2


def test_the_reward_param_is_the_reference_width(tmp_path):
    from simulation.env import BatchedEnv

    env = BatchedEnv("Tokyo_Training_track", None, {"action_space": [{"steering_angle": 0, "speed": 1.0}],
                                                    "sensor": ["STATE"]}, None, num_cars=4, seed=1)
    env.reset()
    seen = []
    env.reward_fn = lambda params, car, episode, step: seen.append(params["track_width"]) or 1.0
    env.step(np.zeros(4, np.int64))   # prepare
    env.step(np.zeros(4, np.int64))
    assert seen and all(0.6 < w < 0.75 for w in seen), seen     # Tokyo's road is about 0.66 m, not 1.2


@pytest.mark.parametrize("race_type,boxes", [("OBJECT_AVOIDANCE", True), ("HEAD_TO_BOT", False)])
def test_objects_heading_is_zero_for_boxes_and_the_yaw_of_bots(race_type, boxes):
    from simulation.env import BatchedEnv

    env = BatchedEnv("reinvent_base", None, {"action_space": [{"steering_angle": 0, "speed": 1.0}], "sensor": ["STATE"]},
                     {"race_type": race_type}, num_cars=2, seed=3)
    env.reset()
    seen = []
    env.reward_fn = lambda params, car, episode, step: seen.append(params["objects_heading"]) or 1.0
    env.step(np.zeros(2, np.int64))   # prepare
    env.step(np.zeros(2, np.int64))
    assert seen and all(len(h) > 0 for h in seen)
    if boxes:
        assert all(v == 0.0 for h in seen for v in h), seen      # simapp: [0.0] * number of objects
    else:
        assert any(v != 0.0 for h in seen for v in h), seen      # bots report their yaw


def test_training_has_no_10000_step_time_up():
    from simulation.race import RaceConfig

    # the simapp env's cap (deepracer_racetrack_env.py MAX_STEPS = 100000); 10,000 was ours
    assert RaceConfig().max_steps == 100_000 and RaceConfig.from_dict({"training": True}).max_steps == 100_000


def test_the_car_pose_is_the_chassis_centre_with_the_urdf_axles():
    from simulation import car
    from simulation.env import BatchedEnv

    env = BatchedEnv("reinvent_base", None, {"action_space": [{"steering_angle": 20, "speed": 1.0}],
                                             "sensor": ["STATE"]}, {"training": False}, num_cars=1, seed=0)
    env.reset()
    s = env.state
    track = env.tracks.forward
    assert track.project(np.array([[s.x[0], s.y[0]]])).distance_m[0] < 1e-6       # starts on the centre line
    ref = s.reference_point()[0]
    assert np.hypot(ref[0] - s.x[0], ref[1] - s.y[0]) == pytest.approx(0.14)     # 0.14 m ahead of the chassis centre
    wheels = s.wheel_points()[0]
    c, sn = np.cos(s.yaw[0]), np.sin(s.yaw[0])
    along = (wheels[:, 0] - s.x[0]) * c + (wheels[:, 1] - s.y[0]) * sn
    assert np.allclose(along, [-0.0817, -0.0817, 0.0823, 0.0823], atol=1e-4)
    # held steering: the rear axle of the two-contact car runs on a circle of radius wheelbase / tan(steering)
    r = np.full(1, np.tan(np.radians(20)) / car.WHEELBASE_M)   # already on the circle: its yaw rate, no slip
    st = car.CarState(np.zeros(1), np.zeros(1), np.zeros(1), np.ones(1), np.full(1, np.radians(20)),
                      lateral_mps=-car.REAR_AXLE_X_M * r, yaw_rate_rps=r)
    rear = []
    for _ in range(60):
        car.step_kinematics(st, np.ones(1), np.full(1, np.radians(20)), dynamics="v6-two")
        rear.append(st.rear_axle()[0])
    rear = np.array(rear)
    a = np.c_[2 * rear, np.ones(len(rear))]
    cx, cy, k = np.linalg.lstsq(a, (rear ** 2).sum(1), rcond=None)[0]
    assert np.sqrt(k + cx ** 2 + cy ** 2) == pytest.approx(car.WHEELBASE_M / np.tan(np.radians(20)), rel=1e-3)


def test_progress_counts_from_the_start_position_as_the_reference():
    from simulation.env import BatchedEnv
    from simulation.params import progress_percent

    env = BatchedEnv("reinvent_base", None, {"action_space": [{"steering_angle": 0, "speed": 0.1}],
                                             "sensor": ["STATE"]}, {"training": False}, num_cars=1, seed=0)
    env.reset()
    prepare = env.step(np.zeros(1, np.int64)).progress[0]
    first = env.step(np.zeros(1, np.int64)).progress[0]
    # the reference point starts 0.14 m ahead of the start (about 0.79% of 17.71 m); the car is at rest
    # until the first reward call has seen it
    assert prepare == first == pytest.approx(0.14 / env.tracks.forward.length_m * 100)
    assert env.step(np.zeros(1, np.int64)).progress[0] > first
    assert progress_percent(np.array([-0.2, 20.0]), 17.71).tolist() == pytest.approx([-0.2 / 17.71 * 100, 100.0])


def test_the_prepare_step_and_the_first_reward_call_as_the_reference():
    """simapp rollout_agent_ctrl: the episode's first step is the prepare phase (speed 0, reward 0, no
    reward call, status "prepare"); the first call sees steps == 2 with the car still at its start."""
    from core import race_status as rs
    from simulation.env import BatchedEnv

    env = BatchedEnv("reinvent_base", None, {"action_space": [{"steering_angle": 0, "speed": 2.0}],
                                             "sensor": ["STATE"]}, {"training": False}, num_cars=2, seed=0)
    env.reset()
    start = (env.state.x.copy(), env.state.y.copy())
    calls = []
    env.reward_fn = lambda params, car, episode, step: calls.append(dict(params)) or 5.0
    r = env.step(np.zeros(2, np.int64))
    assert calls == [] and r.reward.tolist() == [0.0, 0.0] and r.steps.tolist() == [1, 1]
    assert [rs.STATUSES[s] for s in r.status] == ["prepare", "prepare"] and not r.done.any()
    assert np.array_equal(env.state.x, start[0]) and np.array_equal(env.state.y, start[1])   # held at rest
    r = env.step(np.zeros(2, np.int64))
    assert len(calls) == 2 and r.reward.tolist() == [5.0, 5.0]
    first = calls[0]
    assert first["steps"] == 2 and first["speed"] == 2.0           # the action's speed, the car at rest
    ref = env.tracks.forward.pose_at(0.0)
    assert (first["x"], first["y"]) == pytest.approx((start[0][0] + 0.14 * np.cos(ref[2]), start[1][0] + 0.14 * np.sin(ref[2])))
    assert not np.array_equal(env.state.x, start[0])               # the action moved the car after the call


def test_params_describe_the_pose_the_action_came_from_and_statuses_come_one_step_later():
    """simapp v6, model version >= 4: physics is paused while the action is sent, so the params (and the
    reset rules) describe the cached pose the observation came from; leaving the track shows up on the
    step after the move that did it."""
    from core import race_status as rs
    from simulation.env import BatchedEnv

    env = BatchedEnv("reinvent_base", None, {"action_space": [{"steering_angle": 30, "speed": 1.0}],
                                             "sensor": ["STATE"]}, {"training": False}, num_cars=1, seed=0,
                     autoreset=False)
    env.reset()
    calls = []
    env.reward_fn = lambda params, car, episode, step: calls.append(params) or 1.0
    poses, results = [], []
    for _ in range(200):
        poses.append(env.state.reference_point()[0].copy())
        results.append(env.step(np.zeros(1, np.int64)))
        if results[-1].done[0]:
            break
    last = results[-1]
    assert rs.STATUSES[last.status[0]] == "off_track"
    for p, pose in zip(calls, poses[1:]):                           # every call: the pose before the step's move
        assert (p["x"], p["y"]) == pytest.approx(tuple(pose))
    assert calls[-1]["is_offtrack"] and not any(p["is_offtrack"] for p in calls[:-1])
    # the move that left the track happened during the step before; the finished car moved no more
    assert not results[-2].done[0] and env.state.reference_point()[0] == pytest.approx(poses[-1])
    assert not env.tracks.forward.contains(env.state.wheel_points()).any()


def test_object_in_camera_uses_the_reference_frustum():
    """simapp markov/cameras/frustum.py: the footprint corners and centre of an object against the
    camera's 3D frustum (near plane 0.2 m, 4:3 image), any lens; not the centre's bearing alone."""
    from simulation import car
    from simulation.obstacles import Obstacles, box_rect, box_sizes
    from simulation.params import objects_in_camera

    def boxes(points, yaw=0.0):
        ob = Obstacles.empty(1, len(points))
        ob.xy[0] = points
        ob.yaw[:] = yaw
        hl, hw, h = box_sizes()
        ob.half_length_m[:], ob.half_width_m[:], ob.height_m[:] = hl, hw, h
        ob.rect_half_length_m[:], ob.rect_half_width_m[:] = box_rect()
        ob.active[:] = True
        return ob

    st = car.CarState.zeros(1)                      # at the origin, facing +x
    cam_x = car.CAMERA_AHEAD_M
    half_fov = car.CAMERA_HFOV_RAD / 2
    d = 2.0
    centre_out = np.radians(np.degrees(half_fov) + 4)   # the centre just outside the horizontal FOV ...
    pts = [
        (cam_x + d * np.cos(centre_out), d * np.sin(centre_out)),   # ... but a corner inside: seen
        (cam_x + d, 0.0),                                          # straight ahead: seen
        (-2.0, 0.0),                                               # behind: not seen
        (cam_x, 1.0),                                              # beside the camera: not seen
        (cam_x + 0.05, 0.0),                                       # under the camera, nearer than the near plane
    ]
    seen = objects_in_camera(boxes(pts), st)[0].tolist()
    assert seen[:4] == [True, True, False, False]
    # a box that only the camera's footprint below the image sees: every point within 0.12 m ahead
    tiny = boxes([(cam_x + 0.06, 0.0)])
    tiny.rect_half_length_m[:] = tiny.rect_half_width_m[:] = 0.01
    assert not objects_in_camera(tiny, st)[0, 0]
    # stereo: an object seen by the left lens only still counts
    b = car.STEREO_HALF_BASELINE_M
    hl, hw = box_rect()
    depth = (1.0 + hl) * np.cos(car.CAMERA_PITCH_DOWN_RAD) + car.CAMERA_HEIGHT_M * np.sin(car.CAMERA_PITCH_DOWN_RAD)
    corner_y = depth * np.tan(half_fov)      # the far right corner: inside the left lens's view, outside the right's
    edge = boxes([(cam_x + 1.0, corner_y + hw)])
    assert objects_in_camera(edge, st, (b, -b))[0, 0] and not objects_in_camera(edge, st, (-b,))[0, 0]
