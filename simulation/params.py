"""The reward-function ``params`` dict (spec section 1): the one module that computes it for every backend.

A backend reports car poses (CarState) and obstacles; ``measure`` turns them into track-relative
arrays for K cars, and ``build_params`` turns those arrays into one fresh dict per car. Every list in
a dict is new and holds only immutable items (tuples, floats, ints, bools), so a reward function
that mutates ``params`` cannot corrupt the simulator (this is what the reference's deep copy buys,
at a fraction of the cost).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import car
from .obstacles import KIND_BOT, Obstacles
from .track import Track

#: Every key a reward function receives, in the order of spec section 1.
PARAM_KEYS: tuple[str, ...] = (
    "all_wheels_on_track", "x", "y", "heading", "distance_from_center", "projection_distance",
    "progress", "steps", "speed", "steering_angle", "track_width", "track_length", "waypoints",
    "closest_waypoints", "is_left_of_center", "is_reversed", "is_offtrack", "is_crashed",
    "closest_objects", "objects_location", "objects_left_of_center", "objects_distance",
    "objects_distance_from_center", "objects_heading", "objects_speed", "object_in_camera", "sim_time",
)


@dataclass
class Measure:
    """Track-relative facts of K cars, each in its own driving direction (arrays of leading dim K)."""

    ref_xy: np.ndarray            # (K, 2) reference point, REFERENCE_POINT_AHEAD_M ahead of the origin
    arc_m: np.ndarray             # (K,) arc length of the reference point's projection, driving direction
    segment: np.ndarray           # (K,) centre-line segment of the projection (driving-order indices)
    distance_from_center_m: np.ndarray
    is_left: np.ndarray           # (K,) bool, relative to the driving direction
    track_width_m: np.ndarray
    wheels_on_track: np.ndarray   # (K, 4) bool

    def assign(self, rows: np.ndarray, other: "Measure") -> None:
        """Overwrite the facts of cars ``rows`` with ``other``'s (measured for those cars, in that order)."""
        for name in self.__dataclass_fields__:
            getattr(self, name)[rows] = getattr(other, name)


class TrackPair:
    """A track in both driving directions, measuring each car in its own direction."""

    def __init__(self, forward: Track):
        self.forward = forward
        self.reverse = forward.reversed_copy()
        self._waypoints = {False: [tuple(p) for p in forward.waypoints.tolist()],
                           True: [tuple(p) for p in self.reverse.waypoints.tolist()]}

    def track(self, reversed_: bool) -> Track:
        return self.reverse if reversed_ else self.forward

    def waypoint_list(self, reversed_: bool) -> list[tuple[float, float]]:
        """The waypoints as the reward function sees them (shared; copy before handing out)."""
        return self._waypoints[bool(reversed_)]

    def to_forward_arc(self, arc_m: np.ndarray, reversed_: np.ndarray) -> np.ndarray:
        """Arc in each car's driving direction -> arc on the forward track."""
        return np.where(reversed_, self.forward.length_m - arc_m, arc_m)

    def measure(self, state: car.CarState, reversed_: np.ndarray) -> Measure:
        ref = state.reference_point()
        wheels = state.wheel_points()
        k = len(ref)
        out = Measure(ref, np.zeros(k), np.zeros(k, np.int64), np.zeros(k), np.zeros(k, bool), np.zeros(k),
                      np.zeros((k, 4), bool))
        for flag in (False, True):
            sel = np.flatnonzero(reversed_ == flag)
            if sel.size == 0:
                continue
            tr = self.track(flag)
            proj = tr.project(ref[sel])
            out.arc_m[sel] = proj.arc_m
            out.segment[sel] = proj.segment
            out.distance_from_center_m[sel] = proj.distance_m
            out.is_left[sel] = proj.is_left
            out.track_width_m[sel] = tr.nearest_border_width(proj)
        out.wheels_on_track = self.forward.contains(wheels)
        return out


@dataclass
class ObjectMeasure:
    """Reward-param facts of M obstacles for K cars (each in the car's driving direction)."""

    location: np.ndarray          # (K, M, 2)
    left_of_center: np.ndarray    # (K, M) bool
    distance_m: np.ndarray        # (K, M) arc length of the projection
    distance_from_center_m: np.ndarray
    heading_rad: np.ndarray
    speed_mps: np.ndarray
    closest: np.ndarray           # (K, 2) [behind, ahead] object indices
    in_camera: np.ndarray         # (K,) bool: the next object ahead lies inside the camera's field of view


def measure_objects(tracks: TrackPair, obstacles: Obstacles, state: car.CarState, reversed_: np.ndarray,
                    car_arc_m: np.ndarray, camera_offsets_left_m: tuple[float, ...] = (0.0,)) -> ObjectMeasure:
    """Object params of K cars; ``camera_offsets_left_m`` places the camera lenses (one for a single
    camera, two for STEREO_CAMERAS) for ``object_in_camera``."""
    k, m = obstacles.xy.shape[:2]
    dist = np.zeros((k, m))
    dfc = np.zeros((k, m))
    left = np.zeros((k, m), bool)
    for flag in (False, True):
        sel = np.flatnonzero(reversed_ == flag)
        if sel.size == 0:
            continue
        proj = tracks.track(flag).project(obstacles.xy[sel].reshape(-1, 2))
        dist[sel] = proj.arc_m.reshape(-1, m)
        dfc[sel] = proj.distance_m.reshape(-1, m)
        left[sel] = proj.is_left.reshape(-1, m)
    length = tracks.forward.length_m
    ahead_gap = np.mod(dist - car_arc_m[:, None], length)
    behind_gap = np.mod(car_arc_m[:, None] - dist, length)
    big = np.where(obstacles.active, 0.0, np.inf)
    ahead = np.argmin(ahead_gap + big, axis=1)
    behind = np.argmin(behind_gap + big, axis=1)
    rows = np.arange(k)
    in_camera = objects_in_camera(obstacles, state, camera_offsets_left_m)[rows, ahead] & obstacles.active[rows, ahead]
    # objects_heading: a bot car's yaw [rad]; 0.0 for boxes (simapp track_data.get_object_reward_params)
    heading = np.where(obstacles.kind == KIND_BOT, obstacles.yaw, 0.0)
    return ObjectMeasure(obstacles.xy, left, dist, dfc, heading, obstacles.speed_mps,
                         np.stack([behind, ahead], axis=1), in_camera)


#: The camera frustum the reference tests objects against (simapp markov/cameras/frustum.py, which
#: hard-codes them rather than reading the camera's SDF): near and far planes [m] and the image's
#: height / width; the pose and horizontal field of view are the camera's (simulation/car.py).
FRUSTUM_NEAR_M = 0.2
FRUSTUM_FAR_M = 300.0
FRUSTUM_VIEW_RATIO = 480.0 / 640.0


def objects_in_camera(obstacles: Obstacles, state: car.CarState,
                      camera_offsets_left_m: tuple[float, ...] = (0.0,)) -> np.ndarray:
    """(K, M) bool: is obstacle m inside a camera frustum of car k (any lens)?

    As the reference: the corners of the object's rectangle (Obstacles.rect_corners, the one the crash
    test uses) on the floor and its centre are tested against
    each lens's frustum (camera at CAMERA_AHEAD_M ahead, the lens offset to the left, CAMERA_HEIGHT_M
    up, pitched CAMERA_PITCH_DOWN_RAD down; horizontal FOV CAMERA_HFOV_RAD, the vertical one from the
    4:3 image, near plane FRUSTUM_NEAR_M); an object is in camera when any of its points is strictly
    inside every plane."""
    pts = np.concatenate([obstacles.rect_corners(), obstacles.xy[:, :, None, :]], axis=2)   # (K, M, 5, 2)
    cy, sy = np.cos(state.yaw)[:, None, None], np.sin(state.yaw)[:, None, None]
    cp, sp = np.cos(car.CAMERA_PITCH_DOWN_RAD), np.sin(car.CAMERA_PITCH_DOWN_RAD)
    tan_h = np.tan(car.CAMERA_HFOV_RAD / 2)
    tan_v = tan_h * FRUSTUM_VIEW_RATIO
    seen = np.zeros(obstacles.xy.shape[:2], bool)
    for left_m in camera_offsets_left_m:
        cam_x = state.x[:, None, None] + car.CAMERA_AHEAD_M * cy - left_m * sy
        cam_y = state.y[:, None, None] + car.CAMERA_AHEAD_M * sy + left_m * cy
        dx, dy, dz = pts[..., 0] - cam_x, pts[..., 1] - cam_y, -car.CAMERA_HEIGHT_M
        horizontal = dx * cy + dy * sy                   # along the heading, on the ground plane
        depth = horizontal * cp - dz * sp                # along the pitched optical axis
        up = horizontal * sp + dz * cp
        right = dx * sy - dy * cy
        inside = ((depth > FRUSTUM_NEAR_M) & (depth < FRUSTUM_FAR_M) & (np.abs(right) < depth * tan_h)
                  & (np.abs(up) < depth * tan_v))
        seen |= inside.any(axis=2)
    return seen


def progress_percent(lap_distance_m: np.ndarray, lap_length_m: float) -> np.ndarray:
    """Progress [%] from the distance along the centre line between the episode's start position and
    the reference point: at most 100 (the lap), negative behind the start (simapp compute_current_prog)."""
    return np.minimum(lap_distance_m / lap_length_m * 100.0, 100.0)


def build_params(tracks: TrackPair, m: Measure, reversed_: np.ndarray, progress: np.ndarray,
                 steps: np.ndarray, heading_rad: np.ndarray, speed_cmd_mps: np.ndarray,
                 steering_cmd_deg: np.ndarray, is_crashed: np.ndarray, sim_time_s: np.ndarray,
                 objects: ObjectMeasure | None) -> list[dict]:
    """One fresh params dict per car (see the module docstring for the safety rule)."""
    all_on = m.wheels_on_track.all(axis=1)
    off = ~m.wheels_on_track.any(axis=1)
    seg = m.segment.tolist()
    columns = zip(
        all_on.tolist(), m.ref_xy[:, 0].tolist(), m.ref_xy[:, 1].tolist(), np.degrees(heading_rad).tolist(),
        m.distance_from_center_m.tolist(), m.arc_m.tolist(), progress.tolist(), steps.tolist(),
        speed_cmd_mps.tolist(), steering_cmd_deg.tolist(), m.track_width_m.tolist(), seg,
        m.is_left.tolist(), reversed_.tolist(), off.tolist(), is_crashed.tolist(), sim_time_s.tolist(),
    )
    wps = (tracks.waypoint_list(False), tracks.waypoint_list(True))
    template = dict.fromkeys(PARAM_KEYS)
    template.update(track_length=tracks.forward.length_m, object_in_camera=False)
    out = []
    for a, x, y, h, d, pd, p, st, sp, sa, w, s, left, rv, of, cr, t in columns:
        # A copy of the template, every value set, every list new: nothing is shared between calls.
        q = template.copy()
        q["all_wheels_on_track"] = a
        q["x"] = x
        q["y"] = y
        q["heading"] = h
        q["distance_from_center"] = d
        q["projection_distance"] = pd
        q["progress"] = p
        q["steps"] = st
        q["speed"] = sp
        q["steering_angle"] = sa
        q["track_width"] = w
        q["waypoints"] = wps[rv][:]
        q["closest_waypoints"] = [s, s + 1]
        q["is_left_of_center"] = left
        q["is_reversed"] = rv
        q["is_offtrack"] = of
        q["is_crashed"] = cr
        q["closest_objects"] = [0, 0]
        q["objects_location"] = []
        q["objects_left_of_center"] = []
        q["objects_distance"] = []
        q["objects_distance_from_center"] = []
        q["objects_heading"] = []
        q["objects_speed"] = []
        q["sim_time"] = t
        out.append(q)
    if objects is not None and objects.location.shape[1] > 0:
        for params, loc, lft, dist, dfc, hd, spd, cl, cam in zip(
                out, objects.location.tolist(), objects.left_of_center.tolist(), objects.distance_m.tolist(),
                objects.distance_from_center_m.tolist(), objects.heading_rad.tolist(), objects.speed_mps.tolist(),
                objects.closest.tolist(), objects.in_camera.tolist()):
            params.update(closest_objects=cl, objects_location=[tuple(p) for p in loc], objects_left_of_center=lft,
                          objects_distance=dist, objects_distance_from_center=dfc, objects_heading=hd,
                          objects_speed=spd, object_in_camera=cam)
    return out
