"""The DeepRacer world: tracks, car, sensors, race rules, reward params and Gymnasium envs.

``import simulation`` registers the Gymnasium id ``DeepRacer-v0`` (kwargs: track, reward_function,
model_metadata, race, seed, domain_randomization).
"""

import gymnasium as _gym

ENV_ID = "DeepRacer-v0"
if ENV_ID not in _gym.registry:
    _gym.register(id=ENV_ID, entry_point="simulation.env:DeepRacerEnv")
