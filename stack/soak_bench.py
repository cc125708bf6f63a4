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
update on the same data in a fresh process took 0.93 ms a sample at 01:52 and 1.11-1.2 ms at 02:31-03:12 on
2026-12-06, more than the limit. Every PROBE_INTERVAL_S, between two iterations (the sims are waiting for
the next policy then, the learner has published it), ``MachineProbe`` times a fixed PPO update of the
preset's network in a process of its own. The verdict is on the iteration times as measured; a failure
says how the probe moved, so that a slower machine is told apart from a run that grew. (Three probes a
tenth vary by about 10% from tenth to tenth, too much to correct the times with.)
"""

from __future__ import annotations

import statistics
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
#: Seconds between two machine-speed probes (each takes under a second of the run's wall time, outside the
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
    probe_ms: float | None = None    # median MachineProbe.ms() within the tenth (None: not probed)


@dataclass
class SoakResult:
    preset: str
    minutes: float
    iterations: int
    episodes: int
    tenths: list[SoakTenth] = field(default_factory=list)
    baseline: int = 2            # the tenth the last one is compared with (1-based)
    failures: list[str] = field(default_factory=list)


class MachineProbe:
    """The machine's speed for the run's own kind of work: a child process holding a learner of the preset's
    network and precision times a fixed PPO update (PROBE_MINIBATCHES or more minibatches of random observations,
    one epoch, the median of PROBE_REPEATS) whenever ``ms()`` asks. A separate process, so that its memory
    and TensorFlow state stay out of the learner's figures. Ask only while nothing else of the run computes."""

    def __init__(self, preset: str):
        import os
        import subprocess
        import sys

        from core.config import preset_files

        preset_files(preset)     # an unknown preset: ConfigError naming the allowed ones, before any process
        self.proc = subprocess.Popen([sys.executable, "-m", "stack.soak_bench", "--probe", preset],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     cwd=str(Path(__file__).resolve().parent.parent),
                                     env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        self.ms()            # TensorFlow's start-up, tracing and the first update are not a measurement

    def ms(self) -> float:
        """Wall time [ms] of the fixed update, now."""
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write("probe\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the machine probe (python -m stack.soak_bench --probe) exited with "
                               f"{self.proc.wait()}; see its messages above")
        return float(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


#: The machine probe's update: at least PROBE_MINIBATCHES minibatches of the preset's batch size, doubled
#: (up to 64) until one update takes PROBE_MIN_S (a small network's update is mostly Python's overhead
#: and noisy); the median of PROBE_REPEATS runs.
PROBE_MINIBATCHES = 4
PROBE_MIN_S = 0.1
PROBE_REPEATS = 3


def _serve_probe(preset: str) -> None:
    """The child of MachineProbe: one line "probe" in, the update's milliseconds out, until stdin closes."""
    import dataclasses
    import sys

    import numpy as np

    from core.config import load_hyperparameters, load_model_metadata, preset_files
    from trainer.ppo import PPO

    from .bench import random_ppo_iteration

    metadata_file, hp_file = preset_files(preset)
    md = load_model_metadata(metadata_file)
    hp = dataclasses.replace(load_hyperparameters(hp_file), num_epochs=1)
    ppo = PPO(md, hp, seed=0)
    rng = np.random.default_rng(0)
    minibatches = PROBE_MINIBATCHES
    work = random_ppo_iteration(md, minibatches * hp.batch_size, rng)
    ppo.update(*work)                      # tracing
    while minibatches < 64 and ppo.update(*work).seconds < PROBE_MIN_S:
        minibatches *= 2
        work = random_ppo_iteration(md, minibatches * hp.batch_size, rng)
    for _ in sys.stdin:
        times = []
        for _ in range(PROBE_REPEATS):
            t0 = time.perf_counter()
            ppo.update(*work)
            times.append(time.perf_counter() - t0)
        print(f"{1000.0 * statistics.median_high(times):.3f}", flush=True)


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
    prober = MachineProbe(preset)

    def on_report(r, folder: ModelFolder) -> None:
        probe = None
        if time.monotonic() - last_probe["t"] >= PROBE_INTERVAL_S:   # the sims wait for the next policy now
            probe = prober.ms()
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
        try:
            reports, _ = run_training(req, console, on_report=on_report)
        finally:
            prober.close()
    result = SoakResult(preset, minutes, len(reports), reports[-1].total_episodes if reports else 0)
    analyse_soak(result, samples)
    return result


def analyse_soak(result: SoakResult, samples: list[dict]) -> None:
    """Split ``samples`` (one per iteration: seconds, steps, learner_rss_mb, probe_ms or None, and per sim its
    stats.json: storage_s, alive_s, rss_mb) into tenths, choose the baseline and record the failures in
    ``result``."""
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
        probes = [p["probe_ms"] for p in part if p.get("probe_ms")]
        result.tenths.append(SoakTenth(
            t + 1, (bounds[t] + 1, bounds[t + 1]), sum(p["seconds"] for p in part) / len(part),
            1000.0 * sum(p["seconds"] for p in part) / max(1, steps), steps / len(part),
            sum(p.get("update_s", 0.0) for p in part) / len(part),
            storage / alive if alive > 0 else 0.0, end["learner_rss_mb"],
            sum(float(s["rss_mb"]) for s in end["sims"].values()), statistics.median_high(probes) if probes else None))
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
    if last.iteration_s > (1 + SLOWDOWN_LIMIT) * base.iteration_s:
        probe = (f"; the machine probe took {last.probe_ms:.1f} ms against {base.probe_ms:.1f} "
                 f"({last.probe_ms / base.probe_ms - 1:+.0%})" if last.probe_ms and base.probe_ms else "")
        result.failures.append(f"the last tenth's iterations take {last.iteration_s:.2f} s, "
                               f"{last.iteration_s / base.iteration_s - 1:.0%} more than the {_ordinal(base.tenth)} "
                               f"tenth's {base.iteration_s:.2f} s (allowed {SLOWDOWN_LIMIT:.0%}{probe})")
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
             "machine probe, ms | storage share | learner RSS MB | sims RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for t in result.tenths:
        mark = " (baseline)" if t.tenth == result.baseline else ""
        probe = f"{t.probe_ms:.1f}" if t.probe_ms else "-"
        lines.append(f"| {t.tenth}{mark} | {t.iterations[0]}-{t.iterations[1]} | {t.iteration_s:.2f} | {t.update_s:.2f} | "
                     f"{t.steps_per_iteration:,.0f} | {t.step_ms:.3f} | {probe} | "
                     f"{100 * t.storage_share:.1f}% | {t.learner_rss_mb:.0f} | {t.sim_rss_mb:.0f} |")
    return lines


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--probe":
        _serve_probe(sys.argv[2])
    else:
        sys.exit("usage: python -m stack.soak_bench --probe PRESET (MachineProbe's child; make bench-soak runs it)")
