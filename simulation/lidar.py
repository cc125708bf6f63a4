"""Lidar observations of K cars at once (spec section 2, "Observations").

64 beams evenly spaced over [-LIDAR_FOV_RAD, +LIDAR_FOV_RAD] (index 0 = -150 deg, to the right;
angles counter-clockwise from the car's heading), from a mount ``LIDAR_AHEAD_M`` ahead of the car
origin. The network encodings follow the DeepRacer simapp's observation filters (see each function).
"""

from __future__ import annotations

import numpy as np

from core.config import LidarConfig
from core.observations import (LIDAR_CLIP_M, LIDAR_MIN_RANGE_M, LIDAR_NUM_BEAMS, SECTOR_LIDAR_CLIP_M,
                               SECTOR_LIDAR_NUM_SECTORS)

from .obstacles import Obstacles


# ---------------------------------------------------------------------- lidar
LIDAR_FOV_RAD = 2.618
"""One-sided field of view [rad]: beams span [-LIDAR_FOV_RAD, +LIDAR_FOV_RAD] (+-150 deg)."""
LIDAR_AHEAD_M = 0.0
"""Lidar mount ahead of the car origin (the chassis centre) [m]: the middle of the wheelbase (our
choice until the fidelity issue's lidar step mounts it as the reference does)."""
LIDAR_MAX_RANGE_M = 12.0
"""Range reported when a beam hits nothing [m] (simapp LIDAR_360_DEGREE_MAX_RANGE)."""
#: DISCRETIZED_SECTOR_LIDAR defaults: model_metadata's lidar_config defaults (core.config.LidarConfig).
DISCRETIZED_NUM_SECTORS = LidarConfig().num_sectors
DISCRETIZED_NUM_VALUES = LidarConfig().num_values_per_sector
DISCRETIZED_CLIP_M = LidarConfig().clipping_dist_m

#: Beam angles [rad] relative to the heading, counter-clockwise; index 0 is -150 deg (right).
LIDAR_ANGLES_RAD = np.linspace(-LIDAR_FOV_RAD, LIDAR_FOV_RAD, LIDAR_NUM_BEAMS)


def lidar_ranges(x, y, yaw, obstacles: Obstacles | None, max_range_m: float = LIDAR_MAX_RANGE_M,
                 angles_rad: np.ndarray = LIDAR_ANGLES_RAD, ahead_m: float = LIDAR_AHEAD_M) -> np.ndarray:
    """Raw lidar ranges (K, B) float32 [m] from the mount ``ahead_m`` ahead of each car origin.

    Each beam is intersected with every active obstacle footprint (oriented rectangle, slab test);
    the nearest hit counts, no hit gives ``max_range_m``. A mount inside an obstacle reads 0.
    x, y, yaw: (K,) car origin poses [m, m, rad].
    """
    x, y, yaw = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (x, y, yaw))
    k, nb = len(x), len(angles_rad)
    if obstacles is None or obstacles.count == 0:
        return np.full((k, nb), max_range_m, np.float32)
    ox = (x + ahead_m * np.cos(yaw))[:, None, None]                        # (K, 1, 1)
    oy = (y + ahead_m * np.sin(yaw))[:, None, None]
    beam = yaw[:, None] + np.asarray(angles_rad)[None, :]                 # (K, B)
    dx, dy = np.cos(beam)[:, :, None], np.sin(beam)[:, :, None]           # (K, B, 1)
    cm, sm = np.cos(obstacles.yaw)[:, None, :], np.sin(obstacles.yaw)[:, None, :]  # (K, 1, M)
    rx, ry = ox - obstacles.xy[:, None, :, 0], oy - obstacles.xy[:, None, :, 1]
    lx, ly = cm * rx + sm * ry, -sm * rx + cm * ry                        # origin in box frame (K, 1, M)
    ddx, ddy = cm * dx + sm * dy, -sm * dx + cm * dy                      # direction in box frame (K, B, M)
    ddx = np.where(np.abs(ddx) < 1e-12, 1e-12, ddx)
    ddy = np.where(np.abs(ddy) < 1e-12, 1e-12, ddy)
    hl, hw = obstacles.half_length_m[:, None, :], obstacles.half_width_m[:, None, :]
    t1, t2 = (-hl - lx) / ddx, (hl - lx) / ddx
    t3, t4 = (-hw - ly) / ddy, (hw - ly) / ddy
    t_near = np.maximum(np.minimum(t1, t2), np.minimum(t3, t4))
    t_far = np.minimum(np.maximum(t1, t2), np.maximum(t3, t4))
    hit = (t_far >= np.maximum(t_near, 0.0)) & obstacles.active[:, None, :]
    r = np.where(hit, np.maximum(t_near, 0.0), np.inf).min(axis=2)
    return np.minimum(r, max_range_m).astype(np.float32)


def lidar_observation(ranges: np.ndarray, min_m: float = LIDAR_MIN_RANGE_M, max_m: float = LIDAR_CLIP_M) -> np.ndarray:
    """LIDAR network input (K, 64) float32: the ranges clipped to [0.15, 1.0] m."""
    return np.clip(ranges, min_m, max_m).astype(np.float32)


def _sector_min(ranges: np.ndarray, num_sectors: int) -> np.ndarray:
    """(K, S) minimum range of each sector of consecutive beams (sector s holds beams
    floor(s * B / S) .. floor((s + 1) * B / S) - 1)."""
    b = ranges.shape[-1]
    if not 1 <= num_sectors <= b:
        raise ValueError(f"num_sectors must be in [1, {b}], got {num_sectors}")
    starts = (np.arange(num_sectors) * b) // num_sectors
    return np.minimum.reduceat(np.asarray(ranges, np.float32), starts, axis=-1)


def sector_lidar(ranges: np.ndarray, num_sectors: int = SECTOR_LIDAR_NUM_SECTORS,
                 clip_m: float = SECTOR_LIDAR_CLIP_M) -> np.ndarray:
    """SECTOR_LIDAR (K, S) float32: 1.0 where a sector's closest range is < clip_m, else 0.0
    (the simapp's ObservationBinarySectorFilter)."""
    return (_sector_min(ranges, num_sectors) < clip_m).astype(np.float32)


def discretized_sector_lidar(ranges: np.ndarray, num_sectors: int = DISCRETIZED_NUM_SECTORS,
                             num_values_per_sector: int = DISCRETIZED_NUM_VALUES,
                             clip_m: float = DISCRETIZED_CLIP_M, encoding: str = "onehot") -> np.ndarray:
    """DISCRETIZED_SECTOR_LIDAR (K, S * V) float32, sector-major (sector 0's V values first).

    Each sector's closest range d is clipped to clip_m and binned: bin j = floor(d / (clip_m / V)).
    encoding "onehot" (default, the simapp's ObservationSectorDiscretizeFilter): value j is 1 for
    j == bin and all zeros when d >= clip_m (nothing within the clipping distance).
    encoding "thermometer": value j is 1 when d < clip_m * (j + 1) / V, i.e. for every j >= bin
    (near objects light up more values).
    """
    v = int(num_values_per_sector)
    if v < 1:
        raise ValueError("num_values_per_sector must be >= 1")
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
