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
    assert lines[3].startswith("| 2 (baseline) | 11-20 | 2.00 | 1.00 | 1,000 | 2.000 | - | 2.00 | 1.0% | 900 | 800 |")


def test_a_run_that_slows_down_or_grows_fails_and_says_by_how_much():
    n = 100
    slower = [2.0] * 90 + [2.3] * 10
    r = _run([1000] * n, slower, [900.0] * n, [800.0] * n)
    assert len(r.failures) == 1 and "15% more than the second tenth's 2.00 s" in r.failures[0]
    grows = [900.0 + 2.0 * i for i in range(n)]            # 938 at the second tenth's end, 1098 at the last
    r = _run([1000] * n, [2.0] * n, grows, [800.0] * n)
    assert len(r.failures) == 1 and r.failures[0].startswith("the learner memory grew from 938 MB in the second")


def test_a_machine_that_slowed_down_is_told_apart_from_a_run_that_did():
    """The machine probe took 15% longer in the last tenth, and so did the iterations: the run's own cost is
    flat. With a steady probe the same iterations fail; every third iteration probed, as a camera run's
    iterations of about a minute are each probed and a STATE run's every few."""
    n = 100
    slower = [2.0] * 90 + [2.3] * 10
    probes = [(25.0 if i < 90 else 28.75) if i % 3 == 0 else None for i in range(n)]
    r = _run([1000] * n, slower, [900.0] * n, [800.0] * n, probes=probes)
    assert r.failures == [] and r.tenths[9].probe_ms == pytest.approx(28.75)
    assert r.tenths[9].normalized_iteration_s == pytest.approx(2.0)
    assert "| 25.0 | 2.00 |" in soak_table_lines(r)[3] and "| 28.8 | 2.00 |" in soak_table_lines(r)[11]
    r = _run([1000] * n, slower, [900.0] * n, [800.0] * n, probes=[25.0 if i % 3 == 0 else None for i in range(n)])
    assert len(r.failures) == 1 and r.failures[0].startswith(
        "the last tenth's iterations take 2.30 s at the second tenth's machine speed (2.30 s as measured; the "
        "machine probe took 25.0 against 25.0 ms), 15% more")


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
