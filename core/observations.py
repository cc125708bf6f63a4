"""Shapes and dtypes of each sensor's network input (spec section 2, "Observations").

The one place the trainer and the policy runtime learn what a sensor's observation looks like,
without importing ``simulation`` (the simulator's Gymnasium spaces must agree; a test checks it).
Shapes are per sample, without the batch axis.
"""

from __future__ import annotations

import numpy as np

from .config import CAMERA_SENSORS, LIDAR_SENSORS, STATE_SENSOR, LidarConfig

CAMERA_HEIGHT_PX, CAMERA_WIDTH_PX = 120, 160
"""Network camera frame size (rows, columns) [px]: 640x480 renders resized to 160x120."""
LIDAR_NUM_BEAMS = 64
"""LIDAR ranges per observation (clipped to [0.15, 1.0] m)."""
SECTOR_LIDAR_NUM_SECTORS = 8
"""SECTOR_LIDAR binary sectors per observation."""
STATE_SIZE = 62
"""STATE vector length (ours): 10 look-ahead (x, y) points of centre line, left and right border,
plus speed and steering (simulation.state_sensor.STATE_SIZE)."""


def is_camera(sensor: str) -> bool:
    """True for camera sensors (uint8 images, divided by 255 inside the network)."""
    return sensor in CAMERA_SENSORS


def observation_shape(sensor: str, lidar_config: LidarConfig | None = None) -> tuple[int, ...]:
    """Per-sample network input shape of ``sensor``.

    Cameras (120, 160, 1); STEREO_CAMERAS (120, 160, 2); LIDAR (64,); SECTOR_LIDAR (8,);
    DISCRETIZED_SECTOR_LIDAR (num_sectors * num_values_per_sector,) from ``lidar_config``
    (default 8 x 8); STATE (62,).
    """
    if sensor == "STEREO_CAMERAS":
        return (CAMERA_HEIGHT_PX, CAMERA_WIDTH_PX, 2)
    if sensor in CAMERA_SENSORS:
        return (CAMERA_HEIGHT_PX, CAMERA_WIDTH_PX, 1)
    if sensor == "LIDAR":
        return (LIDAR_NUM_BEAMS,)
    if sensor == "SECTOR_LIDAR":
        return (SECTOR_LIDAR_NUM_SECTORS,)
    if sensor == "DISCRETIZED_SECTOR_LIDAR":
        lc = lidar_config or LidarConfig()
        return (lc.num_sectors * lc.num_values_per_sector,)
    if sensor == STATE_SENSOR:
        return (STATE_SIZE,)
    raise ValueError(f"unknown sensor {sensor!r}; allowed: {', '.join(CAMERA_SENSORS + LIDAR_SENSORS + (STATE_SENSOR,))}")


def observation_dtype(sensor: str) -> np.dtype:
    """uint8 for cameras (0..255 gray levels), float32 for lidar and STATE."""
    observation_shape(sensor)  # validates the name
    return np.dtype(np.uint8) if is_camera(sensor) else np.dtype(np.float32)


__all__ = ["observation_shape", "observation_dtype", "is_camera", "STATE_SIZE", "CAMERA_HEIGHT_PX",
           "CAMERA_WIDTH_PX", "LIDAR_NUM_BEAMS", "SECTOR_LIDAR_NUM_SECTORS"]
