"""The training-algorithm interface in one place: what the learner needs of clipped PPO and SAC.

Read top to bottom:
1. ``UpdateStats``: what one training iteration's update did, the same fields for every algorithm;
   algorithm-specific numbers (PPO's approximate KL and clip fraction) are in ``diagnostics``.
2. ``Algorithm``: the protocol trainer.ppo.PPO and trainer.sac.SAC implement (weights a checkpoint
   holds, one update per iteration, the frozen policy that workers and the car run).
3. The weights helpers both use: ``net_weights``, ``all_finite``, ``WeightsSnapshot`` and
   ``rolled_back`` (an update that turns anything non-finite is undone and reported, never kept).
4. ``build_algorithm(metadata, hp, seed)``: the one place that picks an algorithm by
   ``metadata.training_algorithm`` (core.config.ALGORITHMS); each is built from these same inputs.

Checkpoint file names are core.model_folder's (the learner writes ``net`` with tf.train.Checkpoint).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from core.config import ALGORITHMS, ConfigError, Hyperparameters, ModelMetadata  # noqa: E402
from core.messages import Episode  # noqa: E402


@dataclass
class UpdateStats:
    """One iteration's update, averaged over its minibatches (PPO) or gradient steps (SAC).

    ``policy_loss``: PPO -L^CLIP; SAC the actor loss J_pi. ``value_loss``: PPO the value loss (Huber
    or MSE); SAC the critic loss J_Q (both critics summed). ``entropy``: mean policy entropy [nats]
    (PPO exact; SAC the estimate -mean log pi(a~|s)). ``samples``: samples processed, each epoch's
    pass (PPO) or gradient step's minibatch (SAC) counted; ``seconds``: wall time of the update.
    ``diagnostics``: numbers only one algorithm has (PPO: "approx_kl", "clip_fraction"; SAC: none).
    An update without any step (SAC before its buffer holds a batch) reads 0 losses and 0 samples.
    """

    policy_loss: float
    value_loss: float
    entropy: float
    samples: int
    seconds: float
    diagnostics: dict[str, float] = field(default_factory=dict)
    #: True when the update was rolled back (a non-finite loss or weights): the weights and optimizer
    #: state are those from before it; ``reason`` says what was not finite. Losses then read 0.
    skipped: bool = False
    reason: str = ""

    @property
    def samples_per_s(self) -> float:
        """Samples processed per second (see ``samples``)."""
        return self.samples / max(self.seconds, 1e-9)

    @classmethod
    def skipped_update(cls, reason: str, seconds: float) -> "UpdateStats":
        """The stats of an update that was rolled back because of ``reason``."""
        return cls(0.0, 0.0, 0.0, 0, seconds, skipped=True, reason=reason)


@runtime_checkable
class Algorithm(Protocol):
    """What the learner needs of a training algorithm (clipped PPO, SAC)."""

    #: "float32" or "mixed_bfloat16": what the hidden layers compute in (trainer.precision)
    precision: str
    #: The weights a checkpoint holds (tf.train.Checkpoint(net=net)); every tf.Variable of it, the
    #: Keras models' weights included, is what a published checkpoint must hold finite.
    net: tf.Module

    def train_on(self, episodes: list[Episode]) -> UpdateStats:
        """One training iteration on the episodes the current policy played (at least one);
        a non-finite update is rolled back and returned with ``skipped``."""
        ...

    def export(self) -> bytes:
        """The frozen policy graph (DeepRacer tensor names) that workers and the car run."""
        ...


# ---------------------------------------------------------------------- weights helpers
def net_weights(net: tf.Module) -> list:
    """Every weight of ``net`` (what its checkpoint holds): those of each Keras model it keeps, and
    its own tf.Variables (e.g. the continuous log_std)."""
    out: list = []
    for value in vars(net).values():
        if isinstance(value, tf.keras.Model):
            out += list(value.weights)
        elif isinstance(value, tf.Variable):
            out.append(value)
    return out


def all_finite(variables: list) -> bool:
    """True when no float variable holds NaN or inf."""
    return all(np.isfinite(x).all() for v in variables if (x := np.asarray(v.numpy())).dtype.kind == "f")


class WeightsSnapshot:
    """Copies of ``variables`` (weights, optimizer state) taken before an update, to roll it back."""

    def __init__(self, variables: list) -> None:
        self.variables = list(variables)
        self.values = [np.array(v.numpy(), copy=True) for v in self.variables]

    def restore(self) -> None:
        for v, x in zip(self.variables, self.values):
            v.assign(x)


def rolled_back(snapshot: WeightsSnapshot, reason: str, seconds: float) -> UpdateStats:
    """Restore ``snapshot`` and say so: the stats of a skipped update."""
    snapshot.restore()
    return UpdateStats.skipped_update(reason, seconds)


# ---------------------------------------------------------------------- the factory
def build_algorithm(metadata: ModelMetadata, hp: Hyperparameters, seed: int | None = 0,
                    precision: str | None = None) -> Algorithm:
    """The algorithm ``metadata.training_algorithm`` names, with fresh networks for ``metadata``
    (initial weights from ``seed``), the optimizer settings of ``hp`` and the numeric ``precision``
    (trainer.precision; None = DEEPRACER_PRECISION or auto). ConfigError for a name outside
    core.config.ALGORITHMS, SAC with a discrete action space, or an unknown precision."""
    name = metadata.training_algorithm
    if name == "clipped_ppo":
        from .ppo import PPO

        return PPO(metadata, hp, seed=seed, precision=precision)
    if name == "sac":
        if metadata.is_discrete:
            raise ConfigError("training_algorithm 'sac' needs action_space_type 'continuous' (SAC has no "
                              "discrete form); use 'clipped_ppo' for a discrete action space")
        from .sac import SAC

        return SAC(metadata, hp, seed=seed, precision=precision)
    raise ConfigError(f"training_algorithm {name!r} is not one of {', '.join(ALGORITHMS)}")


__all__ = ["Algorithm", "UpdateStats", "build_algorithm", "net_weights", "all_finite", "WeightsSnapshot",
           "rolled_back"]
