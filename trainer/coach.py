"""rl_coach's names for DeepRacer's networks, and this project's networks read from / written as them.

The DeepRacer simapp trains with rl_coach (TF1). Its clipped-PPO agent keeps two towers, as ours does
(trainer.networks): ``main_level/agent/main/online/network_0`` (value) and ``.../network_1`` (policy).
Names inside a tower (facts read from a console model's frozen graph and rl_coach's source; docs/coach.md
lists where each came from):

- the input embedder of a sensor is scoped by the sensor's name (legacy v1/v2 models: ``observation``):
  ``<tower>/<SENSOR>/Conv2d_<k>/{kernel,bias}`` then, for the camera schemes that have them,
  ``<tower>/<SENSOR>/Dense_<k>/{kernel,bias}``; ``k`` counts rl_coach's layer list, in which every layer is
  followed by a ``BatchnormActivationDropout_<k+1>`` (ReLU here), so the indices go 0, 2, 4, ...;
  cameras are divided by 255 and then 0 is subtracted, the Flatten is NHWC;
- the middleware: ``<tower>/middleware_fc_embedder/Dense_<k>/{kernel,bias}``;
- heads: ``network_1/ppo_head_0/policy_fc`` (discrete logits, softmax ``ppo_head_0/policy``),
  ``network_1/ppo_head_0/policy_mean`` and the state-independent ``policy_log_std`` (continuous),
  ``network_0/v_values_head_0/output`` (the value).

Layer shapes (Conv2D kernel (kh, kw, in, out), Dense kernel (in, out)) are those of Keras, so weights map
one to one, by the order of ``k`` within a scope. Whatever the names, a mapping is only accepted when every
shape matches and, where the model's own frozen graph is at hand, the policy outputs agree
(stack.model_import).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from core.config import CAMERA_SENSORS, ConfigError, ModelMetadata
from core.observations import observation_dtype, observation_shape
from core.policy import ONLINE_SCOPE, POLICY_OUTPUT, input_tensor_name, tensor

from .networks import PolicyValueNet, build_policy_value

#: The sensors rl_coach's DeepRacer agents have embedders for (STATE is this project's own).
COACH_SENSORS = ("FRONT_FACING_CAMERA", "LEFT_CAMERA", "STEREO_CAMERAS", "LIDAR", "SECTOR_LIDAR",
                 "DISCRETIZED_SECTOR_LIDAR")
#: The scope of a legacy (metadata v1/v2, no "sensor") camera input.
LEGACY_SENSOR_SCOPE = "observation"
TOWERS = {"value": f"{ONLINE_SCOPE}/network_0", "policy": f"{ONLINE_SCOPE}/network_1"}
MIDDLEWARE_SCOPE = "middleware_fc_embedder"
DISCRETE_POLICY_HEAD = "ppo_head_0/policy_fc"
CONTINUOUS_MEAN_HEAD = "ppo_head_0/policy_mean"
CONTINUOUS_LOG_STD = "ppo_head_0/policy_log_std"
VALUE_HEAD = "v_values_head_0/output"

_LAYER = re.compile(r"(Conv2d|Dense)_(\d+)/(kernel|bias)")


class CoachFormatError(ConfigError):
    """A model whose files or weights are not what rl_coach's DeepRacer agent writes."""


def check_coach_network(md: ModelMetadata, source: str) -> None:
    """CoachFormatError with the reason unless rl_coach's DeepRacer agent has a network like ``md``'s (clipped
    PPO with rl_coach's sensors): what a model needs to be imported from, or exported to, DRfC and
    DeepRacer-on-AWS."""
    unknown = [s for s in md.sensors if s not in COACH_SENSORS]
    if unknown:
        raise CoachFormatError(f"{source}: sensor {', '.join(unknown)} is this project's own; rl_coach's agents have "
                               f"no embedder for it, so no DRfC or DeepRacer-on-AWS model has it (theirs have "
                               f"{', '.join(COACH_SENSORS)})")
    if md.training_algorithm != "clipped_ppo":
        raise CoachFormatError(f"{source}: training_algorithm {md.training_algorithm!r}: rl_coach's SAC networks differ "
                               "from this project's (a Dense 256 in the policy head, Q heads of 256, 256 without "
                               "middleware, a separate V network), so their weights do not map; only clipped_ppo "
                               "models move between here and DRfC / DeepRacer-on-AWS")


# ------------------------------------------------------------------------------------------------ reading
def read_frozen_graph(data: bytes, source: str):
    """The GraphDef in ``data``; CoachFormatError naming ``source`` when it is not one."""
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    graph = tf.compat.v1.GraphDef()
    try:
        graph.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise CoachFormatError(f"{source}: not a TensorFlow frozen graph ({exc}); expected model_<n>.pb as the "
                               "simapp writes it") from None
    if not any(n.op == "Placeholder" for n in graph.node):
        raise CoachFormatError(f"{source}: the graph has no input placeholder; expected a frozen policy graph")
    return graph


def graph_constants(graph) -> dict[str, np.ndarray]:
    """Every float constant of a frozen graph by node name (a frozen variable keeps its variable's name)."""
    from tensorflow.python.framework import tensor_util

    out = {}
    for n in graph.node:
        if n.op == "Const" and n.attr["value"].tensor.dtype == 1:    # DT_FLOAT
            out[n.name] = tensor_util.MakeNdarray(n.attr["value"].tensor)
    return out


def read_checkpoint(prefix: str | Path, source: str) -> dict[str, np.ndarray]:
    """Every float variable of a TF1 checkpoint (``prefix``.index/.data-00000-of-00001) by name."""
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(str(prefix))
        names = reader.get_variable_to_dtype_map()
        return {k: reader.get_tensor(k) for k, dt in names.items() if dt == tf.float32}
    except (tf.errors.OpError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CoachFormatError(f"{source}: not a readable TensorFlow checkpoint ({msg}); a truncated or "
                               "partly copied checkpoint? Copy the .index and .data-00000-of-00001 files again") from None


# ------------------------------------------------------------------------------------------------ mapping
def _scoped_layers(weights: dict[str, np.ndarray], scope: str, kind: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel, bias) of the ``kind`` ("Conv2d" or "Dense") layers directly under ``scope``, by index."""
    found: dict[int, dict[str, np.ndarray]] = {}
    for name, value in weights.items():
        if not name.startswith(scope + "/"):
            continue
        m = _LAYER.fullmatch(name[len(scope) + 1:])
        if m and m.group(1) == kind:
            found.setdefault(int(m.group(2)), {})[m.group(3)] = value
    return [(found[k].get("kernel"), found[k].get("bias")) for k in sorted(found)]


def _sensor_scope(weights: dict[str, np.ndarray], tower: str, sensor: str) -> str:
    for name in (sensor, LEGACY_SENSOR_SCOPE):
        if any(k.startswith(f"{tower}/{name}/") for k in weights):
            return f"{tower}/{name}"
    return f"{tower}/{sensor}"


def _assign(layer, kernel, bias, what: str, source: str) -> None:
    want = [tuple(w.shape) for w in layer.weights]
    got = [None if kernel is None else tuple(kernel.shape), None if bias is None else tuple(bias.shape)]
    if want != got:
        raise CoachFormatError(f"{source}: {what} has shapes {got}, the network model_metadata.json describes needs "
                               f"{want}; the metadata does not match the weights")
    layer.set_weights([kernel, bias])


def _layer_plan(md: ModelMetadata) -> list[tuple[str, list[tuple[str, str]]]]:
    """Per scope of a tower, in rl_coach's order (the sensors sorted, then the middleware): the scope's name
    within the tower and its layers as (rl_coach kind "Conv2d" or "Dense", our Keras layer name). rl_coach
    names the i-th layer of a scope ``<kind>_<2 i>`` (a ReLU block takes the odd indices)."""
    from .networks import ARCHITECTURES, LIDAR_EMBEDDER, camera_plan

    plan = []
    for sensor in sorted(md.sensors):
        convs, dense = camera_plan(sensor, md.neural_network) if sensor in CAMERA_SENSORS else ((), LIDAR_EMBEDDER)
        plan.append((sensor, [("Conv2d", f"{sensor}_conv{i}") for i in range(len(convs))]
                     + [("Dense", f"{sensor}_dense{i}") for i in range(len(dense))]))
    middleware = ARCHITECTURES[md.neural_network][2]
    plan.append((MIDDLEWARE_SCOPE, [("Dense", f"middleware_dense{i}") for i in range(len(middleware))]))
    return plan


def _load_tower(model, md: ModelMetadata, weights: dict[str, np.ndarray], tower: str, source: str) -> None:
    """The embedders and middleware of one Keras tower (trainer.networks layer names) from ``tower``; the
    layers of a scope are matched in the order of their rl_coach indices, every shape checked."""
    for name, layers in _layer_plan(md):
        scope = f"{tower}/{name}" if name == MIDDLEWARE_SCOPE else _sensor_scope(weights, tower, name)
        want = {kind: [ours for k, ours in layers if k == kind] for kind in ("Conv2d", "Dense")}
        got = {kind: _scoped_layers(weights, scope, kind) for kind in ("Conv2d", "Dense")}
        if any(len(got[kind]) != len(want[kind]) for kind in want):
            raise CoachFormatError(f"{source}: {scope} has {len(got['Conv2d'])} convolutions and {len(got['Dense'])} "
                                   f"dense layers; {md.neural_network} has {len(want['Conv2d'])} and "
                                   f"{len(want['Dense'])} there; the metadata does not match the weights")
        for kind in want:
            for ours, (k, b) in zip(want[kind], got[kind]):
                _assign(model.get_layer(ours), k, b, f"{scope} {kind} layer {ours}", source)


def _head(weights, name: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    k, b = weights.get(f"{name}/kernel"), weights.get(f"{name}/bias")
    if k is None or b is None:
        raise CoachFormatError(f"{source}: no {name}/kernel and /bias; expected rl_coach's clipped PPO head")
    return k, b


def load_into_network(md: ModelMetadata, weights: dict[str, np.ndarray], source: str) -> tuple[PolicyValueNet, str]:
    """A PolicyValueNet holding ``weights`` (rl_coach names); and where its value tower came from:
    "checkpoint", or "policy tower copy" when ``weights`` has no value tower (a frozen graph)."""
    net = build_policy_value(md, seed=0)
    policy = TOWERS["policy"]
    _load_tower(net.policy_net, md, weights, policy, source)
    if md.is_discrete:
        _assign(net.policy_net.get_layer("logits"), *_head(weights, f"{policy}/{DISCRETE_POLICY_HEAD}", source),
                f"the discrete policy head {policy}/{DISCRETE_POLICY_HEAD}", source)
    else:
        _assign(net.policy_net.get_layer("mean"), *_head(weights, f"{policy}/{CONTINUOUS_MEAN_HEAD}", source),
                f"the continuous policy mean {policy}/{CONTINUOUS_MEAN_HEAD}", source)
        log_std = weights.get(f"{policy}/{CONTINUOUS_LOG_STD}")
        if log_std is not None:
            net.log_std.assign(np.reshape(log_std, (2,)).astype(np.float32))
    value = TOWERS["value"]
    if f"{value}/{VALUE_HEAD}/kernel" in weights:
        _load_tower(net.value_net, md, weights, value, source)
        _assign(net.value_net.get_layer("value"), *_head(weights, f"{value}/{VALUE_HEAD}", source),
                f"the value head {value}/{VALUE_HEAD}", source)
        return net, "checkpoint"
    for layer in net.policy_net.layers:          # the value tower starts from the policy tower's features
        if layer.weights and layer.name not in ("logits", "mean"):
            net.value_net.get_layer(layer.name).set_weights(layer.get_weights())
    return net, "policy tower copy"


# ------------------------------------------------------------------------------------------------ writing
#: The scalar every rl_coach network keeps for scaling the gradients from its head (value 1.0: no scaling).
RESCALER = "gradients_from_head_0-0_rescalers"


def coach_variables(net: PolicyValueNet) -> dict[str, np.ndarray]:
    """The checkpoint variables rl_coach's clipped PPO agent saves (its trainable online variables), with
    ``net``'s values: both towers' embedders and middleware, the two rescalers, the heads."""
    from .networks import float32_twin

    net = float32_twin(net)
    md = net.metadata
    out: dict[str, np.ndarray] = {}
    for tower, model in ((TOWERS["value"], net.value_net), (TOWERS["policy"], net.policy_net)):
        for name, layers in _layer_plan(md):
            for i, (kind, ours) in enumerate(layers):
                scoped = f"{tower}/{name}/{kind}_{2 * i}"
                out[f"{scoped}/kernel"], out[f"{scoped}/bias"] = model.get_layer(ours).get_weights()
        out[f"{tower}/{RESCALER}"] = np.float32(1.0)
    heads = [(net.value_net, "value", f"{TOWERS['value']}/{VALUE_HEAD}")]
    if md.is_discrete:
        heads.append((net.policy_net, "logits", f"{TOWERS['policy']}/{DISCRETE_POLICY_HEAD}"))
    else:
        heads.append((net.policy_net, "mean", f"{TOWERS['policy']}/{CONTINUOUS_MEAN_HEAD}"))
        out[f"{TOWERS['policy']}/{CONTINUOUS_LOG_STD}"] = np.reshape(net.log_std.numpy(), (1, 2)).astype(np.float32)
    for model, layer, name in heads:
        out[f"{name}/kernel"], out[f"{name}/bias"] = model.get_layer(layer).get_weights()
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def write_tf1_checkpoint(variables: dict[str, np.ndarray], prefix: str | Path) -> list[Path]:
    """A TF1 checkpoint of ``variables`` (name -> value) as rl_coach's saver writes one (tf.compat.v1 Saver
    over variables of those names: ``prefix``.index, .data-00000-of-00001 and the .meta graph); returns the
    files written. The Saver's own ``checkpoint`` state file is removed (the simapp refuses a restore folder
    that holds one)."""
    import tensorflow as tf

    prefix = Path(prefix)
    g = tf.Graph()
    names = sorted(variables)
    with g.as_default():
        # zero-initialised, then loaded: values given as initial values would also go into the .meta graph
        tf_vars = [tf.compat.v1.get_variable(name, shape=np.shape(variables[name]), dtype=tf.float32,
                                             initializer=tf.compat.v1.zeros_initializer()) for name in names]
        for v, name in zip(tf_vars, names):
            if v.op.name != name:
                raise RuntimeError(f"variable {name} came out as {v.op.name}")
        saver = tf.compat.v1.train.Saver(tf_vars, max_to_keep=None)
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.variables_initializer(tf_vars))
            for v, name in zip(tf_vars, names):
                v.load(variables[name], sess)
            saver.save(sess, str(prefix), write_meta_graph=True, write_state=False)
    files = [Path(f"{prefix}.{sfx}") for sfx in ("index", "data-00000-of-00001", "meta")]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise RuntimeError(f"TensorFlow wrote no {', '.join(missing)}")
    return files


# ------------------------------------------------------------------------------------------------ checking
def check_frames(md: ModelMetadata, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` observations per sensor for comparing two graphs: camera frames that are smooth gradients,
    blobs and noise (0..255), lidar ranges in [0, 1] x the sensor's spread."""
    rng = np.random.default_rng(seed)
    out = {}
    for s in md.sensors:
        shape = observation_shape(s, md.lidar_config)
        if observation_dtype(s) == np.uint8:
            h, w = shape[0], shape[1]
            yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w]).reshape(2, 1, 1)
            frames = np.empty((n, *shape), np.float32)
            for i in range(n):
                a, b, c = rng.uniform(-1, 1, 3)
                smooth = 127 + 100 * np.sin(3 * a * xx + 3 * b * yy + c * 6)
                noise = rng.normal(0, rng.uniform(0, 60), (h, w))
                frames[i] = np.clip(smooth + noise, 0, 255).round()[..., None].repeat(shape[2], -1)
            out[s] = frames
        else:
            out[s] = rng.uniform(0, 1, (n, *shape)).astype(np.float32)
    return out


def run_policy_graph(graph, obs: dict[str, np.ndarray]) -> np.ndarray:
    """The policy output of a frozen graph (ours or the simapp's) on ``obs`` {sensor: (B, ...)}."""
    import tensorflow as tf

    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(graph, name="")
    names = {n.name for n in graph.node}
    feed = {}
    for s, x in obs.items():
        name = input_tensor_name(s)
        if name not in names:
            name = input_tensor_name(LEGACY_SENSOR_SCOPE)
        feed[g.get_tensor_by_name(tensor(name))] = x
    with tf.compat.v1.Session(graph=g) as sess:
        return sess.run(g.get_tensor_by_name(tensor(POLICY_OUTPUT)), feed)


def max_policy_difference(theirs, ours_bytes: bytes, md: ModelMetadata, obs: dict[str, np.ndarray]) -> float:
    """max |policy(theirs) - policy(ours)| over ``obs``; continuous outputs are compared clipped to [-1, 1],
    as the car uses them."""
    ours = read_frozen_graph(ours_bytes, "the re-exported graph")
    a, b = run_policy_graph(theirs, obs), run_policy_graph(ours, obs)
    if not md.is_discrete:
        a, b = np.clip(a, -1, 1), np.clip(b, -1, 1)
    return float(np.max(np.abs(a - b)))


__all__ = ["COACH_SENSORS", "CoachFormatError", "check_coach_network", "read_frozen_graph", "graph_constants",
           "read_checkpoint", "load_into_network", "coach_variables", "write_tf1_checkpoint", "check_frames", "run_policy_graph", "max_policy_difference"]
