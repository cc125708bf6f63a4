"""The DeepRacer world: tracks, car, sensors, race rules, reward params and Gymnasium envs."""
