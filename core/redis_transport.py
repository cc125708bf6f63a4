"""Rollout transport over a Redis server (stack mode), behind core.transport's two interfaces.

Keys of one run (``<run>`` is the run id):

- ``deepracer:<run>:episodes``  a stream; one entry per finished episode, fields ``w`` (the worker id,
  ASCII digits) and ``d`` (the episode's bytes from core.messages). The trainer reads it from the
  start (so nothing a sim sent before the trainer came up is lost) and deletes what it has read, so
  the stream's length is the backlog. Sims wait while the backlog is over ``max_backlog`` entries or
  ``max_backlog_bytes`` (backpressure, bounded by ``backpressure_s``); XADD's ``MAXLEN maxlen`` is
  the hard cap on memory when no trainer reads at all (the oldest entries go first).
- ``deepracer:<run>:notices``   a stream of policy notices, the newest ``NOTICES_KEPT`` kept. A sim
  starts with the newest entry, so one that joins (or rejoins) mid-run gets the current version.
- ``deepracer:<run>:worker:<i>`` sim ``i``'s heartbeat: SET to the sim's clock (``time.time()``) with a
  TTL of ``heartbeat_ttl_s``, refreshed by a background thread and on every call; ``alive_workers()``
  lists the live ones.
- ``deepracer:<run>:workers``   a set: the ids of the sims that joined the run (each sim adds its own
  with every heartbeat). A heartbeat key whose id is not in it is not a sim's (see ``alive_workers``).

Messages are bytes (msgpack from core.messages) stored as stream field values; nothing read from
Redis is unpickled or evaluated. Every Redis call goes through one retry helper: on a connection
error or timeout it waits (exponential backoff, 0.05 s doubling up to 2 s) and tries again until
``retry_s`` seconds have passed, then raises core.transport.TransportError naming the server. A Redis
restart of a few seconds is therefore invisible to both sides; when the server comes back empty (no
persistence) the trainer re-sends its latest notice and the sims refresh their heartbeats. A sim
hands identical consecutive notices out once. An episode whose XADD reply was lost in a disconnect
may arrive twice: the learner drops duplicates by ``Episode.key``.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .transport import TransportError

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Policy notices kept in the notices stream (a sim needs only the newest; the rest is slack).
NOTICES_KEPT = 10
#: Longest single blocking read [s]; longer waits loop, so the socket timeout never cuts one short.
_BLOCK_CHUNK_S = 5.0
_CONNECT_TIMEOUT_S = 2.0
#: The environment variable holding the Redis password (compose/stack.env), used when the URL has none.
REDIS_PASSWORD_ENV = "REDIS_PASSWORD"
_SOCKET_TIMEOUT_S = _BLOCK_CHUNK_S + 10.0


def redacted(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparsable Redis URL>"


def run_keys(run_id: str) -> dict[str, str]:
    """The Redis keys of one run (see the module docstring); ``worker`` is the heartbeat keys' prefix."""
    if not run_id or any(c in run_id for c in " :*?[]\\\n"):
        raise ValueError(f"run id {run_id!r} must be non-empty without spaces, ':' or glob characters")
    base = f"deepracer:{run_id}"
    return {"episodes": f"{base}:episodes", "notices": f"{base}:notices", "worker": f"{base}:worker:",
            "next_worker": f"{base}:next_worker", "workers": f"{base}:workers"}


def connect(url: str) -> "redis.Redis":
    """A client of the Redis at ``url`` with this project's timeouts and no retries of its own; the
    password is the URL's, else REDIS_PASSWORD (the stack's env file). ValueError for a bad URL."""
    return redis.Redis.from_url(url, socket_connect_timeout=_CONNECT_TIMEOUT_S, socket_timeout=_SOCKET_TIMEOUT_S,
                                retry=Retry(NoBackoff(), 0), decode_responses=False,
                                password=os.environ.get(REDIS_PASSWORD_ENV) or None)


class _RedisSide:
    """What both sides share: the client, the keys and the retry helper."""

    def __init__(self, url: str, run_id: str, retry_s: float):
        self.url, self.run_id, self.retry_s = url, run_id, float(retry_s)
        self.keys = run_keys(run_id)
        try:
            # Retries are ours (_call), with a total time budget; the client's own are switched off.
            # A password in the URL wins; else REDIS_PASSWORD (the stack's env file) is used.
            self.redis = connect(url)
        except ValueError as exc:
            raise TransportError(f"cannot reach Redis at {redacted(url)}: bad URL ({exc})") from None
        self._restoring = True           # nothing to restore while constructing
        try:
            self._call(self.redis.ping)
        except (redis.AuthenticationError, redis.AuthenticationWrongNumberOfArgsError, redis.ResponseError) as exc:
            raise TransportError(f"Redis at {redacted(url)} refused this client: {exc}; check {REDIS_PASSWORD_ENV} "
                                 "(compose/stack.env) or the password in the URL") from None
        except TransportError as exc:
            raise TransportError(f"cannot reach Redis at {redacted(url)}: {exc.__cause__ or exc}; "
                                 "check the URL (redis://host:port/db) and that the server runs") from None
        finally:
            self._restoring = False

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``, retried on connection errors for up to ``retry_s`` seconds."""
        deadline = time.monotonic() + self.retry_s
        delay, failed = 0.05, False
        while True:
            try:
                result = fn(*args, **kwargs)
            except redis.AuthenticationError:
                raise                        # a wrong password does not get better by waiting
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if time.monotonic() + delay > deadline:
                    raise TransportError(f"Redis at {redacted(self.url)} did not answer for "
                                         f"{self.retry_s:.0f} s: {exc}") from exc
                if not failed:
                    log.warning("Redis at %s: %s; retrying for up to %.0f s", redacted(self.url), exc, self.retry_s)
                failed = True
                time.sleep(delay)
                delay = min(2 * delay, 2.0)
                continue
            if failed and not self._restoring:
                log.warning("Redis at %s answers again", redacted(self.url))
                self._restoring = True
                try:
                    self._restore()
                finally:
                    self._restoring = False
            return result

    def _restore(self) -> None:
        """Called after the connection came back (the server may have restarted empty)."""

    def _heartbeat_key(self, worker: int) -> str:
        return f"{self.keys['worker']}{int(worker)}"

    def close(self) -> None:
        self.redis.close()


def claim_worker_id(url: str, run_id: str, retry_s: float = 60.0) -> int:
    """A worker id no other sim of the run has (0, 1, 2, ... in the order sims start), for sims
    started as identical replicas (docker compose --scale)."""
    side = _RedisSide(url, run_id, retry_s)
    try:
        return int(side._call(side.redis.incr, side.keys["next_worker"])) - 1
    finally:
        side.close()


class RedisSim(_RedisSide):
    """A simulation worker's side (SimTransport): sends episodes, receives policy notices.

    ``maxlen`` caps the episode stream [entries]; ``max_backlog`` [entries] and ``max_backlog_bytes``
    [bytes, estimated as backlog entries x this message's size] make ``send_episode`` wait, at most
    ``backpressure_s`` [s], for the trainer to catch up. ``heartbeat_ttl_s`` [s] is how long the
    worker counts as alive after its last heartbeat; one is sent every ``heartbeat_ttl_s / 4``.
    """

    def __init__(self, url: str, run_id: str, worker: int, *, maxlen: int = 1000, max_backlog: int = 200,
                 max_backlog_bytes: int = 512 << 20, backpressure_s: float = 60.0,
                 heartbeat_ttl_s: float = 10.0, retry_s: float = 60.0):
        if not 0 < max_backlog <= maxlen:
            raise ValueError(f"need 0 < max_backlog <= maxlen, got {max_backlog} and {maxlen}")
        self.worker = int(worker)
        self.maxlen, self.max_backlog, self.max_backlog_bytes = int(maxlen), int(max_backlog), int(max_backlog_bytes)
        self.backpressure_s, self.heartbeat_ttl_s = float(backpressure_s), float(heartbeat_ttl_s)
        super().__init__(url, run_id, retry_s)
        self._last_notice: bytes | None = None
        self._overflowing = False
        self._pending: bytes | None = None
        newest = self._call(self.redis.xrevrange, self.keys["notices"], count=1)
        if newest:                      # the current version, for a sim that joins mid-run
            self._notice_id, fields = newest[0]
            self._pending = fields.get(b"d", b"")   # a malformed entry: the worker skips what it cannot read
        else:
            self._notice_id = b"0-0"
        self.heartbeat()
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._beat_loop, name=f"redis-heartbeat-{worker}", daemon=True)
        self._beat.start()

    def heartbeat(self) -> None:
        """Mark this worker alive for ``heartbeat_ttl_s`` seconds (and a member of the run)."""
        self._call(self._write_heartbeat)

    def _write_heartbeat(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self._heartbeat_key(self.worker), str(time.time()), px=int(self.heartbeat_ttl_s * 1000))
        pipe.sadd(self.keys["workers"], str(self.worker))
        pipe.execute()

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.heartbeat_ttl_s / 4):
            try:
                self._write_heartbeat()
            except redis.RedisError:
                pass                    # the next beat (or the next call's retry) tries again

    def _restore(self) -> None:
        self.heartbeat()

    def send_episode(self, data: bytes) -> None:
        """Append one episode's bytes to the run's stream (waits while the backlog is too long)."""
        give_up = time.monotonic() + self.backpressure_s
        pause = 0.01
        while True:
            backlog = self._call(self.redis.xlen, self.keys["episodes"])
            if backlog < self.max_backlog and backlog * len(data) < self.max_backlog_bytes:
                self._overflowing = False
                break
            if time.monotonic() >= give_up:
                if not self._overflowing:          # once until the backlog is short again
                    log.warning("worker %d: %d episodes still unread after %.0f s; sending anyway (the stream "
                                "keeps the newest %d)", self.worker, backlog, self.backpressure_s, self.maxlen)
                self._overflowing = True
                break
            time.sleep(pause)
            pause = min(2 * pause, 0.5)
        self._call(self.redis.xadd, self.keys["episodes"], {b"w": str(self.worker).encode(), b"d": bytes(data)},
                   maxlen=self.maxlen, approximate=False)

    def next_notice(self, timeout_s: float | None = None) -> bytes | None:
        """The next policy notice (oldest first; the current one first after joining); None on timeout.

        ``timeout_s`` [s]: None waits until one comes, 0 only looks.
        """
        if self._pending is not None:
            notice, self._pending = self._pending, None
            self._last_notice = notice
            return notice
        end = None if timeout_s is None else time.monotonic() + max(0.0, timeout_s)
        while True:
            left = _BLOCK_CHUNK_S if end is None else min(_BLOCK_CHUNK_S, end - time.monotonic())
            block = int(left * 1000) if left >= 0.001 else None
            got = self._call(self.redis.xread, {self.keys["notices"]: self._notice_id}, count=1, block=block)
            for _stream, entries in got or ():
                for entry_id, fields in entries:
                    self._notice_id = entry_id
                    notice = fields.get(b"d", b"")      # malformed: the worker skips what it cannot read
                    if notice != self._last_notice:      # a re-sent copy after a restart is skipped
                        self._last_notice = notice
                        return notice
            if end is not None and time.monotonic() >= end:
                return None

    def close(self) -> None:
        """Stop the heartbeat and remove it (the trainer sees this worker gone at once)."""
        self._stop.set()
        self._beat.join(timeout=1.0)
        try:
            self.redis.delete(self._heartbeat_key(self.worker))
        except redis.RedisError:
            pass
        super().close()


class RedisTrainer(_RedisSide):
    """The trainer's side (TrainerTransport): receives episodes, broadcasts policy notices.

    ``expected_workers``: when given, ``alive_workers`` checks ids 0..n-1 directly instead of
    scanning the keyspace. ``read_count`` is the most episodes one ``receive`` returns.
    """

    def __init__(self, url: str, run_id: str, expected_workers: int | None = None, *, read_count: int = 32,
                 retry_s: float = 60.0):
        self.expected_workers, self.read_count = expected_workers, int(read_count)
        super().__init__(url, run_id, retry_s)
        self._episode_id: bytes = b"0-0"       # from the start: episodes sent before we came up count
        self._latest_notice: bytes | None = None

    def broadcast_notice(self, data: bytes) -> None:
        """Publish a policy notice to every sim, present and future (the newest is kept)."""
        self._latest_notice = bytes(data)
        self._call(self.redis.xadd, self.keys["notices"], {b"d": self._latest_notice}, maxlen=NOTICES_KEPT,
                   approximate=False)

    def _restore(self) -> None:
        """Re-send the latest notice if the server lost it (restarted empty, flushed)."""
        if self._latest_notice is not None and not self._call(self.redis.exists, self.keys["notices"]):
            log.warning("Redis at %s lost the policy notices; sending the latest again", redacted(self.url))
            self.broadcast_notice(self._latest_notice)

    def receive(self, timeout_s: float) -> list[tuple[int, bytes]]:
        """(worker, episode bytes) pairs in arrival order: waits up to ``timeout_s`` [s] for the first,
        returns at most ``read_count``. What is returned is deleted from the stream.

        Nothing in an entry can make this raise: a malformed entry (no or a non-numeric ``w``, no
        ``d``) comes back as worker -1 and/or empty bytes beside the good ones, so the learner refuses
        and counts it where it checks every episode (core.messages.Episode.from_bytes)."""
        end = time.monotonic() + max(0.0, timeout_s)
        key = self.keys["episodes"]
        self._restore()                 # (the client may have reconnected without telling us)
        while True:
            left = min(_BLOCK_CHUNK_S, end - time.monotonic())
            block = int(left * 1000) if left >= 0.001 else None
            got = self._call(self.redis.xread, {key: self._episode_id}, count=self.read_count, block=block)
            if got:
                entries = got[0][1]
                self._episode_id = entries[-1][0]
                self._call(self.redis.xdel, key, *[entry_id for entry_id, _ in entries])
                return [(_worker_id(fields.get(b"w")), fields.get(b"d", b"")) for _, fields in entries]
            if time.monotonic() >= end:
                return []

    def alive_workers(self) -> list[int]:
        """Ids of the sims whose heartbeat has not expired, sorted.

        Only a key that looks like a sim's heartbeat counts: its id in canonical decimal (``worker:7``,
        not ``worker:07`` or ``worker:x``), its value a finite clock reading as a sim writes, a TTL set
        (a sim's heartbeat always expires), and the id in the run's ``workers`` set, which a sim joins
        with every heartbeat. A stray or forged key (made by hand, left by a tool, a typo) therefore
        neither gets a share of the episodes nor keeps the trainer waiting for a worker that does not
        exist. (The ``next_worker`` counter is not the rule, because sims may also be started with
        explicit ids that never touch it.) The clock value is not compared with ours: sims on other
        machines may have skewed clocks.
        """
        prefix = self.keys["worker"]
        if self.expected_workers is not None:
            candidates = list(range(self.expected_workers))
        else:
            names = self._call(lambda: list(self.redis.scan_iter(match=prefix + "*", count=1000)))
            cut = len(prefix.encode())
            candidates = sorted({i for n in names if (i := _worker_id(n[cut:])) >= 0})
        if not candidates:
            return []

        def check() -> list:
            pipe = self.redis.pipeline(transaction=False)
            pipe.smembers(self.keys["workers"])
            for i in candidates:
                pipe.get(f"{prefix}{i}")
                pipe.pttl(f"{prefix}{i}")
            return pipe.execute()
        members, *beats = self._call(check)
        joined = {m for m in members if isinstance(m, bytes)}
        return [i for i, value, ttl in zip(candidates, beats[0::2], beats[1::2])
                if str(i).encode() in joined and isinstance(ttl, int) and ttl > 0 and _is_clock_reading(value)]


#: Longest worker id accepted (digits); longer ones are not a sim's.
_MAX_ID_DIGITS = 9


def _worker_id(raw: Any) -> int:
    """The worker id in ``raw`` (ASCII digits, canonical: no sign, no leading zeros), or -1."""
    if not isinstance(raw, bytes) or not 0 < len(raw) <= _MAX_ID_DIGITS or not raw.isdigit():
        return -1
    return int(raw) if str(int(raw)).encode() == raw else -1


def _is_clock_reading(value: Any) -> bool:
    """True for what a sim writes into its heartbeat: ``str(time.time())``, a finite number > 0."""
    if not isinstance(value, bytes) or len(value) > 32:
        return False
    try:
        t = float(value.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return False
    return math.isfinite(t) and t > 0
