"""DeepRacer's networks in TensorFlow 2 / Keras 3 (spec section 2, "Networks").

A tower = one embedder per sensor (sorted by sensor name, as rl_coach orders its inputs), their
outputs concatenated, then the middleware Dense layers of the chosen ``neural_network``:

| neural_network                      | camera embedder                                             | middleware  |
|-------------------------------------|-------------------------------------------------------------|-------------|
| DEEP_CONVOLUTIONAL_NETWORK_SHALLOW  | Conv (32,8,4) (64,4,2) (64,3,1)                              | Dense 512   |
| DEEP_CONVOLUTIONAL_NETWORK          | Conv (32,5,2) (32,3,1) (64,3,2) (64,3,1), Dense 64           | Dense 512   |
| DEEP_CONVOLUTIONAL_NETWORK_DEEP     | Conv (32,8,4) (32,4,2) (64,4,2) (64,3,1), Dense 512, 512     | Dense 256, 128 |

These are rl_coach's layer plans as the simapp builds them (trainer/coach.py; docs/coach.md), so that a
model moves to and from deepracer-for-cloud unchanged: a camera embedder's Dense layers act on each
position of the last convolution's output (on its channels; kernel (channels, units)) and the Flatten
(NHWC order) comes after them; STEREO_CAMERAS under the two larger networks has convolutions of its own,
(32,3,1) (64,3,2) (64,3,1) (128,3,2) (128,3,1) and no Dense; a legacy ``observation`` camera always has
the SHALLOW convolutions (camera_plan).
Conv = (filters, kernel, stride), valid padding, ReLU; camera inputs are uint8-valued gray levels
(0..255, uint8 or float tensors) divided by 255 in the graph. Lidar sensors (LIDAR, SECTOR_LIDAR,
DISCRETIZED_SECTOR_LIDAR): Dense 256, 256, ReLU. STATE (ours): Dense 128, 128 with tanh (the CleanRL
choice for small vector observations; its values are metres in about [-10, 10]). Every other
Dense is ReLU. Initialisation: Glorot-uniform kernels and zero biases (Keras and rl_coach's TF1
default) for hidden layers; orthogonal heads, gain 0.01 for the policy / actor (a near-uniform
initial policy) and 1.0 for values (CleanRL).

Clipped PPO keeps two towers of identical structure and separate weights: network_0 = value tower
-> Dense(1) value; network_1 = policy tower -> discrete logits Dense(num_actions) (softmax = the
policy) or continuous mean Dense(2) plus a state-independent trainable log-std (2,), clipped to
[-20, 3] where used. SAC (continuous only): an actor (mean, log-std clipped to [-20, 2]) and twin
critics Q(s, a) whose action (B, 2) is concatenated to the sensor embeddings before the middleware,
each with its own weights, plus target critic copies.

Precision (trainer.precision): ``precision="mixed_bfloat16"`` computes the embedders and the
middleware in bfloat16 with float32 variables; the heads (logits, mean, log-std, value, Q) compute
in float32 always. ``float32_twin`` gives the float32 network with the same weights (for export).

Checkpoints: ``tf.train.Checkpoint(net=net, optimizer=opt).write(prefix)`` writes
``prefix.index`` and ``prefix.data-00000-of-00001`` (restore with ``.read(prefix)``).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from typing import Mapping  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from core.config import CAMERA_SENSORS, STATE_SENSOR, ModelMetadata  # noqa: E402
from core.observations import observation_shape  # noqa: E402
from core.policy import LOG_STD_MAX, LOG_STD_MIN  # noqa: E402

ConvSpec = tuple[int, int, int]  # (filters, kernel size, stride)

#: neural_network -> (camera convolutions, camera embedder Dense sizes, middleware Dense sizes)
ARCHITECTURES: dict[str, tuple[tuple[ConvSpec, ...], tuple[int, ...], tuple[int, ...]]] = {
    "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW": (((32, 8, 4), (64, 4, 2), (64, 3, 1)), (), (512,)),
    "DEEP_CONVOLUTIONAL_NETWORK": (((32, 5, 2), (32, 3, 1), (64, 3, 2), (64, 3, 1)), (64,), (512,)),
    "DEEP_CONVOLUTIONAL_NETWORK_DEEP": (((32, 8, 4), (32, 4, 2), (64, 4, 2), (64, 3, 1)), (512, 512), (256, 128)),
}
#: STEREO_CAMERAS embedders of the networks where they differ from the single camera's (convolutions, Dense).
STEREO_ARCHITECTURES: dict[str, tuple[tuple[ConvSpec, ...], tuple[int, ...]]] = {
    "DEEP_CONVOLUTIONAL_NETWORK": (((32, 3, 1), (64, 3, 2), (64, 3, 1), (128, 3, 2), (128, 3, 1)), ()),
    "DEEP_CONVOLUTIONAL_NETWORK_DEEP": (((32, 3, 1), (64, 3, 2), (64, 3, 1), (128, 3, 2), (128, 3, 1)), ()),
}
#: The legacy (metadata v1/v2) camera input, whose embedder is the SHALLOW one whatever the network.
LEGACY_CAMERA = "observation"
LIDAR_EMBEDDER = (256, 256)
STATE_EMBEDDER = (128, 128)
STATE_ACTIVATION = "tanh"
SAC_LOG_STD_MIN, SAC_LOG_STD_MAX = -20.0, 2.0
ACTION_INPUT = "action"
"""Key of the action (B, 2) in a SAC critic's input dict."""

Obs = Mapping[str, tf.Tensor | np.ndarray]


class _Init:
    """Kernel initialisers with fresh seeds drawn from one base seed (None = unseeded), and the
    dtype policy of the hidden layers (``precision``; heads always compute in float32)."""

    def __init__(self, seed: int | None, precision: str = "float32") -> None:
        self._rng = None if seed is None else np.random.default_rng(seed)
        self.precision = precision

    def _seed(self) -> int | None:
        return None if self._rng is None else int(self._rng.integers(2**31 - 1))

    def glorot(self) -> keras.initializers.Initializer:
        return keras.initializers.GlorotUniform(seed=self._seed())

    def orthogonal(self, gain: float) -> keras.initializers.Initializer:
        return keras.initializers.Orthogonal(gain=gain, seed=self._seed())


def camera_plan(sensor: str, neural_network: str) -> tuple[tuple[ConvSpec, ...], tuple[int, ...]]:
    """(convolutions, per-position Dense sizes) of a camera sensor's embedder under ``neural_network``."""
    if sensor == LEGACY_CAMERA:
        neural_network = "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"
    if sensor == "STEREO_CAMERAS" and neural_network in STEREO_ARCHITECTURES:
        return STEREO_ARCHITECTURES[neural_network]
    convs, dense, _ = ARCHITECTURES[neural_network]
    return convs, dense


def _tower(metadata: ModelMetadata, init: _Init, with_action: bool = False) -> tuple[dict, tf.Tensor]:
    """Keras inputs {sensor: Input(obs_shape)} (+ "action" (2,) if ``with_action``) and the
    middleware output (B, last middleware width) of one tower."""
    middleware = ARCHITECTURES[metadata.neural_network][2]

    def dense(x, units, name, activation="relu"):
        return keras.layers.Dense(units, activation, kernel_initializer=init.glorot(), name=name,
                                  dtype=init.precision)(x)

    inputs, embeddings = {}, []
    for sensor in sorted(metadata.sensors):
        x = inputs[sensor] = keras.Input(observation_shape(sensor, metadata.lidar_config), name=sensor)
        if sensor in CAMERA_SENSORS:
            convs, cam_dense = camera_plan(sensor, metadata.neural_network)
            x = keras.layers.Rescaling(1.0 / 255.0, name=f"{sensor}_scale", dtype=init.precision)(x)
            for i, (filters, kernel, stride) in enumerate(convs):
                x = keras.layers.Conv2D(filters, kernel, stride, "valid", activation="relu",
                                        kernel_initializer=init.glorot(), name=f"{sensor}_conv{i}",
                                        dtype=init.precision)(x)
            for i, units in enumerate(cam_dense):     # per position, on the channels (rl_coach's order)
                x = dense(x, units, f"{sensor}_dense{i}")
            embeddings.append(keras.layers.Flatten(name=f"{sensor}_flatten", dtype=init.precision)(x))
            continue
        if sensor == STATE_SENSOR:
            sizes, activation = STATE_EMBEDDER, STATE_ACTIVATION
        else:  # a lidar
            sizes, activation = LIDAR_EMBEDDER, "relu"
        for i, units in enumerate(sizes):
            x = dense(x, units, f"{sensor}_dense{i}", activation)
        embeddings.append(x)
    if with_action:
        inputs[ACTION_INPUT] = keras.Input((2,), name=ACTION_INPUT)
        embeddings.append(inputs[ACTION_INPUT])
    x = embeddings[0] if len(embeddings) == 1 else keras.layers.Concatenate(name="embeddings",
                                                                             dtype=init.precision)(embeddings)
    for i, units in enumerate(middleware):
        x = dense(x, units, f"middleware_dense{i}")
    return inputs, x


def _head(x: tf.Tensor, units: int, gain: float, init: _Init, name: str) -> tf.Tensor:
    return keras.layers.Dense(units, kernel_initializer=init.orthogonal(gain), name=name, dtype="float32")(x)


def _value_model(metadata: ModelMetadata, init: _Init, name: str, with_action: bool = False) -> keras.Model:
    """dict -> (B,) value (or Q-value when ``with_action``)."""
    inputs, x = _tower(metadata, init, with_action)
    return keras.Model(inputs, keras.ops.squeeze(_head(x, 1, 1.0, init, "value"), axis=-1), name=name)


def _as_float_inputs(obs: Obs, sensors: tuple[str, ...], extra: tuple[str, ...] = ()) -> dict[str, tf.Tensor]:
    """Check the keys and cast every input to float32 (cameras stay 0..255; the graph divides)."""
    if set(obs) != set(sensors + extra):
        raise ValueError(f"observation keys {sorted(obs)} do not match the model's inputs {sorted(sensors + extra)}")
    return {k: tf.cast(v, tf.float32) for k, v in obs.items()}


class PolicyValueNet(tf.Module):
    """Clipped-PPO networks: two towers with separate weights (DeepRacer network_0 / network_1).

    value_net: keras.Model, dict {sensor: (B, *obs_shape)} -> (B,) state value.
    policy_net: keras.Model, same dict -> (B, num_actions) logits (discrete) or (B, 2) mean action
        (continuous, in the [-1, 1] scale the env clips and rescales).
    log_std: tf.Variable (2,) for continuous (use ``clipped_log_std()``), else None.
    """

    def __init__(self, metadata: ModelMetadata, value_net: keras.Model, policy_net: keras.Model,
                 log_std: tf.Variable | None, precision: str = "float32") -> None:
        super().__init__(name="policy_value")
        self.metadata = metadata
        self.precision = precision
        self.value_net = value_net
        self.policy_net = policy_net
        self.log_std = log_std

    @property
    def sensors(self) -> tuple[str, ...]:
        """The metadata's sensors, in metadata order (the keys of an observation dict)."""
        return tuple(self.metadata.sensors)

    def __call__(self, obs: Obs) -> tuple[tf.Tensor, tf.Tensor]:
        """obs {sensor: (B, *obs_shape)} -> (policy_out (B, num_actions) logits or (B, 2) mean, value (B,))."""
        x = _as_float_inputs(obs, self.sensors)
        return self.policy_net(x), self.value_net(x)

    def value(self, obs: Obs) -> tf.Tensor:
        """obs -> value (B,) (the value tower alone)."""
        return self.value_net(_as_float_inputs(obs, self.sensors))

    def clipped_log_std(self) -> tf.Tensor | None:
        """Continuous: log-std (2,) clipped to [-20, 3]; discrete: None."""
        return None if self.log_std is None else tf.clip_by_value(self.log_std, LOG_STD_MIN, LOG_STD_MAX)

    @property
    def trainable_variables(self) -> list:
        """Value tower, policy tower, then log_std (continuous) variables."""
        return (list(self.value_net.trainable_variables) + list(self.policy_net.trainable_variables)
                + ([] if self.log_std is None else [self.log_std]))


def build_policy_value(metadata: ModelMetadata, seed: int | None = None, initial_log_std: float = 0.0,
                       precision: str = "float32") -> PolicyValueNet:
    """PPO networks for ``metadata`` (sensors, neural_network, action space). ``seed`` makes the
    initial weights reproducible; ``initial_log_std`` starts the continuous std (0.0 = std 1);
    ``precision`` is the hidden layers' Keras dtype policy (PRECISIONS)."""
    init = _Init(seed, precision)
    value_net = _value_model(metadata, init, "network_0")
    inputs, x = _tower(metadata, init)
    if metadata.is_discrete:
        out = _head(x, metadata.num_actions, 0.01, init, "logits")
    else:
        out = _head(x, 2, 0.01, init, "mean")
    policy_net = keras.Model(inputs, out, name="network_1")
    log_std = None if metadata.is_discrete else tf.Variable(tf.fill([2], float(initial_log_std)), name="log_std")
    return PolicyValueNet(metadata, value_net, policy_net, log_std, precision)


class SacNets(tf.Module):
    """SAC networks (continuous actions), each with its own embedders and middleware.

    actor: dict {sensor: (B, *obs_shape)} -> (mean (B, 2), log_std (B, 2) clipped to [-20, 2])
        (pre-tanh Gaussian; squashing belongs to the algorithm).
    q1, q2, q1_target, q2_target: dict {sensor: ..., "action": (B, 2)} -> (B,) Q-values.
    """

    def __init__(self, metadata: ModelMetadata, actor: keras.Model, q1: keras.Model, q2: keras.Model,
                 q1_target: keras.Model, q2_target: keras.Model, precision: str = "float32") -> None:
        super().__init__(name="sac")
        self.metadata = metadata
        self.precision = precision
        self.actor, self.q1, self.q2 = actor, q1, q2
        self.q1_target, self.q2_target = q1_target, q2_target

    @property
    def sensors(self) -> tuple[str, ...]:
        return tuple(self.metadata.sensors)

    def policy(self, obs: Obs) -> tuple[tf.Tensor, tf.Tensor]:
        """obs -> (mean (B, 2), log_std (B, 2))."""
        return self.actor(_as_float_inputs(obs, self.sensors))

    def q_values(self, obs: Obs, action: tf.Tensor, target: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """(Q1, Q2) of (obs, action (B, 2)), each (B,); the target critics when ``target``."""
        x = _as_float_inputs({**obs, ACTION_INPUT: action}, self.sensors, (ACTION_INPUT,))
        q1, q2 = (self.q1_target, self.q2_target) if target else (self.q1, self.q2)
        return q1(x), q2(x)

    @property
    def actor_variables(self) -> list:
        return list(self.actor.trainable_variables)

    @property
    def critic_variables(self) -> list:
        return list(self.q1.trainable_variables) + list(self.q2.trainable_variables)

    @property
    def trainable_variables(self) -> list:
        """Actor and online critics (the targets are not trained)."""
        return self.actor_variables + self.critic_variables

    def polyak_update(self, tau: float) -> None:
        """target <- tau * online + (1 - tau) * target, for both critics (tau = 1 copies)."""
        for online, target in ((self.q1, self.q1_target), (self.q2, self.q2_target)):
            for w, w_t in zip(online.weights, target.weights):
                w_t.assign(tau * w + (1.0 - tau) * w_t)


def build_sac_nets(metadata: ModelMetadata, seed: int | None = None, precision: str = "float32") -> SacNets:
    """SAC actor, twin critics and their targets (initialised as exact copies) for ``metadata``;
    ``precision`` as for build_policy_value."""
    if metadata.is_discrete:
        raise ValueError("SAC needs a continuous action space (model_metadata action_space_type 'continuous')")
    init = _Init(seed, precision)
    inputs, x = _tower(metadata, init)
    mean = _head(x, 2, 0.01, init, "mean")
    log_std = keras.ops.clip(_head(x, 2, 0.01, init, "log_std"), SAC_LOG_STD_MIN, SAC_LOG_STD_MAX)
    actor = keras.Model(inputs, [mean, log_std], name="actor")
    q1, q2, q1_t, q2_t = (_value_model(metadata, init, name, with_action=True)
                          for name in ("q1", "q2", "q1_target", "q2_target"))
    nets = SacNets(metadata, actor, q1, q2, q1_t, q2_t, precision)
    nets.polyak_update(1.0)
    return nets


def float32_twin(net: PolicyValueNet | SacNets, previous: PolicyValueNet | SacNets | None = None
                 ) -> PolicyValueNet | SacNets:
    """``net`` itself when it computes in float32; else a float32 network of the same architecture
    holding the same weight values (the variables are float32 in every precision, so they copy
    exactly). Pass the twin an earlier call returned as ``previous`` to reuse it: only values move."""
    if net.precision == "float32":
        return net
    twin = previous
    if twin is None:
        twin = build_sac_nets(net.metadata) if isinstance(net, SacNets) else build_policy_value(net.metadata)
    for source, target in zip(_all_weights(net), _all_weights(twin), strict=True):
        target.assign(source)
    return twin


def _all_weights(net: PolicyValueNet | SacNets) -> list:
    if isinstance(net, SacNets):
        models = [net.actor, net.q1, net.q2, net.q1_target, net.q2_target]
        extra = []
    else:
        models = [net.value_net, net.policy_net]
        extra = [] if net.log_std is None else [net.log_std]
    return [w for m in models for w in m.weights] + extra


def count_params(net: keras.Model | tf.Module) -> int:
    """Number of trainable scalars of a keras.Model, PolicyValueNet or SacNets."""
    return int(sum(np.prod(v.shape) for v in net.trainable_variables))


__all__ = ["PolicyValueNet", "build_policy_value", "SacNets", "build_sac_nets", "float32_twin", "count_params",
           "ARCHITECTURES", "STEREO_ARCHITECTURES", "camera_plan",
           "LIDAR_EMBEDDER", "STATE_EMBEDDER", "STATE_ACTIVATION", "ACTION_INPUT"]
