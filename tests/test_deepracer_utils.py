"""deepracer-utils, the community's analysis library (PyPI; what the deepracer-analysis notebooks and
DRfC users run), reads the model folders this project writes: a real STATE training and evaluation,
read the notebooks' way (DeepRacerLog -> sim-trace dataframe -> AnalysisUtils.simulation_agg, and
TrainingMetrics -> getSummary), from the local folder and from an S3 bucket, with the numbers it
reads checked against ours.

Two things the reference does that the checks rely on: deepracer-utils numbers iterations from the
metrics' "episode" and "trial" (the simapp's counters, core.traces.TrainingMetrics.add_iteration),
and its episode time from a sim-trace is last tstamp - first tstamp, one step (1/15 s) less than the
elapsed time of the metrics, which counts the prepare step too (as the reference's does).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from deepracer.logs import (AnalysisUtils, DeepRacerLog, LogFolderType, S3FileHandler,  # noqa: E402
                            TrainingMetrics)

from core import traces  # noqa: E402
from core.messages import Episode  # noqa: E402
from core.model_folder import ModelFolder  # noqa: E402
from core.s3_storage import S3Storage  # noqa: E402
from core.traces import ITERATION_KEY, metrics_iterations, simtrace_csv  # noqa: E402
from simulation.car import STEP_S  # noqa: E402
from simulation.track import Track  # noqa: E402
from stack.evaluate import evaluate  # noqa: E402
from stack.train import EVAL_EPISODES_PER_WORKER, TrainRequest, run_training  # noqa: E402

from .servers import s3_server  # noqa: E402,F401  (fixture)

EPISODES_PER_ITERATION = 40  # the state preset's num_episodes_between_training


@pytest.fixture(autouse=True)
def _no_aws_config(monkeypatch, tmp_path):
    """deepracer-utils makes a boto3 S3 resource even for a local file: no user profile, a fixed region."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="module")
def one_sim(tmp_path_factory):
    """8 iterations of one sim on reinvent, then a 3-trial evaluation (laps complete after this: the state preset
    reaches 3 of 3 evaluation laps after 7-8 iterations with the default car, bench train seeds 0-2)."""
    models = tmp_path_factory.mktemp("models")
    reports, folder = run_training(TrainRequest(track="reinvent", model="one-sim", preset="state",
                                                episodes=8 * EPISODES_PER_ITERATION, models_dir=models, seed=1))
    result = evaluate(folder, trials=3)
    return models / "one-sim", reports, folder, result


@pytest.fixture(scope="module")
def two_tracks(tmp_path_factory):
    """A scenario-3 model: two sims, each on its own track, 2 iterations."""
    models = tmp_path_factory.mktemp("models")
    reports, folder = run_training(TrainRequest(track="reinvent,Oval_track", model="two-tracks", preset="state",
                                                sims=2, episodes=2 * EPISODES_PER_ITERATION, models_dir=models,
                                                seed=2))
    return models / "two-tracks", reports, folder


def training_entries(path: Path) -> list[dict]:
    return [m for m in json.loads(path.read_text())["metrics"] if m["phase"] == "training"]


def check_training_trace(df, entries: list[dict], reports) -> None:
    """The sim-trace dataframe (one worker) episode by episode against our metrics and iteration reports."""
    agg = AnalysisUtils.simulation_agg(df, secondgroup="unique_episode")
    assert len(agg) == len(entries) == sum(r.episodes for r in reports)
    assert agg.groupby("iteration").size().tolist() == [r.episodes for r in reports]
    # an episode's progress is its last step's (simulation_agg shows the largest, which a car that
    # backs up before it leaves the track has reached earlier)
    final = df.groupby("unique_episode")["progress"].last()
    ours = {m["episode"] - 1: m for m in entries}       # the sim-trace counts from 0, the metrics from 1
    for row in agg.itertuples():
        m = ours[row.unique_episode]
        assert m.get(ITERATION_KEY) == row.iteration
        last = final[row.unique_episode]
        assert int(last) == m["completion_percentage"] and row.progress >= last
        assert abs(row.reward - m["reward_score"]) <= 0.5 + 1e-6
        assert row.complete == (m["episode_status"] == "Lap complete")
        assert row.time + STEP_S == pytest.approx(m["elapsed_time_in_milliseconds"] / 1000, abs=1e-3)
    means = final.groupby(agg.set_index("unique_episode")["iteration"]).mean().tolist()
    assert means == pytest.approx([r.mean_progress for r in reports], abs=1e-6)


def check_summary(tm: TrainingMetrics, reports, eval_episodes: int) -> None:
    """deepracer-utils' per-iteration summary of TrainingMetrics*.json against our iteration reports."""
    summary = tm.getSummary()
    assert summary.index.get_level_values("iteration").tolist() == [r.iteration - 1 for r in reports]
    assert summary["train_episodes"].tolist() == [r.episodes for r in reports]
    assert summary["eval_episodes"].tolist() == [eval_episodes] * len(reports)
    # completion_percentage is the progress truncated to an int, as the reference's
    for (_, row), r in zip(summary.iterrows(), reports):
        assert r.mean_progress - 1 <= row["train_completion"] <= r.mean_progress
        assert r.eval_progress - 1 <= row["eval_completion"] <= r.eval_progress
        assert row["train_completed"] == pytest.approx(r.lap_share)


@pytest.mark.slow
def test_one_sim_training_trace(one_sim):
    base, reports, _, _ = one_sim
    log = DeepRacerLog(model_folder=str(base))
    assert log.fh.type == LogFolderType.DRFC_MODEL_SINGLE_WORKERS
    log.load_training_trace()
    check_training_trace(log.dataframe(), training_entries(base / "metrics/TrainingMetrics.json"), reports)
    assert log.hyperparameters()["num_episodes_between_training"] == EPISODES_PER_ITERATION
    assert len(log.action_space()) == 5
    assert log.agent_and_network()["sensor_list"] == ["STATE"]


@pytest.mark.slow
def test_one_sim_training_metrics(one_sim):
    base, reports, _, _ = one_sim
    tm = TrainingMetrics(None, fname=str(base / "metrics/TrainingMetrics.json"))
    check_summary(tm, reports, EVAL_EPISODES_PER_WORKER)
    assert tm.episodes_per_iteration == EPISODES_PER_ITERATION


@pytest.mark.slow
def test_evaluation_trace_and_lap_times(one_sim):
    base, _, _, result = one_sim
    log = DeepRacerLog(model_folder=str(base))
    log.load_evaluation_trace()
    agg = AnalysisUtils.simulation_agg(log.dataframe(), "stream", is_eval=True).sort_values("episode")
    stamp = result.simtrace_key.split("evaluation-")[1].split("/")[0]
    assert agg["stream"].tolist() == [stamp] * len(result.trials)
    laps = 0
    for row, trial in zip(agg.itertuples(), result.trials):
        assert row.progress == pytest.approx(trial.progress, abs=1e-9)
        assert row.complete == (trial.status == "lap_complete")
        if trial.lap_time_s is not None:
            laps += 1
            assert row.time + STEP_S == pytest.approx(trial.lap_time_s, abs=1e-6)
    assert laps >= 1, f"no lap completed in the evaluation: {result.trials}"


@pytest.mark.slow
def test_two_workers_on_two_tracks(two_tracks):
    base, reports, folder = two_tracks
    log = DeepRacerLog(model_folder=str(base))
    assert log.fh.type == LogFolderType.DRFC_MODEL_MULTIPLE_WORKERS
    log.load_training_trace()
    df = log.dataframe()
    agg = AnalysisUtils.simulation_agg(df, secondgroup="unique_episode")
    assert len(agg) == sum(r.episodes for r in reports) == 2 * EPISODES_PER_ITERATION
    assert agg.groupby("iteration").size().tolist() == [r.episodes for r in reports]
    per_worker = df.groupby(["iteration", "worker"])["unique_episode"].nunique()
    assert per_worker.tolist() == [EPISODES_PER_ITERATION // 2] * 4
    # each worker drove its own track: the rows name it (our column after the reference's) and have its length
    names = ("reinvent_base", "Oval_track")
    assert [v.tolist() for v in df.groupby("worker")["track"].unique()] == [[name] for name in names]
    lengths = df.groupby("worker")["track_len"].unique()
    assert [v.tolist() for v in lengths] == [[pytest.approx(Track.from_model_folder(folder, name).length_m)]
                                             for name in names]
    # the metrics, one file per worker, as deepracer-utils loads several workers
    tm = TrainingMetrics(None, fname=str(base / "metrics/TrainingMetrics.json"))
    tm.addRound(None, fname=str(base / "metrics/TrainingMetrics_1.json"), training_round=1, worker=1)
    summary = tm.getSummary()
    assert summary["train_episodes"].tolist() == [r.episodes for r in reports]
    assert summary["eval_episodes"].tolist() == [2 * EVAL_EPISODES_PER_WORKER] * len(reports)
    for w in (0, 1):
        entries = training_entries(base / "metrics" / ("TrainingMetrics.json" if w == 0 else "TrainingMetrics_1.json"))
        ours = {(m[ITERATION_KEY], m["episode"] - 1): m["completion_percentage"] for m in entries}
        final = df[df["worker"] == w].groupby(["iteration", "episode"])["progress"].last()
        assert {key: int(progress) for key, progress in final.items()} == ours


@pytest.mark.slow
def test_reads_the_model_from_s3(one_sim, s3_server, monkeypatch):
    """The notebooks read DRfC's bucket: the same folder uploaded through our S3 storage reads the same."""
    base, reports, _, _ = one_sim
    storage = S3Storage("bucket", endpoint_url=s3_server.endpoint, access_key=s3_server.access_key,
                        secret_key=s3_server.secret_key, create_bucket=True)
    folder = ModelFolder(storage, "one-sim")
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        folder.storage.put_bytes(folder.key(path.relative_to(base).as_posix()), path.read_bytes())
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)

    log = DeepRacerLog(filehandler=S3FileHandler(bucket="bucket", prefix="one-sim",
                                                 s3_endpoint_url=s3_server.endpoint))
    assert log.fh.type == LogFolderType.DRFC_MODEL_SINGLE_WORKERS
    log.load_training_trace()
    check_training_trace(log.dataframe(), training_entries(base / "metrics/TrainingMetrics.json"), reports)
    log.load_evaluation_trace(force=True)
    assert log.dataframe()["episode"].nunique() == 3
    tm = TrainingMetrics("bucket", model_name="one-sim", s3_endpoint_url=s3_server.endpoint)
    check_summary(tm, reports, EVAL_EPISODES_PER_WORKER)


# ------------------------------------------------------------------ the numbering, without training

def episode(episode_id: int, steps: int, phase: str = "training", progress: float = 12.5) -> Episode:
    return Episode(run_id="r", iteration=0, worker=0, episode_id=episode_id, phase=phase, obs={},
                   actions=np.zeros(steps, np.int64), log_probs=np.zeros(steps, np.float32),
                   values=np.zeros(steps, np.float32), rewards=np.full(steps, 0.5, np.float32), status="off_track",
                   progress=progress, start_time_ms=1_000.0, end_time_ms=1_010.0, track="reinvent_base")


def rows_of(*episodes: Episode) -> list[dict]:
    return [{"episode": ep.episode_id, "steps": s, "X": 0.0, "Y": 0.0, "yaw": 0.0, "steer": 0.0, "throttle": 1.0,
             "action": 0, "reward": 0.5, "done": s == ep.steps, "all_wheels_on_track": True, "progress": 1.0,
             "closest_waypoint": 1, "track_len": 17.7, "tstamp": (s - 1) * STEP_S, "episode_status": "in_progress",
             "pause_duration": 0.0, "obstacle_crash_counter": 0, "wall_clock": 0.0}
            for ep in episodes for s in range(ep.steps, 0, -1)]


def test_add_iteration_numbers_episodes_as_the_simapp():
    """Training episodes 1, 2, ... per worker across iterations in the metrics (0, 1, ... in the
    sim-trace), trial 1..n within the iteration, evaluation entries repeating the last training one."""
    tm = traces.TrainingMetrics()
    first = [episode(7, 3), episode(3, 5), episode(9, 2)]                 # env ids, in the order they finished
    rows = tm.add_iteration(0, first, [episode(12, 4, "evaluation")], rows_of(*first), step_s=STEP_S)
    assert [(r["episode"], r["steps"]) for r in rows] == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3), (1, 4),
                                                          (1, 5), (2, 1), (2, 2)]
    second = [episode(20, 2), episode(21, 2)]
    tm.add_iteration(1, second, [episode(30, 2, "evaluation")], rows_of(*second), step_s=STEP_S)
    got = [(m["phase"][0], m["episode"], m["trial"], m[ITERATION_KEY]) for m in tm.metrics]
    assert got == [("t", 1, 1, 0), ("t", 2, 2, 0), ("t", 3, 3, 0), ("e", 3, 3, 0),
                   ("t", 4, 1, 1), ("t", 5, 2, 1), ("e", 5, 2, 1)]
    assert [m["elapsed_time_in_milliseconds"] for m in tm.metrics[:3]] == [200, 333, 133]    # steps / 15 s
    assert tm.metrics[0]["metric_time"] == 1_200 and tm.metrics[0]["reward_score"] == 2     # 1.5 rounded
    # a resumed run plays iteration 1 again: its entries are replaced, the count goes on from episode 3
    again = [episode(40, 2)]
    rows = tm.add_iteration(1, again, [], rows_of(*again), step_s=STEP_S)
    assert {r["episode"] for r in rows} == {3}
    assert [(m["episode"], m["trial"], m[ITERATION_KEY]) for m in tm.metrics[4:]] == [(4, 1, 1)]
    # what a reader gets back from the JSON, and deepracer-utils' reading of the same file
    back = traces.TrainingMetrics.from_json_dict(json.loads(tm.to_json()))
    assert metrics_iterations(back.metrics) == [0, 0, 0, 0, 1]
    assert simtrace_csv(rows).splitlines()[1].startswith("3,1,")


def test_forgotten_entries_are_appended_to_the_stored_bytes():
    """A long run's sim forgets the entries it stored (memory stays flat) and appends the next ones to the
    stored file's bytes: the result is byte for byte what one json.dumps of every entry gives, and the
    numbering goes on across forget()."""
    tm, every, stored = traces.TrainingMetrics(), traces.TrainingMetrics(), None
    for it in range(5):
        eps = [episode(10 * it + 1, 2), episode(10 * it + 2, 3)]
        for t in (tm, every):
            t.add_iteration(it, eps, [episode(99, 2, "evaluation")], rows_of(*eps), step_s=STEP_S)
        assert tm.entries_of(it) == every.metrics[-3:]
        if it in (1, 2, 4):
            stored = tm.to_json().encode() if stored is None else tm.appended_json(stored)
            tm.forget()
            assert tm.metrics == [] and tm.appended_json(stored) == stored
    assert stored == every.to_json().encode()
    assert tm.last_iteration == 4 and tm.forgotten == 15
    assert [m["episode"] for m in json.loads(stored)["metrics"] if m["phase"] == "training"] == list(range(1, 11))
    # a replay of a forgotten iteration needs the stored entries back: refused, nothing changed
    with pytest.raises(ValueError, match="iteration 3 replays one recorded before 15 entries were forgotten"):
        tm.add_iteration(3, [episode(1, 2)], [], [], step_s=STEP_S)
    assert tm.metrics == [] and tm.last_iteration == 4
    tm.add_iteration(5, [episode(1, 2)], [], [], step_s=STEP_S)
    with pytest.raises(ValueError, match="does not end as this sim writes it"):
        tm.appended_json(stored[:-1])              # a cut file
    with pytest.raises(ValueError, match="does not end as this sim writes it"):
        tm.appended_json(json.dumps({"version": 2.0, "metrics": []}).encode())     # another writer's key order


def test_add_iteration_refuses_what_it_cannot_number():
    tm = traces.TrainingMetrics()
    tm.add_iteration(0, [episode(1, 2)], [], [], step_s=STEP_S)
    before = json.loads(tm.to_json())
    with pytest.raises(ValueError, match="rows of episode 5, which is not one of the 1 training episodes of iteration 0"):
        tm.add_iteration(0, [episode(1, 2)], [], rows_of(episode(5, 2)), step_s=STEP_S)
    with pytest.raises(ValueError, match="phase 'evaluation' among the training episodes"):
        tm.add_iteration(0, [episode(1, 2, "evaluation")], [], [], step_s=STEP_S)
    with pytest.raises(ValueError, match="training episode 1 is given twice"):
        tm.add_iteration(0, [episode(1, 2), episode(1, 2)], [], [], step_s=STEP_S)
    assert json.loads(tm.to_json()) == before                                 # nothing recorded by a refusal


def test_metrics_iterations_reads_the_reference_counters():
    """Entries without our key (a DRfC model's metrics): iteration = (episode - 1) // largest trial."""
    reference = [{"episode": e, "trial": t, "phase": p} for e, t, p in
                 [(1, 1, "training"), (2, 2, "training"), (2, 2, "evaluation"), (3, 1, "training"),
                  (4, 2, "training"), (4, 2, "evaluation"), (5, 1, "training")]]
    assert metrics_iterations(reference) == [0, 0, 0, 1, 1, 1, 2]
    assert metrics_iterations([{"episode": "x"}, {ITERATION_KEY: 4, "episode": 1, "trial": 1}]) == [0, 4]
    assert metrics_iterations([]) == []
