"""Soft Actor-Critic (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications"),
CleanRL style, for ``training_algorithm: "sac"`` with a continuous action space.

Read top to bottom:
1. ``ReplayBuffer``: transitions (s, a, r, s', done) from the workers' episodes, kept across
   iterations (SAC is off-policy). The next observation s' of step t is the stored obs of step t + 1;
   an episode carries no observation after its last step, so a terminal last step (crash, off
   track, lap complete, ...) gets done = 1 (its s' is masked), and a truncated one (time up) is not
   a transition at all (its obs stays, as the s' of the step before).
2. ``squashed_gaussian``: u = mean + std * eps, a = tanh(u),
   log pi(a|s) = log N(u; mean, std) - sum log(1 - tanh(u)^2 + 1e-6).
3. ``SAC.update_step``: one gradient step of both critics, then the actor, then the targets:
   y = r + gamma (1 - done) (min_i Q_targ_i(s', a') - alpha log pi(a'|s')),  a' ~ pi(.|s');
   J_Q = sum_i mean (Q_i(s, a) - y)^2;
   J_pi = mean (alpha log pi(a~|s) - min_i Q_i(s, a~)),  a~ ~ pi(.|s);
   theta_targ <- tau theta + (1 - tau) theta_targ.
4. ``SAC.train_on``: add the iteration's episodes, then one gradient step per new transition
   (update-to-data ratio 1, at most ``MAX_GRADIENT_STEPS``) once the buffer holds a batch. A
   non-finite loss or weight rolls the whole iteration back: networks, targets and optimizer state
   as before it, and its transitions dropped from the buffer (they would poison every later batch).

Temperature alpha = ``hp.sac_alpha`` (fixed, as the reference trains), gamma = ``hp.discount_factor``,
Adam with lr = ``hp.lr`` for actor and critics, minibatch ``hp.batch_size``, tau = 0.005.

Cost (2-core CPU, XLA-compiled step, batch 64): STATE about 4.5k-6k samples/s (a 5000-step iteration
takes about a minute); a SHALLOW camera network about 35 samples/s (five camera towers per step), so
camera SAC wants a GPU.
"""

from __future__ import annotations

import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from core.config import Hyperparameters, ModelMetadata  # noqa: E402
from core.messages import Episode  # noqa: E402
from core.observations import observation_dtype, observation_shape  # noqa: E402
from core.policy import TANH_EPSILON  # noqa: E402

from .algorithm import UpdateStats, WeightsSnapshot, all_finite, net_weights, rolled_back  # noqa: E402
from .export import export_sac_graph  # noqa: E402
from .networks import SacNets, build_sac_nets, float32_twin  # noqa: E402
from .precision import FLOAT32, resolve_precision  # noqa: E402

TAU = 0.005
"""Polyak averaging rate of the target critics."""
MAX_GRADIENT_STEPS = 5_000
"""Gradient steps per training iteration at most (one per new transition below that)."""
REPLAY_CAPACITY = 100_000
"""Transitions kept at most (vector observations: STATE, lidars; about 25 MB for STATE)."""
REPLAY_OBS_BYTES = 384 * 2**20
"""Observation memory of the replay buffer: caps camera buffers (uint8 frames of 19.2 kB, one per
transition: about 21k transitions for one camera, 10k for STEREO_CAMERAS)."""


def replay_capacity(metadata: ModelMetadata) -> int:
    """Transitions the replay buffer keeps: ``REPLAY_CAPACITY``, fewer where observations are big."""
    per_obs = sum(int(np.prod(observation_shape(s, metadata.lidar_config))) * observation_dtype(s).itemsize
                  for s in metadata.sensors)
    return int(min(REPLAY_CAPACITY, REPLAY_OBS_BYTES // per_obs))


class ReplayBuffer:
    """A ring buffer of steps (s_t, a_t, r_t, done_t, valid_t); s_{t+1} is the next slot's obs.

    Episodes are written whole and in order, so the slot after a non-final step always holds the
    same episode's next obs (the oldest slot is overwritten only after the newest slot, which is
    a final step whose s' is not needed). Camera obs are stored as uint8, others as float32.
    """

    def __init__(self, metadata: ModelMetadata, capacity: int, seed: int | None = None) -> None:
        self.capacity = int(capacity)
        self.obs = {s: np.zeros((self.capacity, *observation_shape(s, metadata.lidar_config)), observation_dtype(s))
                    for s in metadata.sensors}
        self.actions = np.zeros((self.capacity, 2), np.float32)
        self.rewards = np.zeros(self.capacity, np.float32)
        self.dones = np.zeros(self.capacity, np.float32)
        self.valid = np.zeros(self.capacity, bool)   # a transition to learn from (not a truncated last step)
        self.head = 0        # next slot to write
        self.size = 0        # slots written, at most capacity
        self.written = 0     # slots written ever
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        """Transitions that can be sampled."""
        return int(self.valid.sum())

    def add_episode(self, ep: Episode) -> int:
        """Write the T steps of ``ep``; returns the transitions added (T, or T - 1 if truncated)."""
        t = ep.steps
        if t == 0:
            return 0
        keep = slice(max(0, t - self.capacity), t)   # an episode longer than the buffer: its last steps
        slots = (self.head + np.arange(keep.stop - keep.start)) % self.capacity
        for s, x in self.obs.items():
            x[slots] = ep.obs[s][keep]
        self.actions[slots] = np.clip(ep.actions[keep], -1.0, 1.0)   # what the env drove (it clips too)
        self.rewards[slots] = ep.rewards[keep]
        truncated = bool(ep.extra.get("truncated", False))
        self.dones[slots] = 0.0
        self.valid[slots] = True
        if truncated:
            self.valid[slots[-1]] = False   # no s' for the last step: drop it
        else:
            self.dones[slots[-1]] = 1.0     # terminal: s' is masked out of the target
        self.head = int((self.head + len(slots)) % self.capacity)
        self.size = min(self.capacity, self.size + len(slots))
        self.written += len(slots)
        return len(slots) - 1 if truncated else len(slots)

    def forget(self, head: int, count: int) -> None:
        """Drop the ``count`` slots written from slot ``head`` on (whole episodes: no kept transition
        has its s' among them)."""
        slots = (head + np.arange(min(count, self.capacity))) % self.capacity
        self.valid[slots] = False

    def sample_indices(self, batch_size: int, num_batches: int) -> np.ndarray:
        """(num_batches, batch_size) slots drawn uniformly (with replacement) from the valid transitions."""
        valid = np.flatnonzero(self.valid)
        return valid[self.rng.integers(len(valid), size=(num_batches, batch_size))]

    def batch(self, idx: np.ndarray) -> dict[str, dict[str, np.ndarray] | np.ndarray]:
        """Transitions at slots ``idx`` (B,): obs/next_obs {sensor: (B, *obs_shape)}, actions (B, 2),
        rewards (B,), dones (B,). A terminal step's next_obs is its own obs (masked by done)."""
        nxt = np.where(self.dones[idx] > 0, idx, (idx + 1) % self.capacity)
        return {"obs": {s: x[idx] for s, x in self.obs.items()},
                "next_obs": {s: x[nxt] for s, x in self.obs.items()},
                "actions": self.actions[idx], "rewards": self.rewards[idx], "dones": self.dones[idx]}


def squashed_gaussian(mean: tf.Tensor, log_std: tf.Tensor, eps: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Reparameterised sample a = tanh(mean + exp(log_std) * eps) (B, 2) and log pi(a|s) (B,)."""
    u = mean + tf.exp(log_std) * eps
    a = tf.tanh(u)
    log_normal = tf.reduce_sum(-0.5 * tf.square(eps) - log_std - 0.5 * math.log(2 * math.pi), axis=-1)
    return a, log_normal - tf.reduce_sum(tf.math.log(1.0 - tf.square(a) + TANH_EPSILON), axis=-1)


class SAC:
    """The SAC learner (trainer.algorithm.Algorithm): SacNets (actor, twin critics, target critics), a replay buffer, two Adams."""

    def __init__(self, metadata: ModelMetadata, hp: Hyperparameters, seed: int | None = None,
                 precision: str | None = None) -> None:
        #: "float32" or "mixed_bfloat16" (trainer.precision; None = DEEPRACER_PRECISION or auto)
        self.precision = resolve_precision(metadata, precision)
        self.net: SacNets = build_sac_nets(metadata, seed=seed, precision=self.precision)
        self._export_twin: SacNets | None = None
        self.metadata = metadata
        self.hp = hp
        self.alpha = float(hp.sac_alpha)
        self.gamma = float(hp.discount_factor)
        self.rng = np.random.default_rng(seed)
        self.replay = ReplayBuffer(metadata, replay_capacity(metadata), seed=seed)
        self.max_gradient_steps = MAX_GRADIENT_STEPS
        self.q_optimizer = tf.keras.optimizers.Adam(learning_rate=hp.lr)
        self.actor_optimizer = tf.keras.optimizers.Adam(learning_rate=hp.lr)
        self.q_optimizer.build(self.net.critic_variables)
        self.actor_optimizer.build(self.net.actor_variables)
        # float32: the whole step XLA-compiled; mixed bfloat16: XLA's CPU convolutions in bfloat16 are
        # slow, so only the optimizer steps and the target update are compiled (as in trainer.ppo)
        whole = self.precision == FLOAT32
        self._apply_critic = self._compiled(self._apply_critic_eager, not whole)
        self._apply_actor = self._compiled(self._apply_actor_eager, not whole)
        self._polyak = self._compiled(lambda: self.net.polyak_update(TAU), not whole)
        self._update_step = tf.function(self.update_step, jit_compile=whole, reduce_retracing=True, autograph=False)

    @staticmethod
    def _compiled(fn, jit: bool):
        return tf.function(fn, jit_compile=True, autograph=False) if jit else fn

    def _apply_critic_eager(self, grads):
        self.q_optimizer.apply_gradients(zip(grads, self.net.critic_variables))

    def _apply_actor_eager(self, grads):
        self.actor_optimizer.apply_gradients(zip(grads, self.net.actor_variables))

    # ------------------------------------------------------------------ one gradient step
    def update_step(self, obs, actions, rewards, next_obs, dones, eps_next, eps_pi):
        """One SAC step on a minibatch of B transitions; eps_* (B, 2) standard normal noise.
        Returns (critic loss, actor loss, entropy estimate -mean log pi(a~|s)) as scalars."""
        net = self.net
        # soft Bellman target from the target critics and a fresh action a' ~ pi(.|s')
        next_mean, next_log_std = net.policy(next_obs)
        next_a, next_logp = squashed_gaussian(next_mean, next_log_std, eps_next)
        q1_targ, q2_targ = net.q_values(next_obs, next_a, target=True)
        min_q_next = tf.minimum(q1_targ, q2_targ) - self.alpha * next_logp
        y = tf.stop_gradient(rewards + self.gamma * (1.0 - dones) * min_q_next)

        with tf.GradientTape() as tape:
            q1, q2 = net.q_values(obs, actions)
            q_loss = tf.reduce_mean(tf.square(q1 - y)) + tf.reduce_mean(tf.square(q2 - y))
        self._apply_critic(tape.gradient(q_loss, net.critic_variables))

        with tf.GradientTape() as tape:
            mean, log_std = net.policy(obs)
            pi, logp = squashed_gaussian(mean, log_std, eps_pi)
            q1_pi, q2_pi = net.q_values(obs, pi)
            actor_loss = tf.reduce_mean(self.alpha * logp - tf.minimum(q1_pi, q2_pi))
        self._apply_actor(tape.gradient(actor_loss, net.actor_variables))

        self._polyak()
        return q_loss, actor_loss, -tf.reduce_mean(logp)

    # ------------------------------------------------------------------ the learner's interface
    def export(self) -> bytes:
        self._export_twin = float32_twin(self.net, self._export_twin)
        return export_sac_graph(self._export_twin)

    def train_on(self, episodes: list[Episode]) -> UpdateStats:
        """Add the episodes to the replay buffer, then one gradient step per new transition
        (at most ``max_gradient_steps``), once the buffer holds ``hp.batch_size`` transitions.
        Without any step the losses read 0 and ``samples`` 0. A non-finite loss or weight rolls the
        iteration back (see the module docstring); the stats then say ``skipped``."""
        snapshot = WeightsSnapshot(net_weights(self.net) + list(self.q_optimizer.variables)
                                   + list(self.actor_optimizer.variables))
        head, written = self.replay.head, self.replay.written

        def roll_back(reason: str) -> UpdateStats:
            self.replay.forget(head, self.replay.written - written)
            return rolled_back(snapshot, reason, time.perf_counter() - t0)

        new = sum(self.replay.add_episode(ep) for ep in episodes)
        b = self.hp.batch_size
        steps = min(new, self.max_gradient_steps) if len(self.replay) >= b else 0
        totals = np.zeros(3)
        t0 = time.perf_counter()
        for i, idx in enumerate(self.replay.sample_indices(b, steps) if steps else ()):
            tr = self.replay.batch(idx)
            eps = self.rng.standard_normal((2, b, 2)).astype(np.float32)
            out = self._update_step({s: tf.constant(x) for s, x in tr["obs"].items()},
                                    tf.constant(tr["actions"]), tf.constant(tr["rewards"]),
                                    {s: tf.constant(x) for s, x in tr["next_obs"].items()},
                                    tf.constant(tr["dones"]), tf.constant(eps[0]), tf.constant(eps[1]))
            losses = np.array([float(x) for x in out])
            if not np.isfinite(losses).all():
                return roll_back(f"non-finite loss in gradient step {i + 1} "
                                 f"(critic, actor, entropy: {losses.tolist()})")
            totals += losses
        if steps and not all_finite(net_weights(self.net)):
            return roll_back("non-finite weights after the update")
        seconds = time.perf_counter() - t0
        q_loss, actor_loss, entropy = (float(x) for x in totals / max(steps, 1))
        return UpdateStats(policy_loss=actor_loss, value_loss=q_loss, entropy=entropy, samples=steps * b,
                           seconds=seconds)


__all__ = ["SAC", "ReplayBuffer", "squashed_gaussian", "replay_capacity", "TAU", "MAX_GRADIENT_STEPS",
           "REPLAY_CAPACITY", "REPLAY_OBS_BYTES"]
