"""The reward function's time limit, slow-call warning and exit guard (simulation/reward.py), and the
reward checker's progress and episode count (simulation/checker.py, `deepracer-local reward-check`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from simulation import reward as reward_module
from simulation.env import REWARDS_DIR
from simulation.reward import ENV_TIMEOUT, RewardFunction, RewardFunctionError, reward_timeout_s

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, body: str, name: str = "reward_function.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


LOOP = """
    def reward_function(params):
        x = 0
        while params["loop"]:
            x += 1
        return 1.0
"""


def call_error(rf: RewardFunction, params: dict, **kw) -> RewardFunctionError:
    with pytest.raises(RewardFunctionError) as info:
        rf(params, **kw)
    return info.value


# ---- the time limit --------------------------------------------------------------------------------

def test_an_endless_loop_is_stopped_with_file_line_episode_step_params_and_the_limit(tmp_path):
    path = write(tmp_path, LOOP)
    rf = RewardFunction(path, timeout_s=0.3)
    t0 = time.perf_counter()
    err = call_error(rf, {"loop": True, "speed": 1.5}, episode=2, step=7)
    assert time.perf_counter() - t0 < 3.0
    assert err.kind == "timeout" and err.path == str(path) and err.line in (3, 4)
    assert err.episode == 2 and err.step == 7 and err.params == {"loop": True, "speed": 1.5}
    msg = str(err)
    assert "reward function timeout" in msg and "0.3 s limit" in msg and str(path) in msg
    assert "while params" in msg or "x += 1" in msg
    assert ENV_TIMEOUT in msg and "speed: 1.5" in msg and "episode 2, step 7" in msg
    # the function is usable again, and nothing is left running
    assert rf({"loop": False}) == 1.0
    assert rf._started is None


def test_a_long_sleep_is_interrupted(tmp_path):
    path = write(tmp_path, """
        import time

        def reward_function(params):
            time.sleep(60)
            return 1.0
    """)
    t0 = time.perf_counter()
    err = call_error(RewardFunction(path, timeout_s=0.3), {})
    assert time.perf_counter() - t0 < 3.0
    assert err.kind == "timeout" and err.line == 4 and "time.sleep(60)" in str(err)


def test_except_exception_in_the_user_code_does_not_swallow_the_timeout(tmp_path):
    path = write(tmp_path, """
        def reward_function(params):
            while True:
                try:
                    sum(range(1000))
                except Exception:
                    pass
    """)
    assert call_error(RewardFunction(path, timeout_s=0.3), {}).kind == "timeout"


def test_the_limit_comes_from_the_argument_then_the_environment_then_10_s(tmp_path, monkeypatch):
    path = write(tmp_path, LOOP)
    monkeypatch.delenv(ENV_TIMEOUT, raising=False)
    assert RewardFunction(path).timeout_s == 10.0 == reward_timeout_s()
    monkeypatch.setenv(ENV_TIMEOUT, "0.3")
    rf = RewardFunction(path)
    assert rf.timeout_s == 0.3 and RewardFunction(path, timeout_s=2).timeout_s == 2.0
    assert call_error(rf, {"loop": True}).kind == "timeout"
    monkeypatch.setenv(ENV_TIMEOUT, "0")
    assert RewardFunction(path).timeout_s == 0.0
    monkeypatch.setenv(ENV_TIMEOUT, "ten")
    with pytest.raises(ValueError, match=f"{ENV_TIMEOUT}='ten' is not a number of seconds"):
        RewardFunction(path)
    for bad in (-1, float("nan"), "3"):
        with pytest.raises(ValueError, match="time limit must be a number of seconds >= 0"):
            RewardFunction(path, timeout_s=bad)


def test_no_limit_lets_a_slow_call_finish(tmp_path, capsys):
    path = write(tmp_path, """
        import time

        def reward_function(params):
            time.sleep(0.4)
            return 2.0
    """)
    assert RewardFunction(path, timeout_s=0)({}) == 2.0
    assert "slow reward function" in capsys.readouterr().err


def test_a_call_in_another_thread_warns_while_running_and_fails_when_it_returns(tmp_path, capsys):
    path = write(tmp_path, """
        import time

        def reward_function(params):
            time.sleep(params["t"])
            return 1.0
    """)
    rf = RewardFunction(path, timeout_s=0.2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            rf({"t": 0.6}, episode=1, step=3)
        except RewardFunctionError as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(10)
    assert len(errors) == 1 and errors[0].kind == "timeout" and errors[0].step == 3
    assert "took 0.6 s, over the 0.2 s limit" in str(errors[0])
    err = capsys.readouterr().err
    assert "cannot be interrupted" in err and "outside the main thread" in err and str(path) in err


def test_a_sigusr1_outside_reward_calls_goes_to_the_handler_installed_before(tmp_path):
    if reward_module._INTERRUPT_SIGNAL is None:
        pytest.skip("no SIGUSR1 on this platform")
    before = signal.getsignal(signal.SIGUSR1)
    got: list[int] = []
    try:
        signal.signal(signal.SIGUSR1, lambda signum, frame: got.append(signum))
        RewardFunction(write(tmp_path, LOOP), timeout_s=5)
        assert signal.getsignal(signal.SIGUSR1) is reward_module._on_interrupt_signal
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.05)
        assert got == [signal.SIGUSR1]
    finally:
        signal.signal(signal.SIGUSR1, before)


# ---- the slow-call warning ---------------------------------------------------------------------------

def test_a_slow_call_warns_once_with_file_episode_step_and_time(tmp_path, capsys):
    path = write(tmp_path, """
        import time

        def reward_function(params):
            time.sleep(params["t"])
            return 1.0
    """)
    rf = RewardFunction(path)
    for step in range(5):
        rf({"t": 0.0}, episode=1, step=step)
    assert capsys.readouterr().err == ""
    for step in range(5, 8):
        assert rf({"t": 0.3}, episode=1, step=step) == 1.0
    err = capsys.readouterr().err
    assert err.count("slow reward function") == 1
    assert str(path) in err and "episode 1, step 5" in err and "a call took 0.3" in err and "over 0.1 s" in err
    RewardFunction(path)({"t": 0.3})  # each RewardFunction warns once
    assert capsys.readouterr().err.count("slow reward function") == 1


def test_every_call_leaves_no_running_mark(tmp_path):
    path = write(tmp_path, """
        def reward_function(params):
            if params["fail"]:
                raise KeyError("x")
            return 1.0
    """)
    rf = RewardFunction(path)
    rf({"fail": False})
    assert rf._started is None
    with pytest.raises(RewardFunctionError):
        rf({"fail": True})
    assert rf._started is None


# ---- exits -------------------------------------------------------------------------------------------

def test_sys_exit_in_a_call_is_a_clear_error(tmp_path):
    path = write(tmp_path, """
        import sys

        def reward_function(params):
            sys.exit(4)
    """)
    err = call_error(RewardFunction(path), {"x": 1}, episode=0, step=2)
    assert err.kind == "exit" and err.line == 4 and "sys.exit(4)" in str(err) and "never end the process" in str(err)


def test_os_exit_in_a_call_is_a_clear_error_not_a_silent_end(tmp_path):
    path = write(tmp_path, """
        import os

        def reward_function(params):
            os._exit(3)
    """)
    err = call_error(RewardFunction(path), {"x": 1}, episode=0, step=2)
    assert err.kind == "exit" and err.line == 4 and "os._exit(3)" in str(err) and err.step == 2


def test_os_exit_at_import_is_a_clear_error(tmp_path):
    path = write(tmp_path, """
        from os import _exit
        _exit(1)

        def reward_function(params):
            return 1.0
    """)
    with pytest.raises(RewardFunctionError) as info:
        RewardFunction(path)
    assert info.value.kind == "exit at import" and "os._exit(1)" in str(info.value) and info.value.line == 2


def test_os_exit_outside_reward_calls_still_ends_the_process():
    code = ("import os\nfrom simulation.reward import RewardFunction\n"
            f"RewardFunction({str(REWARDS_DIR / 'default.py')!r})\nos._exit(5)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 5, r.stderr


# ---- the checker and `reward-check` ------------------------------------------------------------------

def test_check_reward_reports_progress_after_every_step():
    from simulation.checker import check_reward

    seen: list[tuple[int, int]] = []
    report = check_reward(REWARDS_DIR / "default.py", track="reinvent", episodes=2,
                          progress=lambda done, step: seen.append((done, step)))
    assert seen[-1] == (2, 0) and seen[0] == (0, 1)
    assert len(seen) == sum(e.steps for e in report.episodes)
    assert [d for d, s in seen].count(1) == report.episodes[1].steps


@pytest.mark.parametrize("episodes", [0, -1])
def test_check_reward_refuses_no_episodes(episodes):
    from simulation.checker import check_reward

    with pytest.raises(ValueError, match=f"episodes to check must be a whole number >= 1, got {episodes}"):
        check_reward(REWARDS_DIR / "default.py", track="reinvent", episodes=episodes)


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    keep = {k: os.environ[k] for k in ("DEEPRACER_TRACKS", "DEEPRACER_TRACKS_URL", "XDG_CACHE_HOME") if k in os.environ}
    return subprocess.run([sys.executable, "-m", "stack.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(ROOT), "COLUMNS": "200", "PATH": "/usr/bin:/bin",
                                            **keep, **env})


@pytest.mark.parametrize("episodes", ["0", "-2"])
def test_reward_check_with_no_episodes_is_one_clear_line(episodes):
    r = run_cli("reward-check", str(REWARDS_DIR / "default.py"), "--episodes", episodes)
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: --episodes (EPISODES= with make) must be at least 1, got {episodes}"


def test_reward_check_stops_an_endless_loop_with_a_clear_error(tmp_path):
    path = write(tmp_path, LOOP.replace('params["loop"]', "params['steps'] > 3"))
    t0 = time.perf_counter()
    r = run_cli("reward-check", str(path), "--track", "reinvent", **{ENV_TIMEOUT: "0.5"})
    assert time.perf_counter() - t0 < 60
    assert r.returncode == 1
    assert "reward function timeout" in r.stderr and str(path) in r.stderr and "step 4" in r.stderr
    assert ENV_TIMEOUT in r.stderr and "Traceback" not in r.stderr


def test_reward_check_shows_a_slow_reward_function(tmp_path):
    path = write(tmp_path, """
        import time

        def reward_function(params):
            if params["steps"] == 2:
                time.sleep(0.3)
            return 1.0
    """)
    r = run_cli("reward-check", str(path), "--track", "reinvent", "--episodes", "1")
    assert r.returncode == 0, r.stderr
    assert "slow reward function" in r.stderr and "step 2" in r.stderr and "OK" in r.stdout
