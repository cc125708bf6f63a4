"""Robust training: per episode and per car, the car and the camera a model must not over-fit to are drawn anew.

``ROBUST_TRAINING: 'True'`` in training_params.yaml (``make train ROBUST=1``; in a scenario file
``race: {robust_training: true}``) turns it on for training; evaluation always runs the nominal car. Each
episode every car draws (uniformly unless said otherwise):

- steering response: the share of the steering error its controller closes per 60 Hz tick, log-uniform in
  STEERING_GAIN_PER_TICK: from below the v5 hinges' 0.036 (simulation/dynamics_four.py) to above the v6
  controller's 0.1 (gz_ros2_control's P-law);
- grip: the tyres' friction times GRIP_SCALE;
- speed gain: the commanded speed times SPEED_GAIN (the wheels' radius, the servo's accuracy);
- action latency: with probability LATENCY_PROBABILITY the car acts on each step's action one step late
  (the reference's command reaches the joints at the next controller update, up to 17 ms, and a sim that
  falls behind its 15 Hz camera frames more);
- motion noise: after every step the car's heading, yaw rate, sideways and forward speed get Gaussian kicks of
  MOTION_NOISE x DART_STEP_NOISE (a scale drawn per episode): what the v6 reference's car in DART does that the
  fast car does not predict, one step at a time (its polygonal wheels hop; measured by ``python -m
  simulation.gazebo.calibrate --dart-step-noise``);
- camera: exposure (a gain, EXPOSURE) and contrast (about the frame's mean, CONTRAST), a Gaussian blur of
  BLUR_SIGMA_PX and noise of NOISE_SIGMA gray levels on the 160x120 Y frame, and the camera renderer's
  domain randomization (lights and colours of the scene, simulation/sensors.py).

The ranges are choices of ours, wide enough to cover the v5 and v6 reference cars and our Gazebo frames
(docs/dart.md says what they cost and whether they help).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

STEERING_GAIN_PER_TICK = (0.03, 0.15)
GRIP_SCALE = (0.8, 1.2)
SPEED_GAIN = (0.95, 1.05)
LATENCY_PROBABILITY = 0.5
EXPOSURE = (0.7, 1.3)
CONTRAST = (0.7, 1.3)
BLUR_SIGMA_PX = (0.0, 1.2)
NOISE_SIGMA = (0.0, 6.0)
MOTION_NOISE = (0.0, 1.5)
#: The standard deviations of the DART car's one-step differences from the default fast car on racing actions at
#: 2-3.5 m/s (mean 2.7): heading [rad], yaw rate [rad/s], sideways and forward speed [m/s] (measured 2026-12-06:
#: 1.06 deg, 0.39, 0.066, 0.059; ``python -m simulation.gazebo.calibrate --dart-step-noise``). A car gets them in
#: proportion to its speed over DART_STEP_NOISE_SPEED_MPS (the wheels hop as often as they turn), at most 1.3x.
DART_STEP_NOISE = (0.0184, 0.39, 0.066, 0.059)
DART_STEP_NOISE_SPEED_MPS = 2.7
#: Blurs below this sigma [px] are skipped (they change no pixel by more than a gray level).
MIN_BLUR_SIGMA_PX = 0.3


@dataclass
class RobustDraw:
    """What each of K cars drew for its episode (arrays (K,))."""

    steering_gain_per_tick: np.ndarray
    grip_scale: np.ndarray
    speed_gain: np.ndarray
    latency: np.ndarray          # bool: acts one step late
    exposure: np.ndarray
    contrast: np.ndarray
    blur_sigma_px: np.ndarray
    noise_sigma: np.ndarray
    motion_noise: np.ndarray     # x DART_STEP_NOISE

    @classmethod
    def nominal(cls, k: int) -> "RobustDraw":
        """The nominal car and camera (what a car has before its first draw)."""
        from .dynamics import STEERING_GAIN_PER_TICK as V6_GAIN
        ones, zeros = np.ones(k), np.zeros(k)
        return cls(np.full(k, V6_GAIN), ones.copy(), ones.copy(), np.zeros(k, bool), ones.copy(), ones.copy(),
                   zeros.copy(), zeros.copy(), zeros.copy())

    def draw(self, cars: np.ndarray, rng: np.random.Generator) -> None:
        """New values for the cars ``cars`` (their new episodes), in place."""
        n = len(cars)
        if not n:
            return
        lo, hi = np.log(STEERING_GAIN_PER_TICK)
        self.steering_gain_per_tick[cars] = np.exp(rng.uniform(lo, hi, n))
        self.grip_scale[cars] = rng.uniform(*GRIP_SCALE, n)
        self.speed_gain[cars] = rng.uniform(*SPEED_GAIN, n)
        self.latency[cars] = rng.random(n) < LATENCY_PROBABILITY
        self.exposure[cars] = rng.uniform(*EXPOSURE, n)
        self.contrast[cars] = rng.uniform(*CONTRAST, n)
        self.blur_sigma_px[cars] = rng.uniform(*BLUR_SIGMA_PX, n)
        self.noise_sigma[cars] = rng.uniform(*NOISE_SIGMA, n)
        self.motion_noise[cars] = rng.uniform(*MOTION_NOISE, n)

    def shake(self, state, moved: np.ndarray, rng: np.random.Generator) -> None:
        """Each car of ``moved`` (K,) bool gets its motion noise on ``state`` (car.CarState), in place: Gaussian
        kicks of motion_noise x DART_STEP_NOISE x its speed's share of DART_STEP_NOISE_SPEED_MPS (at most 1.3) to its
        heading, yaw rate, sideways and forward speed."""
        k = len(moved)
        scale = self.motion_noise * np.minimum(np.abs(state.speed_mps) / DART_STEP_NOISE_SPEED_MPS, 1.3)
        kicks = rng.standard_normal((4, k)) * np.asarray(DART_STEP_NOISE)[:, None] * np.where(moved, scale, 0.0)
        state.yaw += kicks[0]
        state.yaw_rate_rps += kicks[1]
        state.lateral_mps += kicks[2]
        state.speed_mps += kicks[3]

    def camera(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Each car's exposure, contrast, blur and noise on its frames (K, H, W, C) uint8; a new array. The noise
        is a window of a fixed bank of Gaussian noise at a random place (drawing fresh noise for every pixel
        cost four times the rest)."""
        x = frames.astype(np.float32)
        mean = frames.mean(axis=(1, 2, 3), dtype=np.float64).astype(np.float32)
        gain = (self.contrast * self.exposure).astype(np.float32)
        offset = (mean * self.exposure * (1.0 - self.contrast)).astype(np.float32) + np.float32(0.5)   # + 0.5: rounding
        k, h, w, channels = x.shape
        bank = _noise_bank(h, w)
        picks = rng.integers(0, [len(bank), NOISE_MARGIN_PX, NOISE_MARGIN_PX], size=(k, channels, 3))
        for i in range(k):       # ((x - mean) contrast + mean) exposure, blurred, plus noise: in place, car by car
            xi = x[i]
            xi *= gain[i]
            xi += offset[i]
            sigma = float(self.blur_sigma_px[i])
            noise = np.float32(self.noise_sigma[i])
            for ch in range(channels):
                if sigma >= MIN_BLUR_SIGMA_PX:
                    xi[:, :, ch] = cv2.GaussianBlur(xi[:, :, ch], (0, 0), sigma)
                b, dy, dx = picks[i, ch]
                xi[:, :, ch] += bank[b, dy:dy + h, dx:dx + w] * noise
        np.clip(x, 0.0, 255.0, out=x)
        return x.astype(np.uint8)


#: Frames of standard Gaussian noise in the bank, and how far a window of it can move [px].
NOISE_BANK_FRAMES = 8
NOISE_MARGIN_PX = 32
_banks: dict[tuple[int, int], np.ndarray] = {}


def _noise_bank(h: int, w: int) -> np.ndarray:
    """NOISE_BANK_FRAMES frames of standard Gaussian noise, NOISE_MARGIN_PX larger than (h, w) each way."""
    if (h, w) not in _banks:
        _banks[(h, w)] = np.random.default_rng(20261205).standard_normal(
            (NOISE_BANK_FRAMES, h + NOISE_MARGIN_PX, w + NOISE_MARGIN_PX), dtype=np.float32)
    return _banks[(h, w)]
