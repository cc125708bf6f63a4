"""The policy runtime of a rollout worker: run a *published* frozen policy graph (``model.pb``).

The graph is a TensorFlow GraphDef with the DeepRacer tensor names (spec section 7), written by
``trainer.export``; this module is their one home. A worker needs only this module, the GraphDef
bytes and the model's ModelMetadata; no trainer code, no pickle (the GraphDef is a protobuf).

Tensor names (node names; the TensorFlow tensor is ``name + ":0"``, see ``tensor``):
- ``input_tensor_name(sensor)``: one float32 placeholder per sensor, shape (batch, *obs_shape)
  (cameras: uint8-valued floats 0..255, divided by 255 inside the graph);
- ``POLICY_OUTPUT``: discrete = softmax probabilities (batch, num_actions); continuous = the mean
  action (batch, 2) in the network's [-1, 1] scale (the env clips, then rescales to the bounds);
- ``VALUE_OUTPUT`` (ours): state value (batch,);
- ``LOG_STD_OUTPUT`` (ours, continuous only): log standard deviation (2,), clipped to [-20, 3].

SAC graphs (``training_algorithm`` "sac"; no value output): ``POLICY_OUTPUT`` = tanh(mean) (batch, 2),
the deterministic action in [-1, 1] the car drives with; ``SAC_MEAN_OUTPUT`` (ours) = the pre-tanh
Gaussian mean (batch, 2) and ``SAC_LOG_STD_OUTPUT`` (ours) = its per-state log-std (batch, 2),
clipped to [-20, 2], from which a worker samples a = tanh(mean + exp(log_std) * eps).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from .quiet import import_tensorflow  # noqa: E402

tf = import_tensorflow()  # without its start-up notices

from .config import ModelMetadata  # noqa: E402
from .observations import observation_shape  # noqa: E402

ONLINE_SCOPE = "main_level/agent/main/online"
"""rl_coach's scope of the online networks; network_0 = value tower, network_1 = policy tower."""
POLICY_OUTPUT = f"{ONLINE_SCOPE}/network_1/ppo_head_0/policy"
"""Policy output node (DeepRacer name): softmax probabilities, or the continuous mean action."""
VALUE_OUTPUT = f"{ONLINE_SCOPE}/network_0/v_values_head_0/output"
"""Value output node (ours): (batch,) state values."""
LOG_STD_OUTPUT = f"{ONLINE_SCOPE}/network_1/ppo_head_0/policy_log_std"
"""Continuous policies only (ours): (2,) log standard deviation, already clipped to [-20, 3]."""
LOG_STD_MIN, LOG_STD_MAX = -20.0, 3.0
"""Clip range of the PPO continuous log-std (spec section 2)."""
SAC_MEAN_OUTPUT = f"{ONLINE_SCOPE}/network_1/sac_head_0/mean"
"""SAC graphs only (ours): (batch, 2) pre-tanh mean of the squashed Gaussian policy."""
SAC_LOG_STD_OUTPUT = f"{ONLINE_SCOPE}/network_1/sac_head_0/log_std"
"""SAC graphs only (ours): (batch, 2) log standard deviation of the pre-tanh Gaussian, clipped to [-20, 2]."""
TANH_EPSILON = 1e-6
"""log pi(a|s) of a squashed sample: log N(u) - sum log(1 - tanh(u)^2 + TANH_EPSILON) (Haarnoja et al. 2018)."""


def input_tensor_name(sensor: str) -> str:
    """The input placeholder node of ``sensor``: ``main_level/agent/main/online/network_0/<S>/<S>``
    (legacy ``observation`` gives ``.../network_0/observation/observation``)."""
    return f"{ONLINE_SCOPE}/network_0/{sensor}/{sensor}"


def tensor(node_name: str) -> str:
    """The name of a node's first output tensor (``node_name + ":0"``), as Graph.get_tensor_by_name wants."""
    return f"{node_name}:0"


def check_graph_matches(graph_def_bytes: bytes, metadata: ModelMetadata) -> None:
    """Raise ValueError unless the frozen graph has the metadata's sensor inputs and action outputs
    (the number of discrete actions, or 2 continuous outputs), found by running it on zeros."""
    policy = FrozenPolicy.from_bytes(graph_def_bytes, metadata)
    obs = {s: np.zeros((1, *policy._shapes[s]), np.float32) for s in policy.sensors}
    try:
        out = policy.session.run(policy._fetches[0], policy._feed(obs))
    except Exception as exc:  # TensorFlow raises several kinds for shape mismatches
        raise ValueError(f"the graph does not run on the metadata's observations: {str(exc).splitlines()[0]}") from None
    want = metadata.num_actions if metadata.is_discrete else 2
    if out.shape[-1] != want:
        raise ValueError(f"the graph outputs {out.shape[-1]} action values; the metadata has {want} "
                         f"({'discrete actions' if metadata.is_discrete else 'continuous steering and speed'})")


class FrozenPolicy:
    """A frozen policy graph loaded into its own tf.Graph and Session (CPU-friendly inference).

    Build with ``from_bytes`` or ``from_file``. Observations are dicts {sensor: (B, *obs_shape)}
    holding exactly the metadata's sensors; cameras may be uint8 or float (0..255 gray levels).
    """

    def __init__(self, graph_def: tf.compat.v1.GraphDef, metadata: ModelMetadata,
                 intra_op_threads: int = 1, inter_op_threads: int = 1, use_gpu: bool = False) -> None:
        self.metadata = metadata
        self.sensors: tuple[str, ...] = tuple(metadata.sensors)
        self._shapes = {s: observation_shape(s, metadata.lidar_config) for s in self.sensors}
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        names = {n.name for n in graph_def.node}
        self.sac = metadata.training_algorithm == "sac"
        if self.sac:  # fetches: tanh(mean), mean, log_std
            outputs = [POLICY_OUTPUT, SAC_MEAN_OUTPUT, SAC_LOG_STD_OUTPUT]
        else:  # fetches: policy, value (, log_std)
            outputs = [POLICY_OUTPUT, VALUE_OUTPUT] + ([] if metadata.is_discrete else [LOG_STD_OUTPUT])
        needed = [input_tensor_name(s) for s in self.sensors] + outputs
        missing = [n for n in needed if n not in names]
        if missing:
            raise ValueError(f"frozen policy graph lacks the nodes {missing}: it does not match the model_metadata "
                             f"(sensors {list(self.sensors)}, action_space_type {metadata.action_space_type!r}, "
                             f"training_algorithm {metadata.training_algorithm!r})")
        get = self.graph.get_tensor_by_name
        self._inputs = {s: get(tensor(input_tensor_name(s))) for s in self.sensors}
        self._fetches = [get(tensor(name)) for name in outputs]
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=intra_op_threads,
                                          inter_op_parallelism_threads=inter_op_threads,
                                          device_count={} if use_gpu else {"GPU": 0})
        self.session = tf.compat.v1.Session(graph=self.graph, config=config)

    @classmethod
    def from_bytes(cls, graph_def_bytes: bytes, metadata: ModelMetadata, **session_options) -> "FrozenPolicy":
        """Load a serialized GraphDef (the bytes of a ``model.pb``). ``session_options``:
        intra_op_threads, inter_op_threads (default 1 each), use_gpu (default False: CPU only)."""
        graph_def = tf.compat.v1.GraphDef()
        try:
            graph_def.ParseFromString(graph_def_bytes)
        except Exception as exc:  # protobuf's DecodeError
            raise ValueError(f"not a TensorFlow GraphDef ({len(graph_def_bytes)} bytes): {exc}") from None
        return cls(graph_def, metadata, **session_options)

    @classmethod
    def from_file(cls, path: str | os.PathLike, metadata: ModelMetadata, **session_options) -> "FrozenPolicy":
        """Load a ``model.pb`` file (see from_bytes)."""
        return cls.from_bytes(Path(path).read_bytes(), metadata, **session_options)

    def _feed(self, obs: dict[str, np.ndarray]) -> dict:
        if not isinstance(obs, dict) or set(obs) != set(self.sensors):
            got = sorted(obs) if isinstance(obs, dict) else type(obs).__name__
            raise ValueError(f"observation keys {got} do not match the model's sensors {sorted(self.sensors)}")
        feed, batch = {}, None
        for s in self.sensors:
            x = np.asarray(obs[s])
            if x.shape[1:] != self._shapes[s] or (batch is not None and len(x) != batch):
                raise ValueError(f"observation {s!r} has shape {x.shape}; expected (batch, {', '.join(map(str, self._shapes[s]))})"
                                 f" with the same batch size for every sensor")
            batch = len(x)
            feed[self._inputs[s]] = x.astype(np.float32, copy=False)
        return feed

    def forward(self, obs: dict[str, np.ndarray], with_values: bool = True
                ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Run the graph on a batch.

        Returns (policy_out, value, log_std): policy_out = probabilities (B, num_actions) for
        discrete, mean action (B, 2) for continuous; value (B,), or None without ``with_values``
        (the value tower is then not computed at all: half the work for camera networks);
        log_std (2,) or None (discrete).
        SAC graphs: (tanh(mean) (B, 2), None (no value output), log_std (B, 2) of the pre-tanh Gaussian).
        """
        if self.sac:
            policy, _, log_std = self.session.run(self._fetches, self._feed(obs))
            return policy, None, log_std
        fetches = self._fetches if with_values else [f for f in self._fetches if f is not self._fetches[1]]
        out = self.session.run(fetches, self._feed(obs))
        if not with_values:
            out.insert(1, None)
        return out[0], out[1], (out[2] if len(out) > 2 else None)

    def act(self, obs: dict[str, np.ndarray], rng: np.random.Generator, greedy: bool = False,
            with_values: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Choose actions for a batch. Returns (actions, log_probs (B,) float32, values (B,) float32);
        the values are zeros without ``with_values`` (the trainer computes them itself).

        Discrete: actions (B,) int64, sampled from the softmax (categorical exploration) or the
        argmax when ``greedy``; log_prob = log of the chosen action's probability.
        Continuous: actions (B, 2) float32 = mean + exp(log_std) * N(0, 1), or the mean when
        ``greedy``; log_prob of the diagonal Gaussian (summed over the 2 dims) at the unclipped
        action (the env clips to [-1, 1]).
        SAC: actions (B, 2) float32 = tanh(u), u = mean + exp(log_std) * N(0, 1) (tanh(mean) when
        ``greedy``), kept strictly inside (-1, 1); log_prob of the squashed sample, log N(u) -
        sum log(1 - tanh(u)^2 + 1e-6) (SAC itself does not use it); values zeros.
        """
        if self.sac:
            return self._act_sac(obs, rng, greedy)
        policy, value, log_std = self.forward(obs, with_values)
        if value is None:
            value = np.zeros(len(policy), np.float32)
        if self.metadata.is_discrete:
            probs = policy.astype(np.float64)
            if greedy:
                actions = probs.argmax(axis=1)
            else:
                cdf = np.cumsum(probs, axis=1)
                u = rng.random(len(probs)) * cdf[:, -1]
                actions = np.minimum((cdf <= u[:, None]).sum(axis=1), probs.shape[1] - 1)
            chosen = probs[np.arange(len(probs)), actions]
            log_probs = np.log(np.maximum(chosen, np.finfo(np.float64).tiny))
            return actions.astype(np.int64), log_probs.astype(np.float32), value.astype(np.float32)
        mean = policy.astype(np.float64)
        log_std = np.broadcast_to(np.asarray(log_std, np.float64), mean.shape)
        noise = np.zeros_like(mean) if greedy else rng.standard_normal(mean.shape)
        actions = mean + np.exp(log_std) * noise
        log_probs = (-0.5 * noise ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(axis=1)
        return actions.astype(np.float32), log_probs.astype(np.float32), value.astype(np.float32)

    def _act_sac(self, obs: dict[str, np.ndarray], rng: np.random.Generator, greedy: bool
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Squashed-Gaussian sampling from the SAC head (see ``act``)."""
        mean, log_std = self.session.run(self._fetches[1:], self._feed(obs))
        mean, log_std = mean.astype(np.float64), log_std.astype(np.float64)
        eps = np.zeros_like(mean) if greedy else rng.standard_normal(mean.shape)
        u = mean + np.exp(log_std) * eps
        a = np.tanh(u)
        log_probs = ((-0.5 * eps ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(axis=1)
                     - np.log(1.0 - a ** 2 + TANH_EPSILON).sum(axis=1))
        inside = np.nextafter(np.float32(1.0), np.float32(0.0))  # float32 rounding would reach +-1
        actions = np.clip(a.astype(np.float32), -inside, inside)
        return actions, log_probs.astype(np.float32), np.zeros(len(a), np.float32)

    def close(self) -> None:
        """Release the session."""
        self.session.close()

    def __enter__(self) -> "FrozenPolicy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["FrozenPolicy", "ONLINE_SCOPE", "input_tensor_name", "tensor", "POLICY_OUTPUT", "VALUE_OUTPUT", "LOG_STD_OUTPUT",
           "LOG_STD_MIN", "LOG_STD_MAX", "SAC_MEAN_OUTPUT", "SAC_LOG_STD_OUTPUT", "TANH_EPSILON"]
