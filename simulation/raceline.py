"""The racing line of a track: the minimum-time line under the simulator's car model, its speed
profile and the lap time it gives (the track's reference lap time).

The line is a lateral offset [m] (positive = left of travel) at stations every ~STATION_STEP_M
(at most MAX_STATIONS) along the centre line smoothed over +-SMOOTH_M (the files' centre lines are
polygons), kept inside the borders minus half the car's width and MARGIN_M. Its curvature at a
station is that of the circle through the points CURVATURE_BASELINE_M behind and ahead, so lap times
do not depend much on the station spacing (within 1.5% from 0.15 to 0.05 m with the default car). It is found in two stages:

1. minimum curvature: a bounded linear least-squares fit of the offsets (curvature linearised about
   the reference line), a good first guess;
2. lap-time refinement: rounds of pattern search on the lap time itself, each moving the line by a smooth
   correction (cubic spline through knots spaced KNOT_STEPS_M[r] apart). Rounds stop when one improves
   the lap time by less than ``tol_s``; the last round's improvement and how far it moved the line are
   reported. The result approximates the best lap from above: a model that beats it shows that the
   line is not optimal yet.

The speed profile (speed_profile) is a forward-backward pass of the car model, the fast simulator's car
that runs (simulation.car.effective_dynamics: DEEPRACER_DYNAMICS or the default), read off its steady
corners measured in the simulator (simulation/steady_corners.py, ``car_table``):
- top speed V_TOP_MPS: wheel speed cap 100 rad/s x 0.036 m wheels (dynamics.wheel_ground_speed);
- floor V_MIN_MPS: the slowest speed the car can be commanded (car.MIN_SPEED_MPS, as ground speed);
- corner limit: the fastest ground speed at which the car holds the station's curvature in a steady corner
  (``CornerTable.max_speed``: a car whose wheels fight or whose front slides turns less than its steering
  asks, and the table has what it does); a curvature tighter than it holds at any speed is driven at
  V_MIN_MPS and counted in ``infeasible_stations``;
- longitudinal limit dynamics.GRIP_MPS2 (speeding up and braking), shared with the corner on a friction
  ellipse: a_long <= GRIP sqrt(1 - (curvature / the tightest curvature held at this speed)^2);
- steering rate: the steering closes STEERING_GAIN_PER_TICK of its error per CONTROL_HZ tick, so it
  turns at most STEER_RATE_MAX_RAD_S (the full-lock error closed at that rate); a line whose steering (the
  angle that holds its curvature at RATE_STEER_SPEED_MPS) changes by d(steer)/ds caps the speed at
  STEER_RATE_MAX_RAD_S / |d(steer)/ds|.
A loop's profile wraps (it starts at its slowest station, where the speed is its corner limit); an
open track starts from rest and ends at whatever speed the car has.

Results are cached per track and car model in ``$XDG_CACHE_HOME/deepracer-local/racelines/
<track>-<sha of the route>-<car_model_version()>.npz``.
"""

from __future__ import annotations

import csv
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.optimize import lsq_linear

from . import car, dynamics
from .steady_corners import CornerTable, corner_table
from .track import Track

__all__ = ["Raceline", "compute_raceline", "load_or_compute", "write_outputs", "speed_profile", "drive_line", "fastest_drive", "LineDrive",
           "car_table", "cache_path", "car_model_version", "V_TOP_MPS", "V_MIN_MPS"]

#: Ground speed at the top command (wheel cap 100 rad/s on 0.036 m wheels) [m/s].
V_TOP_MPS = float(dynamics.wheel_ground_speed(car.MAX_SPEED_MPS))
#: Ground speed at the lowest command [m/s].
V_MIN_MPS = float(dynamics.wheel_ground_speed(car.MIN_SPEED_MPS))
#: Longitudinal grip (speeding up and braking) [m/s^2].
ACCEL_MPS2 = dynamics.GRIP_MPS2
MAX_STEER_RAD = float(np.radians(car.MAX_STEERING_DEG))
#: The fastest the steering turns [rad/s]: the full-lock error closed at 10% per 60 Hz tick.
STEER_RATE_MAX_RAD_S = dynamics.STEERING_GAIN_PER_TICK * dynamics.CONTROL_HZ * MAX_STEER_RAD
#: Half the car's width [m] and the extra margin [m] kept from each border.
HALF_WIDTH_M = car.BODY_WIDTH_M / 2.0
MARGIN_M = 0.05
#: Station spacing along the centre line [m] (at most MAX_STATIONS stations).
STATION_STEP_M = 0.15
MAX_STATIONS = 360
#: Curvature is measured over this distance behind and ahead of each station [m].
CURVATURE_BASELINE_M = 0.3
#: Half-width [m] of the smoothing of the centre line that the offsets are measured from.
SMOOTH_M = 0.6
#: Most stations of the minimum-curvature start (a dense bounded least-squares solve).
MIN_CURVATURE_MAX_STATIONS = 200
#: Knot spacings [m] of the lap-time refinement rounds (the last one repeats).
KNOT_STEPS_M = (1.6, 1.1, 0.8, 0.6, 0.45)
MAX_KNOTS = 90
#: Pattern-search steps [m] of a knot in each refinement round, and the most moves per step.
PATTERN_STEPS_M = (0.08, 0.04, 0.02, 0.01)
MAX_MOVES = 30
#: The ground speed [m/s] whose steady-corner steering the steering-rate cap differentiates along the line.
RATE_STEER_SPEED_MPS = 0.5
#: Version of this algorithm (part of the cache key).
_ALGORITHM = "raceline-2"

_MODEL_FACTS = (_ALGORITHM, V_TOP_MPS, V_MIN_MPS, ACCEL_MPS2, MAX_STEER_RAD, RATE_STEER_SPEED_MPS,
                STEER_RATE_MAX_RAD_S, car.WHEELBASE_M, HALF_WIDTH_M, MARGIN_M, STATION_STEP_M, KNOT_STEPS_M, SMOOTH_M,
                CURVATURE_BASELINE_M, MIN_CURVATURE_MAX_STATIONS, PATTERN_STEPS_M)
#: Speeds [m/s] of the tightest-curvature lookup the speed profile reads at every station.
_KMAX_STEP_MPS = 0.01


def car_table() -> CornerTable:
    """The steady corners of the car model that runs (DEEPRACER_DYNAMICS or the default)."""
    return corner_table(car.effective_dynamics())


def car_model_version() -> str:
    """Changes whenever a car constant this module reads, the car model's corners or the algorithm change:
    the racing line's cache key."""
    return hashlib.sha256((repr(_MODEL_FACTS) + car_table().digest).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class Raceline:
    """A racing line and its speed profile; arrays have one row per station (driving order; a loop's
    last station is not repeated)."""

    track_name: str
    is_loop: bool
    station_m: np.ndarray      # (N,) arc length of the station on the centre line [m]
    xy: np.ndarray             # (N, 2) line points [m]
    offset_m: np.ndarray       # (N,) lateral offset from the centre line, + = left of travel [m]
    curvature: np.ndarray      # (N,) signed curvature of the line [1/m], + = turning left
    speed_mps: np.ndarray      # (N,) ground speed [m/s]
    time_s: np.ndarray         # (N,) time at the station from the start line [s]
    lap_time_s: float          # the reference lap time (start to finish on an open track) [s]
    centre_lap_time_s: float   # the centre line driven at its own speed profile [s]
    start_lap_time_s: float    # the minimum-curvature line the refinement starts from [s]
    iterations: int            # lap-time refinement rounds run
    last_improvement_s: float  # lap time the last round gained [s]
    last_move_max_m: float     # largest offset change of the last round [m]
    last_move_mean_m: float    # mean offset change of the last round [m]
    infeasible_stations: int   # stations needing more than full lock (0 on a good line)
    compute_s: float           # time it took to compute [s]
    converged: bool            # the last round gained less than the tolerance
    car_model_version: str = ""


# ---------------------------------------------------------------------------------------- car model
def _corner_speed(curvature: np.ndarray, ds_m: np.ndarray, is_loop: bool,
                  table: CornerTable) -> tuple[np.ndarray, np.ndarray]:
    """Per-station speed cap [m/s] from the corners the car holds, the steering limit and the steering rate,
    and which stations need more than the car can turn. Arrays (..., N)."""
    k = np.abs(curvature)
    grip = table.max_speed(k)
    bad = k > float(table.max_curvature(0.0)) + 1e-9
    vmax = np.minimum(np.where(bad, V_MIN_MPS, grip), V_TOP_MPS)
    # the steering rate: the angle that holds the curvature at walking pace (smooth in the curvature; at speed
    # the car needs more, in proportion, which the rate of change barely feels)
    steer = np.radians(table.steering_deg(curvature, RATE_STEER_SPEED_MPS))
    nxt = np.roll(steer, -1, axis=-1) if is_loop else np.concatenate([steer[..., 1:], steer[..., -1:]], axis=-1)
    dsteer = np.abs(nxt - steer) / ds_m
    prev = np.roll(dsteer, 1, axis=-1) if is_loop else np.concatenate([dsteer[..., :1], dsteer[..., :-1]], axis=-1)
    vmax = np.minimum(vmax, STEER_RATE_MAX_RAD_S / np.maximum(np.maximum(dsteer, prev), 1e-9))
    return np.maximum(vmax, V_MIN_MPS), bad


def speed_profile(curvature: np.ndarray, ds_m: np.ndarray, is_loop: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Speeds [m/s] at the stations, lap time [s] and the number of stations beyond full lock, of one
    line (curvature (N,)) or a batch of lines (curvature (B, N)).

    ``ds_m[..., i]`` is the length from station i to the next (on a loop the last one closes the lap;
    on an open track it has N-1 entries and the car starts from rest)."""
    single = np.ndim(curvature) == 1
    kappa = np.atleast_2d(curvature)
    ds = np.broadcast_to(np.atleast_2d(ds_m), (kappa.shape[0], np.shape(ds_m)[-1]))
    nb, n = kappa.shape
    ds_full = ds if is_loop else np.concatenate([ds, ds[:, -1:]], axis=1)
    table = car_table()
    vmax, bad = _corner_speed(kappa, ds_full, is_loop, table)
    # the tightest curvature held at each speed, on a grid the passes index
    kmax = np.maximum(table.max_curvature(np.arange(0.0, V_TOP_MPS + 2 * _KMAX_STEP_MPS, _KMAX_STEP_MPS)), 1e-9)
    top = len(kmax) - 1
    absk = np.abs(kappa)
    rows = np.arange(nb)[:, None]
    if is_loop:   # start (and end) at the slowest station: its speed is its corner cap
        order = (np.argmin(vmax, axis=1)[:, None] + np.arange(n + 1)) % n
        seg = ds_full[rows, order[:, :-1]]
    else:
        order = np.broadcast_to(np.arange(n), (nb, n))
        seg = ds
    vm, kk = vmax[rows, order].T.copy(), absk[rows, order].T.copy()
    seg_t = 2.0 * ACCEL_MPS2 * seg.T

    def grip_left(u: np.ndarray, k: np.ndarray) -> np.ndarray:
        """sqrt(1 - (k / the tightest curvature held at speed u)^2): the share of grip left for speed changes."""
        held = kmax[np.minimum((u / _KMAX_STEP_MPS).astype(int), top)]
        return np.sqrt(np.maximum(1.0 - (k / held) ** 2, 0.0))

    v = np.empty_like(vm)
    v[0] = vm[0] if is_loop else 0.0
    for i in range(len(vm) - 1):   # forward: speeding up on what grip the corner leaves
        u2 = v[i] * v[i]
        v[i + 1] = np.minimum(np.sqrt(u2 + seg_t[i] * grip_left(v[i], kk[i])), vm[i + 1])
    for i in range(len(vm) - 2, -1, -1):   # backward: braking
        u2 = v[i + 1] * v[i + 1]
        v[i] = np.minimum(v[i], np.sqrt(u2 + seg_t[i] * grip_left(v[i + 1], kk[i + 1])))
    lap = np.sum(2.0 * seg.T / np.maximum(v[:-1] + v[1:], 1e-9), axis=0)
    speed = np.empty((nb, n))
    speed[rows, order[:, :n]] = v[:n].T
    nbad = bad.sum(axis=1)
    if single:
        return speed[0], lap[0], nbad[0]
    return speed, lap, nbad


# ---------------------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class _Frame:
    """Stations along the centre line: points, unit left normals and offset bounds."""

    station_m: np.ndarray
    centre: np.ndarray
    normal: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    is_loop: bool


def _frame(track: Track) -> _Frame:
    n_seg = int(np.clip(round(track.length_m / STATION_STEP_M), 8, MAX_STATIONS))
    if track.is_loop:
        s = np.arange(n_seg) * (track.length_m / n_seg)
    else:
        s = np.linspace(0.0, track.length_m, n_seg + 1)
    c = track.center_at(s)
    # The reference line is the centre line smoothed over about +-SMOOTH_M: the files' centre lines are
    # polygons, whose corners would give any line measured from them a curvature that grows without
    # bound as the stations get closer.
    w = max(2, int(round(SMOOTH_M / (s[1] - s[0]))))
    if track.is_loop:
        padded = np.concatenate([c[-w:], c, c[:w]])
    else:   # extend the ends straight
        head = c[0] + (c[0] - c[1:w + 1])[::-1]
        tail = c[-1] + (c[-1] - c[-w - 1:-1])[::-1]
        padded = np.concatenate([head, c, tail])
    kernel = np.hanning(2 * w + 3)[1:-1]
    kernel /= kernel.sum()
    ref = np.stack([np.convolve(padded[:, j], kernel, mode="valid") for j in range(2)], axis=1)
    t = np.gradient(np.concatenate([ref[-1:], ref, ref[:1]]) if track.is_loop else ref, axis=0)
    if track.is_loop:
        t = t[1:-1]
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    nrm = np.stack([-t[:, 1], t[:, 0]], axis=1)
    d_left = np.einsum("ij,ij->i", track.left_at(s) - ref, nrm)
    d_right = np.einsum("ij,ij->i", track.right_at(s) - ref, nrm)
    keep = HALF_WIDTH_M + MARGIN_M
    hi, lo = d_left - keep, d_right + keep
    mid = 0.5 * (hi + lo)
    narrow = hi < lo
    hi, lo = np.where(narrow, mid, hi), np.where(narrow, mid, lo)
    return _Frame(s, ref, nrm, lo, hi, track.is_loop)


def _line(frame: _Frame, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points (..., N, 2), segment lengths to the next station and signed curvature of the line at
    ``offset`` (..., N). The curvature is that of the circle through the points CURVATURE_BASELINE_M
    behind and ahead (the car cannot follow shorter detail: the steering lags by 0.16 s), so it does
    not depend on the station spacing."""
    p = frame.centre + offset[..., None] * frame.normal
    m = max(1, int(round(CURVATURE_BASELINE_M / (frame.station_m[1] - frame.station_m[0]))))

    def cross(u, w):
        return u[..., 0] * w[..., 1] - u[..., 1] * w[..., 0]

    if frame.is_loop:
        ds = np.linalg.norm(np.roll(p, -1, axis=-2) - p, axis=-1)
        back, ahead = np.roll(p, m, axis=-2), np.roll(p, -m, axis=-2)
    else:
        ds = np.linalg.norm(np.diff(p, axis=-2), axis=-1)
        n = p.shape[-2]
        idx = np.arange(n)
        back, ahead = p[..., np.maximum(idx - m, 0), :], p[..., np.minimum(idx + m, n - 1), :]
    a, b = p - back, ahead - p
    la, lb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    lc = np.linalg.norm(ahead - back, axis=-1)
    k = 2.0 * cross(a, b) / np.maximum(la * lb * lc, 1e-12)
    if not frame.is_loop:   # the first and last stations have no point behind / ahead
        k[..., :1] = k[..., 1:2]
        k[..., -1:] = k[..., -2:-1]
    return p, ds, k


def _min_curvature(frame: _Frame) -> np.ndarray:
    """Offsets of the (linearised) minimum-curvature line within the bounds (dense bounded least
    squares); the centre line on tracks of more than MIN_CURVATURE_MAX_STATIONS stations, where the
    solve would take longer than the lap-time rounds that follow."""
    n = len(frame.station_m)
    if n > MIN_CURVATURE_MAX_STATIONS:
        return np.zeros(n)
    _, ds, k0 = _line(frame, np.zeros(n))
    h = float(np.mean(ds))
    eye = np.eye(n)
    if frame.is_loop:
        d2 = (np.roll(eye, 1, axis=1) - 2 * eye + np.roll(eye, -1, axis=1)) / h ** 2
    else:
        d2 = np.zeros((n, n))
        d2[1:-1] = (eye[:-2] - 2 * eye[1:-1] + eye[2:]) / h ** 2
    # curvature of c + a n ~ k0 + a'' + k0^2 a (small offsets); the sign of a'' follows the left normal
    a_mat = d2 + np.diag(k0 ** 2)
    res = lsq_linear(a_mat, -k0, bounds=(frame.lo - 1e-9, frame.hi + 1e-9), method="bvls", max_iter=2000)
    return np.clip(res.x, frame.lo, frame.hi)


def _basis(frame: _Frame, knot_step_m: float, shift: float) -> np.ndarray:
    """(N, K) matrix: offsets at the stations of a cubic spline through K knot values."""
    s = frame.station_m
    length = s[-1] + (s[1] - s[0]) if frame.is_loop else s[-1]
    k = int(np.clip(round(length / knot_step_m), 4, MAX_KNOTS))
    if frame.is_loop:
        knots = (np.arange(k + 1) + shift) * (length / k)
        vals = np.vstack([np.eye(k), np.eye(k)[:1]])
        sp = CubicSpline(knots, vals, bc_type="periodic")
        return sp(np.mod(s - knots[0], length) + knots[0])
    knots = np.linspace(0.0, length, k + 1)
    sp = CubicSpline(knots, np.eye(k + 1), bc_type="natural")
    return sp(s)


# ---------------------------------------------------------------------------------------- optimiser
def _lap_time(frame: _Frame, offset: np.ndarray):
    """Lap time [s] of one line (offset (N,)) or of each of a batch (offset (B, N))."""
    _, ds, k = _line(frame, offset)
    return speed_profile(k, ds, frame.is_loop)[1]


def _refine_round(frame: _Frame, offset: np.ndarray, lap_s: float, knot_step_m: float,
                  shift: float) -> tuple[np.ndarray, float]:
    """One round of pattern search on the lap time over a smooth correction to ``offset`` (cubic spline
    through knots ``knot_step_m`` apart). Every knot is tried at +-step at once (one batch through the
    speed profile); the improving moves are taken together when that is faster, else the best one
    alone; when none improves the step halves, from PATTERN_STEPS_M[0] down to PATTERN_STEPS_M[-1].
    The lap time is not smooth in the offsets (speed caps switch between limits), so a gradient
    method stalls here."""
    b = _basis(frame, knot_step_m, shift)
    lo, hi = frame.lo, frame.hi
    moves = np.concatenate([b.T, -b.T])          # (2K, N)
    k = b.shape[1]
    best = lap_s
    for step in PATTERN_STEPS_M:
        for _ in range(MAX_MOVES):
            trials = np.clip(offset + step * moves, lo, hi)
            gains = best - _lap_time(frame, trials)
            # per knot the better sign
            g2 = gains.reshape(2, k)
            sign = np.argmax(g2, axis=0)
            g = g2[sign, np.arange(k)]
            good = np.flatnonzero(g > 1e-7)
            if len(good) == 0:
                break
            together = np.clip(offset + step * (b[:, good] @ np.where(sign[good] == 0, 1.0, -1.0)), lo, hi)
            t = float(_lap_time(frame, together))
            if t < best - 1e-7 and len(good) > 1:
                offset, best = together, t
            else:
                j = int(np.argmax(gains))
                offset, best = trials[j], best - float(gains[j])
    return offset, best


def compute_raceline(track: Track, tol_s: float = 0.002, max_rounds: int = 12,
                     budget_s: float = 60.0) -> Raceline:
    """The racing line of ``track``: minimum-curvature start, then lap-time rounds until one gains
    less than ``tol_s`` seconds (converged), or ``max_rounds`` rounds or ``budget_s`` seconds have
    been spent (then ``converged`` is False and the last round's gain says how far from it)."""
    t0 = time.perf_counter()
    frame = _frame(track)
    n = len(frame.station_m)
    centre_time = _lap_time(frame, np.zeros(n))
    offset = _min_curvature(frame)
    lap = _lap_time(frame, offset)
    if lap > centre_time:     # a bad linearisation (very wide, twisty track): start from the centre
        offset, lap = np.zeros(n), centre_time
    start_time = lap
    rounds, gain, move = 0, float("nan"), np.zeros(n)
    for r in range(max_rounds):
        step = KNOT_STEPS_M[min(r, len(KNOT_STEPS_M) - 1)]
        new, new_lap = _refine_round(frame, offset, lap, step, shift=0.5 * (r % 2))
        rounds += 1
        if new_lap <= lap:
            gain, move = lap - new_lap, np.abs(new - offset)
            offset, lap = new, new_lap
        else:
            gain, move = 0.0, np.zeros(n)
        if gain < tol_s or time.perf_counter() - t0 > budget_s:
            break
    return _build(track, frame, offset, centre_time, start_time, rounds, gain, move, time.perf_counter() - t0,
                  gain < tol_s)


def _build(track: Track, frame: _Frame, offset: np.ndarray, centre_time: float, start_time: float, rounds: int,
           gain: float, move: np.ndarray, compute_s: float, converged: bool) -> Raceline:
    p, ds, k = _line(frame, offset)
    speed, lap, bad = speed_profile(k, ds, frame.is_loop)
    v = np.maximum(speed, 1e-9)
    seg = ds[: len(v) - 1]
    t = np.concatenate([[0.0], np.cumsum(2.0 * seg / (v[:-1] + v[1:]))])
    return Raceline(track.name, frame.is_loop, frame.station_m, p, offset, k, speed, t, lap, centre_time, start_time,
                    rounds, float(gain), float(move.max()), float(move.mean()), bad, compute_s, bool(converged),
                    car_model_version())


# ---------------------------------------------------------------------------------------- cache
def _track_digest(track: Track) -> str:
    try:
        data = track.route_bytes()
    except ValueError:   # made from arrays
        data = b"".join(np.ascontiguousarray(a).tobytes() for a in (track.waypoints, track.left_border,
                                                                  track.right_border))
    h = hashlib.sha256(data)
    h.update(b"reversed" if track.reversed else b"forward")
    return h.hexdigest()[:12]


def cache_path(track: Track) -> Path:
    """Where ``track``'s racing line is cached (per route bytes, direction and car_model_version())."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in track.name)
    return Path(base) / "deepracer-local" / "racelines" / f"{safe}-{_track_digest(track)}-{car_model_version()}.npz"


_ARRAYS = ("station_m", "xy", "offset_m", "curvature", "speed_mps", "time_s")
_SCALARS = ("lap_time_s", "centre_lap_time_s", "start_lap_time_s", "iterations", "last_improvement_s", "last_move_max_m",
            "last_move_mean_m", "infeasible_stations", "compute_s", "converged")


def load_or_compute(track: Track, use_cache: bool = True) -> tuple[Raceline, bool]:
    """The racing line from the cache when there, else computed (and stored). Returns (line, from_cache)."""
    path = cache_path(track)
    if use_cache and path.is_file():
        try:
            with np.load(path) as z:
                rl = Raceline(track.name, bool(z["is_loop"]), *(z[a] for a in _ARRAYS),
                              *(type_(z[s]) for s, type_ in zip(_SCALARS, (float, float, float, int, float, float,
                                                                          float, int, float, bool))),
                              car_model_version())
            return rl, True
        except (OSError, KeyError, ValueError):
            pass   # a damaged or old-format cache file: compute again
    rl = compute_raceline(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, is_loop=rl.is_loop, **{a: getattr(rl, a) for a in _ARRAYS + _SCALARS})
    os.replace(tmp, path)
    return rl, False


# ---------------------------------------------------------------------------------------- outputs
def write_outputs(raceline: Raceline, out_dir: str | os.PathLike, track: Track | None = None) -> tuple[Path, Path]:
    """Write ``raceline.csv`` (station, x, y, offset, curvature, speed, time) and ``raceline.png`` (the
    line coloured by speed on the track, when ``track`` is given; else on a blank background)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "raceline.csv"
    with csv_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["station_m", "x_m", "y_m", "offset_m", "curvature_1pm", "speed_mps", "time_s"])
        for row in zip(raceline.station_m, raceline.xy[:, 0], raceline.xy[:, 1], raceline.offset_m,
                       raceline.curvature, raceline.speed_mps, raceline.time_s):
            w.writerow([f"{x:.4f}" for x in row])
    png_path = out / "raceline.png"
    from core.plotting import pyplot

    plt = pyplot()
    from matplotlib.collections import LineCollection

    fig, ax = plt.subplots(figsize=(11, 7))
    if track is not None:
        from stack.pictures import draw_track

        draw_track(ax, track)
    pts = raceline.xy if not raceline.is_loop else np.vstack([raceline.xy, raceline.xy[:1]])
    sp = raceline.speed_mps if not raceline.is_loop else np.append(raceline.speed_mps, raceline.speed_mps[0])
    segs = np.stack([pts[:-1], pts[1:]], axis=1)
    lc = LineCollection(segs, cmap="plasma", linewidths=3.0, zorder=5)
    lc.set_array(0.5 * (sp[:-1] + sp[1:]))
    lc.set_clim(0.0, V_TOP_MPS)
    ax.add_collection(lc)
    ax.autoscale_view()
    ax.set_aspect("equal")
    fig.colorbar(lc, ax=ax, label="speed [m/s]", shrink=0.8)
    kind = "lap" if raceline.is_loop else "start to finish"
    ax.set_title(f"{raceline.track_name}: racing line, {kind} {raceline.lap_time_s:.2f} s "
                 f"(centre line {raceline.centre_lap_time_s:.2f} s)")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return csv_path, png_path


# ---------------------------------------------------------------------------------------- driving the line
#: drive_line's driver: it commands the speed the line has this far ahead [s of travel at the current
#: speed], steers the line's curvature DRIVE_STEER_LEAD_S ahead, and corrects the front axle's
#: distance from the line with Stanley gain DRIVE_CROSS_GAIN [1/s].
DRIVE_SPEED_LEAD_S = 0.2
DRIVE_STEER_LEAD_S = 0.1
DRIVE_CROSS_GAIN = 2.0


@dataclass
class LineDrive:
    """What happened when the simulator's car drove a racing line (``drive_line``)."""

    status: str                 # core.race_status name: lap_complete, off_track, ...
    progress: float             # 0-100
    lap_time_s: float | None    # simulated time of a completed lap, from a standing start [s]
    max_off_line_m: float       # largest distance of the car from the line [m]
    steps: int


def _line_lookup(rl: Raceline, arc_m: np.ndarray, ahead_m: np.ndarray) -> np.ndarray:
    """Station indices (fractional) of the line at centre arc ``arc_m + ahead_m``."""
    at = np.asarray(arc_m, dtype=float) + ahead_m
    n = len(rl.station_m)
    if rl.is_loop:
        total = rl.station_m[-1] + (rl.station_m[1] - rl.station_m[0])
        at = np.mod(at, total)
        return np.interp(at, np.append(rl.station_m, total), np.arange(n + 1)) % n
    return np.interp(at, rl.station_m, np.arange(n))


def _at_index(values: np.ndarray, idx: np.ndarray, is_loop: bool) -> np.ndarray:
    """``values`` (N, ...) linearly interpolated at fractional indices ``idx``."""
    n = len(values)
    i0 = np.floor(idx).astype(int)
    i1 = (i0 + 1) % n if is_loop else np.minimum(i0 + 1, n - 1)
    w = (idx - i0).reshape((-1,) + (1,) * (values.ndim - 1))
    return (1 - w) * values[i0 % n] + w * values[i1]


def drive_line(track: Track, rl: Raceline, speed_scale: float = 1.0, seed: int = 0, backend: str = "fast"
               ) -> LineDrive:
    """Drive ``rl`` in the simulator (simulation.env, the real dynamics; ``backend`` "dart": the car moved by
    DART, the v6 reference's physics) for one lap from the start line
    at rest, commanding ``speed_scale`` x the line's speeds (line_commands). The driver steers the
    line's curvature a little ahead (DRIVE_STEER_LEAD_S) plus Stanley feedback on the heading and
    the front axle's distance from the line (DRIVE_CROSS_GAIN), never more than the grip allows at
    its speed. A check of the car model the line was computed with: where the car slides off at
    full speed but laps at a lower share, either the line asks more than the dynamics give or the
    driver's tracking error does (it is a simple driver); ``fastest_drive`` finds that share."""
    from core import race_status as rs

    from .env import batched_env_class

    meta = {"action_space_type": "continuous", "sensor": ["STATE"],
            "action_space": {"steering_angle": {"low": -car.MAX_STEERING_DEG, "high": car.MAX_STEERING_DEG},
                             "speed": {"low": car.MIN_SPEED_MPS, "high": car.MAX_SPEED_MPS}}}
    env = batched_env_class(backend)(track, None, meta, {"training": False, "reverse_direction": track.reversed},
                                     num_cars=1, seed=seed, autoreset=False)
    env.reset()
    _, cmd_speed = line_commands(rl)
    cmd_speed = np.maximum(cmd_speed * speed_scale, car.MIN_SPEED_MPS)
    table = car_table()
    heading = np.arctan2(*(np.roll(rl.xy, -1, axis=0) - np.roll(rl.xy, 1, axis=0))[:, ::-1].T)
    worst = 0.0
    while True:
        s = env.state
        speed = float(max(s.speed_mps[0], 0.0))
        front = np.array([s.x[0], s.y[0]]) + car.FRONT_AXLE_X_M * np.array([np.cos(s.yaw[0]), np.sin(s.yaw[0])])
        i = int(np.argmin(np.hypot(*(rl.xy - front).T)))     # the line station nearest the front axle
        worst = max(worst, float(np.min(np.hypot(*(rl.xy - [s.x[0], s.y[0]]).T))))
        normal = np.array([-np.sin(heading[i]), np.cos(heading[i])])
        cross_m = float((front - rl.xy[i]) @ normal)                     # + = left of the line
        heading_err = float(np.angle(np.exp(1j * (heading[i] - s.yaw[0]))))
        lead = _line_lookup(rl, np.array([rl.station_m[i]]), DRIVE_STEER_LEAD_S * speed)
        kappa = float(_at_index(rl.curvature, lead, rl.is_loop)[0])
        hold = np.radians(float(table.steering_deg(np.array(kappa), np.array(max(speed, V_MIN_MPS)))))
        steer = hold + heading_err - np.arctan(DRIVE_CROSS_GAIN * cross_m / (speed + 0.5))
        # no more steering than the car's tightest steady corner at this speed asks (a slide is what this
        # checks, not the driver)
        tightest = float(table.max_curvature(max(speed, V_MIN_MPS)))
        grip_steer = np.radians(float(table.steering_deg(np.array(tightest), np.array(max(speed, V_MIN_MPS)))))
        steer = float(np.clip(steer, -grip_steer, grip_steer))
        want = float(_at_index(cmd_speed, _line_lookup(rl, np.array([rl.station_m[i]]), DRIVE_SPEED_LEAD_S * speed),
                               rl.is_loop)[0])
        steer_deg = float(np.clip(np.degrees(steer), -car.MAX_STEERING_DEG, car.MAX_STEERING_DEG))
        action = np.array([[steer_deg, want]])   # scaled to the [-1, 1] of the continuous space below
        action = (2 * (action - [-car.MAX_STEERING_DEG, car.MIN_SPEED_MPS])
                  / [2 * car.MAX_STEERING_DEG, car.MAX_SPEED_MPS - car.MIN_SPEED_MPS] - 1).astype(np.float32)
        r = env.step(action)
        if r.done[0]:
            status = rs.STATUSES[int(r.status[0])]
            steps = int(r.steps[0])
            lap = status == "lap_complete"
            return LineDrive(status, float(r.progress[0]), steps / car.STEP_HZ if lap else None, worst, steps)


def fastest_drive(track: Track, rl: Raceline, shares: tuple[float, ...] = tuple(np.arange(1.0, 0.45, -0.05)),
                  backend: str = "fast") -> tuple[float, LineDrive] | None:
    """(the largest share of the line's speeds in ``shares`` at which drive_line completes the lap in
    ``backend``, that drive), or None when it completes at none of them."""
    for share in shares:
        drive = drive_line(track, rl, float(share), backend=backend)
        if drive.status == "lap_complete":
            return float(share), drive
    return None


# ---------------------------------------------------------------------------------------- action space and reward
#: Default number of discrete actions suggested from the line.
DEFAULT_ACTIONS = 7
#: The shares of the line's speeds its suggested actions may take (``speed_share``).
SPEED_SHARE_RANGE = (0.5, 1.0)
#: Most discrete actions suggest_actions makes.
MAX_SUGGESTED_ACTIONS = 30
#: Margins added to the line's steering [deg] and commanded speed [m/s] range for continuous bounds.
BOUNDS_MARGIN_DEG = 2.0
BOUNDS_MARGIN_MPS = 0.1
#: Spacing [m] of the line points embedded in a generated reward function.
REWARD_POINT_STEP_M = 0.3


def check_speed_share(speed_share: float) -> float:
    """``speed_share`` if it is a number in SPEED_SHARE_RANGE, else a ConfigError saying what is allowed."""
    from core.config import ConfigError

    lo, hi = SPEED_SHARE_RANGE
    if isinstance(speed_share, bool) or not isinstance(speed_share, (int, float)) or not lo <= speed_share <= hi:
        raise ConfigError(f"speed share of the racing line's actions must be a number from {lo:g} to {hi:g}, "
                          f"got {speed_share!r}")
    return float(speed_share)


def line_commands(rl: Raceline) -> tuple[np.ndarray, np.ndarray]:
    """Per station, the command that drives the line: steering [deg] (+ = left; the angle at which the car
    holds the line's curvature at the line's speed in a steady corner, car_table; at most
    car.MAX_STEERING_DEG) and commanded speed [m/s] (the ground speed x SPEED_FACTOR_RADIUS_M /
    WHEEL_CONTACT_RADIUS_M, since the car drives 0.036/0.035 faster than commanded; clipped to
    [car.MIN_SPEED_MPS, car.MAX_SPEED_MPS])."""
    steer = car_table().steering_deg(rl.curvature, np.maximum(rl.speed_mps, V_MIN_MPS))
    steer = np.clip(steer, -car.MAX_STEERING_DEG, car.MAX_STEERING_DEG)
    speed = rl.speed_mps * (dynamics.SPEED_FACTOR_RADIUS_M / dynamics.WHEEL_CONTACT_RADIUS_M)
    return steer, np.clip(speed, car.MIN_SPEED_MPS, car.MAX_SPEED_MPS)


def suggest_actions(rl: Raceline, k: int = DEFAULT_ACTIONS, seed: int = 0,
                    speed_share: float = 1.0) -> list[tuple[float, float]]:
    """``k`` discrete actions (steering [deg], commanded speed [m/s]) that drive the line: k-means
    centres of the per-station commands (line_commands; features scaled to unit spread), sorted by
    steering (then speed), their speeds times ``speed_share`` (check_speed_share; below 1 a margin for a car
    that is not the one the line was computed for). Fewer come back when the line has fewer distinct
    commands."""
    from scipy.cluster.vq import kmeans2

    from core.config import ConfigError

    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_SUGGESTED_ACTIONS:
        raise ConfigError(f"number of actions must be a whole number from 1 to {MAX_SUGGESTED_ACTIONS}, got {k!r}")
    check_speed_share(speed_share)
    steer, speed = line_commands(rl)
    pts = np.unique(np.round(np.stack([steer, speed], axis=1), 3), axis=0)
    if len(pts) <= k:
        centres = pts
    else:
        data = np.stack([steer, speed], axis=1)
        scale = np.maximum(data.std(axis=0), 1e-6)
        centres, labels = kmeans2(data / scale, int(k), minit="++", seed=np.random.default_rng(seed))
        centres = centres[np.unique(labels)] * scale      # drop empty clusters
    out = {(round(float(np.clip(s, -car.MAX_STEERING_DEG, car.MAX_STEERING_DEG)), 1),
            round(float(np.clip(v * speed_share, car.MIN_SPEED_MPS, car.MAX_SPEED_MPS)), 2)) for s, v in centres}
    return sorted(out)


def continuous_bounds(rl: Raceline):
    """core.config.ContinuousBounds covering the line's commands (line_commands) with BOUNDS_MARGIN_DEG
    and BOUNDS_MARGIN_MPS either side, within the car's limits."""
    from core.config import ContinuousBounds

    steer, speed = line_commands(rl)
    lim = car.MAX_STEERING_DEG
    return ContinuousBounds(round(float(max(steer.min() - BOUNDS_MARGIN_DEG, -lim)), 1),
                            round(float(min(steer.max() + BOUNDS_MARGIN_DEG, lim)), 1),
                            round(float(max(speed.min() - BOUNDS_MARGIN_MPS, car.MIN_SPEED_MPS)), 2),
                            round(float(min(speed.max() + BOUNDS_MARGIN_MPS, car.MAX_SPEED_MPS)), 2))


def action_space_metadata(rl: Raceline, k: int | None = DEFAULT_ACTIONS, base_metadata: dict | None = None,
                          speed_share: float = 1.0) -> dict:
    """A model_metadata.json dict: ``base_metadata`` (default presets/model_metadata.json: its sensors and
    network) with the line's action space: ``k`` suggested discrete actions (suggest_actions), or the
    continuous bounds (continuous_bounds) when ``k`` is None; their speeds times ``speed_share``
    (check_speed_share). Validated with parse_model_metadata."""
    import json

    from core.config import parse_model_metadata

    if base_metadata is None:
        base_metadata = json.loads((Path(__file__).resolve().parents[1] / "presets" / "model_metadata.json").read_text())
    data = dict(base_metadata)
    if k is None:
        b = continuous_bounds(rl)
        share = check_speed_share(speed_share)
        data["action_space_type"] = "continuous"
        data["action_space"] = {"steering_angle": {"low": b.steering_low_deg, "high": b.steering_high_deg},
                                "speed": {"low": round(max(b.speed_low_mps * share, car.MIN_SPEED_MPS), 2),
                                          "high": round(max(b.speed_high_mps * share, car.MIN_SPEED_MPS), 2)}}
    else:
        data["action_space_type"] = "discrete"
        if data.get("training_algorithm") == "sac":
            data["training_algorithm"] = "clipped_ppo"
        data["action_space"] = [{"steering_angle": s, "speed": v}
                                for s, v in suggest_actions(rl, k, speed_share=speed_share)]
    return parse_model_metadata(data, f"action space of the {rl.track_name} racing line").to_json_dict()


_REWARD_TEMPLATE = '''"""Follow the racing line of {track} at its speed, and make progress.

Generated by `deepracer-local raceline {track} --reward` (simulation/raceline.py reward_source); make
one for another track with `deepracer-local raceline TRACK --reward` (add --reverse for the other
direction; the line is for one direction of one track). The line ({n} points, every ~{step} m) is
embedded below as (x [m], y [m], commanded speed [m/s]): a model's reward_function.py travels
alone, so it reads no files. Reference {kind} time of this line: {lap:.2f} s.

Off the track: 1e-3. On it, the sum of
- progress per step (percent of the lap per step), scaled so the reference lap earns about 1 per step;
- closeness to the line: 1 on it, 0 at half the track width from it (and beyond);
- speed match: 1 at the line's commanded speed there, 0 at {tol:.1f} m/s from it; counted in
  proportion to the closeness (the speed is only right on the line).
"""

LINE = {points}
IS_LOOP = {is_loop}
#: Steps of the reference lap: (lap time) x 15 steps per second.
REFERENCE_STEPS = {ref_steps:.1f}
SPEED_TOLERANCE = {tol}  # m/s
STATION_STEP = {station_step!r}  # m of centre line between line points
WINDOW = 6  # points searched either side of the point where projection_distance says the car is


def _segment_distance(i, x, y):
    """Distance from (x, y) to the segment from point i to point i + 1, and that segment's speed."""
    n = len(LINE)
    x0, y0, v0 = LINE[i]
    j = i + 1
    if j >= n:
        if not IS_LOOP:
            return ((x - x0) ** 2 + (y - y0) ** 2) ** 0.5, v0
        j = 0
    x1, y1, v1 = LINE[j]
    dx, dy = x1 - x0, y1 - y0
    t = ((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy + 1e-12)
    t = 0.0 if t < 0.0 else (1.0 if t > 1.0 else t)
    px, py = x0 + t * dx - x, y0 + t * dy - y
    return (px * px + py * py) ** 0.5, v0 + t * (v1 - v0)


def nearest_on_line(x, y, hint):
    """(distance [m] to the line, line speed there [m/s]) near index ``hint``; the whole line when
    the window's best is over 0.5 m away (a hint that does not match this line)."""
    n = len(LINE)
    best = (1e9, 0.0)
    for i in range(hint - WINDOW, hint + WINDOW + 1):
        if IS_LOOP:
            i %= n
        elif i < 0 or i >= n:
            continue
        d = _segment_distance(i, x, y)
        if d[0] < best[0]:
            best = d
    if best[0] > 0.5:
        for i in range(n):
            d = _segment_distance(i, x, y)
            if d[0] < best[0]:
                best = d
    return best


def reward_function(params):
    if params["is_offtrack"] or not params["all_wheels_on_track"]:
        return 1e-3
    hint = int(params.get("projection_distance", 0.0) / STATION_STEP)
    dist, line_speed = nearest_on_line(params["x"], params["y"], hint)
    progress_per_step = params["progress"] / max(params["steps"], 1)
    progress = progress_per_step * REFERENCE_STEPS / 100.0
    near = max(0.0, 1.0 - dist / (0.5 * params["track_width"]))
    speed = max(0.0, 1.0 - abs(params["speed"] - line_speed) / SPEED_TOLERANCE)
    return float(max(progress, 0.0) + near + near * speed)
'''


def reward_source(rl: Raceline, track_name: str | None = None, speed_tolerance_mps: float = 1.0) -> str:
    """The text of a reward_function.py that rewards progress per step, closeness to ``rl`` and its
    speed (see the template's docstring); the line is embedded every ~REWARD_POINT_STEP_M as
    (x, y, commanded speed). Pure Python, reads no files; one call takes some microseconds."""
    track_name = track_name or rl.track_name
    step = float(rl.station_m[1] - rl.station_m[0])
    every = max(1, int(round(REWARD_POINT_STEP_M / step)))
    _, cmd = line_commands(rl)
    idx = np.arange(0, len(rl.station_m), every)
    if not rl.is_loop and idx[-1] != len(rl.station_m) - 1:
        idx = np.append(idx, len(rl.station_m) - 1)
    pts = [(round(float(rl.xy[i, 0]), 3), round(float(rl.xy[i, 1]), 3), round(float(cmd[i]), 2)) for i in idx]
    rows = ",\n    ".join(", ".join(f"({x!r}, {y!r}, {v!r})" for x, y, v in pts[j:j + 4]) for j in range(0, len(pts), 4))
    # Open tracks: the points are not evenly spaced at the end; the hint is only a start for the search.
    return _REWARD_TEMPLATE.format(track=track_name, n=len(pts), step=round(step * every, 2),
                                   kind="lap" if rl.is_loop else "start to finish", lap=rl.lap_time_s,
                                   tol=float(speed_tolerance_mps), points=f"[\n    {rows},\n]", is_loop=rl.is_loop,
                                   ref_steps=rl.lap_time_s * car.STEP_HZ, station_step=round(step * every, 5))
