"""DeepRacer tracks: loading, names, and centre-line geometry.

Where the track files come from (a folder you name, the user cache, the public source) is
``simulation/track_sources.py``; this module turns a file into geometry. Every geometric fact a
reward function sees (projection, arc length, distance from centre, left/right of centre, local
width, on-track test) is computed here, so every backend reports the same numbers.

Conventions
- Units are metres and radians unless a name says otherwise.
- Arrays are in *driving order*: when a track is driven reversed, ``waypoints`` runs backwards and
  ``left_border``/``right_border`` are relative to the driving direction.
- On a loop the last waypoint equals the first, as in the DeepRacer files.
"""

from __future__ import annotations

import difflib
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import track_sources
from .track_sources import TrackFileError, UnknownTrackError

__all__ = ["Track", "TrackFileError", "UnknownTrackError", "available_tracks", "resolve_track_name",
           "is_track_path", "split_track_spec", "load_tracks", "store_tracks", "Projection", "TrackInfo"]

#: A new training episode starts this fraction of a lap further along (simapp ROUND_ROBIN_ADVANCE_DIST).
ROUND_ROBIN_ADVANCE = 0.05

#: Cell size [m] and margin [m] of the nearest-segment grid, and the segments tested around its guess.
_SEGMENT_CELL_M = 0.05
_SEGMENT_GRID_MARGIN_M = 2.0
_CANDIDATE_OFFSETS = np.arange(-3, 4)
#: Spacing [m] of the tabulated track_width along the centre line (nearest_border_width).
_WIDTH_TABLE_STEP_M = 0.005
#: Border segments searched on either side of the centre segment's index for track_width (10 finds the
#: global nearest border point on every one of the 61 tracks; a hit at the edge searches them all).
_BORDER_WINDOW = 10
_RIDGE_ARC_JUMP_M = 0.6
#: Cell size of the on-track bitmap [m]; grown for very large tracks to cap memory.
_MASK_CELL_M = 0.01
_MASK_MAX_CELLS = 24_000_000
#: Cells this close to a border [cells] are decided by the exact polygon test.
_MASK_BAND_CELLS = 1

#: Names people use for tracks that are not derivable from the file names.
_EXTRA_ALIASES = {
    "reinvent2018": "reinvent_base",
    "reinvent_2018": "reinvent_base",
    "smile_speedway": "reInvent2019_track",
    "barcelona": "Spain_track",
}


def available_tracks() -> list[str]:
    """Names (file stems) of every track available without a download, sorted case-insensitively."""
    return sorted(track_sources.local_tracks(), key=str.lower)


def is_track_path(spec: str | os.PathLike) -> bool:
    """True when ``spec`` names a file (ends in .npy or holds a path separator), not a track name."""
    text = str(spec).strip()
    return text.lower().endswith(".npy") or os.sep in text or "/" in text


def split_track_spec(spec: str) -> list[str]:
    """The tracks of "a,b,c" (names or paths); one or more, else ValueError."""
    names = [t.strip() for t in str(spec).split(",") if t.strip()]
    if not names:
        raise UnknownTrackError(f"no track named in {spec!r}")
    return names


def load_tracks(spec: str) -> list["Track"]:
    """Every track of "a,b,c" (names or paths), loaded and validated."""
    return [Track.load(s) for s in split_track_spec(spec)]


def store_tracks(folder, tracks: list["Track"]) -> None:
    """Copy the tracks' route files into the model folder (a core.model_folder.ModelFolder), so the
    sims read them from there (Track.from_model_folder), on this machine or another."""
    for t in tracks:
        folder.storage.put_bytes(folder.track_file(t.name), t.route_bytes())


def _alias_table(names: tuple[str, ...]) -> dict[str, str]:
    """Lower-case name or short alias -> file stem. Aliases claimed by two tracks are dropped."""
    return _alias_table_cached(tuple(sorted(names)))


@functools.lru_cache(maxsize=8)
def _alias_table_cached(names: tuple[str, ...]) -> dict[str, str]:
    table = {n.lower(): n for n in names}
    short: dict[str, set[str]] = {}
    for n in names:
        low = n.lower()
        for suffix in ("_base", "_track", "track"):
            if low.endswith(suffix) and len(low) > len(suffix):
                short.setdefault(low[: -len(suffix)].rstrip("_"), set()).add(n)
    for alias, owners in short.items():
        if len(owners) == 1 and alias not in table:
            table[alias] = owners.pop()
    table.update({k: v for k, v in _EXTRA_ALIASES.items() if v in names and k not in table})
    return table


def resolve_track_name(name: str, names: list[str] | None = None) -> str:
    """Return the file stem for ``name`` (case-insensitive; short aliases such as ``reinvent``).

    ``names`` are the stems to choose from (default: every local and downloadable track). Raises
    UnknownTrackError naming the closest known names and the places looked in."""
    key = str(name).strip().lower()
    known = track_sources.known_names() if names is None else list(names)
    table = _alias_table(tuple(known))
    if key in table:
        return table[key]
    close = difflib.get_close_matches(key, list(table), n=5, cutoff=0.5)
    suggestions = sorted({table[c] for c in close}, key=str.lower)
    hint = f" Closest: {', '.join(suggestions)}." if suggestions else ""
    raise UnknownTrackError(
        f"unknown track {name!r}.{hint} Looked in {'; '.join(track_sources.places_looked())}: "
        f"{len(known)} tracks known; `deepracer-local tracks` lists them. {track_sources.HOW_TO_PROVIDE}"
    )


def _drop_consecutive_duplicates(rows: np.ndarray) -> np.ndarray:
    """Drop rows whose centre point equals the previous row's (what the DeepRacer simulator does)."""
    keep = np.ones(len(rows), dtype=bool)
    keep[1:] = np.any(np.abs(np.diff(rows[:, 0:2], axis=0)) > 1e-9, axis=1)
    return rows[keep]


def _signed_area(points: np.ndarray) -> float:
    """Shoelace area of a closed polyline [m^2]; positive = counter-clockwise."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]))


@dataclass(frozen=True)
class TrackInfo:
    """Summary shown by `deepracer-local tracks`."""

    name: str
    num_waypoints: int
    length_m: float
    mean_width_m: float
    direction: str  # "ccw" or "cw": geometric orientation of the file's waypoint order
    is_loop: bool


@dataclass(frozen=True)
class Projection:
    """Projection of K points on the centre line (all arrays have leading dim K).

    ``segment`` i means the point lies between waypoints i and i+1 (driving order), at fraction ``t``.
    ``arc_m`` is measured from waypoint 0 along the driving direction. ``signed_offset_m`` is positive
    left of the centre line relative to the driving direction.
    """

    arc_m: np.ndarray
    segment: np.ndarray
    t: np.ndarray
    distance_m: np.ndarray
    signed_offset_m: np.ndarray
    point: np.ndarray

    @property
    def is_left(self) -> np.ndarray:
        return self.signed_offset_m > 0.0


class Track:
    """A DeepRacer track in one driving direction.

    Build with ``Track.load(name, reverse=...)`` or ``Track.from_arrays`` (hand-made tracks in tests).
    """

    def __init__(self, name: str, center: np.ndarray, inner: np.ndarray, outer: np.ndarray,
                 reverse: bool = False, source_path: Path | None = None):
        rows = _drop_consecutive_duplicates(np.column_stack([center, inner, outer]).astype(np.float64))
        if len(rows) < 2:
            raise ValueError(f"track {name!r} needs at least 2 distinct centre points, got {len(rows)}")
        self.name = name
        #: The file the track came from (None for tracks made from arrays or bytes).
        self.source_path = source_path
        self._route_bytes: bytes | None = None
        self.is_loop = len(rows) > 3 and bool(np.allclose(rows[0], rows[-1], atol=1e-6))
        if self.is_loop:
            rows[-1] = rows[0]
            self.clockwise = _signed_area(rows[:, 0:2]) < 0.0
        else:
            # Open track: orientation of the inner border relative to travel, by majority.
            d = np.gradient(rows[:, 0:2], axis=0)
            side = d[:, 0] * (rows[:, 3] - rows[:, 1]) - d[:, 1] * (rows[:, 2] - rows[:, 0])
            self.clockwise = bool(np.sum(side) < 0.0)
        self.reversed = bool(reverse)
        self._file_rows = rows
        self.inner_border = rows[:, 2:4]
        self.outer_border = rows[:, 4:6]
        # In file order the inner border is on the left when the file runs counter-clockwise.
        left, right = (self.outer_border, self.inner_border) if self.clockwise else (self.inner_border, self.outer_border)
        center_pts = rows[:, 0:2]
        if self.reversed:
            center_pts, left, right = center_pts[::-1], right[::-1], left[::-1]
            self.inner_border, self.outer_border = self.inner_border[::-1], self.outer_border[::-1]
        self.waypoints = np.ascontiguousarray(center_pts)
        self.left_border = np.ascontiguousarray(left)
        self.right_border = np.ascontiguousarray(right)
        seg = np.diff(self.waypoints, axis=0)
        self.segment_length_m = np.linalg.norm(seg, axis=1)
        self.segment_dir = seg / self.segment_length_m[:, None]
        self.segment_yaw = np.arctan2(self.segment_dir[:, 1], self.segment_dir[:, 0])
        self.arc_m = np.concatenate([[0.0], np.cumsum(self.segment_length_m)])
        self.length_m = float(self.arc_m[-1])
        self.width_m = np.linalg.norm(self.left_border - self.right_border, axis=1)
        self._segment_grid = None  # built on first use: listing tracks needs no grids
        self._width_table = None
        self._mask = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(cls, spec: str | os.PathLike, reverse: bool = False) -> "Track":
        """Load a track by name or alias (see resolve_track_name), from the first place that has it
        (track_sources), or from a path to any (N, 6) route file; the name is then the file's stem."""
        if is_track_path(spec):
            path = Path(spec).expanduser().resolve()
        else:
            path = track_sources.find_track_file(resolve_track_name(str(spec)))
        stat = path.stat() if path.is_file() else None
        return _load_cached(str(path), stat.st_mtime_ns if stat else 0, bool(reverse))

    @classmethod
    def from_npy_bytes(cls, data: bytes, name: str, source: str, reverse: bool = False) -> "Track":
        """A track from the bytes of a route file (e.g. the copy in a model folder); ``source`` names it in errors."""
        rows = track_sources.parse_track_array(data, source)
        track = cls(name, rows[:, 0:2], rows[:, 2:4], rows[:, 4:6], reverse=reverse)
        track._route_bytes = bytes(data)
        return track

    @classmethod
    def from_arrays(cls, name: str, center, inner, outer, reverse: bool = False) -> "Track":
        return cls(name, np.asarray(center, float), np.asarray(inner, float), np.asarray(outer, float), reverse)

    @classmethod
    def from_model_folder(cls, folder, spec: str | os.PathLike, reverse: bool = False) -> "Track":
        """The track ``spec`` names from the route files stored in a model folder (store_tracks);
        a track the folder does not hold (folders made before tracks travelled with them) loads as
        ``Track.load`` does."""
        stored = folder.track_files()
        key = Path(spec).stem if is_track_path(spec) else str(spec)
        try:
            name = resolve_track_name(key, names=list(stored)) if stored else None
        except UnknownTrackError:
            name = None
        if name is None:
            return cls.load(spec, reverse)
        return cls.from_npy_bytes(folder.storage.get_bytes(stored[name]), name,
                                  f"{stored[name]} in {folder.storage.describe()}", reverse)

    def route_bytes(self) -> bytes:
        """The bytes of the route file the track was read from (to store it in a model folder)."""
        if self._route_bytes is not None:
            return self._route_bytes
        if self.source_path is None:
            raise ValueError(f"track {self.name!r} was made from arrays, not a route file; it cannot be stored")
        return self.source_path.read_bytes()

    def reversed_copy(self) -> "Track":
        """The same track driven the other way."""
        r = self._file_rows
        return Track(self.name, r[:, 0:2], r[:, 2:4], r[:, 4:6], reverse=not self.reversed,
                     source_path=self.source_path)

    def info(self) -> TrackInfo:
        return TrackInfo(self.name, len(self.waypoints), self.length_m, float(np.mean(self.width_m)),
                         "cw" if self.clockwise else "ccw", self.is_loop)

    @property
    def num_segments(self) -> int:
        return len(self.segment_length_m)

    # ------------------------------------------------------------------ nearest segment
    def _build_nearest_index(self) -> None:
        """A grid of cells [_SEGMENT_CELL_M] holding the nearest centre-line segment of each cell.

        The segments are drawn into the grid, then OpenCV's labelled distance transform gives every
        cell its nearest drawn cell. project() looks a point's cell up in O(1) and tests the segments
        around that guess exactly, which gives the global nearest point without a per-step search.
        """
        borders = np.concatenate([self.left_border, self.right_border, self.waypoints])
        lo = borders.min(axis=0) - _SEGMENT_GRID_MARGIN_M
        hi = borders.max(axis=0) + _SEGMENT_GRID_MARGIN_M
        cell = _SEGMENT_CELL_M
        cols, rows = (int(v) for v in np.ceil((hi - lo) / cell))
        seg_img = np.full((rows, cols), -1, np.int32)
        pix = np.floor((self.waypoints - lo) / cell).astype(np.int32)
        for i in range(self.num_segments):
            cv2.line(seg_img, tuple(map(int, pix[i])), tuple(map(int, pix[i + 1])), int(i), 1, cv2.LINE_8)
        src = np.where(seg_img >= 0, 0, 255).astype(np.uint8)
        dist, labels = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
        label_to_segment = np.full(int(labels.max()) + 1, -1, np.int32)
        zero = src == 0
        label_to_segment[labels[zero]] = seg_img[zero]
        grid = label_to_segment[labels]
        grid[dist * cell > _SEGMENT_GRID_MARGIN_M] = -1
        # Near a ridge (equidistant from two stretches of the track: inside tight bends, between
        # close straights) neighbouring cells disagree by more than a short arc; those cells get -1
        # and project() searches every segment for points there.
        arc = self.arc_m[np.maximum(grid, 0)].astype(np.float32)
        k = np.ones((5, 5), np.uint8)
        jump = (cv2.dilate(arc, k) - cv2.erode(arc, k)) > _RIDGE_ARC_JUMP_M
        if self.is_loop:  # arcs near the finish line differ by about a lap: compare shifted arcs too
            shifted = np.mod(arc + self.length_m / 2, self.length_m).astype(np.float32)
            jump &= (cv2.dilate(shifted, k) - cv2.erode(shifted, k)) > _RIDGE_ARC_JUMP_M
        grid[jump] = -1
        self._segment_grid = grid
        self._segment_grid_origin = lo

    def _nearest_segment_guess(self, p: np.ndarray) -> np.ndarray:
        """Nearest segment of each point's grid cell; exact search for points far from the track."""
        if self._segment_grid is None:
            self._build_nearest_index()
        rows, cols = self._segment_grid.shape
        ij = np.floor((p - self._segment_grid_origin) / _SEGMENT_CELL_M).astype(np.int64)
        on_grid = (ij[:, 0] >= 0) & (ij[:, 0] < cols) & (ij[:, 1] >= 0) & (ij[:, 1] < rows)
        guess = np.full(len(p), -1, np.int64)
        guess[on_grid] = self._segment_grid[ij[on_grid, 1], ij[on_grid, 0]]
        far = np.flatnonzero(guess < 0)
        if far.size:
            a = self.waypoints[:-1]
            rel = p[far, None, :] - a[None]
            t = np.clip(np.einsum("kcj,cj->kc", rel, self.segment_dir), 0.0, self.segment_length_m)
            dist2 = np.sum((rel - t[..., None] * self.segment_dir[None]) ** 2, axis=2)
            guess[far] = np.argmin(dist2, axis=1)
        return guess

    def project(self, points: np.ndarray) -> Projection:
        """Project points (K, 2) on the centre line (global nearest point)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        seg0 = self._nearest_segment_guess(p)
        n = self.num_segments
        cand = seg0[:, None] + _CANDIDATE_OFFSETS[None, :]
        cand = np.mod(cand, n) if self.is_loop else np.clip(cand, 0, n - 1)
        a = self.waypoints[cand]                                   # (K, C, 2)
        d = self.segment_dir[cand]
        rel = p[:, None, :] - a
        t_m = np.clip(rel[..., 0] * d[..., 0] + rel[..., 1] * d[..., 1], 0.0, self.segment_length_m[cand])
        off = rel - t_m[..., None] * d
        dist2 = off[..., 0] ** 2 + off[..., 1] ** 2
        best = np.argmin(dist2, axis=1)
        rows = np.arange(len(p))
        seg = cand[rows, best]
        t_best = t_m[rows, best]
        dvec = d[rows, best]
        r = rel[rows, best]
        cross = dvec[:, 0] * r[:, 1] - dvec[:, 1] * r[:, 0]
        distance = np.sqrt(dist2[rows, best])
        # A point that projects onto a segment's end vertex belongs to the next segment (as the
        # reference's bisect over the vertices' projections: closest waypoints [i, i + 1] at vertex i;
        # arc 0 at the finish vertex of a loop).
        at_vertex = t_best >= self.segment_length_m[seg]
        if not self.is_loop:
            at_vertex &= seg + 1 < n
        seg_out = np.where(at_vertex, np.mod(seg + 1, n), seg)
        t_out = np.where(at_vertex, 0.0, t_best)
        return Projection(
            arc_m=self.arc_m[seg_out] + t_out,
            segment=seg_out,
            t=t_out / self.segment_length_m[seg_out],
            distance_m=distance,
            signed_offset_m=np.where(cross >= 0.0, distance, -distance),
            point=a[rows, best] + t_best[:, None] * dvec,
        )

    def closest_waypoints(self, proj: Projection) -> np.ndarray:
        """Indices (K, 2) of the waypoints just behind and just ahead of each projection."""
        return np.stack([proj.segment, proj.segment + 1], axis=1)

    def local_width(self, proj: Projection) -> np.ndarray:
        """Width [m] between the border points of the waypoint nearest each projection (our old
        track_width; the reward param is ``nearest_border_width``)."""
        nearest = proj.segment + (proj.t >= 0.5)
        return self.width_m[nearest]

    def nearest_border_width(self, proj: Projection) -> np.ndarray:
        """``track_width`` as the reference computes it [m]: the distance between the inner-border and
        outer-border points nearest to each projection's centre-line point (simapp
        track_data.get_nearest_points: each border's own projection of that point). On the older
        tracks, whose border rows do not sit square to the centre line, it differs from the
        row-to-row width by up to 1.3 m. A function of the arc length alone, so it is tabulated once
        every ``_WIDTH_TABLE_STEP_M`` and interpolated (the hot path stays O(K))."""
        return self.border_width_at(proj.arc_m)

    def border_width_at(self, arc_m) -> np.ndarray:
        """``nearest_border_width`` at centre-line arc lengths [m] (also where objects and bots are placed)."""
        if self._width_table is None:
            n = max(2, int(np.ceil(self.length_m / _WIDTH_TABLE_STEP_M)) + 1)
            arcs = np.linspace(0.0, self.length_m, n)
            self._width_table = (arcs, self._exact_border_width(arcs))
        arcs, widths = self._width_table
        return np.interp(self.wrap_arc(arc_m), arcs, widths)

    def _exact_border_width(self, arc_m: np.ndarray) -> np.ndarray:
        seg = np.clip(np.searchsorted(self.arc_m, arc_m, side="right") - 1, 0, self.num_segments - 1)
        point = self.center_at(arc_m)
        a = self._nearest_on_border(self.left_border, point, seg)
        b = self._nearest_on_border(self.right_border, point, seg)
        return np.linalg.norm(a - b, axis=1)

    def _nearest_on_border(self, border: np.ndarray, points: np.ndarray, segment: np.ndarray) -> np.ndarray:
        """The nearest point of the ``border`` polyline to each of ``points`` (K, 2), searched around the
        centre segment's index (borders are rows of the same file) and over the whole border for the
        points whose best candidate lies at the window's edge."""
        n = len(border) - 1
        offsets = np.arange(-_BORDER_WINDOW, _BORDER_WINDOW + 1)
        cand = segment[:, None] + offsets[None, :]
        cand = np.mod(cand, n) if self.is_loop else np.clip(cand, 0, n - 1)
        q, best = _nearest_on_segments(border[cand], border[cand + 1], points)
        edge = np.flatnonzero((best == 0) | (best == len(offsets) - 1))
        if edge.size:
            every = np.arange(n)
            shape = (edge.size, n, 2)
            q[edge], _ = _nearest_on_segments(np.broadcast_to(border[every], shape),
                                              np.broadcast_to(border[every + 1], shape), points[edge])
        return q

    # ------------------------------------------------------------------ arc-length lookups
    def wrap_arc(self, arc_m: np.ndarray) -> np.ndarray:
        """Arc lengths wrapped into [0, length) on loops, clipped to [0, length] on open tracks."""
        arc = np.asarray(arc_m, dtype=np.float64)
        return np.mod(arc, self.length_m) if self.is_loop else np.clip(arc, 0.0, self.length_m)

    def _interp(self, line: np.ndarray, arc_m: np.ndarray) -> np.ndarray:
        arc = self.wrap_arc(arc_m)
        return np.stack([np.interp(arc, self.arc_m, line[:, 0]), np.interp(arc, self.arc_m, line[:, 1])], axis=-1)

    def center_at(self, arc_m) -> np.ndarray:
        """Centre-line points (..., 2) at the given arc lengths [m]."""
        return self._interp(self.waypoints, arc_m)

    def left_at(self, arc_m) -> np.ndarray:
        """Left-border points (relative to travel) at the given arc lengths."""
        return self._interp(self.left_border, arc_m)

    def right_at(self, arc_m) -> np.ndarray:
        return self._interp(self.right_border, arc_m)

    def heading_at(self, arc_m) -> np.ndarray:
        """Direction of travel [rad] of the centre-line segment at the given arc lengths."""
        arc = self.wrap_arc(arc_m)
        seg = np.clip(np.searchsorted(self.arc_m, arc, side="right") - 1, 0, self.num_segments - 1)
        return self.segment_yaw[seg]

    def width_at(self, arc_m) -> np.ndarray:
        return np.interp(self.wrap_arc(arc_m), self.arc_m, self.width_m)

    def pose_at(self, arc_m, lateral_m=0.0) -> np.ndarray:
        """Poses (..., 3) = (x, y, yaw) on the centre line at arc, shifted ``lateral_m`` to the left."""
        c = self.center_at(arc_m)
        yaw = self.heading_at(arc_m)
        lat = np.asarray(lateral_m, dtype=np.float64)
        x = c[..., 0] - np.sin(yaw) * lat
        y = c[..., 1] + np.cos(yaw) * lat
        return np.stack(np.broadcast_arrays(x, y, yaw), axis=-1)

    def start_arc(self, episode_index: int, offset_m: float = 0.0,
                  round_robin_advance: float = ROUND_ROBIN_ADVANCE) -> float:
        """Start arc length [m] of a training episode: each episode starts a further
        ``round_robin_advance`` of a lap along (loops only), plus ``offset_m``."""
        if not self.is_loop:
            return float(np.clip(offset_m, 0.0, self.length_m))
        return float(np.mod(episode_index * round_robin_advance * self.length_m + offset_m, self.length_m))

    # ------------------------------------------------------------------ on-track test
    def _quads(self) -> np.ndarray:
        """(N-1, 4, 2) quads between consecutive border pairs; their union is the track surface."""
        lb, rb = self.left_border, self.right_border
        return np.stack([lb[:-1], rb[:-1], rb[1:], lb[1:]], axis=1)

    def _build_mask(self) -> None:
        quads = self._quads()
        lo = quads.reshape(-1, 2).min(axis=0) - 0.1
        hi = quads.reshape(-1, 2).max(axis=0) + 0.1
        cell = _MASK_CELL_M
        while np.prod(np.ceil((hi - lo) / cell)) > _MASK_MAX_CELLS:
            cell *= 1.5
        shape = tuple(int(v) for v in np.ceil((hi - lo) / cell)[::-1])  # (rows=y, cols=x)
        mask = np.zeros(shape, np.uint8)
        shift = 4
        pix = np.round((quads - lo) / cell * (1 << shift) - 0.5 * (1 << shift)).astype(np.int32)
        for q in pix:
            cv2.fillPoly(mask, [q], 1, lineType=cv2.LINE_8, shift=shift)
        k = np.ones((2 * _MASK_BAND_CELLS + 1,) * 2, np.uint8)
        band = cv2.dilate(mask, k) != cv2.erode(mask, k)
        self._mask = np.where(band, 2, mask).astype(np.uint8)
        self._mask_origin = lo
        self._mask_cell = cell
        # Two triangles per quad for the exact test near borders, with bounding boxes.
        tris = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]], axis=0)
        self._tris = tris
        self._tri_lo = tris.min(axis=1)
        self._tri_hi = tris.max(axis=1)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """True where points (..., 2) lie on the track surface (borders included)."""
        if self._mask is None:
            self._build_mask()
        p = np.asarray(points, dtype=np.float64)
        flat = p.reshape(-1, 2)
        ij = np.floor((flat - self._mask_origin) / self._mask_cell).astype(np.int64)
        rows, cols = self._mask.shape
        inside_grid = (ij[:, 0] >= 0) & (ij[:, 0] < cols) & (ij[:, 1] >= 0) & (ij[:, 1] < rows)
        code = np.zeros(len(flat), np.uint8)
        code[inside_grid] = self._mask[ij[inside_grid, 1], ij[inside_grid, 0]]
        result = code == 1
        unsure = np.flatnonzero(code == 2)
        if unsure.size:
            result[unsure] = self._exact_contains(flat[unsure])
        return result.reshape(p.shape[:-1])

    def _exact_contains(self, pts: np.ndarray) -> np.ndarray:
        near = np.all((pts[:, None, :] >= self._tri_lo[None] - 1e-9) & (pts[:, None, :] <= self._tri_hi[None] + 1e-9), axis=2)
        pi, ti = np.nonzero(near)
        out = np.zeros(len(pts), bool)
        if pi.size == 0:
            return out
        a, b, c = self._tris[ti, 0], self._tris[ti, 1], self._tris[ti, 2]
        p = pts[pi]

        def cross(o, u, v):
            return (u[:, 0] - o[:, 0]) * (v[:, 1] - o[:, 1]) - (u[:, 1] - o[:, 1]) * (v[:, 0] - o[:, 0])

        d1, d2, d3 = cross(a, b, p), cross(b, c, p), cross(c, a, p)
        eps = 1e-12
        has_neg = (d1 < -eps) | (d2 < -eps) | (d3 < -eps)
        has_pos = (d1 > eps) | (d2 > eps) | (d3 > eps)
        hit = ~(has_neg & has_pos)
        np.logical_or.at(out, pi[hit], True)
        return out


def _nearest_on_segments(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest points (K, 2) to ``p`` (K, 2) among segments a->b (K, C, 2), and each one's index."""
    d = b - a
    length2 = np.maximum(np.einsum("kcj,kcj->kc", d, d), 1e-18)
    t = np.clip(np.einsum("kcj,kcj->kc", p[:, None, :] - a, d) / length2, 0.0, 1.0)
    q = a + t[..., None] * d
    dist2 = np.sum((p[:, None, :] - q) ** 2, axis=2)
    best = np.argmin(dist2, axis=1)
    return q[np.arange(len(p)), best], best


@functools.lru_cache(maxsize=64)
def _load_cached(path: str, mtime_ns: int, reverse: bool) -> Track:
    """One Track per file, version (mtime) and direction."""
    rows = track_sources.read_track_file(path)
    return Track(Path(path).stem, rows[:, 0:2], rows[:, 2:4], rows[:, 4:6], reverse=reverse, source_path=Path(path))
