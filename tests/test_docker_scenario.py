"""A scenario in the real compose stack: two models sharing one Redis and one S3 server
(stack.compose_scenario), one of them scaled to two sims, the host-side watch stopping the worse one
early (successive halving through a stop marker in the bucket), then their comparison report
(stack.compare).

Uses the compose project, ports and env files of tests/test_docker_stack.py's Stack; skipped with the
reason when no Docker engine answers.
"""

from __future__ import annotations

import textwrap
import time

import pytest

from tests.test_docker_stack import BUCKET, Stack, _engine_skip_reason

pytestmark = [pytest.mark.docker, pytest.mark.slow]
EPISODES_PER_ITERATION = 6
ITERATIONS = 10


def _generated_services(path):
    import yaml

    return list((yaml.safe_load(path.read_text()) or {})["services"])


def test_two_models_train_side_by_side_in_one_stack_and_are_compared(tmp_path):
    reason = _engine_skip_reason()
    if reason:
        pytest.skip(reason)
    from stack.compare import compare
    from stack.compose_scenario import generated_models, scale, service_names, up, watch
    from stack.scenario import load_scenario
    from stack.scenario_run import compare_request

    scenario_file = tmp_path / "two.yaml"
    scenario_file.write_text(textwrap.dedent(f"""
        name: docker-two
        defaults:
          preset: state
          track: reinvent_base
          episodes: {ITERATIONS * EPISODES_PER_ITERATION}
          hyperparameters: {{num_episodes_between_training: {EPISODES_PER_ITERATION}}}
        models:
          - name: docker-a
          - name: docker-b
            hyperparameters: {{lr: 0.001}}
        compare: {{trials: 2}}
        early_stop: {{at: [0.2], keep: 0.5}}
        """))
    scenario = load_scenario(scenario_file)
    stack = Stack(tmp_path)
    generated = tmp_path / "scenario.generated.yml"
    stack.compose("build", "trainer", timeout=1800)
    try:
        folders = up(scenario, stack.base, "s3", endpoint=stack.s3_endpoint, bucket=BUCKET, env_file=stack.env_file,
                     build=False, generated=generated, run_env=stack.env)
        stack.base += ["-f", str(generated)]
        assert generated_models(generated) == ["docker-a", "docker-b"]
        assert _generated_services(generated) == ["trainer-docker-a", "sim-docker-a", "trainer-docker-b", "sim-docker-b"]
        # one model's sims scale on their own
        scale("docker-b", 2, stack.base[:-2], generated=generated, run_env=stack.env)
        assert len(stack.containers("sim-docker-b")) == 2 and len(stack.containers("sim-docker-a")) == 1

        storage = stack.storage()
        runs = {r.spec.name: r for r in watch(scenario, storage, poll_s=1.0)}   # until both trainers finish
        assert sorted(r.state for r in runs.values()) == ["done", "stopped early"], runs
        trainers = {m: stack.containers(service_names(m)[0])[0] for m in ("docker-a", "docker-b")}
        deadline = time.monotonic() + 120          # the finish marker comes just before the trainer exits
        while time.monotonic() < deadline and any(stack.state(c)["Running"] for c in trainers.values()):
            time.sleep(1)
        for m, cid in trainers.items():
            st = stack.state(cid)
            assert not st["Running"] and st["ExitCode"] == 0, f"{m}: {st}\n{stack.dump_logs()}"
        by_state = {r.state: r for r in runs.values()}
        done, stopped = (next(f for f in folders if f.prefix == by_state[s].spec.name) for s in ("done", "stopped early"))
        assert done.latest_checkpoint().number == ITERATIONS
        assert storage.exists(stopped.stop_marker()) and stopped.latest_checkpoint().number < ITERATIONS
        assert "at 20% of its budget" in by_state["stopped early"].stopped_at
        for f in folders:
            keys = set(storage.list(f"{f.prefix}/"))
            for rel in (f"model/model_{f.latest_checkpoint().number}.pb", "model/.finished", "model/deepracer_checkpoints.json",
                        "metrics/TrainingMetrics.json", "reward_function.py", "ip/hyperparameters.json",
                        "training_params.yaml"):
                assert f"{f.prefix}/{rel}" in keys, (rel, sorted(keys))
            # one sim writes training-simtrace/ (DRfC's single-worker layout), several <i>/training-simtrace/
            assert any(k.endswith("training-simtrace/0-iteration.csv") for k in keys), sorted(keys)
        assert "docker-b/1/training-simtrace/0-iteration.csv" in set(storage.list("docker-b/")) or \
            "docker-b/1/training-simtrace/1-iteration.csv" in set(storage.list("docker-b/"))   # its scaled-up sim played
        hp_b = folders[1].read_json(folders[1].hyperparameters())
        assert hp_b["lr"] == 0.001                   # each model its own hyperparameters
        report = compare(compare_request(scenario, storage=storage, out_dir=tmp_path / "compare"))
        assert report.ok, report.errors
        text = (tmp_path / "compare" / "report.md").read_text()
        assert "docker-a" in text and "docker-b" in text
        assert (tmp_path / "compare" / "evaluation-matrix.png").stat().st_size > 1000
    finally:
        stack.compose("down", "-v", "--remove-orphans", check=False, timeout=300)
