"""make bench-soak's verdict (stack/soak_bench.py analyse_soak) on made-up runs: which tenth the last one is
compared with, and when the run fails. The training itself is run by `make bench-soak`, not here."""

from __future__ import annotations

import pytest

from stack.soak_bench import BASELINE_LATEST, SoakResult, analyse_soak, soak_table_lines


def _run(steps, seconds, learner_mb, sim_mb, storage_share=0.01, probes=None):
    """One sample per iteration, as bench_soak's on_report makes them (one sim); ``probes``: the machine
    probe's ms per iteration (None: not probed)."""
    samples, alive = [], 0.0
    for i in range(len(steps)):
        alive += seconds[i]
        samples.append({"seconds": seconds[i], "steps": steps[i], "learner_rss_mb": learner_mb[i], "episodes": 0,
                        "update_s": seconds[i] / 2, "probe_ms": probes[i] if probes else None,
                        "sims": {0: {"storage_s": storage_share * alive, "alive_s": alive, "rss_mb": sim_mb[i]}}})
    result = SoakResult("test", 1.0, len(samples), 0)
    analyse_soak(result, samples)
    return result


def test_a_flat_run_passes_against_the_second_tenth():
    n = 100
    r = _run([1000] * n, [2.0] * n, [900.0] * n, [800.0] * n)
    assert r.failures == [] and r.baseline == 2
    assert [t.iterations for t in r.tenths[:2]] == [(1, 10), (11, 20)]
    assert r.tenths[4].storage_share == pytest.approx(0.01)
    assert r.tenths[0].steps_per_iteration == 1000 and r.tenths[0].step_ms == pytest.approx(2.0)
    lines = soak_table_lines(r)
    assert lines[3].startswith("| 2 (baseline) | 11-20 | 2.00 | 1.00 | 1,000 | 2.000 | - | 1.0% | 900 | 800 |")


def test_a_run_that_slows_down_or_grows_fails_and_says_by_how_much():
    n = 100
    slower = [2.0] * 90 + [2.3] * 10
    r = _run([1000] * n, slower, [900.0] * n, [800.0] * n)
    assert len(r.failures) == 1 and "15% more than the second tenth's 2.00 s" in r.failures[0]
    grows = [900.0 + 2.0 * i for i in range(n)]            # 938 at the second tenth's end, 1098 at the last
    r = _run([1000] * n, [2.0] * n, grows, [800.0] * n)
    assert len(r.failures) == 1 and r.failures[0].startswith("the learner memory grew from 938 MB in the second")


def test_a_slowdown_says_how_the_machine_probe_moved():
    """The iterations took 15% longer in the last tenth and so did the machine probe: the run fails on its
    times as measured, and the message says the machine was 15% slower then (every third iteration probed,
    as a STATE run's are)."""
    n = 100
    slower = [2.0] * 90 + [2.3] * 10
    probes = [(25.0 if i < 90 else 28.75) if i % 3 == 0 else None for i in range(n)]
    r = _run([1000] * n, slower, [900.0] * n, [800.0] * n, probes=probes)
    assert r.tenths[9].probe_ms == pytest.approx(28.75) and r.tenths[1].probe_ms == pytest.approx(25.0)
    assert len(r.failures) == 1 and r.failures[0].endswith(
        "(allowed 10%; the machine probe took 28.8 ms against 25.0 (+15%))")
    assert "| 2.000 | 25.0 | 1.0% |" in soak_table_lines(r)[3]


def test_a_run_still_learning_is_compared_with_the_first_tenth_that_does_the_last_ones_work():
    """A camera run: the second tenth's episodes crash early, so its iterations are short; not a cost that
    grew with run length. The third tenth laps (95% of the last tenth's steps) and is the baseline."""
    n = 100
    steps = [800] * 20 + [5700] * 10 + [6000] * 70
    seconds = [s / 120 for s in steps]                     # the same cost per step throughout
    r = _run(steps, seconds, [1500.0] * n, [1500.0] * n)
    assert r.baseline == 3 and r.failures == []
    assert r.tenths[1].iteration_s < r.tenths[9].iteration_s / 5       # against the second it would fail
    assert "(baseline)" in soak_table_lines(r)[4]


def test_a_run_learning_past_its_first_half_fails_with_train_longer():
    n = 100
    steps = [1000 + 60 * i for i in range(n)]             # episodes grow to the end
    r = _run(steps, [s / 120 for s in steps], [1500.0] * n, [1500.0] * n)
    assert r.baseline > BASELINE_LATEST
    assert len(r.failures) == 1 and "train longer" in r.failures[0]


def test_too_short_a_run_says_so():
    r = _run([1000] * 5, [2.0] * 5, [900.0] * 5, [800.0] * 5)
    assert r.tenths == [] and r.failures == ["only 5 iterations: too few to split into tenths (train longer)"]


def test_the_machine_probe_times_the_presets_update_in_a_process_of_its_own():
    """MachineProbe's child builds the STATE preset's learner and answers each ask with the fixed update's
    milliseconds: positive, and repeatable to within a factor (a loaded machine would show as more)."""
    import os

    from stack.soak_bench import MachineProbe, PROBE_MIN_S

    probe = MachineProbe("state")
    try:
        first, second = probe.ms(), probe.ms()
        assert probe.proc.pid != os.getpid() and probe.proc.poll() is None
    finally:
        probe.close()
    assert probe.proc.returncode == 0
    assert first >= 0.5 * 1000 * PROBE_MIN_S and second >= 0.5 * 1000 * PROBE_MIN_S
    assert 0.33 < first / second < 3.0
