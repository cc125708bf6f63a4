"""Shapes and dtypes of each sensor's network input (spec section 2, "Observations").

The one place the trainer and the policy runtime learn what a sensor's observation looks like,
without importing ``simulation`` (the simulator's Gymnasium spaces must agree; a test checks it).
Shapes are per sample, without the batch axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .config import CAMERA_SENSORS, STATE_SENSOR, LidarConfig

CAMERA_HEIGHT_PX, CAMERA_WIDTH_PX = 120, 160
"""Network camera frame size (rows, columns) [px]: 640x480 renders resized to 160x120."""
LIDAR_NUM_BEAMS = 64
"""LIDAR ranges per observation (simapp markov/sensors/constants.py LIDAR_360_DEGREE_SAMPLE; the scan's
order and geometry: simulation/lidar.py)."""
LIDAR_MIN_RANGE_M = 0.15
"""Lower clip of the LIDAR observation [m] (simapp markov/sagemaker_graph_manager.py
ObservationClippingFilter(0.15, 1.0); the scanner's own minimum range LIDAR_360_DEGREE_MIN_RANGE is also 0.15)."""
LIDAR_CLIP_M = 1.0
"""Upper clip of the LIDAR observation [m] (the same ObservationClippingFilter(0.15, 1.0))."""
SECTOR_LIDAR_NUM_SECTORS = 8
"""SECTOR_LIDAR binary sectors per observation: a constant in the simapp
(markov/environments/constants.py NUMBER_OF_LIDAR_SECTORS), not lidar_config's num_sectors."""
SECTOR_LIDAR_CLIP_M = 0.5
"""SECTOR_LIDAR threshold [m]: a sector reads 1 when something is closer (simapp
markov/environments/constants.py SECTOR_LIDAR_CLIPPING_DIST)."""
STATE_SIZE = 62
"""STATE vector length (ours): 10 look-ahead (x, y) points of centre line, left and right border,
plus speed and steering (simulation.state_sensor.STATE_SIZE)."""
STATE_CLIP = 10.0
"""Bound of every STATE entry (ours): points beyond it are clipped (simulation.state_sensor)."""


@dataclass(frozen=True)
class SensorSpec:
    """One sensor's network input: per-sample shape (from the model's lidar_config where it
    matters), dtype and the bounds of its values. The one home of these facts: the simulator's
    Gymnasium spaces, the networks, the policy runtime and the message checks all read them here."""

    name: str
    dtype: np.dtype
    low: float
    high: float
    shape_of: Callable[[LidarConfig], tuple[int, ...]]

    def shape(self, lidar_config: LidarConfig | None = None) -> tuple[int, ...]:
        return self.shape_of(lidar_config or LidarConfig())


def _camera(name: str, channels: int) -> SensorSpec:
    return SensorSpec(name, np.dtype(np.uint8), 0.0, 255.0, lambda lc: (CAMERA_HEIGHT_PX, CAMERA_WIDTH_PX, channels))


SENSOR_SPECS: dict[str, SensorSpec] = {
    **{name: _camera(name, 2 if name == "STEREO_CAMERAS" else 1) for name in CAMERA_SENSORS},
    "LIDAR": SensorSpec("LIDAR", np.dtype(np.float32), LIDAR_MIN_RANGE_M, LIDAR_CLIP_M, lambda lc: (LIDAR_NUM_BEAMS,)),
    "SECTOR_LIDAR": SensorSpec("SECTOR_LIDAR", np.dtype(np.float32), 0.0, 1.0, lambda lc: (SECTOR_LIDAR_NUM_SECTORS,)),
    "DISCRETIZED_SECTOR_LIDAR": SensorSpec("DISCRETIZED_SECTOR_LIDAR", np.dtype(np.float32), 0.0, 1.0,
                                           lambda lc: (lc.num_sectors * lc.num_values_per_sector,)),
    STATE_SENSOR: SensorSpec(STATE_SENSOR, np.dtype(np.float32), -STATE_CLIP, STATE_CLIP, lambda lc: (STATE_SIZE,)),
}


def sensor_spec(sensor: str) -> SensorSpec:
    """The spec of ``sensor``; ValueError naming the allowed sensors for an unknown one."""
    try:
        return SENSOR_SPECS[sensor]
    except (KeyError, TypeError):
        raise ValueError(f"unknown sensor {sensor!r}; allowed: {', '.join(SENSOR_SPECS)}") from None


def is_camera(sensor: str) -> bool:
    """True for camera sensors (uint8 images, divided by 255 inside the network)."""
    return sensor in CAMERA_SENSORS


def observation_shape(sensor: str, lidar_config: LidarConfig | None = None) -> tuple[int, ...]:
    """Per-sample network input shape of ``sensor``.

    Cameras (120, 160, 1); STEREO_CAMERAS (120, 160, 2); LIDAR (64,); SECTOR_LIDAR (8,);
    DISCRETIZED_SECTOR_LIDAR (num_sectors * num_values_per_sector,) from ``lidar_config``
    (default 8 x 8); STATE (62,).
    """
    return sensor_spec(sensor).shape(lidar_config)


def observation_dtype(sensor: str) -> np.dtype:
    """uint8 for cameras (0..255 gray levels), float32 for lidar and STATE."""
    return sensor_spec(sensor).dtype


__all__ = ["SensorSpec", "SENSOR_SPECS", "sensor_spec", "observation_shape", "observation_dtype", "is_camera",
           "STATE_SIZE", "STATE_CLIP", "CAMERA_HEIGHT_PX", "CAMERA_WIDTH_PX", "LIDAR_NUM_BEAMS", "LIDAR_MIN_RANGE_M",
           "LIDAR_CLIP_M", "SECTOR_LIDAR_NUM_SECTORS", "SECTOR_LIDAR_CLIP_M"]
