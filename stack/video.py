"""Evaluation videos: one MP4 per trial, what the network saw beside the car on the track.

Each frame (one per simulator step, played at 15 fps: real time) holds, left, the camera frame the
policy got (for models without a camera, the frame the car's camera would have seen), enlarged
CAMERA_SCALE times with nearest-neighbour pixels, above a panel with the trial, its clock, the speed,
the steering and the action; right, the track from above (simulation.topdown) with the racing line
coloured by speed, the car and its trail. Encoded to H.264 (yuv420p, CRF VIDEO_CRF) by the ffmpeg
that the imageio-ffmpeg package ships, fed raw frames through a pipe.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from simulation.car import STEP_HZ
from simulation.topdown import CarMark, TopDownView

CAMERA_SCALE = 3
PANEL_HEIGHT_PX = 120
VIDEO_CRF = 26
"""x264 constant rate factor: 18 looks lossless, 28 is small; 26 keeps the camera pixels crisp."""
MACRO_BLOCK_PX = 16
TEXT_RGB = (235, 235, 235)
PANEL_RGB = (24, 24, 24)


def _even_block(n: int) -> int:
    return int(np.ceil(n / MACRO_BLOCK_PX) * MACRO_BLOCK_PX)


class TrialVideo:
    """Frames of one trial, encoded as they come (no frame is kept in memory).

    ``add(camera, car, lines)``: camera (120, 160) uint8 gray levels, the car to draw on the top
    view, and the text lines of the panel. ``close()`` finishes the file and returns its path."""

    def __init__(self, path: str | Path, top: TopDownView, fps: float = STEP_HZ, camera_label: str = "") -> None:
        import imageio_ffmpeg

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.top = top
        self.left_w = 160 * CAMERA_SCALE
        cam_h = 120 * CAMERA_SCALE
        self.height = _even_block(max(cam_h + PANEL_HEIGHT_PX, top.height))
        self.width = _even_block(self.left_w + top.width)
        self.cam_h = cam_h
        self.camera_label = camera_label
        self.frames = 0
        self._writer = imageio_ffmpeg.write_frames(
            str(self.path), (self.width, self.height), fps=fps, codec="libx264", pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p", quality=None, macro_block_size=MACRO_BLOCK_PX,
            output_params=["-crf", str(VIDEO_CRF), "-preset", "veryfast"], ffmpeg_log_level="error")
        self._writer.send(None)   # start ffmpeg

    def compose(self, camera: np.ndarray, car: CarMark, lines: list[str]) -> np.ndarray:
        """One frame (H, W, 3) RGB uint8."""
        frame = np.zeros((self.height, self.width, 3), np.uint8)
        frame[:] = PANEL_RGB
        cam = np.asarray(camera, dtype=np.uint8)
        big = cv2.resize(cam, (self.left_w, self.cam_h), interpolation=cv2.INTER_NEAREST)
        frame[:self.cam_h, :self.left_w] = big[..., None]
        if self.camera_label:
            cv2.putText(frame, self.camera_label, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 230, 80), 1,
                        cv2.LINE_AA)
        for i, text in enumerate(lines):
            cv2.putText(frame, text, (12, self.cam_h + 30 + 28 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.7, TEXT_RGB, 1,
                        cv2.LINE_AA)
        top = self.top.draw([car])
        y0 = (self.height - top.shape[0]) // 2
        frame[y0:y0 + top.shape[0], self.left_w:self.left_w + top.shape[1]] = top
        return frame

    def add(self, camera: np.ndarray, car: CarMark, lines: list[str]) -> None:
        self._writer.send(np.ascontiguousarray(self.compose(camera, car, lines)).tobytes())
        self.frames += 1

    def close(self) -> Path:
        self._writer.close()
        return self.path


def panel_lines(trial: int, steps: int, speed_mps: float, steering_deg: float, action: str, status: str = "") -> list[str]:
    """The text of a frame's panel."""
    return [f"trial {trial}   {steps / STEP_HZ:6.2f} s   {status}",
            f"speed {speed_mps:4.2f} m/s   steering {steering_deg:+5.1f} deg",
            f"action {action}"]


__all__ = ["TrialVideo", "panel_lines", "CAMERA_SCALE"]
