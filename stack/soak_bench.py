"""``make bench-soak``: is a long run as fast per iteration at the end as at the start?

Trains PRESET from scratch for MINUTES (the presets' stop rules lifted), one sim, and splits the run into
tenths of its iterations. Per tenth: the mean iteration time and the wall time per env step, the mean env
steps per iteration, the learner's update time per iteration (the rest is gathering and publishing), the
sims' storage share (seconds spent writing and reading the model folder and
sending episodes, against their time alive, from each sim's ``preview/sim-<i>/stats.json``), the learner's
and the sims' resident memory at the tenth's end.

The last tenth is compared with a baseline tenth: the second (the first holds the start-up: TensorFlow
loading, the first iterations' tracing), unless the policy was still learning to stay on the track then,
so that its iterations did less work. Iterations lengthen while episodes do: in the 30-minute camera run
of 2026-12-05 the second tenth's episodes still crashed early (6,298 env steps per iteration against the
last tenth's 8,671), and faster iterations for that reason say nothing about a cost that grows with run
length. So when the second tenth's env steps per
iteration are below WORK_MATCH of the last tenth's, the baseline is the first later tenth that reaches it,
and it must lie in the run's first half (BASELINE_LATEST): a run that is still learning later than that
fails with "train longer". The run fails (exit 1) when the last tenth's iteration time is more than
SLOWDOWN_LIMIT above the baseline's, or the learner's or the sims' memory grew more than
MEMORY_GROWTH_LIMIT from the baseline to the last tenth.

The machine's own speed is measured too, because it drifts: on the 2-core development VM, the same
update on the same data in a fresh process took 0.93 ms a sample at 01:52 and 1.11 ms at 02:31 on
2026-12-06 (+19%), more than the limit. Every PROBE_INTERVAL_S, between two iterations (the sims are
waiting for the next policy then, the learner has published it), ``machine_probe_ms`` times a fixed
piece of CPU work. The iteration time is compared at the baseline's machine speed (the tenth's time x
the baseline's probe / the tenth's probe); the table has both, and the probe.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Allowed growth from the baseline tenth to the last: iteration time, and learner + sim memory.
SLOWDOWN_LIMIT = 0.10
MEMORY_GROWTH_LIMIT = 0.10
#: A tenth is a baseline when its env steps per iteration reach this share of the last tenth's.
WORK_MATCH = 0.90
#: The latest tenth (1-based) that may serve as the baseline.
BASELINE_LATEST = 5
#: Seconds between two machine-speed probes (each takes about 0.2 s of the run's wall time, outside the
#: iterations' own time).
PROBE_INTERVAL_S = 20.0


@dataclass
class SoakTenth:
    tenth: int                  # 1..10
    iterations: tuple[int, int]  # first and last iteration (1-based) of the tenth
    iteration_s: float           # mean wall time per iteration
    step_ms: float               # wall time per env step (episodes grow longer as the policy learns)
    steps_per_iteration: float   # mean env steps per iteration (the work an iteration does)
    update_s: float              # mean seconds of the learner's update (PPO/SAC) per iteration
    storage_share: float         # sims' storage seconds / their seconds alive, within the tenth
    learner_rss_mb: float
    sim_rss_mb: float            # all sims together
    probe_ms: float | None = None    # median machine_probe_ms within the tenth (None: not probed)
    #: iteration_s at the baseline tenth's machine speed (iteration_s x baseline probe / this probe)
    normalized_iteration_s: float | None = None


@dataclass
class SoakResult:
    preset: str
    minutes: float
    iterations: int
    episodes: int
    tenths: list[SoakTenth] = field(default_factory=list)
    baseline: int = 2            # the tenth the last one is compared with (1-based)
    failures: list[str] = field(default_factory=list)


def machine_probe_ms(repeats: int = 5) -> float:
    """Wall time [ms] of a fixed piece of CPU work, the median of ``repeats`` runs: float32 matrix products
    (what the network's layers and their gradients do) and passes over a 16 MB array (what the renderer and
    the transport's copies do). Its ratio between two moments is the machine's speed ratio; run it only
    while nothing else of the run computes."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.random((384, 384), dtype=np.float32)
    big = rng.random(4 * 1024 * 1024, dtype=np.float32)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(40):
            a @ a
        for _ in range(8):
            np.multiply(big, 1.0001, out=big)
        times.append(time.perf_counter() - t0)
    return 1000.0 * sorted(times)[len(times) // 2]


def _learner_rss_mb() -> float:
    from simulation.worker import rss_mb

    return rss_mb()


def bench_soak(minutes: float = 60.0, preset: str = "state", track: str = "reinvent_base", seed: int = 0,
               models_dir: str | Path | None = None, console=None) -> SoakResult:
    """Train and measure (the module docstring)."""
    from core.model_folder import ModelFolder
    from core.storage import StorageKeyError

    from .bench import _NO_EARLY_STOP
    from .train import TrainRequest, run_training

    samples: list[dict] = []     # per iteration: seconds, learner rss, and per sim (storage_s, alive_s, rss_mb)
    last_probe = {"t": -PROBE_INTERVAL_S}

    def on_report(r, folder: ModelFolder) -> None:
        probe = None
        if time.monotonic() - last_probe["t"] >= PROBE_INTERVAL_S:   # the sims wait for the next policy now
            probe = machine_probe_ms()
            last_probe["t"] = time.monotonic()
        sims = {}
        for w in range(8):
            try:
                sims[w] = folder.read_json(folder.sim_stats(w))
            except (StorageKeyError, ValueError):
                if w > 0:
                    break
        samples.append({"seconds": r.seconds, "learner_rss_mb": _learner_rss_mb(), "sims": sims,
                        "episodes": r.total_episodes, "steps": r.env_steps,
                        "update_s": r.update.seconds if r.update else 0.0, "probe_ms": probe})

    with tempfile.TemporaryDirectory(prefix="deepracer-bench-soak-") as tmp:
        root = Path(models_dir) if models_dir else Path(tmp)
        name = f"soak-{preset}-{time.strftime('%Y%m%d-%H%M%S')}"
        req = TrainRequest(track=track, model=name, preset=preset, minutes=minutes, models_dir=root, seed=seed,
                           hyperparameter_overrides=dict(_NO_EARLY_STOP), overrides_source="bench soak")
        reports, _ = run_training(req, console, on_report=on_report)
    result = SoakResult(preset, minutes, len(reports), reports[-1].total_episodes if reports else 0)
    analyse_soak(result, samples)
    return result


def analyse_soak(result: SoakResult, samples: list[dict]) -> None:
    """Split ``samples`` (one per iteration: seconds, steps, learner_rss_mb, probe_ms or None, and per sim its
    stats.json: storage_s, alive_s, rss_mb) into tenths, choose the baseline and record the failures in
    ``result``. Without probes the iteration times are compared as they are."""
    n = len(samples)
    if n < 10:
        result.failures.append(f"only {n} iterations: too few to split into tenths (train longer)")
        return
    bounds = [round(i * n / 10) for i in range(11)]
    for t in range(10):
        part = samples[bounds[t]:bounds[t + 1]]
        before = samples[bounds[t] - 1] if bounds[t] > 0 else None
        end = part[-1]
        storage = alive = 0.0
        for w, s in end["sims"].items():
            s0 = (before or {}).get("sims", {}).get(w, {"storage_s": 0.0, "alive_s": 0.0})
            storage += float(s["storage_s"]) - float(s0["storage_s"])
            alive += float(s["alive_s"]) - float(s0["alive_s"])
        steps = sum(p["steps"] for p in part)
        probes = sorted(p["probe_ms"] for p in part if p.get("probe_ms"))
        result.tenths.append(SoakTenth(
            t + 1, (bounds[t] + 1, bounds[t + 1]), sum(p["seconds"] for p in part) / len(part),
            1000.0 * sum(p["seconds"] for p in part) / max(1, steps), steps / len(part),
            sum(p.get("update_s", 0.0) for p in part) / len(part),
            storage / alive if alive > 0 else 0.0, end["learner_rss_mb"],
            sum(float(s["rss_mb"]) for s in end["sims"].values()), probes[len(probes) // 2] if probes else None))
    last = result.tenths[-1]
    base = next((t for t in result.tenths[1:-1] if t.steps_per_iteration >= WORK_MATCH * last.steps_per_iteration),
                last)
    result.baseline = base.tenth
    if base.tenth > BASELINE_LATEST:
        result.failures.append(
            f"the policy was still learning in the run's first half: no tenth from the second to the "
            f"{_ordinal(BASELINE_LATEST)} did {WORK_MATCH:.0%} of the last tenth's {last.steps_per_iteration:.0f} env "
            f"steps per iteration (the first was the {_ordinal(base.tenth)}), so no tenth compares with the last: "
            "train longer (MINUTES=)")
        return
    probed = all(t.probe_ms for t in result.tenths)
    for t in result.tenths:
        t.normalized_iteration_s = t.iteration_s * base.probe_ms / t.probe_ms if probed else t.iteration_s
    if last.normalized_iteration_s > (1 + SLOWDOWN_LIMIT) * base.iteration_s:
        speed = (f" at the {_ordinal(base.tenth)} tenth's machine speed ({last.iteration_s:.2f} s as measured; "
                 f"the machine probe took {last.probe_ms:.1f} against {base.probe_ms:.1f} ms)" if probed else "")
        result.failures.append(f"the last tenth's iterations take {last.normalized_iteration_s:.2f} s{speed}, "
                               f"{last.normalized_iteration_s / base.iteration_s - 1:.0%} more than the "
                               f"{_ordinal(base.tenth)} tenth's {base.iteration_s:.2f} s (allowed {SLOWDOWN_LIMIT:.0%})")
    for what, a, b in (("learner", base.learner_rss_mb, last.learner_rss_mb),
                       ("sims'", base.sim_rss_mb, last.sim_rss_mb)):
        if a > 0 and b > (1 + MEMORY_GROWTH_LIMIT) * a:
            result.failures.append(f"the {what} memory grew from {a:.0f} MB in the {_ordinal(base.tenth)} tenth to "
                                   f"{b:.0f} MB ({b / a - 1:.0%}; allowed {MEMORY_GROWTH_LIMIT:.0%})")


def _ordinal(n: int) -> str:
    return {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth", 7: "seventh", 8: "eighth",
            9: "ninth", 10: "last"}[n]


def soak_table_lines(result: SoakResult) -> list[str]:
    """The tenths as Markdown table lines."""
    lines = ["| tenth | iterations | s / iteration | of it the update, s | env steps / iteration | ms / env step | "
             "machine probe, ms | s / iteration at the baseline's machine speed | storage share | learner RSS MB | "
             "sims RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in result.tenths:
        mark = " (baseline)" if t.tenth == result.baseline else ""
        probe = f"{t.probe_ms:.1f}" if t.probe_ms else "-"
        norm = f"{t.normalized_iteration_s:.2f}" if t.normalized_iteration_s is not None else "-"
        lines.append(f"| {t.tenth}{mark} | {t.iterations[0]}-{t.iterations[1]} | {t.iteration_s:.2f} | {t.update_s:.2f} | "
                     f"{t.steps_per_iteration:,.0f} | {t.step_ms:.3f} | {probe} | {norm} | "
                     f"{100 * t.storage_share:.1f}% | {t.learner_rss_mb:.0f} | {t.sim_rss_mb:.0f} |")
    return lines
