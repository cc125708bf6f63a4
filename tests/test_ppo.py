"""Clipped-PPO pieces on tiny inputs with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from trainer.ppo import (categorical_log_prob_entropy, clipped_surrogate_loss, gae, gaussian_log_prob,  # noqa: E402
                         max_steps_per_iteration, minibatch_size)


def test_gae_by_hand():
    rewards = np.array([1.0, 0.0, 2.0], np.float32)
    values = np.array([0.5, 1.0, 1.5], np.float32)
    gamma, lam = 0.9, 0.95
    d2 = 2.0 + 0 - 1.5                     # terminal: V(s3) = 0
    d1 = 0.0 + gamma * 1.5 - 1.0
    d0 = 1.0 + gamma * 1.0 - 0.5
    a2 = d2
    a1 = d1 + gamma * lam * a2
    a0 = d0 + gamma * lam * a1
    adv, ret = gae(rewards, values, gamma, lam)
    assert adv == pytest.approx([a0, a1, a2], rel=1e-6)
    assert ret == pytest.approx(np.array([a0, a1, a2]) + values, rel=1e-6)


def test_gae_with_lambda_one_is_the_discounted_return_minus_value():
    rewards = np.ones(4, np.float32)
    values = np.zeros(4, np.float32)
    adv, ret = gae(rewards, values, 0.5, 1.0)
    assert ret == pytest.approx([1 + 0.5 + 0.25 + 0.125, 1 + 0.5 + 0.25, 1.5, 1.0])


def test_power_of_two_rule_for_short_rollouts():
    assert minibatch_size(64, 1000) == 64
    assert minibatch_size(64, 64) == 64
    assert minibatch_size(64, 50) == 32
    assert minibatch_size(64, 33) == 32
    assert minibatch_size(64, 32) == 16      # largest power of two *below* the step count
    assert minibatch_size(64, 2) == 1


def test_step_cap_per_network():
    assert max_steps_per_iteration("DEEP_CONVOLUTIONAL_NETWORK_SHALLOW") == 10_000
    assert max_steps_per_iteration("DEEP_CONVOLUTIONAL_NETWORK") == 3_000
    assert max_steps_per_iteration("DEEP_CONVOLUTIONAL_NETWORK_DEEP") == 3_000


def test_clipped_objective():
    old = tf.math.log(tf.constant([0.5, 0.5, 0.5, 0.5]))
    new = tf.math.log(tf.constant([0.75, 0.55, 0.25, 0.45]))   # ratios 1.5, 1.1, 0.5, 0.9
    adv = tf.constant([1.0, 1.0, -1.0, -1.0])
    loss, ratio = clipped_surrogate_loss(new, old, adv, clip=0.2)
    assert ratio.numpy() == pytest.approx([1.5, 1.1, 0.5, 0.9], rel=1e-5)
    # min(r A, clip(r) A): 1.2 (clipped), 1.1, -0.8 (clipped: min(-0.5, -0.8)), -0.9
    assert float(loss) == pytest.approx(-np.mean([1.2, 1.1, -0.8, -0.9]), rel=1e-5)


def test_categorical_entropy_and_log_prob():
    logits = tf.constant([[0.0, 0.0, 0.0, 0.0], [10.0, 0.0, 0.0, 0.0]])
    logp, ent = categorical_log_prob_entropy(logits, tf.constant([2, 0]))
    assert float(ent[0]) == pytest.approx(math.log(4), rel=1e-5)      # uniform: log n
    assert float(ent[1]) < 0.01
    assert float(logp[0]) == pytest.approx(math.log(0.25), rel=1e-5)


def test_gaussian_log_prob():
    lp = gaussian_log_prob(tf.constant([[0.0, 1.0]]), tf.constant([[0.0, 0.0]]), tf.constant([[0.0, math.log(2.0)]]))
    expected = (-0.5 * math.log(2 * math.pi)) + (-0.5 * 0.25 - math.log(2.0) - 0.5 * math.log(2 * math.pi))
    assert float(lp[0]) == pytest.approx(expected, rel=1e-6)
