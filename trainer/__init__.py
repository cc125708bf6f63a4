"""The learner: networks, clipped PPO (and SAC), learner entry point, export."""
