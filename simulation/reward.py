"""The user's reward function: load it, call it per car per step, and explain every fault.

A DeepRacer reward function is a file defining ``reward_function(params) -> float`` (spec section
1). :class:`RewardFunction` loads it once per simulated car (``copies``), as independent module
instances, so a function that keeps state in module globals behaves as if it drove one car alone.
Every fault (missing file, syntax error, exception, a result that is not a finite number within
``REWARD_LIMIT``) is a :class:`RewardFunctionError` whose message names the user's file and line,
the episode and step, and the params that caused it.

Contract with the caller (the simulator): the reference deep-copies ``params`` for each call; we
do not (too slow at ~100k calls/s). The caller must instead build a fresh dict per call whose
lists are fresh and whose elements are immutable (tuples, floats, bools, ints), so that whatever
the user function mutates is thrown away after the call.

Time limits. Each call records its start time; a daemon watchdog thread (one per process) looks at
the running calls every 50 ms. A call it sees running longer than ``SLOW_CALL_S`` (0.1 s) is timed
when it returns and prints one warning per :class:`RewardFunction` to stderr (file, episode, step,
seconds): the function runs once per car per step, so such a function makes training crawl. A call
that runs past the limit (``timeout_s``; default ``DEFAULT_TIMEOUT_S`` = 10 s, or the environment
variable ``DEEPRACER_REWARD_TIMEOUT_S`` in seconds; 0 = no limit) is stopped with a ``"timeout"``
RewardFunctionError naming the line it was running: the watchdog sends ``SIGUSR1`` to the main thread,
whose handler raises inside the call. That ends an endless loop or a long ``time.sleep``, but only in
the main thread of a process (where Python runs signal handlers), and only once the function is back
in Python code. Elsewhere (a call in another thread, a RewardFunction created outside the main
thread, a platform without ``SIGUSR1``) the watchdog prints a warning and the call fails with the
timeout error when it returns. The handler is installed when a RewardFunction with a limit is created
in the main thread; a ``SIGUSR1`` that arrives outside a reward call goes to the handler installed
before it, if any (a default-action ``SIGUSR1`` is then ignored instead of ending the process).

Exits. ``sys.exit()``/``exit()``/``raise SystemExit`` and ``os._exit()`` in the user's file (at import or
in a call) become an ``"exit"`` RewardFunctionError instead of ending the simulator: creating a
RewardFunction replaces ``os._exit`` process-wide by a wrapper that raises when called from inside
the user's code and calls the real ``os._exit`` everywhere else.

The per-call cost of all this is one clock read, two attribute stores and a test (about 50 ns).
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import math
import numbers
import os
import signal
import sys
import threading
import time
import traceback
import weakref
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from core.messages import REWARD_LIMIT  # largest accepted |reward| (spec section 1); one home in core

#: Lists longer than this are shown abbreviated (first 3 items) in error messages.
_LIST_SHOWN_IN_FULL = 5
_module_ids = itertools.count()

#: A call slower than this [s] prints one warning per RewardFunction.
SLOW_CALL_S = 0.1
#: Default limit of one call [s]; ``ENV_TIMEOUT`` (seconds, 0 = no limit) overrides it.
DEFAULT_TIMEOUT_S = 10.0
ENV_TIMEOUT = "DEEPRACER_REWARD_TIMEOUT_S"
#: How often the watchdog looks at running calls [s] (a quarter of the limit, if that is shorter).
_WATCH_INTERVAL_S = 0.05
#: The signal that interrupts an overdue call in the main thread (None where the platform lacks it).
_INTERRUPT_SIGNAL = getattr(signal, "SIGUSR1", None) if hasattr(signal, "pthread_kill") else None
_now = time.perf_counter


def format_params(params: dict | None, indent: str = "    ") -> str:
    """``params`` one key per line, long lists (``waypoints``) cut to 3 items + their count."""
    if not params:
        return f"{indent}(none)" if params is None else f"{indent}(empty)"
    lines = []
    for key, value in dict.items(params):  # dict.items: no read-tracking of a tracked dict
        if isinstance(value, (list, tuple, np.ndarray)) and len(value) > _LIST_SHOWN_IN_FULL:
            head = ", ".join(repr(v) for v in value[:3])
            shown = f"[{head}, ... ({len(value)} items)]"
        else:
            shown = repr(value)
        lines.append(f"{indent}{key}: {shown}")
    return "\n".join(lines)


class RewardFunctionError(Exception):
    """Any fault of the user's reward function, at load time or at a call.

    Attributes: ``path`` (the reward file), ``line`` (1-based line in that file, or None),
    ``episode`` / ``step`` (None when unknown, e.g. at load time), ``params`` (the params of the
    failing call, as the function left them; None at load time), ``kind`` (a short tag such as
    ``"exception"``, ``"syntax error"``, ``"NaN"``, ``"out of range"``).
    """

    def __init__(self, message: str, *, path: str | os.PathLike | None = None,
                 line: int | None = None, episode: int | None = None, step: int | None = None,
                 params: dict | None = None, kind: str = "error") -> None:
        super().__init__(message)
        self.path = str(path) if path is not None else None
        self.line, self.episode, self.step, self.params, self.kind = line, episode, step, params, kind

    @classmethod
    def build(cls, kind: str, detail: str, path: str | os.PathLike, *, line: int | None = None,
              code: str | None = None, episode: int | None = None, step: int | None = None,
              params: dict | None = None, show_params: bool = False,
              extra: Iterable[str] = ()) -> RewardFunctionError:
        """Compose the standard multi-line message and the error."""
        if params is not None and type(params) is not dict:
            params = dict(dict.items(params))  # a tracked dict: keep a plain one, untracked
        where = f"{path}" + (f", line {line}" if line is not None else "")
        when = ", ".join(f"{n} {v}" for n, v in (("episode", episode), ("step", step)) if v is not None)
        lines = [f"reward function {kind}: {detail}", f"  at:     {where}" + (f" ({when})" if when else "")]
        if code:
            lines.append(f"  code:   {code.strip()}")
        lines.extend(f"  {e}" for e in extra)
        if show_params or params is not None:
            lines += ["  params:", format_params(params)]
        return cls("\n".join(lines), path=path, line=line, episode=episode, step=step,
                   params=params, kind=kind)


class _TrackedParams(dict):
    """A params dict that records into ``read`` the keys the user function looks at."""

    __slots__ = ("read",)

    def __init__(self, params: dict, read: set[str]) -> None:
        super().__init__(params)
        self.read = read

    def _all(self) -> None:
        self.read.update(dict.keys(self))

    def __getitem__(self, key: Any) -> Any:
        self.read.add(key)
        return dict.__getitem__(self, key)

    def get(self, key: Any, default: Any = None) -> Any:
        self.read.add(key)
        return dict.get(self, key, default)

    def __contains__(self, key: Any) -> bool:
        self.read.add(key)
        return dict.__contains__(self, key)

    def pop(self, key: Any, *default: Any) -> Any:
        self.read.add(key)
        return dict.pop(self, key, *default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self.read.add(key)
        return dict.setdefault(self, key, default)

    def __iter__(self) -> Iterator:
        self._all()
        return dict.__iter__(self)

    def keys(self):  # type: ignore[override]
        self._all()
        return dict.keys(self)

    def values(self):  # type: ignore[override]
        self._all()
        return dict.values(self)

    def items(self):  # type: ignore[override]
        self._all()
        return dict.items(self)

    def copy(self) -> dict:
        self._all()
        return dict(dict.items(self))

    def __repr__(self) -> str:
        self._all()
        return dict.__repr__(self)


class RewardFunction:
    """A user's ``reward_function(params)`` file, loaded ``copies`` times (one per simulated car).

    ``rf(params, car=k, episode=e, step=s)`` returns the float reward of car ``k``'s copy, or
    raises :class:`RewardFunctionError`. ``params`` must be fresh per call (see module docstring).
    ``call_tracked`` does the same and adds the params keys read to ``keys_read``.
    ``timeout_s`` limits one call in seconds (None: ``DEEPRACER_REWARD_TIMEOUT_S`` or 10 s; 0: no
    limit); see the module docstring for how an overdue call is stopped.
    """

    def __init__(self, path: str | os.PathLike, copies: int = 1, timeout_s: float | None = None,
                 display_path: str | None = None) -> None:
        if copies < 1:
            raise ValueError(f"copies must be >= 1, got {copies}")
        self.path = Path(path).expanduser().absolute()
        self.copies = copies
        self.keys_read: set[str] = set()
        self._filename = str(self.path)
        #: The file as messages name it: the user's own file when ``path`` is a working copy of it.
        self.display_path = display_path or self._filename
        self.timeout_s = reward_timeout_s(timeout_s)
        #: perf_counter() at the start of the running call, None between calls (read by the watchdog).
        self._started: float | None = None
        self._slow_s = min(SLOW_CALL_S, self.timeout_s or SLOW_CALL_S)
        #: The start time of a call the watchdog saw running longer than ``_slow_s`` (else None).
        self._flagged: float | None = None
        self._slow_warned = self._overdue_warned = False
        _guard_os_exit()
        code = self._compile()
        self.modules: list[ModuleType] = [self._load(code) for _ in range(copies)]
        self._functions: list[Callable[[dict], Any]] = [m.reward_function for m in self.modules]
        self._check_signature(self._functions[0])
        if self.timeout_s:
            _install_interrupt_handler()
        _watch(self)

    # -- loading ---------------------------------------------------------------------------------
    def _error(self, kind: str, detail: str, **kw: Any) -> RewardFunctionError:
        return RewardFunctionError.build(kind, detail, self.display_path, **kw)

    def _compile(self) -> Any:
        p = self.path
        expected = "a Python file defining `reward_function(params)` is expected"
        if not p.exists():
            raise self._error("file not found", f"no such file: {p} ({expected})")
        if not p.is_file():
            raise self._error("not a file", f"{p} is not a regular file ({expected})")
        if p.suffix != ".py":
            raise self._error("not a .py file", f"{p.name} does not end in .py ({expected})")
        try:
            source = p.read_bytes()
        except OSError as exc:
            raise self._error("unreadable", f"cannot read {p}: {exc}") from exc
        self._lines = source.decode("utf-8", errors="replace").splitlines()
        try:
            return compile(source, self._filename, "exec", dont_inherit=True)
        except SyntaxError as exc:
            detail = f"{type(exc).__name__}: {exc.msg}"
            if exc.offset and exc.text:
                detail += f" (column {exc.offset})"
            raise self._error("syntax error", detail, line=exc.lineno, code=exc.text) from exc
        except ValueError as exc:  # e.g. null bytes in the source
            raise self._error("syntax error", str(exc)) from exc

    def _load(self, code: Any) -> ModuleType:
        name = f"_deepracer_reward_{next(_module_ids)}"
        spec = importlib.util.spec_from_file_location(name, self._filename)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # only while it runs (dataclasses, typing look it up)
        try:
            exec(code, module.__dict__)
        except (Exception, SystemExit) as exc:
            raise self._exception_error("exception at import", exc, None, None, None) from exc
        finally:
            sys.modules.pop(name, None)
        fn = getattr(module, "reward_function", None)
        if not callable(fn):
            found = sorted(k for k, v in vars(module).items()
                           if callable(v) and not k.startswith("__") and not isinstance(v, ModuleType)
                           and getattr(v, "__module__", None) == name)
            what = "is not callable" if fn is not None else "is not defined"
            raise self._error("no reward_function", f"`reward_function` {what} at the top level"
                              f" of the file; top-level callables found: {', '.join(found) or 'none'}")
        return module

    def _check_signature(self, fn: Callable) -> None:
        try:
            inspect.signature(fn).bind(object())
        except ValueError:  # no signature available (e.g. a builtin): let calls decide
            return
        except TypeError:
            code = getattr(fn, "__code__", None)
            line = code.co_firstlineno if code and code.co_filename == self._filename else None
            raise self._error("bad signature", f"reward_function{inspect.signature(fn)} must accept"
                              " exactly one positional argument: def reward_function(params)",
                              line=line, code=self._source(line)) from None

    # -- faults ----------------------------------------------------------------------------------
    def _source(self, line: int | None) -> str | None:
        return self._lines[line - 1] if line and 0 < line <= len(self._lines) else None

    def _exception_error(self, kind: str, exc: BaseException, params: dict | None,
                         episode: int | None, step: int | None, detail: str | None = None,
                         extra: Iterable[str] = ()) -> RewardFunctionError:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == self._filename]
        line = frames[-1].lineno if frames else None
        if isinstance(exc, SyntaxError) and exc.filename == self._filename:
            line = exc.lineno
        if isinstance(exc, SystemExit) and detail is None:
            kind = kind.replace("exception", "exit")
            call = f"os._exit({exc.code!r})" if isinstance(exc, _ExitCalled) else f"sys.exit({exc.code!r}) (SystemExit)"
            detail = (f"the reward function called {call}; it must return a number, never end the process"
                      " (the simulator would stop without a word)")
        extra = list(extra)
        if len(frames) > 1:
            extra.insert(0, "calls:  " + " -> ".join(f"{f.name} (line {f.lineno})" for f in frames))
        if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
            extra.append("note:   only reward_function.py travels with the model (to every sim, the stack, "
                         "the car): a file it reads beside it is not there; put such data into the file itself")
        return self._error(kind, detail or f"{type(exc).__name__}: {exc}", line=line, code=self._source(line),
                           episode=episode, step=step, params=params, extra=extra)

    def _timeout_error(self, elapsed: float, exc: BaseException | None, params: dict | None,
                       episode: int | None, step: int | None) -> RewardFunctionError:
        """The ``"timeout"`` error: interrupted (``exc``, at the line it was running) or late (None)."""
        limit = (f"limit:  {self.timeout_s:g} s per call; set {ENV_TIMEOUT}=<seconds> (0 = no limit) or"
                 " RewardFunction(..., timeout_s=...) to change it")
        if exc is not None:
            detail = (f"reward_function did not return within the {self.timeout_s:g} s limit and was stopped"
                      f" after {elapsed:.1f} s (an endless loop, or a very slow computation?)")
            return self._exception_error("timeout", exc, params, episode, step, detail=detail, extra=[limit])
        code = getattr(self._functions[0], "__code__", None)
        line = code.co_firstlineno if code and code.co_filename == self._filename else None
        return self._error("timeout", f"reward_function (defined at line {line}) took {elapsed:.1f} s, over the"
                           f" {self.timeout_s:g} s limit (it could not be interrupted while it ran)", line=line,
                           code=self._source(line), episode=episode, step=step, params=params, extra=[limit])

    def _slow_call(self, t0: float, params: dict, episode: int | None, step: int | None) -> None:
        """After a call the watchdog flagged as slow: the timeout error if it was over the limit, else
        warn once. (Timing every call here would cost a second clock read per call.)"""
        flagged, self._flagged = self._flagged, None
        if flagged != t0:  # flagged just after an earlier call ended
            return
        elapsed = _now() - t0
        if self.timeout_s and elapsed > self.timeout_s:
            raise self._timeout_error(elapsed, None, params, episode, step)
        if not self._slow_warned:
            self._slow_warned = True
            when = ", ".join(f"{n} {v}" for n, v in (("episode", episode), ("step", step)) if v is not None)
            _warn(f"warning: slow reward function: a call took {elapsed:.3f} s (over {SLOW_CALL_S:g} s) in"
                  f" {self._filename}{f' ({when})' if when else ''}. It runs once per car per step, so training"
                  " slows to a crawl; keep a call well under 1 ms. (Shown once.)")

    def _overdue(self, started: float, elapsed: float) -> None:
        """Watchdog thread: a call has run past the limit; interrupt it, or warn when it cannot be."""
        main = threading.main_thread()
        frame = sys._current_frames().get(main.ident)  # type: ignore[arg-type]
        while frame is not None and frame.f_code is not _CALL_CODE:
            frame = frame.f_back
        if frame is None:
            why = "it runs outside the main thread"
        elif _INTERRUPT_SIGNAL is None or signal.getsignal(_INTERRUPT_SIGNAL) is not _on_interrupt_signal:
            why = "no signal handler can stop it (created outside the main thread, or the handler was replaced)"
        else:
            signal.pthread_kill(main.ident, _INTERRUPT_SIGNAL)  # type: ignore[arg-type]
            return
        if not self._overdue_warned and self._started == started:
            self._overdue_warned = True
            _warn(f"warning: the reward function {self._filename} has been running for {elapsed:.1f} s, over the"
                  f" {self.timeout_s:g} s limit; it cannot be interrupted ({why}), so it fails with a timeout"
                  " error when it returns.")

    def _bad_result(self, result: Any, car: int, params: dict, episode: int | None,
                    step: int | None) -> float:
        """Slow path of a call: cast ``result`` to float or raise the fitting error."""
        value: float | None = None
        shown = ""
        if isinstance(result, numbers.Real) or (
                isinstance(result, np.ndarray) and result.size == 1 and result.dtype.kind in "biuf"):
            try:
                value = float(result.reshape(()) if isinstance(result, np.ndarray) else result)
            except OverflowError:  # a huge int or Fraction: out of range, not infinite
                value, shown = (math.inf if result > 0 else -math.inf), _short(result)
        if value is not None and -REWARD_LIMIT <= value <= REWARD_LIMIT:
            return value
        if value is None:
            kind, detail = "not a number", (f"returned {type(result).__name__} {_short(result)};"
                                            " expected a real number (float)")
        elif math.isnan(value):
            kind, detail = "NaN", "returned NaN; expected a finite number"
        elif math.isinf(value) and not shown:
            kind, detail = "infinite", f"returned {value}; expected a finite number"
        else:
            kind, detail = "out of range", (f"returned {shown or repr(value)}, outside the allowed range"
                                            f" [-{REWARD_LIMIT:g}, {REWARD_LIMIT:g}]")
        code = getattr(self._functions[car], "__code__", None)
        line = code.co_firstlineno if code and code.co_filename == self._filename else None
        raise self._error(kind, f"reward_function (defined at line {line}) {detail}", line=line,
                          code=self._source(line), episode=episode, step=step, params=params)

    # -- calls -----------------------------------------------------------------------------------
    def __call__(self, params: dict, car: int = 0, episode: int | None = None,
                 step: int | None = None) -> float:
        """Reward of car ``car``'s copy for ``params`` (fresh containers, not copied here)."""
        self._started = t0 = _now()
        try:
            result = self._functions[car](params)
        except (Exception, SystemExit, _CallTimeout) as exc:
            self._started = None  # first: the watchdog's signal must not hit the error reporting
            if isinstance(exc, _CallTimeout):
                raise self._timeout_error(_now() - t0, exc, params, episode, step) from None
            raise self._exception_error("exception", exc, params, episode, step) from exc
        finally:
            self._started = None
        if self._flagged is not None:
            self._slow_call(t0, params, episode, step)
        if type(result) is float or type(result) is int:
            if -REWARD_LIMIT <= result <= REWARD_LIMIT:  # False for NaN and +-inf
                return float(result)
        return self._bad_result(result, car, params, episode, step)

    def call_tracked(self, params: dict, car: int = 0, episode: int | None = None,
                     step: int | None = None) -> float:
        """Like ``__call__``, also adding the params keys the function read to ``keys_read``."""
        return self(_TrackedParams(params, self.keys_read), car, episode, step)

    def __repr__(self) -> str:
        return f"RewardFunction({self._filename!r}, copies={self.copies})"


# -- the watchdog, the interrupt and the exit guard -------------------------------------------------
class _CallTimeout(BaseException):
    """Raised inside an overdue call by the signal handler; a BaseException so that the user's
    ``except Exception`` does not swallow it. __call__ turns it into a RewardFunctionError."""


class _ExitCalled(SystemExit):
    """Raised instead of ending the process when the user's code calls ``os._exit``."""


_CALL_CODE = RewardFunction.__call__.__code__
#: Frames of these functions run the user's code: os._exit called below them raises instead.
_GUARDED_CODES = (_CALL_CODE, RewardFunction._load.__code__)
_watched: "weakref.WeakSet[RewardFunction]" = weakref.WeakSet()
_watch_lock = threading.Lock()
_watchdog: threading.Thread | None = None
_previous_handler: Any = None
_real_os_exit = os._exit


class IsolatedRewardFunction(RewardFunction):
    """A RewardFunction run from a private copy in a folder of its own: how the sims, evaluation and
    `check-reward` all run a reward, so they behave alike (a file the reward reads beside it is
    missing in each). ``source`` is the user's file or the bytes of a model's reward_function.py;
    messages name ``display_path`` (default: the user's file)."""

    def __init__(self, source: str | os.PathLike | bytes, copies: int = 1, timeout_s: float | None = None,
                 display_path: str | None = None) -> None:
        import tempfile

        self._copy_dir = tempfile.TemporaryDirectory(prefix="deepracer-reward-")
        copy = Path(self._copy_dir.name) / "reward_function.py"
        if isinstance(source, bytes):
            copy.write_bytes(source)
        else:
            original = Path(source).expanduser().absolute()
            display_path = display_path or str(original)
            if original.is_file() and original.suffix == ".py":
                copy.write_bytes(original.read_bytes())
            else:                     # let RewardFunction report the missing or wrong file as it is
                copy = original
        super().__init__(copy, copies=copies, timeout_s=timeout_s, display_path=display_path)


def reward_timeout_s(value: float | None = None) -> float:
    """The call limit in seconds: ``value``, else ``DEEPRACER_REWARD_TIMEOUT_S``, else 10; 0 = no limit."""
    where = "timeout_s"
    if value is None:
        raw = os.environ.get(ENV_TIMEOUT, "").strip()
        if not raw:
            return DEFAULT_TIMEOUT_S
        where = f"{ENV_TIMEOUT}={raw!r}"
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{where} is not a number of seconds (0 = no limit)") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or value < 0:
        raise ValueError(f"{where}: the reward function time limit must be a number of seconds >= 0"
                         f" (0 = no limit), got {value!r}")
    return 0.0 if math.isinf(value) else float(value)


def _warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _watch(rf: RewardFunction) -> None:
    """Have the watchdog thread (one per process, started on first use) look after ``rf``."""
    global _watchdog
    with _watch_lock:
        _watched.add(rf)
        if _watchdog is None or not _watchdog.is_alive():  # not alive in a forked child
            _watchdog = threading.Thread(target=_watchdog_loop, name="reward-watchdog", daemon=True)
            _watchdog.start()


def _watchdog_loop() -> None:
    """Every ``_WATCH_INTERVAL_S``: flag slow calls (the call reports them when it returns) and stop
    overdue ones."""
    global _watchdog
    while True:
        with _watch_lock:
            watched = list(_watched)
            if not watched:  # every RewardFunction is gone: end; _watch starts a new thread
                _watchdog = None
                return
        interval = min([_WATCH_INTERVAL_S] + [rf.timeout_s / 4 for rf in watched if rf.timeout_s])
        now = _now()
        for rf in watched:
            started = rf._started
            if started is not None and now - started > rf._slow_s:
                rf._flagged = started
                if rf.timeout_s and now - started > rf.timeout_s:
                    rf._overdue(started, now - started)
        watched = rf = None  # no strong references while asleep
        time.sleep(interval)


def _after_fork_in_child() -> None:
    """A forked child has no watchdog thread, and the lock may have been held at the fork."""
    global _watch_lock, _watchdog
    _watch_lock, _watchdog = threading.Lock(), None
    watched = list(_watched)
    if watched:
        _watch(watched[0])  # starts the thread again


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _install_interrupt_handler() -> None:
    """Route ``_INTERRUPT_SIGNAL`` to ``_on_interrupt_signal`` (possible only in the main thread)."""
    global _previous_handler
    if _INTERRUPT_SIGNAL is None or threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(_INTERRUPT_SIGNAL)
    if current is not _on_interrupt_signal:
        try:
            signal.signal(_INTERRUPT_SIGNAL, _on_interrupt_signal)
        except ValueError:  # not the main interpreter
            return
        _previous_handler = current


def _on_interrupt_signal(signum: int, frame: Any) -> None:
    """Raise _CallTimeout when the innermost reward call below ``frame`` is overdue.

    Nothing happens when ``frame`` is __call__ itself (the user's function has returned: the post-call
    check decides); a signal outside any reward call goes to the handler installed before ours.
    """
    f, innermost = frame, True
    while f is not None:
        if f.f_code is _CALL_CODE:
            rf = f.f_locals.get("self")
            started = getattr(rf, "_started", None)
            if not innermost and started is not None and rf.timeout_s and _now() - started > rf.timeout_s:
                raise _CallTimeout()
            return
        innermost = False
        f = f.f_back
    if callable(_previous_handler):
        _previous_handler(signum, frame)


def _guarded_os_exit(status: int) -> None:
    """``os._exit`` while a RewardFunction exists: raises _ExitCalled inside the user's code."""
    frame = sys._getframe(1)
    while frame is not None:
        if any(frame.f_code is c for c in _GUARDED_CODES):
            raise _ExitCalled(status)
        frame = frame.f_back
    _real_os_exit(status)


def _guard_os_exit() -> None:
    global _real_os_exit
    if os._exit is not _guarded_os_exit:
        _real_os_exit = os._exit
        os._exit = _guarded_os_exit  # type: ignore[assignment]


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
