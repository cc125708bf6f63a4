"""`deepracer-local bench scenario` (stack.bench.bench_scenario): the same models trained one after
another and all at once, with real training on the real simulator (tiny budgets)."""

from __future__ import annotations

import pytest
from rich.console import Console

from core.config import ConfigError
from core.model_folder import ModelFolder
from core.storage import LocalStorage
from stack.bench import bench_scenario, scenario_bench_table


@pytest.mark.slow
def test_both_modes_train_the_same_models_and_count_their_steps(tmp_path):
    console = Console(file=open(tmp_path / "out.txt", "w"), width=160)
    r = bench_scenario(models=2, episodes=20, preset="state", seed=3, work_dir=tmp_path / "work", console=console)
    names = ["bench-state-seed3", "bench-state-seed4"]
    for mode in (r.sequential, r.parallel):
        assert [m.name for m in mode.models] == names
        assert mode.wall_s > 0 and mode.env_steps > 0
        assert mode.steps_per_s == pytest.approx(mode.env_steps / mode.wall_s)
        for m in mode.models:
            # the state preset plays 40 episodes an iteration: a budget of 20 is one iteration
            assert m.iterations == 1 and m.episodes == 40
            assert m.env_steps > 0 and 0 < m.training_s <= mode.wall_s
            assert m.eval_progress is not None and 0 <= m.eval_progress <= 100
    assert [m.episodes for m in r.sequential.models] == [m.episodes for m in r.parallel.models]
    # each mode trained its own fresh folders
    for mode in ("sequential", "parallel"):
        for n in names:
            assert ModelFolder(LocalStorage(tmp_path / "work" / mode), n).latest_checkpoint() is not None, (mode, n)
    assert r.wall_ratio == pytest.approx(r.parallel.wall_s / r.sequential.wall_s)
    assert r.steps_per_s_ratio == pytest.approx(r.parallel.steps_per_s / r.sequential.steps_per_s)
    Console(file=open(tmp_path / "table.txt", "w"), width=200).print(scenario_bench_table(r))
    table = (tmp_path / "table.txt").read_text()
    assert "sequential" in table and "parallel" in table and names[1] in table


@pytest.mark.parametrize("kwargs, word", [({"models": 0}, "--models"), ({"episodes": 0}, "--episodes")])
def test_bad_counts_are_one_clear_error(kwargs, word):
    with pytest.raises(ConfigError, match=word):
        bench_scenario(**kwargs)
