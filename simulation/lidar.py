"""The DeepRacer LIDAR as mounted on the reference car, for K cars at once (spec section 2, "Observations").

Reference (DeepRacer simapp, Gazebo Harmonic ``gpu_lidar``):

- Mount: ``urdf/deepracer/deepracer_single_cam_lidar.urdf`` (and the stereo twin), ``hokuyo_joint``:
  the ``laser`` link sits at xyz (0.02913, 0, 0.16145) m from ``chassis`` (itself 0.023249 m straight
  above ``base_link``, the car origin of this simulator) and is turned rpy (0, 0, 3.1416): the scanner
  looks backwards.
- Scan: ``urdf/deepracer/racecar.gazebo`` (sensor ``hokuyo_sensor``) with the values the simapp passes
  (``markov/sensors/constants.py`` LIDAR_360_DEGREE_*, the defaults of
  ``launch/racecar.launch.py``): 64 samples, resolution 1, angles [-2.61799, +2.61799] rad in the
  laser frame, range [0.15, 12.0] m, Gaussian noise mean 0, stddev 0.01 m, 10 Hz.
  Gazebo's beam i points at min_angle + i * (max - min) / (samples - 1) and the ROS LaserScan keeps that
  order; the simapp feeds ``data.ranges`` to the network unchanged (``markov/sensors/sensors_rollout.py``
  Lidar._scan_cb). With the 180 degree mount, beam 0 points 30 degrees to the front-LEFT, the scan
  sweeps counter-clockwise through the left side, straight back (beams 31/32) and the right side, and
  beam 63 points 30 degrees to the front-right: a 60 degree blind spot straight ahead.
- Ranges (gz-sensors ``GpuLidarSensor``/``Lidar``): the GPU rays render the scene's visuals with the
  near clip plane at the minimum range (nearer surfaces are not seen; back faces are culled, so a
  scanner inside an object sees through it); a beam that hits nothing within the maximum range reads
  +inf; hits get N(mean, stddev) noise and are clamped to [min, max]. We return LIDAR_MAX_RANGE_M
  (12 m) for "nothing": every network encoding treats +inf and 12 m alike (LIDAR clips to 1 m, the
  sector filters replace inf by the clipping distance).

What the beams hit: the walls around the field (simulation/scenery.py walls_rectangle: the reference
world's walls, none for the open 2022 worlds, else the margin rule; 1 m high, far above the beam plane)
and obstacles as the scanner's horizontal plane cuts them: an obstacle's body (simulation/obstacles.py)
when it is taller than the beam plane, a bot car's shell where it reaches the plane
(LIDAR_OBSTACLE_SECTIONS); never the track's lines on the floor.

Not modelled: the 10 Hz update rate (the simapp reads the latest scan without waiting, so about one
step in three repeats the previous scan; markov/sensors/composite_sensor.py), the shape of the near clip
(gz-rendering traces from cube-map cameras whose near plane is flat, so the minimum range may grow up to
0.15 * sqrt(2) m between the cube faces' axes; not verified), the car's pitch and roll, Gazebo's other
scenery (buildings, trees) on tracks that have it.

The network encodings follow the simapp's observation filters (see each function).
"""

from __future__ import annotations

import numpy as np

from core.config import LIDAR_SENSORS, LidarConfig
from core.observations import (LIDAR_CLIP_M, LIDAR_MIN_RANGE_M, LIDAR_NUM_BEAMS, SECTOR_LIDAR_CLIP_M,
                               SECTOR_LIDAR_NUM_SECTORS)

from .obstacles import KIND_BOT, Obstacles
from .scenery import rectangle_segments, walls_rectangle
from .track import Track


# ---------------------------------------------------------------------- the sensor on the car
LIDAR_AHEAD_M = 0.02913
"""Scanner ahead of the car origin (base_link, the chassis centre) [m]: hokuyo_joint origin x
(urdf/deepracer/deepracer_single_cam_lidar.urdf)."""
LIDAR_MOUNT_YAW_RAD = 3.1416
"""Scanner yaw relative to the car's heading [rad]: hokuyo_joint rpy z (same URDF); it looks backwards."""
LIDAR_HEIGHT_M = -0.003 + 0.023249 + 0.16145
"""Beam plane above the ground [m], 0.1817: base_link 0.003 m below the ground (wheel centres 0.039 m
above base_link, wheel mesh radius 0.036 m), chassis 0.023249 m above base_link, laser 0.16145 m above
the chassis (same URDF). Derived, to be calibrated against the Gazebo backend."""
LIDAR_FOV_RAD = 2.61799
"""Half the scan arc [rad]: beams span [-LIDAR_FOV_RAD, +LIDAR_FOV_RAD] in the scanner's frame
(markov/sensors/constants.py LIDAR_360_DEGREE_MIN_ANGLE / MAX_ANGLE; 150 deg)."""
LIDAR_RANGE_MIN_M = 0.15
"""Nearest range the scanner reports [m] (LIDAR_360_DEGREE_MIN_RANGE): the GPU rays' near clip plane."""
LIDAR_MAX_RANGE_M = 12.0
"""Farthest range [m] (LIDAR_360_DEGREE_MAX_RANGE); also what a beam that hits nothing reads here."""
LIDAR_NOISE_MEAN_M = 0.0
"""Range noise mean [m] (LIDAR_360_DEGREE_NOISE_MEAN; Gaussian, the SDF's default noise type)."""
LIDAR_NOISE_STDDEV_M = 0.01
"""Range noise standard deviation [m] (LIDAR_360_DEGREE_NOISE_STDDEV), drawn per beam and scan."""
LIDAR_UPDATE_HZ = 10.0
"""Scan rate [Hz] (racecar.gazebo update_rate). Not modelled: every step gets a fresh scan."""

#: Beam angles in the scanner's frame [rad], in the order Gazebo publishes them.
LIDAR_SCAN_ANGLES_RAD = np.linspace(-LIDAR_FOV_RAD, LIDAR_FOV_RAD, LIDAR_NUM_BEAMS)
#: Beam angles in the car frame [rad, in (-pi, pi]], counter-clockwise from the heading, in the order the
#: network receives them: beam 0 at +30 deg (front-left), beams 31/32 straight back, beam 63 at -30 deg.
LIDAR_ANGLES_RAD = np.angle(np.exp(1j * (LIDAR_MOUNT_YAW_RAD + LIDAR_SCAN_ANGLES_RAD)))

# ---------------------------------------------------------------------- what the beams see of obstacles
#: Obstacle kinds whose cut by the beam plane is not their body box, as a rectangle in the obstacle's
#: frame: kind -> (centre ahead of the obstacle pose [m], half length along its yaw [m], half width [m]).
#: Other kinds are seen as their body (obstacles.py half_length_m x half_width_m, e.g. the 0.4 x 0.3 m
#: box of models/box_obstacle/model.sdf, not its 0.5 x 0.4 m crash rectangle) if height_m exceeds
#: LIDAR_HEIGHT_M, else not at all.
#: - KIND_BOT: models/bot_car/model.sdf, base_link at z 0 (markov/agent_ctrl/constants.py BOT_CAR_Z,
#:   gravity off), body shell meshes/deepracer/car_body_link_v3.STL at (-0.0762, 0, 0.01577). At the beam
#:   height only the shell's raised front is cut: x 0.079..0.159 m ahead of the pose,
#:   |y| <= 0.044 m (measured from the mesh; the cut is rounded, 80% of this rectangle's area); the rest
#:   of a bot car is below the beams. Derived, to be calibrated against the Gazebo backend.
LIDAR_OBSTACLE_SECTIONS: dict[int, tuple[float, float, float]] = {
    KIND_BOT: (0.119, 0.040, 0.044),
}

# ---------------------------------------------------------------------- network encodings
#: DISCRETIZED_SECTOR_LIDAR defaults: model_metadata's lidar_config defaults (core.config.LidarConfig).
DISCRETIZED_NUM_SECTORS = LidarConfig().num_sectors
DISCRETIZED_NUM_VALUES = LidarConfig().num_values_per_sector
DISCRETIZED_CLIP_M = LidarConfig().clipping_dist_m


LIDAR_HORIZON_MARGIN_M = 6 * LIDAR_NOISE_STDDEV_M
"""Beyond the farthest range a network encoding resolves, obstacles are still traced this far [m] (six
noise sigmas), so that culling farther ones cannot change an observation (ours)."""


def encoding_horizon_m(sensor_names, lidar_config=None) -> float:
    """The farthest range [m] the network inputs of ``sensor_names`` can tell apart, plus
    LIDAR_HORIZON_MARGIN_M: LIDAR clips at LIDAR_CLIP_M (1 m), SECTOR_LIDAR at SECTOR_LIDAR_CLIP_M
    (0.5 m), DISCRETIZED_SECTOR_LIDAR at lidar_config's clipping distance; inf without a lidar sensor."""
    need = [LIDAR_CLIP_M if n == "LIDAR" else SECTOR_LIDAR_CLIP_M if n == "SECTOR_LIDAR" else
            min(max(_lidar_config_values(lidar_config)[2], LIDAR_RANGE_MIN_M), LIDAR_MAX_RANGE_M)
            for n in sensor_names if n in LIDAR_SENSORS]
    return max(need) + LIDAR_HORIZON_MARGIN_M if need else np.inf


def _segment_hits(ox, oy, dx, dy, segments: np.ndarray, min_range_m: float) -> np.ndarray:
    """(n, B) distance along each beam to the nearest of S segments (S, 2, 2) hit at >= min_range_m
    (inf if none). ox, oy: (n, 1) beam origins; dx, dy: (n, B) unit directions [m]."""
    a = np.asarray(segments, np.float64).reshape(-1, 2, 2)
    ax, ay = a[:, 0, 0], a[:, 0, 1]
    ex, ey = a[:, 1, 0] - ax, a[:, 1, 1] - ay                             # (S,)
    ox, oy, dx, dy = ox[..., None], oy[..., None], dx[..., None], dy[..., None]
    wx, wy = ax - ox, ay - oy                                            # (n, 1, S)
    den = dx * ey - dy * ex                                              # (n, B, S) cross(d, e)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (wx * ey - wy * ex) / den                                    # along the beam
        u = (wx * dy - wy * dx) / den                                    # along the segment
    ok = (np.abs(den) > 1e-12) & (t >= min_range_m) & (u >= 0.0) & (u <= 1.0)
    return np.where(ok, t, np.inf).min(axis=2)


def _field_exits(ox, oy, dx, dy, field_m, min_range_m: float) -> np.ndarray:
    """(n, B) distance along each beam to the walls of the rectangle field_m (x_min, y_min, x_max, y_max)
    [m] from origins inside it (inf where nearer than min_range_m). ox, oy: (n, 1); dx, dy: (n, B)."""
    x0, y0, x1, y1 = field_m
    sdx = np.where(np.abs(dx) < 1e-12, 1e-12, dx)
    sdy = np.where(np.abs(dy) < 1e-12, 1e-12, dy)
    t = np.minimum(np.where(sdx > 0, x1 - ox, x0 - ox) / sdx, np.where(sdy > 0, y1 - oy, y0 - oy) / sdy)
    return np.where(t >= min_range_m, t, np.inf)


def _rectangle_entries(ox, oy, dx, dy, cx, cy, cyaw, hl, hw, min_range_m: float) -> np.ndarray:
    """(n, B) distance along each beam to where it ENTERS an oriented rectangle, if at >= min_range_m
    (else inf): slab test; a beam starting inside does not see it (back faces). ox, oy, and the
    rectangle's centre cx, cy, yaw cyaw, half sizes hl, hw: (n, 1); dx, dy: (n, B)."""
    c, s = np.cos(cyaw), np.sin(cyaw)
    rx, ry = ox - cx, oy - cy
    lx, ly = c * rx + s * ry, c * ry - s * rx                            # origin in the rectangle's frame
    ux, uy = c * dx + s * dy, c * dy - s * dx                            # directions there (n, B)
    ax, ay = np.maximum(np.abs(ux), 1e-12), np.maximum(np.abs(uy), 1e-12)
    near_x = np.where(ux < 0, lx - hl, -hl - lx) / ax                    # entry of each slab
    near_y = np.where(uy < 0, ly - hw, -hw - ly) / ay
    far_x = np.where(ux < 0, lx + hl, hl - lx) / ax
    far_y = np.where(uy < 0, ly + hw, hw - ly) / ay
    t_near = np.maximum(near_x, near_y)
    hit = (t_near >= min_range_m) & (t_near <= np.minimum(far_x, far_y))
    return np.where(hit, t_near, np.inf)


def obstacle_sections(obstacles: Obstacles) -> tuple[np.ndarray, ...]:
    """What the beam plane cuts of each obstacle: (cx, cy, yaw, half_length, half_width, seen), each
    (K, M): LIDAR_OBSTACLE_SECTIONS for the kinds it lists, else the body when it is taller than
    LIDAR_HEIGHT_M; ``seen`` is False for inactive obstacles and those below the beams."""
    ahead = np.zeros(obstacles.kind.shape)
    hl, hw = np.array(obstacles.half_length_m, np.float64), np.array(obstacles.half_width_m, np.float64)
    seen = obstacles.active & (obstacles.height_m > LIDAR_HEIGHT_M)
    for kind, (a, l, w) in LIDAR_OBSTACLE_SECTIONS.items():
        is_kind = obstacles.kind == kind
        ahead[is_kind], hl[is_kind], hw[is_kind] = a, l, w
        seen = np.where(is_kind, obstacles.active, seen)
    c, s = np.cos(obstacles.yaw), np.sin(obstacles.yaw)
    return obstacles.xy[..., 0] + ahead * c, obstacles.xy[..., 1] + ahead * s, obstacles.yaw, hl, hw, seen


def lidar_ranges(x, y, yaw, obstacles: Obstacles | None = None, walls: np.ndarray | None = None,
                 rng: np.random.Generator | None = None, *, field_m: tuple | None = None,
                 horizon_m: float = np.inf, max_range_m: float = LIDAR_MAX_RANGE_M,
                 min_range_m: float = LIDAR_RANGE_MIN_M, angles_rad: np.ndarray = LIDAR_ANGLES_RAD,
                 ahead_m: float = LIDAR_AHEAD_M, noise_stddev_m: float = LIDAR_NOISE_STDDEV_M,
                 noise_mean_m: float = LIDAR_NOISE_MEAN_M) -> np.ndarray:
    """Raw ranges (K, B) float32 [m] of K cars' scanners, beams in the network's order.

    x, y, yaw: (K,) car origin poses [m, m, rad]. Walls every car sees: ``walls`` (S, 2, 2) segments, and/or
    ``field_m`` (x_min, y_min, x_max, y_max), a walled rectangle traced fast from inside (cars outside it
    are traced against its sides as segments). ``obstacles``: each car's own (inactive ones and those
    below the beams are ignored). A beam reads its nearest hit at >= min_range_m, or max_range_m if there
    is none within max_range_m. Obstacles wholly farther than ``horizon_m`` are skipped (the walls behind
    them show instead): ranges up to horizon_m are exact. With ``rng``, hits get N(noise_mean_m,
    noise_stddev_m) noise and are clamped to [min_range_m, max_range_m], as Gazebo does.
    """
    x, y, yaw = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (x, y, yaw))
    k, nb = len(x), len(angles_rad)
    cy_, sy_ = np.cos(yaw)[:, None], np.sin(yaw)[:, None]                  # (K, 1)
    ox, oy = x[:, None] + ahead_m * cy_, y[:, None] + ahead_m * sy_        # (K, 1) scanner positions
    ca, sa = np.cos(angles_rad), np.sin(angles_rad)                       # (B,) car frame
    dx, dy = cy_ * ca - sy_ * sa, sy_ * ca + cy_ * sa                     # (K, B) world directions
    r = np.full((k, nb), np.inf)
    if field_m is not None:
        x0, y0, x1, y1 = field_m
        out = np.flatnonzero((ox[:, 0] <= x0) | (ox[:, 0] >= x1) | (oy[:, 0] <= y0) | (oy[:, 0] >= y1))
        r = _field_exits(ox, oy, dx, dy, field_m, min_range_m)
        if out.size:
            r[out] = _segment_hits(ox[out], oy[out], dx[out], dy[out], rectangle_segments(field_m), min_range_m)
    if walls is not None and len(walls):
        r = np.minimum(r, _segment_hits(ox, oy, dx, dy, walls, min_range_m))
    if obstacles is not None and obstacles.count:
        cx, cy, cyaw, hl, hw, seen = obstacle_sections(obstacles)
        reach = np.hypot(cx - ox, cy - oy) - np.hypot(hl, hw)              # (K, M) nearest possible hit
        candidate = seen & (reach <= min(horizon_m, max_range_m))
        for m in np.flatnonzero(candidate.any(axis=0)):                   # loop over obstacle slots, not cars
            rows = np.flatnonzero(candidate[:, m])
            sl = (rows, slice(m, m + 1))
            t = _rectangle_entries(ox[rows], oy[rows], dx[rows], dy[rows], cx[sl], cy[sl], cyaw[sl], hl[sl], hw[sl],
                                   min_range_m)
            r[rows] = np.minimum(r[rows], t)
    hit = r <= max_range_m
    if rng is not None and noise_stddev_m > 0:
        noise = rng.standard_normal((k, nb), dtype=np.float32) * np.float32(noise_stddev_m) + noise_mean_m
        r = np.where(hit, np.clip(r + noise, min_range_m, max_range_m), r)
    return np.where(hit, r, max_range_m).astype(np.float32)


class LidarSensor:
    """The LIDAR of K cars on one track: the walls around ``track`` (scenery.walls_rectangle), range noise
    from ``rng`` (deterministic given its seed). ``ranges(x, y, yaw, obstacles)`` -> (K, 64) float32 [m].
    ``horizon_m``: ranges are exact up to there; farther obstacles may be skipped (see lidar_ranges)."""

    def __init__(self, track: Track, rng: np.random.Generator | None = None, noise: bool = True,
                 horizon_m: float = np.inf):
        self.field_m = walls_rectangle(track)                             # None: a world without walls
        self.rng = rng if rng is not None else np.random.default_rng()
        self.noise = noise
        self.horizon_m = horizon_m

    @classmethod
    def for_sensors(cls, track: Track, sensor_names, lidar_config=None,
                    rng: np.random.Generator | None = None) -> "LidarSensor | None":
        """The sensor an env with these model_metadata sensors needs (None without a lidar sensor), tracing
        obstacles only as far as their network inputs can tell (encoding_horizon_m)."""
        horizon = encoding_horizon_m(sensor_names, lidar_config)
        return cls(track, rng, horizon_m=horizon) if np.isfinite(horizon) else None

    def ranges(self, x, y, yaw, obstacles: Obstacles | None = None,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """Raw ranges (K, 64) float32 [m] of cars at (x, y, yaw) (K,) [m, m, rad], beams in the network's
        order; the noise comes from ``rng`` if given (e.g. an env's generator, re-seeded with it), else from
        the sensor's own."""
        return lidar_ranges(x, y, yaw, obstacles, None, (rng or self.rng) if self.noise else None,
                            field_m=self.field_m, horizon_m=self.horizon_m)


# ---------------------------------------------------------------------- network encodings
def lidar_observation(ranges: np.ndarray, min_m: float = LIDAR_MIN_RANGE_M, max_m: float = LIDAR_CLIP_M) -> np.ndarray:
    """LIDAR network input (K, 64) float32: the ranges clipped to [0.15, 1.0] m (the simapp's
    ObservationClippingFilter(0.15, 1.0), markov/sagemaker_graph_manager.py)."""
    return np.clip(ranges, min_m, max_m).astype(np.float32)


def _sector_min(ranges: np.ndarray, num_sectors: int) -> np.ndarray:
    """(K, S) float64 minimum range of each sector of consecutive beams, in beam order (sector s holds
    beams floor(s * B / S) .. floor((s + 1) * B / S) - 1; with the reference's 64 beams and a divisor S
    that is its reshape(S, 64 // S).min(axis=1)): sector 0 starts at the front-left."""
    b = ranges.shape[-1]
    if not 1 <= num_sectors <= b:
        raise ValueError(f"num_sectors must be in [1, {b}], got {num_sectors}")
    starts = (np.arange(num_sectors) * b) // num_sectors
    return np.minimum.reduceat(np.asarray(ranges, np.float64), starts, axis=-1)


def sector_lidar(ranges: np.ndarray, num_sectors: int = SECTOR_LIDAR_NUM_SECTORS,
                 clip_m: float = SECTOR_LIDAR_CLIP_M) -> np.ndarray:
    """SECTOR_LIDAR (K, S) float32: 1.0 where a sector's closest range is < clip_m, else 0.0. The simapp
    runs ObservationSectorDiscretizeFilter(8 sectors, 1 value, 0.5 m) for it, which is exactly this."""
    return (_sector_min(ranges, num_sectors) < clip_m).astype(np.float32)


def discretized_sector_lidar(ranges: np.ndarray, num_sectors: int = DISCRETIZED_NUM_SECTORS,
                             num_values_per_sector: int = DISCRETIZED_NUM_VALUES,
                             clip_m: float = DISCRETIZED_CLIP_M, encoding: str = "onehot") -> np.ndarray:
    """DISCRETIZED_SECTOR_LIDAR (K, S * V) float32, sector-major (sector 0's V values first).

    Each sector's closest range d is clipped to clip_m and binned: bin j = floor(d / (clip_m / V)).
    clip_m is first clamped to [0.15, 12] m as the simapp does. encoding "onehot" (default, the simapp's
    ObservationSectorDiscretizeFilter, markov/filters/observation/observation_sector_discretize_filter.py):
    value j is 1 for j == bin and all zeros when d >= clip_m (nothing within the clipping distance).
    encoding "thermometer" (ours): value j is 1 when d < clip_m * (j + 1) / V, i.e. for every j >= bin
    (near objects light up more values).
    """
    v = int(num_values_per_sector)
    if v < 1:
        raise ValueError("num_values_per_sector must be >= 1")
    clip_m = min(max(float(clip_m), LIDAR_RANGE_MIN_M), LIDAR_MAX_RANGE_M)
    d = np.minimum(_sector_min(ranges, num_sectors), clip_m)
    bins = np.floor(d / (clip_m / v)).astype(np.int64)[..., None]        # (K, S, 1), v means "nothing"
    j = np.arange(v)
    if encoding == "onehot":
        enc = j == bins
    elif encoding == "thermometer":
        enc = j >= bins
    else:
        raise ValueError(f"unknown encoding {encoding!r}; use 'onehot' or 'thermometer'")
    return enc.reshape(*enc.shape[:-2], -1).astype(np.float32)


def lidar_input(sensor_name: str, ranges: np.ndarray, lidar_config=None) -> np.ndarray:
    """The network input of a lidar sensor from raw ranges (K, 64) [m]: LIDAR, SECTOR_LIDAR or
    DISCRETIZED_SECTOR_LIDAR (sized by ``lidar_config``, see observation_space_for)."""
    if sensor_name == "LIDAR":
        return lidar_observation(ranges)
    if sensor_name == "SECTOR_LIDAR":
        return sector_lidar(ranges)
    if sensor_name == "DISCRETIZED_SECTOR_LIDAR":
        ns, nv, clip = _lidar_config_values(lidar_config)
        return discretized_sector_lidar(ranges, ns, nv, clip)
    raise ValueError(f"{sensor_name!r} is not a lidar sensor")


def _lidar_config_values(lidar_config) -> tuple[int, int, float]:
    """(num_sectors, num_values_per_sector, clipping_dist) of a core.config.LidarConfig, a
    model_metadata lidar_config dict, or None (the defaults)."""
    d = (DISCRETIZED_NUM_SECTORS, DISCRETIZED_NUM_VALUES, DISCRETIZED_CLIP_M)
    if lidar_config is None:
        return d
    if isinstance(lidar_config, dict):
        return (int(lidar_config.get("num_sectors", d[0])), int(lidar_config.get("num_values_per_sector", d[1])),
                float(lidar_config.get("clipping_dist", d[2])))
    return int(lidar_config.num_sectors), int(lidar_config.num_values_per_sector), float(lidar_config.clipping_dist_m)
