"""One home per sensor: the spec in core.observations sizes the simulator's spaces, the observations
it makes, the networks and the message checks alike, for every sensor and lidar_config."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import SENSORS, parse_model_metadata
from core.observations import SENSOR_SPECS, observation_dtype, observation_shape
from simulation.env import BatchedEnv

LIDAR_CONFIGS = [None, {"num_sectors": 4, "num_values_per_sector": 2, "clipping_dist": 1.0},
                 {"num_sectors": 16, "num_values_per_sector": 4, "clipping_dist": 3.0}]


def _metadata(sensors, lidar_config):
    md = {"action_space": [{"steering_angle": a, "speed": 1.0} for a in (-30, 0, 30)], "sensor": sensors,
          "neural_network": "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", "version": "5"}
    if lidar_config:
        md["lidar_config"] = lidar_config
    return parse_model_metadata(md)


def test_every_sensor_has_one_spec():
    assert set(SENSOR_SPECS) == set(SENSORS)


@pytest.mark.parametrize("lidar_config", LIDAR_CONFIGS)
@pytest.mark.parametrize("sensors", [["FRONT_FACING_CAMERA", "LIDAR"], ["FRONT_FACING_CAMERA", "SECTOR_LIDAR"],
                                     ["STEREO_CAMERAS", "DISCRETIZED_SECTOR_LIDAR"], ["STATE"]])
def test_observations_spaces_and_network_inputs_agree(sensors, lidar_config):
    md = _metadata(sensors, lidar_config)
    env = BatchedEnv("reinvent", None, md, {"race_type": "OBJECT_AVOIDANCE"}, num_cars=3, seed=0)
    obs = env.reset()
    for _ in range(5):
        obs = env.step(np.ones(3, np.int64)).obs
    for s in md.sensors:
        space = env.observation_space[s]
        assert space.shape == observation_shape(s, md.lidar_config), s           # what the networks are built with
        assert space.dtype == observation_dtype(s), s
        assert obs[s].shape == (3, *space.shape) and obs[s].dtype == space.dtype, (s, obs[s].shape)
        assert all(space.contains(o) for o in obs[s]), s


def test_sector_lidar_has_the_simapps_8_sectors_whatever_lidar_config_says():
    md = _metadata(["FRONT_FACING_CAMERA", "SECTOR_LIDAR"], LIDAR_CONFIGS[1])
    env = BatchedEnv("reinvent", None, md, None, num_cars=2, seed=0)
    assert env.reset()["SECTOR_LIDAR"].shape == (2, 8)
