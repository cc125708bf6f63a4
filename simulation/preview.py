"""Preview frames of a running sim for the live viewer (stack/viewer.py).

A sim worker's ``Previewer`` is offered the observations before every step and, at most once per
``interval_s`` (PREVIEW_INTERVAL_S), publishes into the model folder (core.model_folder
``preview``), under ``preview/sim-<worker>/``:
- ``topdown-<t>.jpg``: track t of the sim from above with every car on it (simulation.topdown);
- ``camera.jpg``: the camera frame of one car (what the network sees; for models without a camera,
  what the car's camera would see), 160x120 gray;
- ``status.json``: seq (counts publications), time [s since the epoch], iteration, phase, tracks,
  cars, and the previewer's own cost (seconds spent, seconds alive).
JPEG and JSON only: small files any browser shows, no arrays, nothing executable. The cost stays
well under 2% of the sim's time (measured with ``spent_s``; README).
"""

from __future__ import annotations

import json
import sys
import time

import cv2
import numpy as np

from core.config import CAMERA_SENSORS
from core.storage import StorageError

from .topdown import CarMark, TopDownView

PREVIEW_INTERVAL_S = 1.0
"""Seconds between a sim's preview publications (0 turns previews off)."""
PREVIEW_WIDTH_PX = 480
JPEG_QUALITY = 80
CAMERA_CAR = 0
"""The car whose camera the preview shows."""


def _jpeg(rgb_or_gray: np.ndarray) -> bytes:
    img = rgb_or_gray if rgb_or_gray.ndim == 2 else cv2.cvtColor(rgb_or_gray, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding of a preview frame failed")
    return buf.tobytes()


class Previewer:
    """Publishes a sim's preview frames (see the module docstring) through ``folder``'s storage."""

    def __init__(self, folder, worker: int, env, interval_s: float = PREVIEW_INTERVAL_S) -> None:
        self.folder = folder
        self.worker = int(worker)
        self.env = env
        self.interval_s = float(interval_s)
        self.envs = list(getattr(env, "envs", [env]))            # one BatchedEnv per track
        self.views = [TopDownView(e.tracks.forward, PREVIEW_WIDTH_PX) for e in self.envs]
        self.camera = next((s for s in env.metadata.sensors if s in CAMERA_SENSORS), None)
        self._renderer = None
        self.seq = 0
        self.spent_s = 0.0
        self.started = time.monotonic()
        self._next = self.started          # the first call publishes

    @property
    def enabled(self) -> bool:
        return self.interval_s > 0

    def _camera_frame(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        if self.camera is not None:
            return np.asarray(obs[self.camera][CAMERA_CAR])[..., 0]
        if self._renderer is None:
            from .sensors import CameraRenderer

            self._renderer = CameraRenderer(self.envs[0].tracks.forward)
        s = self.envs[0].state
        return self._renderer.render(s.x[:1], s.y[:1], s.yaw[:1])[0]

    def offer(self, obs: dict[str, np.ndarray], iteration: int, phase: str) -> bool:
        """Publish when ``interval_s`` has passed since the last publication; True when it did. A
        storage that refuses the frames turns previews off (one message); training goes on."""
        now = time.monotonic()
        if not self.enabled or now < self._next:
            return False
        self._next = now + self.interval_s
        try:
            self._publish(obs, iteration, phase, now)
        except StorageError as exc:
            self.interval_s = 0.0
            print(f"worker {self.worker}: viewer previews off, the storage refused them: {exc}", file=sys.stderr,
                  flush=True)
            return False
        return True

    def _publish(self, obs: dict[str, np.ndarray], iteration: int, phase: str, now: float) -> None:
        for t, (env, view) in enumerate(zip(self.envs, self.views)):
            s = env.state
            cars = [CarMark(float(x), float(y), float(yaw)) for x, y, yaw, done in zip(s.x, s.y, s.yaw, env.done)
                    if not done]
            self.folder.storage.put_bytes(self.folder.preview(self.worker, f"topdown-{t}.jpg"), _jpeg(view.draw(cars)))
        self.folder.storage.put_bytes(self.folder.preview(self.worker, "camera.jpg"), _jpeg(self._camera_frame(obs)))
        self.seq += 1
        self.spent_s += time.monotonic() - now
        status = {"seq": self.seq, "time": time.time(), "iteration": int(iteration), "phase": phase,
                  "tracks": [e.tracks.forward.name for e in self.envs], "cars": int(self.env.k),
                  "camera_car": CAMERA_CAR, "spent_s": round(self.spent_s, 4),
                  "alive_s": round(time.monotonic() - self.started, 3)}
        t_status = time.monotonic()
        self.folder.storage.put_bytes(self.folder.preview(self.worker, "status.json"), json.dumps(status).encode())
        self.spent_s += time.monotonic() - t_status

    def share(self) -> float:
        """Share of the sim's time spent publishing previews (0..1)."""
        return self.spent_s / max(time.monotonic() - self.started, 1e-9)


__all__ = ["Previewer", "PREVIEW_INTERVAL_S"]
