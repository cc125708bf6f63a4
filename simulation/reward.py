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
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import math
import numbers
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable, Iterator

import numpy as np

#: Largest accepted |reward| (spec section 1: the reference rejects |value| > 1e5).
REWARD_LIMIT = 1e5
#: Lists longer than this are shown abbreviated (first 3 items) in error messages.
_LIST_SHOWN_IN_FULL = 5
_module_ids = itertools.count()


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
    """

    def __init__(self, path: str | os.PathLike, copies: int = 1) -> None:
        if copies < 1:
            raise ValueError(f"copies must be >= 1, got {copies}")
        self.path = Path(path).expanduser().absolute()
        self.copies = copies
        self.keys_read: set[str] = set()
        self._filename = str(self.path)
        code = self._compile()
        self.modules: list[ModuleType] = [self._load(code) for _ in range(copies)]
        self._functions: list[Callable[[dict], Any]] = [m.reward_function for m in self.modules]
        self._check_signature(self._functions[0])

    # -- loading ---------------------------------------------------------------------------------
    def _error(self, kind: str, detail: str, **kw: Any) -> RewardFunctionError:
        return RewardFunctionError.build(kind, detail, self._filename, **kw)

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
                         episode: int | None, step: int | None) -> RewardFunctionError:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == self._filename]
        line = frames[-1].lineno if frames else None
        if isinstance(exc, SyntaxError) and exc.filename == self._filename:
            line = exc.lineno
        extra = []
        if len(frames) > 1:
            extra.append("calls:  " + " -> ".join(f"{f.name} (line {f.lineno})" for f in frames))
        return self._error(kind, f"{type(exc).__name__}: {exc}", line=line, code=self._source(line),
                           episode=episode, step=step, params=params, extra=extra)

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
        try:
            result = self._functions[car](params)
        except (Exception, SystemExit) as exc:
            raise self._exception_error("exception", exc, params, episode, step) from exc
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


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
