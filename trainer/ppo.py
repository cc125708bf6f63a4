"""Clipped PPO as DeepRacer's reference trainer runs it (Schulman et al. 2017, "Proximal Policy
Optimization Algorithms"; RL Coach's ClippedPPOAgent).

Read top to bottom:
1. ``gae``: generalized advantage estimation per episode (lambda 0.95), the value targets are
   advantages + values ("value estimated with GAE").
2. ``minibatch_size``: the reference's power-of-two rule for short rollouts.
3. ``PPO.update``: ``num_epochs`` passes over the iteration's samples in shuffled minibatches of
   ``batch_size``; loss = -clipped surrogate + value loss (Huber or MSE) - beta_entropy * entropy;
   one Adam optimizer (epsilon 1e-5) over both towers. The hidden layers compute in
   ``precision`` (trainer.precision: mixed bfloat16 where the hardware has it), the rest in float32. An update whose loss or resulting weights are
   not finite is rolled back (weights and optimizer state as before it) and reported in UpdateStats
   (trainer.algorithm).

Notation follows the paper: ratio r_t = pi(a_t|s_t) / pi_old(a_t|s_t), advantage A_t,
L^CLIP = E[min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)].
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

from .algorithm import UpdateStats, WeightsSnapshot, all_finite, net_weights, rolled_back  # noqa: E402
from .export import export_frozen_graph  # noqa: E402
from .networks import PolicyValueNet, build_policy_value, float32_twin  # noqa: E402
from .precision import resolve_precision  # noqa: E402

CLIP_EPSILON = 0.2
GAE_LAMBDA = 0.95
ADAM_EPSILON = 1e-5
#: Steps kept per training iteration (reference: 10000 for the SHALLOW network, 3000 for the others).
MAX_STEPS_SHALLOW = 10_000
MAX_STEPS_OTHER = 3_000


def gae(rewards: np.ndarray, values: np.ndarray, discount: float, lam: float = GAE_LAMBDA,
        last_value: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and value targets (T,) of one episode.

    delta_t = r_t + gamma V(s_{t+1}) - V(s_t);  A_t = sum_k (gamma lambda)^k delta_{t+k};
    returns_t = A_t + V(s_t). ``last_value`` is V after the final step (0 for a terminal state).
    """
    values_next = np.append(values[1:], last_value)
    deltas = rewards + discount * values_next - values
    adv = np.zeros_like(deltas, dtype=np.float64)
    running = 0.0
    for t in range(len(deltas) - 1, -1, -1):
        running = deltas[t] + discount * lam * running
        adv[t] = running
    return adv.astype(np.float32), (adv + values).astype(np.float32)


def minibatch_size(batch_size: int, num_samples: int) -> int:
    """``batch_size``, or for a rollout with fewer samples the largest power of two below their count."""
    if num_samples >= batch_size:
        return batch_size
    return max(1, 2 ** int(math.floor(math.log2(max(num_samples - 1, 1)))))


def max_steps_per_iteration(network: str) -> int:
    return MAX_STEPS_SHALLOW if network == "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW" else MAX_STEPS_OTHER


def gaussian_log_prob(actions: tf.Tensor, mean: tf.Tensor, log_std: tf.Tensor) -> tf.Tensor:
    """Sum over action dims of log N(a; mean, exp(log_std)^2)."""
    z = (actions - mean) * tf.exp(-log_std)
    return tf.reduce_sum(-0.5 * tf.square(z) - log_std - 0.5 * math.log(2 * math.pi), axis=-1)


def categorical_log_prob_entropy(logits: tf.Tensor, actions: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """log pi(a|s) of the taken actions (B,) and the policy entropy (B,) of a softmax policy."""
    logp_all = tf.nn.log_softmax(logits)
    logp = tf.gather(logp_all, actions, axis=1, batch_dims=1)
    entropy = -tf.reduce_sum(tf.exp(logp_all) * logp_all, axis=1)
    return logp, entropy


def clipped_surrogate_loss(logp: tf.Tensor, old_logp: tf.Tensor, advantages: tf.Tensor,
                           clip: float = CLIP_EPSILON) -> tuple[tf.Tensor, tf.Tensor]:
    """-L^CLIP (to minimise) and the ratio r_t = exp(logp - old_logp)."""
    ratio = tf.exp(logp - old_logp)
    surrogate = tf.minimum(ratio * advantages, tf.clip_by_value(ratio, 1 - clip, 1 + clip) * advantages)
    return -tf.reduce_mean(surrogate), ratio


class PPO:
    """The clipped-PPO learner (trainer.algorithm.Algorithm) over a PolicyValueNet."""

    def __init__(self, metadata: ModelMetadata, hp: Hyperparameters, seed: int | None = None,
                 precision: str | None = None):
        #: "float32" or "mixed_bfloat16" (trainer.precision; None = DEEPRACER_PRECISION or auto)
        self.precision = resolve_precision(metadata, precision)
        net = build_policy_value(metadata, seed=seed, precision=self.precision)
        self.net: PolicyValueNet = net
        self._export_twin: PolicyValueNet | None = None
        self.metadata = metadata
        self.hp = hp
        self.discrete = net.metadata.is_discrete
        self.optimizer = tf.keras.optimizers.Adam(learning_rate=hp.lr, epsilon=ADAM_EPSILON)
        self.optimizer.build(net.trainable_variables)   # its state exists now, so a snapshot holds it
        self.rng = np.random.default_rng(seed)
        self.max_samples = max_steps_per_iteration(net.metadata.neural_network)
        self._value_fn = tf.function(net.value, reduce_retracing=True, autograph=False)
        # The optimizer step XLA-compiled (Adam's element-wise update fused: 2-3x faster on a CPU),
        # the gradients not (XLA's CPU convolutions are slower than oneDNN's, in bfloat16 much slower)
        self._apply_gradients = tf.function(self._apply_gradients_eager, jit_compile=True, autograph=False)
        self._train_step = tf.function(self._train_step_eager, reduce_retracing=True, autograph=False)

    # ------------------------------------------------------------------ losses
    def _log_prob_entropy(self, policy_out, actions):
        if self.discrete:
            return categorical_log_prob_entropy(policy_out, actions)
        log_std = tf.broadcast_to(self.net.clipped_log_std(), tf.shape(policy_out))
        logp = gaussian_log_prob(actions, policy_out, log_std)
        entropy = tf.reduce_sum(log_std + 0.5 * math.log(2 * math.pi * math.e), axis=-1)
        return logp, entropy

    def _train_step_eager(self, obs, actions, old_logp, advantages, returns):
        with tf.GradientTape() as tape:
            policy_out, values = self.net(obs)
            logp, entropy = self._log_prob_entropy(policy_out, actions)
            policy_loss, ratio = clipped_surrogate_loss(logp, old_logp, advantages)
            if self.hp.loss_type == "huber":
                value_loss = tf.reduce_mean(tf.keras.losses.huber(returns[:, None], values[:, None]))
            else:
                value_loss = tf.reduce_mean(tf.square(returns - values))
            mean_entropy = tf.reduce_mean(entropy)
            loss = policy_loss + value_loss - self.hp.beta_entropy * mean_entropy
        self._apply_gradients(tape.gradient(loss, self.net.trainable_variables))
        approx_kl = tf.reduce_mean(old_logp - logp)
        clip_frac = tf.reduce_mean(tf.cast(tf.abs(ratio - 1.0) > CLIP_EPSILON, tf.float32))
        return policy_loss, value_loss, mean_entropy, approx_kl, clip_frac

    def _apply_gradients_eager(self, grads):
        self.optimizer.apply_gradients(zip(grads, self.net.trainable_variables))

    # ------------------------------------------------------------------ the learner's interface
    def export(self) -> bytes:
        self._export_twin = float32_twin(self.net, self._export_twin)
        return export_frozen_graph(self._export_twin)

    def values(self, obs: dict[str, np.ndarray], batch: int = 512) -> np.ndarray:
        """V(s) of every sample under the current weights (the policy that played them)."""
        n = len(next(iter(obs.values())))
        out = [self._value_fn({k: tf.constant(v[i:i + batch]) for k, v in obs.items()}).numpy()
               for i in range(0, n, batch)]
        return np.concatenate(out).astype(np.float32)

    def train_on(self, episodes: list[Episode]) -> UpdateStats:
        """One iteration on the episodes the current policy played: GAE per episode, then update."""
        obs = {name: np.concatenate([ep.obs[name] for ep in episodes]) for name in episodes[0].obs}
        actions = np.concatenate([ep.actions for ep in episodes])
        logp = np.concatenate([ep.log_probs for ep in episodes])
        values = self.values(obs)
        bounds = np.cumsum([0] + [ep.steps for ep in episodes])
        adv, ret = zip(*(gae(ep.rewards, values[a:b], self.hp.discount_factor)
                         for ep, a, b in zip(episodes, bounds[:-1], bounds[1:])))
        return self.update(obs, actions, logp, np.concatenate(adv), np.concatenate(ret))

    # ------------------------------------------------------------------ update
    def update(self, obs: dict[str, np.ndarray], actions: np.ndarray, old_log_probs: np.ndarray,
               advantages: np.ndarray, returns: np.ndarray) -> UpdateStats:
        """One PPO iteration over N samples (arrays with leading dim N). A non-finite loss stops it and
        a non-finite weight after it rolls it back: the stats then say ``skipped``."""
        n = len(actions)
        if n > self.max_samples:  # keep the newest samples, as the reference caps the iteration
            keep = slice(n - self.max_samples, n)
            obs = {k: v[keep] for k, v in obs.items()}
            actions, old_log_probs, advantages, returns = (a[keep] for a in (actions, old_log_probs, advantages, returns))
            n = self.max_samples
        adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        mb = minibatch_size(self.hp.batch_size, n)
        actions_t = actions.astype(np.int32) if self.discrete else actions.astype(np.float32)
        totals = np.zeros(5)
        batches = 0
        t0 = time.perf_counter()
        snapshot = WeightsSnapshot(net_weights(self.net) + list(self.optimizer.variables))
        for _ in range(self.hp.num_epochs):
            order = self.rng.permutation(n)
            for start in range(0, n - mb + 1, mb):
                idx = order[start:start + mb]
                out = self._train_step({k: tf.constant(v[idx]) for k, v in obs.items()}, tf.constant(actions_t[idx]),
                                       tf.constant(old_log_probs[idx].astype(np.float32)),
                                       tf.constant(adv[idx].astype(np.float32)),
                                       tf.constant(returns[idx].astype(np.float32)))
                losses = np.array([float(x) for x in out])
                if not np.isfinite(losses).all():
                    return rolled_back(snapshot, f"non-finite loss in minibatch {batches + 1} (policy, value, "
                                       f"entropy, kl, clip: {losses.tolist()})", time.perf_counter() - t0)
                totals += losses
                batches += 1
        if not all_finite(net_weights(self.net)):
            return rolled_back(snapshot, "non-finite weights after the update", time.perf_counter() - t0)
        seconds = time.perf_counter() - t0
        pl, vl, ent, kl, cf = (float(x) for x in totals / max(batches, 1))
        return UpdateStats(policy_loss=pl, value_loss=vl, entropy=ent, samples=batches * mb, seconds=seconds,
                           diagnostics={"approx_kl": kl, "clip_fraction": cf})
