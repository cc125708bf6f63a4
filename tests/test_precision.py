"""Mixed precision (trainer.precision): which precision a learner runs in, the same weights and nearly the
same outputs as float32, a float32 model.pb whatever the learner computed in, and updates that still learn."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from core.config import ConfigError, Hyperparameters, parse_model_metadata  # noqa: E402
from core.policy import FrozenPolicy  # noqa: E402
from trainer.algorithm import build_algorithm  # noqa: E402
from trainer.networks import build_policy_value, float32_twin  # noqa: E402
from trainer.ppo import PPO  # noqa: E402
from trainer.precision import FLOAT32, MIXED_BFLOAT16, PRECISION_ENV, native_bfloat16, resolve_precision  # noqa: E402

ACTIONS = [{"steering_angle": a, "speed": 1.0} for a in (-30, 0, 30)]
CAMERA = parse_model_metadata({"action_space": ACTIONS, "sensor": ["FRONT_FACING_CAMERA"]})
STATE = parse_model_metadata({"action_space": ACTIONS, "sensor": ["STATE"]})
CONTINUOUS_STATE = parse_model_metadata({
    "action_space": {"steering_angle": {"low": -30, "high": 30}, "speed": {"low": 0.5, "high": 1.5}},
    "action_space_type": "continuous", "sensor": ["STATE"], "training_algorithm": "sac"})


def camera_batch(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"FRONT_FACING_CAMERA": rng.integers(0, 256, (n, 120, 160, 1), dtype=np.uint8)}


def test_precision_comes_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    assert resolve_precision(CAMERA, FLOAT32) == FLOAT32
    assert resolve_precision(STATE, MIXED_BFLOAT16) == MIXED_BFLOAT16
    monkeypatch.setenv(PRECISION_ENV, MIXED_BFLOAT16)
    assert resolve_precision(STATE) == MIXED_BFLOAT16
    assert resolve_precision(STATE, FLOAT32) == FLOAT32


def test_auto_uses_bfloat16_only_for_cameras_on_hardware_that_has_it(monkeypatch):
    monkeypatch.setenv(PRECISION_ENV, "auto")
    assert resolve_precision(STATE) == FLOAT32
    assert resolve_precision(CAMERA) == (MIXED_BFLOAT16 if native_bfloat16() else FLOAT32)


def test_an_unknown_precision_is_one_clear_error(monkeypatch):
    monkeypatch.setenv(PRECISION_ENV, "float16")
    with pytest.raises(ConfigError, match=r"DEEPRACER_PRECISION='float16' is not one of auto, float32, mixed_bfloat16"):
        build_algorithm(CAMERA, Hyperparameters(), seed=0)


def test_mixed_networks_start_from_the_same_float32_weights_and_nearly_the_same_outputs():
    f32 = build_policy_value(CAMERA, seed=3)
    mixed = build_policy_value(CAMERA, seed=3, precision=MIXED_BFLOAT16)
    assert all(v.dtype == tf.float32 for v in mixed.trainable_variables)
    for a, b in zip(f32.trainable_variables, mixed.trainable_variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    obs = camera_batch(8)
    (logits32, value32), (logits16, value16) = f32(obs), mixed(obs)
    assert logits16.dtype == value16.dtype == tf.float32   # the heads compute in float32
    scale = float(np.abs(value32.numpy()).max())
    np.testing.assert_allclose(value16.numpy(), value32.numpy(), atol=0.05 * scale)
    np.testing.assert_allclose(tf.nn.softmax(logits16).numpy(), tf.nn.softmax(logits32).numpy(), atol=2e-3)


def _dtypes(graph_def) -> set[int]:
    return {attr.type for node in graph_def.node for attr in node.attr.values() if attr.type}


@pytest.mark.parametrize("metadata", [CAMERA, CONTINUOUS_STATE], ids=["ppo-camera", "sac-state"])
def test_the_exported_graph_of_a_mixed_learner_is_float32_and_computes_its_policy(metadata):
    algo = build_algorithm(metadata, Hyperparameters(), seed=1, precision=MIXED_BFLOAT16)
    assert algo.precision == MIXED_BFLOAT16
    graph = algo.export()
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(graph)
    assert tf.bfloat16.as_datatype_enum not in _dtypes(graph_def)
    assert tf.float32.as_datatype_enum in _dtypes(graph_def)
    # the same weights exported from a float32 network give the same graph outputs
    twin = float32_twin(algo.net)
    assert twin is not algo.net and twin.precision == FLOAT32
    reference = type(algo)(metadata, Hyperparameters(), seed=99, precision=FLOAT32)
    for source, target in zip(twin.trainable_variables, reference.net.trainable_variables, strict=True):
        target.assign(source)
    obs = camera_batch(4) if metadata is CAMERA else {"STATE": np.random.default_rng(0).normal(size=(4, 62)).astype(np.float32)}
    with FrozenPolicy.from_bytes(graph, metadata) as got, FrozenPolicy.from_bytes(reference.export(), metadata) as want:
        for a, b in zip(got.forward(obs), want.forward(obs)):
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_export_twin_follows_the_weights():
    ppo = PPO(CAMERA, Hyperparameters(), seed=0, precision=MIXED_BFLOAT16)
    first = ppo.export()
    for v in ppo.net.policy_net.trainable_variables:
        v.assign(v + 0.01)
    assert ppo.export() != first


def test_a_mixed_precision_update_moves_the_policy_towards_the_advantaged_action():
    """A fixed batch where action 2 had a positive advantage and the others negative: after one
    iteration of updates the policy puts more probability on action 2, in both precisions, by
    about the same amount."""
    hp = dataclasses.replace(Hyperparameters(), batch_size=32, num_epochs=4, lr=3e-4)
    n = 128
    obs = camera_batch(n, seed=5)
    actions = np.tile(np.arange(3), n // 3 + 1)[:n]
    advantages = np.where(actions == 2, 1.0, -0.5).astype(np.float32)
    gains = {}
    for precision in (FLOAT32, MIXED_BFLOAT16):
        ppo = PPO(CAMERA, hp, seed=2, precision=precision)
        before = tf.nn.softmax(ppo.net(obs)[0]).numpy()[:, 2].mean()
        old_logp = np.log(tf.nn.softmax(ppo.net(obs)[0]).numpy()[np.arange(n), actions]).astype(np.float32)
        stats = ppo.update(obs, actions, old_logp, advantages, np.zeros(n, np.float32))
        assert not stats.skipped and np.isfinite(stats.policy_loss)
        gains[precision] = tf.nn.softmax(ppo.net(obs)[0]).numpy()[:, 2].mean() - before
    assert gains[FLOAT32] > 0.02 and gains[MIXED_BFLOAT16] > 0.02
    assert gains[MIXED_BFLOAT16] == pytest.approx(gains[FLOAT32], rel=0.25)
