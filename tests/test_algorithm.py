"""The algorithm interface (trainer.algorithm): both PPO and SAC implement it, one factory picks
them, one stats type describes an update of either, checkpoint file names are core.model_folder's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from core.config import ALGORITHMS, ConfigError, Hyperparameters, parse_model_metadata  # noqa: E402
from core.model_folder import CHECKPOINT_SUFFIXES, TF_CHECKPOINT_SUFFIXES, Checkpoint  # noqa: E402
from core.policy import FrozenPolicy  # noqa: E402
from trainer.algorithm import Algorithm, UpdateStats, build_algorithm  # noqa: E402
from trainer.networks import PolicyValueNet, SacNets  # noqa: E402
from trainer.ppo import PPO  # noqa: E402
from trainer.sac import SAC  # noqa: E402

CONTINUOUS = {"action_space": {"steering_angle": {"low": -30, "high": 30}, "speed": {"low": 0.5, "high": 1.5}},
              "action_space_type": "continuous", "sensor": ["STATE"]}
DISCRETE = {"action_space": [{"steering_angle": a, "speed": 1.0} for a in (-30, 0, 30)], "sensor": ["STATE"]}


def metadata(raw: dict, algorithm: str):
    return parse_model_metadata({**raw, "training_algorithm": algorithm})


@pytest.mark.parametrize("raw, algorithm, cls, net_cls", [(DISCRETE, "clipped_ppo", PPO, PolicyValueNet),
                                                          (CONTINUOUS, "clipped_ppo", PPO, PolicyValueNet),
                                                          (CONTINUOUS, "sac", SAC, SacNets)])
def test_the_factory_picks_the_algorithm_the_metadata_names(raw, algorithm, cls, net_cls):
    algo = build_algorithm(metadata(raw, algorithm), Hyperparameters(), seed=0)
    assert type(algo) is cls and isinstance(algo, Algorithm) and isinstance(algo.net, net_cls)
    assert algo.metadata.training_algorithm == algorithm


def test_every_configurable_algorithm_builds():
    for name in ALGORITHMS:
        assert isinstance(build_algorithm(metadata(CONTINUOUS, name), Hyperparameters(), seed=0), Algorithm)


def test_the_same_seed_builds_the_same_weights():
    md = metadata(CONTINUOUS, "sac")
    a, b = (build_algorithm(md, Hyperparameters(), seed=4) for _ in range(2))
    c = build_algorithm(md, Hyperparameters(), seed=5)
    wa, wb, wc = ([v.numpy() for v in x.net.trainable_variables] for x in (a, b, c))
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb))
    assert not all(np.array_equal(x, y) for x, y in zip(wa, wc))


def test_an_unknown_or_impossible_algorithm_is_a_config_error():
    md = metadata(CONTINUOUS, "clipped_ppo")
    with pytest.raises(ConfigError, match=r"training_algorithm 'dqn' is not one of clipped_ppo, sac"):
        build_algorithm(dataclasses.replace(md, training_algorithm="dqn"), Hyperparameters())
    discrete_sac = dataclasses.replace(metadata(DISCRETE, "clipped_ppo"), training_algorithm="sac")
    with pytest.raises(ConfigError, match="'sac' needs action_space_type 'continuous'"):
        build_algorithm(discrete_sac, Hyperparameters())


def test_an_object_without_the_interface_is_not_an_algorithm():
    class NoExport:
        net = tf.Module()

        def train_on(self, episodes):
            return None

    assert not isinstance(NoExport(), Algorithm)


def test_the_trainer_writes_exactly_the_checkpoint_files_the_model_folder_names(tmp_path):
    algo = build_algorithm(metadata(CONTINUOUS, "clipped_ppo"), Hyperparameters(), seed=0)
    prefix = tmp_path / Checkpoint(3, 120).name
    tf.train.Checkpoint(net=algo.net).write(str(prefix))
    written = sorted(p.name[len(prefix.name) + 1:] for p in tmp_path.iterdir())
    assert written == sorted(TF_CHECKPOINT_SUFFIXES) and set(TF_CHECKPOINT_SUFFIXES) < set(CHECKPOINT_SUFFIXES)


def played_episodes(algo, md, n: int = 3):
    """``n`` short episodes on reinvent, played by the algorithm's own exported policy (sampling)."""
    from simulation.env import BatchedEnv
    from simulation.rollout import play

    raw = {**(CONTINUOUS if not md.is_discrete else DISCRETE), "training_algorithm": md.training_algorithm}
    env = BatchedEnv("reinvent", None, raw, None, num_cars=n, seed=0)
    policy = FrozenPolicy.from_bytes(algo.export(), env.metadata)
    return play(env, policy, n, greedy=False, rng=np.random.default_rng(0),
                with_values=md.training_algorithm == "clipped_ppo")


@pytest.mark.slow
def test_one_real_update_of_either_algorithm_gives_the_same_stats_fields():
    hp = Hyperparameters(batch_size=32, num_epochs=2)
    out, steps = {}, {}
    for name in ALGORITHMS:
        md = metadata(CONTINUOUS, name)
        algo = build_algorithm(md, hp, seed=0)
        if isinstance(algo, SAC):
            algo.max_gradient_steps = 50     # keep the test short
        episodes = played_episodes(algo, md)
        assert len(episodes) == 3 and all(ep.steps > 0 for ep in episodes)
        steps[name] = sum(ep.steps for ep in episodes)
        before = [v.numpy().copy() for v in algo.net.trainable_variables]
        stats = algo.train_on(episodes)
        out[name] = stats
        assert isinstance(stats, UpdateStats) and not stats.skipped and stats.reason == ""
        assert stats.samples > 0 and stats.seconds > 0 and stats.samples_per_s > 0
        assert np.isfinite([stats.policy_loss, stats.value_loss, stats.entropy]).all()
        assert stats.value_loss >= 0
        assert not all(np.array_equal(a, v.numpy()) for a, v in zip(before, algo.net.trainable_variables))
        FrozenPolicy.from_bytes(algo.export(), md)       # the updated policy still exports
    ppo, sac = out["clipped_ppo"], out["sac"]
    assert [f.name for f in dataclasses.fields(ppo)] == [f.name for f in dataclasses.fields(sac)]
    assert set(ppo.diagnostics) == {"approx_kl", "clip_fraction"} and 0 <= ppo.diagnostics["clip_fraction"] <= 1
    assert sac.diagnostics == {}                        # no PPO-only numbers filled in with zeros
    assert ppo.samples % 32 == 0 and ppo.samples <= 2 * steps["clipped_ppo"]     # 2 epochs of whole minibatches
    assert sac.samples == 50 * 32


def test_a_skipped_update_reads_zero_losses_and_says_why():
    stats = UpdateStats.skipped_update("non-finite loss in minibatch 1", 0.5)
    assert stats.skipped and stats.reason.startswith("non-finite") and stats.samples == 0
    assert (stats.policy_loss, stats.value_loss, stats.entropy, stats.diagnostics) == (0.0, 0.0, 0.0, {})
