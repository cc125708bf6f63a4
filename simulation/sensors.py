"""Camera and lidar observations of K cars at once (spec section 2, "Observations").

Camera
    ``CameraRenderer`` draws the DeepRacer camera (pose, field of view and clip plane: simulation/car.py)
    looking at the world of simulation/scenery.py: the ground (field, road, white border lines on the
    road inside its edges, dashed centre line), the 1 m walls around the field, the sky above them,
    and obstacles, lit by the world's ambient light, sun and lamp.

    The ground is a top-down grayscale texture of the track, drawn once per renderer, warped into each
    frame through the homography that maps the ground plane z = 0 into the camera (one
    ``cv2.warpPerspective`` per car and distance band). Walls are the four vertical rectangles of
    ``scenery.walls_rectangle``, clipped at the camera's near plane and filled as polygons; obstacles
    (boxes, bot cars) are the filled convex hulls of their projected 3D boxes, farthest first.
    Each surface has one gray: its texture's mean gray times the light falling on it (walls and
    obstacle sides by their orientation; the ground is horizontal). Frames are rendered at 160x120
    directly with the pinhole intrinsics of the 640x480 camera scaled down: fx = fy = 80 / tan(hfov / 2)
    [px], principal point at the image centre. Row 0 is the top of the image (far away); column 0 is
    the left.

    Far ground is minified: one pixel covers many texels. Like a GPU, we sample a mip level picked
    per image row from the pixel's footprint on the ground (geometric mean of its width and depth),
    which keeps distant lines from flickering. Ground farther than ``max_distance_m`` shows the
    field's gray; above the horizon the sky's.

    Domain randomization follows the reference (scenery.py, "Lights"): per car and per episode, random
    light colours and attenuation (the frame's brightness, and walls against ground) and random
    obstacle colours; tracks without colours of their own also draw one of
    scenery.RANDOMIZED_PALETTES. Call ``CameraRenderer.randomize(cars)`` when those cars start an
    episode; the first render draws every car's world.

Lidar: simulation/lidar.py (re-exported here).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
from gymnasium import spaces

from core.config import LidarConfig
from core.observations import LIDAR_NUM_BEAMS, sensor_spec

from . import car, scenery
from .obstacles import KIND_BOT, Obstacles
from .track import Track

H_PX, W_PX = car.CAMERA_HEIGHT_PX, car.CAMERA_WIDTH_PX
#: Focal length of the 160x120 image [px] (fx = fy).
FOCAL_PX = (W_PX / 2) / np.tan(car.CAMERA_HFOV_RAD / 2)
_CX, _CY = (W_PX - 1) / 2, (H_PX - 1) / 2

#: Gray levels (0..255) of the default world (reinvent_base palette) before lighting, the sky, and the
#: obstacles' colours; scenery.py holds their sources.
GRAY = {**vars(scenery.PALETTES[scenery.DEFAULT_PALETTE]), "sky": scenery.SKY_GRAY,
        "box": scenery.BOX_GRAY, "bot": scenery.BOT_GRAY}

#: Texel size [m] of the finest texture, grown for large tracks to cap memory: at most
#: TEXTURE_MAX_TEXELS texels per texture and TEXTURE_MAX_BYTES for all palettes and mip levels.
TEXEL_M = 0.0025
TEXTURE_MAX_TEXELS = 8_000_000
TEXTURE_MAX_BYTES = 30_000_000
TEXTURE_MARGIN_M = 0.3
#: Texels of the temporary supersampled drawing masks (memory cap at construction).
SUPERSAMPLE_MAX_TEXELS = 40_000_000
MIP_LEVELS = 6
#: Rows are grouped by ideal mip level into bands [0, 1), [1, 3), [3, 4), [4, 5), [5, ...): one warp
#: call each.
_BAND_LEVEL_EDGES = (1, 3, 4, 5)
#: Ground farther ahead of the camera than this [m] is not textured (it shows the field's gray).
MAX_DISTANCE_M = 12.0
#: Projected coordinates are clamped to +-this [px] before the fixed-point conversion (never reached
#: with the near plane at car.CAMERA_CLIP_NEAR_M and fields under 100 m).
_MAX_PX = 1e6

#: The 12 edges of a box whose corners are numbered 0-3 (bottom, CCW) and 4-7 (top).
_BOX_EDGES = np.array([[0, 1], [1, 2], [2, 3], [3, 0], [4, 5], [5, 6], [6, 7], [7, 4],
                       [0, 4], [1, 5], [2, 6], [3, 7]])
_UP = np.array([0.0, 0.0, 1.0])


def _camera_intrinsics_inv() -> np.ndarray:
    """Pixel (u, v, 1) -> normalized camera ray (x/z, y/z, 1). Pixel centres are integers."""
    return np.array([[1 / FOCAL_PX, 0, -_CX / FOCAL_PX], [0, 1 / FOCAL_PX, -_CY / FOCAL_PX], [0, 0, 1.0]])


def _ray_to_ground() -> np.ndarray:
    """Normalized camera ray (xn, yn, 1) -> homogeneous ground point (forward, left, 1) relative to
    the camera foot, in the car frame. Camera axes: x right, y down, z forward, pitched down."""
    h, c, s = car.CAMERA_HEIGHT_M, np.cos(car.CAMERA_VIEW_PITCH_DOWN_RAD), np.sin(car.CAMERA_VIEW_PITCH_DOWN_RAD)
    return np.array([[0, -h * s, h * c], [-h, 0, 0], [0, c, s]])


def _to_camera(fwd, left, up):
    """Car-frame offsets from the lens (forward, left, up) [m] -> camera coordinates (x right, y down,
    z along the optical axis), each the shape of the inputs."""
    cp, sp = np.cos(car.CAMERA_VIEW_PITCH_DOWN_RAD), np.sin(car.CAMERA_VIEW_PITCH_DOWN_RAD)
    return -left, -sp * fwd - cp * up, cp * fwd - sp * up


def _project(xc, yc, zc):
    """Camera coordinates (z >= the near plane) -> pixel coordinates (u, v), clamped to +-_MAX_PX."""
    inv_z = FOCAL_PX / zc
    return np.clip(xc * inv_z + _CX, -_MAX_PX, _MAX_PX), np.clip(yc * inv_z + _CY, -_MAX_PX, _MAX_PX)


def _on_screen(u, v) -> np.ndarray:
    """Whether point sets (..., P) may touch the image (bounding-box test)."""
    return (u.max(axis=-1) >= -1) & (u.min(axis=-1) <= W_PX) & (v.max(axis=-1) >= -1) & (v.min(axis=-1) <= H_PX)


#: The view frustum, one pixel wider on every side, as half-spaces n . p >= d of camera
#: coordinates: the near plane, then u >= -1, u <= W, v >= -1, v <= H.
_VIEW_PLANES = (
    (np.array([0.0, 0.0, 1.0]), car.CAMERA_CLIP_NEAR_M),
    (np.array([FOCAL_PX, 0.0, _CX + 1.0]), 0.0),
    (np.array([-FOCAL_PX, 0.0, W_PX - _CX]), 0.0),
    (np.array([0.0, FOCAL_PX, _CY + 1.0]), 0.0),
    (np.array([0.0, -FOCAL_PX, H_PX - _CY]), 0.0),
)


#: Up to this many polygons _clip_to_view clips one by one in plain Python (faster than the batched numpy
#: path's fixed cost of some 60 array operations: a camera of one car sees a few walls).
CLIP_ONE_BY_ONE_MAX = 8


def _clip_to_view(poly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clip convex polygons (..., n, 3) in camera coordinates to the view frustum (Sutherland-Hodgman,
    all polygons at once). Returns the clipped polygons (..., n + 5, 3): their vertices in order,
    then padding that repeats the last one (which leaves a filled polygon unchanged); and (..., n + 5)
    bool, which slots are vertices. A polygon outside the view has none."""
    if poly.ndim == 3 and len(poly) <= CLIP_ONE_BY_ONE_MAX:
        return _clip_to_view_few(poly)
    return _clip_to_view_batched(poly)


def _clip_to_view_few(poly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """_clip_to_view of a few polygons (P, n, 3), one by one; the same output as the batched path."""
    p_count, n = poly.shape[0], poly.shape[1]
    width = n + len(_VIEW_PLANES)
    out = np.zeros((p_count, width, 3))
    valid = np.zeros((p_count, width), bool)
    planes = [(tuple(map(float, nrm)), float(d)) for nrm, d in _VIEW_PLANES]
    for i, verts in enumerate(poly.tolist()):
        for (a, b, c), d in planes:
            if not verts:
                break
            dist = [a * x + b * y + c * z - d for x, y, z in verts]
            clipped = []
            m = len(verts)
            for j in range(m):
                p, dp = verts[j], dist[j]
                q, dq = verts[(j + 1) % m], dist[(j + 1) % m]
                if dp >= 0:
                    clipped.append(p)
                if (dp >= 0) != (dq >= 0):
                    t = dp / (dp - dq)
                    clipped.append([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]), p[2] + t * (q[2] - p[2])])
            verts = clipped
        if verts:
            k = len(verts)
            out[i, :k] = verts
            out[i, k:] = verts[-1]
            valid[i, :k] = True
    return out, valid


def _clip_to_view_batched(poly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """_clip_to_view of any number of polygons at once (numpy)."""
    valid = np.ones(poly.shape[:-1], bool)
    for normal, offset in _VIEW_PLANES:
        n = poly.shape[-2]
        # the vertices are slots [0, m); vertex i's edge runs to vertex i + 1, the last one's to vertex 0
        m = valid.sum(axis=-1, keepdims=True)
        nxt = np.where(np.arange(n) + 1 < m, np.arange(n) + 1, 0)
        q = np.take_along_axis(poly, nxt[..., None], axis=-2)
        dp, dq = poly @ normal - offset, q @ normal - offset
        inside = valid & (dp >= 0)
        crosses = valid & ((dp >= 0) != (dq >= 0))
        t = np.where(crosses, dp / np.where(crosses, dp - dq, 1.0), 0.0)[..., None]
        slots = np.stack([poly, poly + t * (q - poly)], axis=-2).reshape(*poly.shape[:-2], 2 * n, 3)
        keep = np.stack([inside, crosses], axis=-1).reshape(*poly.shape[:-2], 2 * n)
        # compact: the kept vertices first, in order; clipping a convex polygon adds at most one vertex
        order = np.argsort(~keep, axis=-1, kind="stable")[..., :n + 1]
        valid = np.take_along_axis(keep, order, axis=-1)
        # pad: a slot past the vertices repeats the last vertex
        last = np.maximum.accumulate(np.where(valid, np.arange(n + 1), 0), axis=-1)
        poly = np.take_along_axis(slots, np.take_along_axis(order, last, axis=-1)[..., None], axis=-2)
    return poly, valid


@dataclass
class _Band:
    """Image rows [r0, r1) sampled from mip level ``level``; ``pix_to_ground`` (3, 3) maps the
    band's pixel (u, v - r0, 1) to the homogeneous ground point relative to the camera foot."""

    level: int
    r0: int
    r1: int
    pix_to_ground: np.ndarray


@dataclass
class _Worlds:
    """What domain randomization draws per car: palette index (K,), lights, obstacle gray levels (K, M)."""

    palette: np.ndarray
    lights: scenery.Lights
    obstacle_gray: np.ndarray


class CameraRenderer:
    """Renders DeepRacer camera frames (K, 120, 160) uint8 of K cars on one track.

    Construction draws the track texture (0.1-0.5 s, up to TEXTURE_MAX_BYTES); build one renderer
    per track and reuse it. Renders are deterministic given the poses (and ``rng_seed`` with DR).

    Args:
        track: the track to draw; its name picks the colours and walls (scenery.palette_name,
            scenery.walls_rectangle).
        rng_seed: seed of the numpy Generator used by domain randomization.
        domain_randomization: when True each car sees its own randomized world (see the module
            docstring), redrawn by ``randomize``.
        texel_m, max_distance_m, mip_levels: texture resolution [m], far cut-off [m], mip count.
        num_threads: 0 or 1 renders the cars one after the other (OpenCV parallelizes each warp
            internally); n >= 2 splits the cars over n Python threads, with OpenCV set to one thread
            (process-wide, restored after the call) while they run. Faster on few cores.
    """

    def __init__(self, track: Track, rng_seed: int | None = None, domain_randomization: bool = False,
                 texel_m: float = TEXEL_M, max_distance_m: float = MAX_DISTANCE_M, mip_levels: int = MIP_LEVELS,
                 num_threads: int = 0):
        self.track = track
        self.num_threads = int(num_threads)
        self._pool = ThreadPoolExecutor(self.num_threads) if self.num_threads >= 2 else None
        self.domain_randomization = bool(domain_randomization)
        self.rng = np.random.default_rng(rng_seed)
        self.max_distance_m = float(max_distance_m)
        own = scenery.palette_name(track.name)
        #: Name of the track's own palette (None: the reference does not ship the track).
        self.own_palette = own
        names = [own] if own else [scenery.DEFAULT_PALETTE]
        if self.domain_randomization and not own:
            names += [p for p in scenery.RANDOMIZED_PALETTES if p not in names]
        #: The palettes the textures are drawn with; palette 0 is the world's own look.
        self.palettes = [scenery.PALETTES[n] for n in names]
        self._build_lighting()
        self._build_textures(texel_m, mip_levels)
        self._build_bands()
        self._worlds: _Worlds | None = None

    # ------------------------------------------------------------------ construction
    def _build_lighting(self) -> None:
        """Surfaces and their light in the reference's lighting: the ground (at the track's centre of
        mass) and the inner faces of the walls."""
        tr = self.track
        self._ground_point = np.append(tr.waypoints.mean(axis=0), 0.0)
        ref = scenery.Lights.reference(1)
        #: Gain of the ground in the reference's light (baked into the textures).
        self.ground_gain = float(scenery.EXPOSURE * ref.irradiance([_UP], [self._ground_point])[0, 0])
        #: Walls' inner faces (x_min, y_min, x_max, y_max) [m], or None.
        self.walls_rect = scenery.walls_rectangle(tr)
        if self.walls_rect is None:
            self._wall_corners = np.zeros((0, 4, 3))
            self._wall_normals = self._wall_mids = np.zeros((0, 3))
        else:
            seg = scenery.rectangle_segments(self.walls_rect)                   # (4, 2, 2), CCW
            a, b = seg[:, 0], seg[:, 1]
            lo, hi = np.zeros((4, 1)), np.full((4, 1), scenery.WALL_HEIGHT_M)
            # corners per wall: bottom a, bottom b, top b, top a
            self._wall_corners = np.stack([np.hstack([a, lo]), np.hstack([b, lo]), np.hstack([b, hi]),
                                           np.hstack([a, hi])], axis=1)
            d = (b - a) / np.linalg.norm(b - a, axis=1, keepdims=True)
            self._wall_normals = np.column_stack([-d[:, 1], d[:, 0], np.zeros(4)])  # left of CCW = inward
            self._wall_mids = np.column_stack([(a + b) / 2, np.full(4, scenery.WALL_HEIGHT_M / 2)])
        #: Gain of each wall face in the reference's light (W,).
        self.wall_gain = (scenery.EXPOSURE * ref.irradiance(self._wall_normals, self._wall_mids)[0]
                          if len(self._wall_normals) else np.zeros(0))

    def _build_textures(self, texel_m: float, mip_levels: int) -> None:
        tr = self.track
        pts = np.concatenate([tr.left_border, tr.right_border, tr.waypoints])
        lo = pts.min(axis=0) - TEXTURE_MARGIN_M
        hi = pts.max(axis=0) + TEXTURE_MARGIN_M
        cell = float(texel_m)
        n_tex = len(self.palettes)
        # the mip pyramid adds a third; every palette holds its own pyramid
        while (np.prod(np.ceil((hi - lo) / cell)) > TEXTURE_MAX_TEXELS
               or np.prod(np.ceil((hi - lo) / cell)) * n_tex * 4 / 3 > TEXTURE_MAX_BYTES):
            cell *= 1.25
        cols, rows = (int(v) for v in np.ceil((hi - lo) / cell))
        self.texel_m = cell
        self.texture_origin = lo
        # Coverage masks (0..255) are drawn at ss x the texel resolution, then area-averaged. The
        # quads are drawn without anti-aliasing, so shared quad edges leave no seams.
        ss = int(max(1, min(4, np.sqrt(SUPERSAMPLE_MAX_TEXELS / (rows * cols)))))
        shift = 4

        def to_pix(p):  # world (..., 2) -> fixed-point subtexel coords; texel i centre at lo + (i + 0.5) cell
            return np.round(((p - lo) / cell * ss - 0.5) * (1 << shift)).astype(np.int32)

        def mask(quads):
            m = np.zeros((rows * ss, cols * ss), np.uint8)
            for q in to_pix(quads):
                cv2.fillConvexPoly(m, q, 255, cv2.LINE_8, shift)
            return cv2.resize(m, (cols, rows), interpolation=cv2.INTER_AREA).astype(np.float32) / 255

        lb, rb = tr.left_border, tr.right_border
        a_surf = mask(np.stack([lb[:-1], rb[:-1], rb[1:], lb[1:]], axis=1))
        a_line = mask(np.concatenate([_line_quads(lb, rb), _line_quads(rb, lb)]))
        a_dash = mask(_dash_quads(tr))
        self._pyramids = []      # [palette][level] -> (rows_l, cols_l) uint8
        self._field_gray = []    # per palette, the lit field's gray: the border value of warps
        g = self.ground_gain
        for pal in self.palettes:
            img = pal.field + (pal.road - pal.field) * a_surf
            img = img + (pal.center - img) * a_dash
            img = img + (pal.line - img) * a_line
            tex = np.clip(np.round(img * g), 0, 255).astype(np.uint8)
            pyr = [tex]
            for _ in range(1, mip_levels):
                prev = pyr[-1]
                # exact halving keeps texel i of level l centred at lo + (i + 0.5) * cell * 2**l
                h2, w2 = prev.shape[0] // 2, prev.shape[1] // 2
                if min(h2, w2) < 2:
                    break
                pyr.append(cv2.resize(prev[:2 * h2, :2 * w2], (w2, h2), interpolation=cv2.INTER_AREA))
            self._pyramids.append(pyr)
            self._field_gray.append(int(np.clip(round(pal.field * g), 0, 255)))
        # texel -> world is X = lo + (i + 0.5) * c; world -> texel matrices per level
        self._world_to_tex = []
        for lvl in range(len(self._pyramids[0])):
            c = cell * 2 ** lvl
            self._world_to_tex.append(np.array([[1 / c, 0, -lo[0] / c - 0.5], [0, 1 / c, -lo[1] / c - 0.5], [0, 0, 1.0]]))

    def _build_bands(self) -> None:
        """Split the rows below the horizon into bands of equal mip level (fixed: the camera is
        rigidly mounted, so each row always sees ground at the same forward distance)."""
        pix_to_ground = _ray_to_ground() @ _camera_intrinsics_inv()
        v = np.arange(H_PX, dtype=float)

        def ground(u, vv):
            g = pix_to_ground @ np.stack([np.full_like(vv, u), vv, np.ones_like(vv)])
            with np.errstate(divide="ignore", invalid="ignore"):
                return g[:2] / g[2], g[2]

        #: first image row below the horizon; the rows above show the sky (and walls)
        self.horizon_row = int(np.floor(_CY - FOCAL_PX * np.tan(car.CAMERA_VIEW_PITCH_DOWN_RAD))) + 1
        g0, w = ground(_CX, v)
        visible = (w > 1e-9) & (g0[0] > 0) & (g0[0] <= self.max_distance_m)
        rows = np.flatnonzero(visible)
        if rows.size == 0 or rows[-1] != H_PX - 1 or np.any(np.diff(rows) != 1):
            raise ValueError("camera model: the ground must fill the bottom rows of the image")
        #: first image row that shows textured ground (the rows from the horizon to it show the field)
        self.first_ground_row = int(rows[0])
        gx, _ = ground(_CX + 1.0, v)
        gy, _ = ground(_CX, v + 1.0)
        width = np.linalg.norm(gx - g0, axis=0)
        depth = np.linalg.norm(gy - g0, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = np.log2(np.sqrt(width * depth) / self.texel_m)
        top = len(self._pyramids[0]) - 1  # tiny textures may have fewer levels
        #: ideal mip level of each row (GPU rule: log2 of the footprint in texels, rounded)
        self.row_mip_level = np.clip(np.round(np.nan_to_num(lam, nan=0.0)), 0, top).astype(int)
        # A few bands keep the number of warp calls low (_BAND_LEVEL_EDGES); each band samples the
        # median ideal level of its rows. The far bands are one level wide: the lines 1-2 m ahead
        # stay sharp, the horizon does not flicker.
        ideal = self.row_mip_level
        group = np.searchsorted(np.array(_BAND_LEVEL_EDGES), ideal, side="right")
        self._bands: list[_Band] = []
        for g in np.unique(group[self.first_ground_row:]):
            rows_g = np.flatnonzero(group == g)
            rows_g = rows_g[rows_g >= self.first_ground_row]
            r0, r1 = int(rows_g[0]), int(rows_g[-1]) + 1
            if r1 - r0 != rows_g.size:
                raise ValueError("camera model: mip levels are expected to fall with the image row")
            shift = np.array([[1, 0, 0], [0, 1, r0], [0, 0, 1.0]])
            level = int(np.round(np.median(ideal[r0:r1])))
            self._bands.append(_Band(level, r0, r1, pix_to_ground @ shift))

    # ------------------------------------------------------------------ domain randomization
    def randomize(self, cars=None) -> None:
        """Draw new worlds (palette, lights, obstacle colours) for ``cars`` (indices; None: all),
        as the reference does at each episode reset. No-op without domain randomization."""
        if not self.domain_randomization or self._worlds is None:
            return  # the first render draws every car's world
        w = self._worlds
        cars = np.arange(len(w.palette)) if cars is None else np.atleast_1d(np.asarray(cars))
        new = self._draw_worlds(len(cars), w.obstacle_gray.shape[1])
        w.palette[cars] = new.palette
        w.lights.put(cars, new.lights)
        w.obstacle_gray[cars] = new.obstacle_gray

    def _draw_worlds(self, k: int, m: int) -> _Worlds:
        rng = self.rng
        return _Worlds(rng.integers(0, len(self.palettes), k), scenery.Lights.random(rng, k),
                       scenery.rgb_to_gray(rng.uniform(0.0, 255.0, (3, k, m))))

    def _worlds_for(self, k: int, m: int) -> _Worlds:
        """The randomized worlds of k cars with m obstacle slots each (drawn when missing)."""
        w = self._worlds
        if w is None or len(w.palette) != k:
            w = self._worlds = self._draw_worlds(k, m)
        elif w.obstacle_gray.shape[1] < m:
            extra = scenery.rgb_to_gray(self.rng.uniform(0.0, 255.0, (3, k, m - w.obstacle_gray.shape[1])))
            w.obstacle_gray = np.concatenate([w.obstacle_gray, extra], axis=1)
        return w

    # ------------------------------------------------------------------ rendering
    def _camera_pose(self, x, y, yaw, offset_left_m):
        """World (K, 3, 3) matrices mapping (forward, left, 1) relative to the camera foot to world (X, Y, 1)."""
        c, s = np.cos(yaw), np.sin(yaw)
        cx = x + car.CAMERA_AHEAD_M * c - offset_left_m * s
        cy = y + car.CAMERA_AHEAD_M * s + offset_left_m * c
        pose = np.zeros((len(x), 3, 3))
        pose[:, 0, 0], pose[:, 0, 1], pose[:, 0, 2] = c, -s, cx
        pose[:, 1, 0], pose[:, 1, 1], pose[:, 1, 2] = s, c, cy
        pose[:, 2, 2] = 1.0
        return pose

    def render(self, x, y, yaw, obstacles: Obstacles | None = None, camera_offset_left_m: float = 0.0) -> np.ndarray:
        """Camera frames of K cars.

        Args:
            x, y, yaw: car poses (the chassis centre, CarState.x/y/yaw) [m, m, rad], each (K,).
            obstacles: obstacles of each car's world (K cars x M), or None.
            camera_offset_left_m: sideways shift of the camera to the left [m] (stereo).
        Returns:
            (K, 120, 160) uint8 grayscale frames, row 0 = top of the image.
        """
        return self.render_cameras(x, y, yaw, obstacles, (camera_offset_left_m,))[:, 0]

    def render_cameras(self, x, y, yaw, obstacles: Obstacles | None = None,
                       offsets_left_m=(0.0,)) -> np.ndarray:
        """Frames (K, C, 120, 160) uint8 of C cameras per car, shifted ``offsets_left_m`` [m] to the
        left. The C cameras of a car see the same (randomized) world."""
        x, y, yaw = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (x, y, yaw))
        k, offsets = len(x), [float(o) for o in offsets_left_m]
        if obstacles is not None and obstacles.count and obstacles.xy.shape[0] != k:
            raise ValueError(f"obstacles are for {obstacles.xy.shape[0]} cars, poses for {k}")
        has_obs = obstacles is not None and obstacles.count
        m = obstacles.xy.shape[1] if has_obs else 0
        if self.domain_randomization:
            worlds = self._worlds_for(k, m)
            palette, lights = worlds.palette.tolist(), worlds.lights
            # the ground's brightness relative to the one baked into the textures
            gain = (scenery.EXPOSURE * lights.irradiance([_UP], [self._ground_point])[:, 0] / self.ground_gain).tolist()
            wall_albedo = np.array([p.wall for p in self.palettes])[worlds.palette][:, None]
            wall_gray = wall_albedo * scenery.EXPOSURE * lights.irradiance(self._wall_normals, self._wall_mids)
            obstacle_gray = worlds.obstacle_gray
        else:
            palette, gain, lights, obstacle_gray = [0] * k, None, None, None
            wall_gray = np.broadcast_to(self.palettes[0].wall * self.wall_gain, (k, len(self.wall_gain)))
        wall_gray = np.clip(np.round(wall_gray), 0, 255).astype(int).tolist()
        out = np.empty((k, len(offsets), H_PX, W_PX), np.uint8)
        out[:, :, :self.horizon_row] = int(round(scenery.SKY_GRAY))
        homs, walls, polys = [], [], []  # per camera: band homographies, wall polygons, obstacle polygons
        for off in offsets:
            pose = self._camera_pose(x, y, yaw, off)
            homs.append([self._world_to_tex[b.level] @ pose @ b.pix_to_ground for b in self._bands])
            walls.append(self._wall_polygons(x, y, yaw, off))
            polys.append(self._obstacle_polygons(x, y, yaw, obstacles, off, lights, obstacle_gray)
                         if has_obs else [()] * k)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        bands = [(b.r0, b.r1, [pyr[b.level] for pyr in self._pyramids]) for b in self._bands]
        h0, g0 = self.horizon_row, self.first_ground_row

        def draw(cars):  # every per-car OpenCV call (they release the GIL)
            for i in cars:
                p = palette[i]
                for cam in range(len(offsets)):
                    frame = out[i, cam]
                    frame[h0:g0] = self._field_gray[p]
                    for (r0, r1, textures), hom in zip(bands, homs[cam]):
                        cv2.warpPerspective(textures[p], hom[i], (W_PX, r1 - r0), frame[r0:r1], flags,
                                            cv2.BORDER_CONSTANT, self._field_gray[p])
                    if gain is not None:
                        ground = frame[h0:]
                        cv2.convertScaleAbs(ground, ground, gain[i])
                    pts, shown = walls[cam]
                    for w, show in enumerate(shown[i]):
                        if show:
                            cv2.fillConvexPoly(frame, pts[i, w], wall_gray[i][w], cv2.LINE_AA, 4)
                    for pts_o, gray in polys[cam][i]:  # farthest first
                        cv2.fillConvexPoly(frame, cv2.convexHull(pts_o), gray, cv2.LINE_AA, 4)

        if self._pool is None or k < 2 * self.num_threads:
            draw(range(k))
        else:  # one OpenCV thread per worker; restored afterwards
            cv_threads = cv2.getNumThreads()
            cv2.setNumThreads(1)
            try:
                list(self._pool.map(draw, [range(j, k, self.num_threads) for j in range(self.num_threads)]))
            finally:
                cv2.setNumThreads(cv_threads)
        return out

    def _wall_polygons(self, x, y, yaw, offset_left_m: float) -> tuple[np.ndarray, list]:
        """The walls as seen by each car's camera: points (K, W, 9, 2) int32 with 4 fractional bits
        (each wall clipped to the view frustum, in order, padded by repeating vertices) and per car
        a list of W bools, whether the wall shows."""
        k, nw = len(x), len(self._wall_corners)
        if nw == 0:
            return np.zeros((k, 0, 9, 2), np.int32), [[] for _ in range(k)]
        c, s = np.cos(yaw)[:, None, None], np.sin(yaw)[:, None, None]
        cam_x = x[:, None, None] + car.CAMERA_AHEAD_M * c - offset_left_m * s
        cam_y = y[:, None, None] + car.CAMERA_AHEAD_M * s + offset_left_m * c
        wc = self._wall_corners
        dx, dy = wc[None, ..., 0] - cam_x, wc[None, ..., 1] - cam_y                # (K, W, 4)
        fwd, left = c * dx + s * dy, -s * dx + c * dy
        up = np.broadcast_to(wc[None, ..., 2] - car.CAMERA_HEIGHT_M, fwd.shape)
        corners = np.stack(_to_camera(fwd, left, up), axis=-1).reshape(k * nw, 4, 3)
        # only walls with no view plane leaving all four corners outside can show: clip those
        outside = np.stack([(corners @ n - d < 0).all(axis=-1) for n, d in _VIEW_PLANES]).any(axis=0)
        cand = np.flatnonzero(~outside)
        pts = np.zeros((k * nw, 4 + len(_VIEW_PLANES), 2), np.int32)
        shown = np.zeros(k * nw, bool)
        if cand.size:
            poly, valid = _clip_to_view(corners[cand])
            u, v = _project(poly[..., 0], poly[..., 1], np.maximum(poly[..., 2], car.CAMERA_CLIP_NEAR_M))
            pts[cand] = np.round(np.stack([u, v], axis=-1) * 16).astype(np.int32)
            shown[cand] = valid.any(axis=-1)
        return pts.reshape(k, nw, -1, 2), shown.reshape(k, nw).tolist()

    def _obstacle_polygons(self, x, y, yaw, obs: Obstacles, offset_left_m: float,
                           lights: scenery.Lights | None, albedo: np.ndarray | None) -> list:
        """Per car, the list of (points (20, 2) int32 with 4 fractional bits, gray) of its visible
        obstacles, farthest first. The points are the projected corners of the obstacle's 3D box
        (clipped at the camera's near plane); the obstacle is drawn as their convex hull, in the gray
        of its albedo (``albedo`` (K, M), or the model's colour) lit on the side facing the camera."""
        k = len(x)
        polys = [[] for _ in range(k)]
        near = car.CAMERA_CLIP_NEAR_M
        c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
        cam_x = x[:, None] + car.CAMERA_AHEAD_M * c - offset_left_m * s
        cam_y = y[:, None] + car.CAMERA_AHEAD_M * s + offset_left_m * c
        # cull: inactive, or the footprint's circumscribed disc entirely behind or beside the view
        dx, dy = obs.xy[..., 0] - cam_x, obs.xy[..., 1] - cam_y                 # (K, M)
        fwd, left = c * dx + s * dy, -s * dx + c * dy
        rad = np.hypot(obs.half_length_m, obs.half_width_m)
        cand = obs.active & (fwd + rad > near) & (np.abs(left) - rad <= (fwd + rad) * np.tan(car.CAMERA_HFOV_RAD / 2))
        ii, mm = np.nonzero(cand)
        if ii.size == 0:
            return polys
        foot = obs.corners()[ii, mm]                                           # (N, 4, 2)
        c, s = c[ii], s[ii]
        dx, dy = foot[..., 0] - cam_x[ii], foot[..., 1] - cam_y[ii]
        fwd, left = c * dx + s * dy, -s * dx + c * dy                          # (N, 4) footprint corners
        fwd, left = np.concatenate([fwd, fwd], axis=1), np.concatenate([left, left], axis=1)  # (N, 8)
        up = np.empty_like(fwd)
        up[:, :4] = -car.CAMERA_HEIGHT_M
        up[:, 4:] = obs.height_m[ii, mm][:, None] - car.CAMERA_HEIGHT_M
        cam = _to_camera(fwd, left, up)                                         # camera x, y, z (N, 8) each
        # near-plane clipping: keep corners in front, add the points where box edges cross the plane
        za, zb = (np.take(cam[2], e, axis=1) - near for e in _BOX_EDGES.T)      # (N, 12)
        crosses = za * zb < 0
        t = np.where(crosses, za / np.where(crosses, za - zb, 1.0), 0.0)
        x3, y3, z3 = (np.concatenate([q, np.take(q, _BOX_EDGES[:, 0], axis=1) * (1 - t)
                                      + np.take(q, _BOX_EDGES[:, 1], axis=1) * t], axis=1) for q in cam)  # (N, 20)
        valid = np.concatenate([cam[2] >= near, crosses], axis=1)
        u, v = _project(x3, y3, np.maximum(z3, near))
        # invalid points take the place of a valid one, so every obstacle keeps 20 points
        first = np.argmax(valid, axis=1)[:, None]
        u = np.where(valid, u, np.take_along_axis(u, first, axis=1))
        v = np.where(valid, v, np.take_along_axis(v, first, axis=1))
        show = valid.any(axis=1) & _on_screen(u, v)
        # the lit gray: the side facing the camera, in the car's light
        gray = self._obstacle_gray(obs, ii, mm, cam_x[ii, 0], cam_y[ii, 0], lights, albedo)
        dist = np.hypot(obs.xy[ii, mm, 0] - cam_x[ii, 0], obs.xy[ii, mm, 1] - cam_y[ii, 0])
        order = np.lexsort((-dist, ii))
        order = order[show[order]]                                              # by car, farthest first
        fixed = np.round(np.stack([u[order], v[order]], axis=-1) * 16).astype(np.int32)  # (n, 20, 2)
        gray = gray[order].tolist()
        for j, i in enumerate(ii[order].tolist()):
            polys[i].append((fixed[j], gray[j]))
        return polys

    def _obstacle_gray(self, obs: Obstacles, ii, mm, cam_x, cam_y, lights, albedo) -> np.ndarray:
        """Gray (N,) int of obstacles (ii, mm) seen from cameras at (cam_x, cam_y): albedo times the
        light on the box side that faces the camera."""
        yaw = obs.yaw[ii, mm]
        ca, sa = np.cos(yaw), np.sin(yaw)
        wx, wy = cam_x - obs.xy[ii, mm, 0], cam_y - obs.xy[ii, mm, 1]
        along, across = ca * wx + sa * wy, -sa * wx + ca * wy                  # camera in the box frame
        front = np.abs(along) * obs.half_width_m[ii, mm] >= np.abs(across) * obs.half_length_m[ii, mm]
        sign = np.where(front, np.sign(along), np.sign(across))
        nx = np.where(front, ca, -sa) * sign
        ny = np.where(front, sa, ca) * sign
        normal = np.column_stack([nx, ny, np.zeros_like(nx)])
        point = np.column_stack([obs.xy[ii, mm], obs.height_m[ii, mm] / 2])
        light = (lights.take(ii) if lights is not None else scenery.Lights.reference(len(ii)))
        base = (albedo[ii, mm] if albedo is not None
                else np.where(obs.kind[ii, mm] == KIND_BOT, scenery.BOT_GRAY, scenery.BOX_GRAY))
        return np.clip(np.round(base * scenery.EXPOSURE * light.irradiance_each(normal, point)), 0, 255).astype(int)


def _line_quads(border: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Quads (N-1, 4, 2) [m] of the white line along ``border``: scenery.LINE_WIDTH_M wide, on the
    road side, along the rungs from each border point toward the opposite border's point."""
    rung = other - border
    inward = rung / np.maximum(np.linalg.norm(rung, axis=1, keepdims=True), 1e-9)
    inner = border + inward * np.minimum(scenery.LINE_WIDTH_M, np.linalg.norm(rung, axis=1, keepdims=True))
    return np.stack([border[:-1], border[1:], inner[1:], inner[:-1]], axis=1)


def _dash_quads(tr: Track) -> np.ndarray:
    """Centre-line dashes (N, 12, 2) [m]: flat-ended strips following the centre line."""
    period = scenery.CENTER_DASH_M + scenery.CENTER_GAP_M
    starts = np.arange(scenery.CENTER_DASH_START_M, tr.length_m - scenery.CENTER_DASH_M * 0.5, period)
    arcs = np.minimum(starts[:, None] + np.linspace(0.0, scenery.CENTER_DASH_M, 6)[None, :], tr.length_m)
    tangent = tr.center_at(arcs + 1e-3) - tr.center_at(arcs - 1e-3)
    normal = np.stack([-tangent[..., 1], tangent[..., 0]], axis=-1)
    normal *= (scenery.CENTER_WIDTH_M / 2) / np.linalg.norm(normal, axis=-1, keepdims=True)
    mid = tr.center_at(arcs)
    return np.concatenate([mid + normal, (mid - normal)[:, ::-1]], axis=1)


def render_stereo(renderer: CameraRenderer, x, y, yaw, obstacles: Obstacles | None = None) -> np.ndarray:
    """Stereo frames (K, 120, 160, 2) uint8: channel 0 = left camera (STEREO_HALF_BASELINE_M to the
    left of the car's centre line), channel 1 = right camera (``markov/sensors/sensors_rollout.py``
    stacks left, right)."""
    b = car.STEREO_HALF_BASELINE_M
    frames = renderer.render_cameras(x, y, yaw, obstacles, (b, -b))
    return np.stack([frames[:, 0], frames[:, 1]], axis=-1)  # (far faster than a moveaxis copy)


from .lidar import (DISCRETIZED_CLIP_M, DISCRETIZED_NUM_SECTORS, DISCRETIZED_NUM_VALUES,  # noqa: E402,F401
                    LIDAR_AHEAD_M, LIDAR_ANGLES_RAD, LIDAR_FOV_RAD, LIDAR_MAX_RANGE_M, _lidar_config_values,
                    discretized_sector_lidar, lidar_input, lidar_observation, lidar_ranges, sector_lidar)


# ---------------------------------------------------------------------- spaces
def observation_space_for(sensor_name: str, lidar_config=None) -> spaces.Box:
    """Gymnasium space of one sensor's network input, from its spec in core.observations (the one
    home of shapes, dtypes and bounds). ``lidar_config`` (core.config.LidarConfig, a dict with
    num_sectors / num_values_per_sector / clipping_dist, or None) sizes DISCRETIZED_SECTOR_LIDAR only,
    as in the simapp."""
    spec = sensor_spec(sensor_name)
    return spaces.Box(spec.low, spec.high, spec.shape(LidarConfig(*_lidar_config_values(lidar_config))), spec.dtype)


__all__ = ["CameraRenderer", "render_stereo", "lidar_ranges", "lidar_observation", "sector_lidar",
           "discretized_sector_lidar", "lidar_input", "observation_space_for", "LIDAR_NUM_BEAMS", "LIDAR_FOV_RAD",
           "LIDAR_AHEAD_M", "LIDAR_ANGLES_RAD", "GRAY", "FOCAL_PX"]
