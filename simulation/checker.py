"""The reward checker: drive the built-in controller with a user's reward function, report, fail fast.

What users run before they spend an hour training (`deepracer-local reward-check FILE --track T`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from core import race_status as rs

from .controller import pure_pursuit
from .env import BatchedEnv
from .params import PARAM_KEYS
from .reward import IsolatedRewardFunction, RewardFunction

#: Episodes alternate between clean driving and noisy steering so that off-track, far-from-centre
#: and sharp-steering params reach the reward function too.
NOISY_STEERING_DEG = 12.0


@dataclass
class EpisodeSummary:
    episode: int
    steps: int
    status: str
    progress: float
    reward_min: float
    reward_max: float
    reward_sum: float


@dataclass
class CheckReport:
    track: str
    episodes: list[EpisodeSummary] = field(default_factory=list)
    keys_read: set[str] = field(default_factory=set)

    @property
    def keys_unread(self) -> list[str]:
        return [k for k in PARAM_KEYS if k not in self.keys_read]


class _TrackedReward:
    """Calls a RewardFunction recording the params keys it reads (RewardFunction.call_tracked)."""

    def __init__(self, reward: RewardFunction):
        self.reward = reward

    def __call__(self, params, car=0, episode=None, step=None):
        return self.reward.call_tracked(params, car, episode, step)


def check_reward(path, track: str = "reinvent_base", episodes: int = 3, race=None, model_metadata=None,
                 seed: int = 0, max_steps: int = 3000,
                 progress: Callable[[int, int], None] | None = None) -> CheckReport:
    """Run ``episodes`` episodes with the reward function at ``path``.

    ``progress(episodes_done, step)``, if given, is called after every step (``step``: steps of the
    running episode so far) and once at the end with ``(episodes, 0)``. Raises ValueError for
    ``episodes`` < 1 and RewardFunctionError (with file, line, episode, step and params) on the
    first fault.
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"the number of episodes to check must be a whole number >= 1, got {episodes!r}")
    reward = IsolatedRewardFunction(path, copies=1)   # run as the sims run it: a copy, alone in its folder
    race_opts = dict(race or {})
    race_opts.setdefault("max_steps", max_steps)
    meta = model_metadata or {"action_space": {"steering_angle": {"low": -30, "high": 30},
                                               "speed": {"low": 0.5, "high": 1.5}},
                              "action_space_type": "continuous", "sensor": ["STATE"]}
    env = BatchedEnv(track, _TrackedReward(reward), meta, race_opts, num_cars=1, seed=seed)
    env.reset()
    rng = np.random.default_rng(seed)
    report = CheckReport(env.tracks.forward.name)
    rewards: list[float] = []
    while len(report.episodes) < episodes:
        noisy = len(report.episodes) % 2 == 1
        a = pure_pursuit(env, steering_noise_deg=NOISY_STEERING_DEG if noisy else 0.0, rng=rng)
        r = env.step(a)
        rewards.append(float(r.reward[0]))
        if r.done[0]:
            report.episodes.append(EpisodeSummary(int(r.episode[0]), int(r.steps[0]), rs.STATUSES[int(r.status[0])],
                                                  float(r.progress[0]), min(rewards), max(rewards), sum(rewards)))
            rewards = []
        if progress is not None:
            progress(len(report.episodes), len(rewards))
    report.keys_read = set(reward.keys_read)
    return report
