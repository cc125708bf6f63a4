"""Rollout transport: episodes from sims to the trainer, policy notices from the trainer to sims.

Two sides, two small interfaces; messages are bytes made by core.messages (msgpack, never pickle).

Embedded mode: each worker is a child process (`python -m simulation.worker`) and its stdin/stdout
are the transport: length-prefixed frames (4-byte big-endian length, then the message). The worker
moves its own stdout out of the way first, so a stray print cannot corrupt a frame. The stack mode
uses Redis behind the same interfaces.
"""

from __future__ import annotations

import os
import queue
import struct
import subprocess
import sys
import threading
from typing import BinaryIO, Protocol

_HEADER = struct.Struct(">I")
#: Largest frame accepted [bytes] (a camera episode of 10,000 steps is about 200 MB).
MAX_FRAME_BYTES = 1 << 30


class TransportError(RuntimeError):
    """The transport is gone (e.g. the other side died) or sent garbage."""


class SimTransport(Protocol):
    def send_episode(self, data: bytes) -> None: ...
    def next_notice(self, timeout_s: float | None = None) -> bytes | None: ...


class TrainerTransport(Protocol):
    def broadcast_notice(self, data: bytes) -> None: ...
    def receive(self, timeout_s: float) -> list[tuple[int, bytes]]: ...
    def alive_workers(self) -> list[int]: ...


def write_frame(stream: BinaryIO, data: bytes) -> None:
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def read_frame(stream: BinaryIO) -> bytes | None:
    """One frame, or None at a clean end of stream."""
    head = stream.read(_HEADER.size)
    if not head:
        return None
    if len(head) < _HEADER.size:
        raise TransportError("stream ended inside a frame header")
    (n,) = _HEADER.unpack(head)
    if n > MAX_FRAME_BYTES:
        raise TransportError(f"frame of {n} bytes refused (limit {MAX_FRAME_BYTES})")
    data = stream.read(n)
    if len(data) < n:
        raise TransportError("stream ended inside a frame")
    return data


class StdioSim:
    """The worker's side in embedded mode: notices on stdin, episodes on stdout."""

    def __init__(self) -> None:
        # Keep the real stdout for frames; point file descriptor 1 at stderr for everything else.
        self._out = os.fdopen(os.dup(1), "wb", buffering=0)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self._in = sys.stdin.buffer
        self._notices: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while (frame := read_frame(self._in)) is not None:
                self._notices.put(frame)
        except (TransportError, OSError):
            pass
        self._notices.put(None)

    def send_episode(self, data: bytes) -> None:
        try:
            write_frame(self._out, data)
        except (BrokenPipeError, OSError) as exc:
            raise TransportError(f"trainer is gone: {exc}") from None

    def next_notice(self, timeout_s: float | None = None) -> bytes | None:
        """The next notice; None on timeout. Raises TransportError when the trainer closed stdin."""
        try:
            frame = self._notices.get(timeout=timeout_s)
        except queue.Empty:
            return None
        if frame is None:
            self._notices.put(None)
            raise TransportError("trainer closed the connection")
        return frame


class ProcessHub:
    """The trainer's side in embedded mode: one child process per worker, frames over its stdio."""

    def __init__(self, commands: list[list[str]], env: dict[str, str] | None = None, cwd: str | None = None):
        self.procs = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=cwd)
                      for cmd in commands]
        self._inbox: queue.Queue[tuple[int, bytes | None]] = queue.Queue()
        self._open = [True] * len(self.procs)
        for i, p in enumerate(self.procs):
            threading.Thread(target=self._read, args=(i, p.stdout), daemon=True).start()

    def _read(self, worker: int, stream: BinaryIO) -> None:
        try:
            while (frame := read_frame(stream)) is not None:
                self._inbox.put((worker, frame))
        except (TransportError, OSError):
            pass
        self._inbox.put((worker, None))

    def alive_workers(self) -> list[int]:
        return [i for i, p in enumerate(self.procs) if self._open[i] and p.poll() is None]

    def broadcast_notice(self, data: bytes) -> None:
        for i, p in enumerate(self.procs):
            if not self._open[i]:
                continue
            try:
                write_frame(p.stdin, data)
            except (BrokenPipeError, OSError):
                self._open[i] = False

    def receive(self, timeout_s: float) -> list[tuple[int, bytes]]:
        """(worker, message) pairs arriving within ``timeout_s`` (and all queued after the first)."""
        out: list[tuple[int, bytes]] = []
        try:
            item = self._inbox.get(timeout=timeout_s)
        except queue.Empty:
            return out
        while True:
            worker, frame = item
            if frame is None:
                self._open[worker] = False
            else:
                out.append((worker, frame))
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return out

    def close(self, timeout_s: float = 10.0) -> None:
        for p in self.procs:
            try:
                p.stdin.close()
            except OSError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
