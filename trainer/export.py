"""Freeze a PolicyValueNet (clipped PPO) or SacNets (SAC) into a DeepRacer ``model.pb`` (spec section 7).

The GraphDef holds only plain TF ops (Placeholder, Const, Conv2D, MatMul, ...: no variables, no
functions), so TF1 ``tf.compat.v1.import_graph_def``, OpenVINO's model optimizer and
``core.policy.FrozenPolicy`` load it. Tensor names (their one home is core.policy):
- inputs ``input_tensor_name(sensor)`` for each metadata sensor, float32 (None, *obs_shape);
  cameras take uint8-valued floats 0..255 (the graph divides by 255);
- ``POLICY_OUTPUT``: discrete = softmax probabilities (B, num_actions); continuous PPO = mean (B, 2);
  SAC = tanh(mean) (B, 2), the deterministic action in [-1, 1] the car drives with;
- PPO: ``VALUE_OUTPUT``: value (B,); ``LOG_STD_OUTPUT`` (continuous): log-std (2,) clipped to [-20, 3];
- SAC (no value output): ``SAC_MEAN_OUTPUT`` pre-tanh mean (B, 2) and ``SAC_LOG_STD_OUTPUT``
  per-state log-std (B, 2) clipped to [-20, 2], for sampling a = tanh(mean + std * eps).

The graph is float32 whatever precision the learner trains in (trainer.precision): a mixed-precision
network is exported through its float32 twin (trainer.networks.float32_twin).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from core.config import ModelMetadata
from core.observations import observation_shape
from core.policy import (LOG_STD_OUTPUT, ONLINE_SCOPE, POLICY_OUTPUT, SAC_LOG_STD_OUTPUT, SAC_MEAN_OUTPUT,
                         VALUE_OUTPUT, input_tensor_name)

from .networks import PolicyValueNet, SacNets, float32_twin


def export_frozen_graph(net: PolicyValueNet | SacNets, include_value: bool = True) -> bytes:
    """The serialized frozen GraphDef of ``net``'s policy (and value) with DeepRacer tensor names.

    ``include_value=False`` leaves the value tower out (about half the size; enough for the car,
    not for core.policy.FrozenPolicy, which needs VALUE_OUTPUT for PPO graphs). SacNets go to
    ``export_sac_graph`` (``include_value`` does not apply: SAC graphs have no value output).
    """
    if isinstance(net, SacNets):
        return export_sac_graph(net)
    net = float32_twin(net)   # a mixed-precision learner's weights, in a float32 graph
    md = net.metadata

    def serve(obs):
        with tf.name_scope(ONLINE_SCOPE):  # inner nodes read main_level/.../network_0|1/<layer>/...
            policy, value = net(obs)
        out = {"policy": tf.nn.softmax(policy, axis=-1) if md.is_discrete else policy}
        if include_value:
            out["value"] = value
        if not md.is_discrete:
            out["log_std"] = net.clipped_log_std()
        return out

    return _freeze(md, serve, {"policy": POLICY_OUTPUT, "value": VALUE_OUTPUT, "log_std": LOG_STD_OUTPUT})


def export_sac_graph(nets: SacNets) -> bytes:
    """The serialized frozen GraphDef of a SAC actor: POLICY_OUTPUT = tanh(mean) (B, 2),
    SAC_MEAN_OUTPUT = mean (B, 2), SAC_LOG_STD_OUTPUT = log_std (B, 2). The critics stay out."""
    nets = float32_twin(nets)

    def serve(obs):
        with tf.name_scope(ONLINE_SCOPE):
            mean, log_std = nets.policy(obs)
        return {"policy": tf.tanh(mean), "mean": mean, "log_std": log_std}

    return _freeze(nets.metadata, serve, {"policy": POLICY_OUTPUT, "mean": SAC_MEAN_OUTPUT,
                                          "log_std": SAC_LOG_STD_OUTPUT})


def _freeze(md: ModelMetadata, serve: Callable[[dict], dict], names: dict[str, str]) -> bytes:
    """Trace ``serve`` ({sensor: (None, *obs_shape) float32} -> {key: tensor}), freeze its variables,
    rename the placeholders to ``input_tensor_name`` and add an Identity ``names[key]`` per output."""
    signature = {s: tf.TensorSpec((None, *observation_shape(s, md.lidar_config)), tf.float32, name=s)
                 for s in md.sensors}
    concrete = tf.function(serve, input_signature=[signature]).get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    if graph_def.library.function:
        raise RuntimeError("frozen policy graph still holds functions; it would not load in TF1 or OpenVINO")

    # rename the placeholders: map each input tensor of the frozen function to its sensor
    rename = {}
    for spec, t in zip(tf.nest.flatten(concrete.structured_input_signature), frozen.inputs):
        rename[t.op.name] = input_tensor_name(spec.name)
    for node in graph_def.node:
        node.name = rename.get(node.name, node.name)
        node.input[:] = [_renamed(i, rename) for i in node.input]

    # output Identity nodes with the DeepRacer names, fed by what the function's own output
    # Identity nodes carried (which drops their control dependency on the variable reads)
    by_name = {n.name: n for n in graph_def.node}
    keys = sorted(concrete.structured_outputs)  # tf.nest order of a dict = the order of frozen.outputs
    for key, t in zip(keys, frozen.outputs):
        source = rename.get(t.op.name, t.op.name) + ("" if t.value_index == 0 else f":{t.value_index}")
        node = by_name.get(source)
        while node is not None and node.op == "Identity":
            source = next(i for i in node.input if not i.startswith("^"))
            node = by_name.get(source)
        out = graph_def.node.add(name=names[key], op="Identity", input=[source])
        out.attr["T"].type = tf.float32.as_datatype_enum
    graph_def = _prune(graph_def, [names[k] for k in keys])
    if len({n.name for n in graph_def.node}) != len(graph_def.node):
        raise RuntimeError("frozen policy graph has duplicate node names after renaming")
    return graph_def.SerializeToString()


def _renamed(ref: str, rename: dict[str, str]) -> str:
    """A node input reference ('name', 'name:1' or '^name') with the node renamed."""
    ctrl = ref.startswith("^")
    name, sep, port = ref.lstrip("^").partition(":")
    return ("^" if ctrl else "") + rename.get(name, name) + sep + port


def _prune(graph_def: tf.compat.v1.GraphDef, outputs: list[str]) -> tf.compat.v1.GraphDef:
    """Only the nodes the outputs need, in the original order."""
    by_name = {n.name: n for n in graph_def.node}
    needed, todo = set(), list(outputs)
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += [i.lstrip("^").partition(":")[0] for i in by_name[name].input]
    out = tf.compat.v1.GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    out.node.extend(n for n in graph_def.node if n.name in needed)
    return out


def write_frozen_graph(net: PolicyValueNet | SacNets, path: str | os.PathLike, include_value: bool = True) -> Path:
    """Write ``export_frozen_graph(net, include_value)`` to ``path`` (e.g. model/model_<n>.pb or agent/model.pb)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(export_frozen_graph(net, include_value))
    return path


__all__ = ["export_frozen_graph", "export_sac_graph", "write_frozen_graph"]
