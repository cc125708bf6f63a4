"""Camera and lidar observations of K cars at once (spec section 2, "Observations").

Camera
    ``CameraRenderer`` pre-renders a top-down grayscale texture of the world around a track once,
    then makes each frame by warping that texture through the homography that maps the ground plane
    z = 0 into the DeepRacer camera (one ``cv2.warpPerspective`` per car and distance band), and
    draws obstacles (boxes, bot cars) as filled convex hulls of their projected 3D boxes. Frames are
    rendered at 160x120 directly with the pinhole intrinsics of the spec's 640x480 camera scaled
    down: fx = fy = 80 / tan(hfov / 2) [px], principal point at the image centre. Row 0 is the top
    of the image (far away); column 0 is the left.

    Far ground is minified: one pixel covers many texels. Like a GPU, we sample a mip level picked
    per image row from the pixel's footprint on the ground (geometric mean of its width and depth),
    which keeps distant lines from flickering. Everything above the horizon or farther than
    ``max_distance_m`` ahead shows the background gray.

Colours (RGB -> gray with Y = 0.2989 R + 0.5870 G + 0.1140 B; ours, chosen to look like the
simulator's tracks): see ``COLORS_RGB``. Domain-randomization texture variants change the ground and
asphalt shades (``_VARIANT_COLORS_RGB``).

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

from . import car
from .obstacles import KIND_BOT, Obstacles
from .track import Track

H_PX, W_PX = car.CAMERA_HEIGHT_PX, car.CAMERA_WIDTH_PX
#: Focal length of the 160x120 image [px] (fx = fy).
FOCAL_PX = (W_PX / 2) / np.tan(car.CAMERA_HFOV_RAD / 2)


def rgb_to_gray(rgb) -> int:
    """The spec's RGB -> Y conversion (0..255), rounded."""
    r, g, b = rgb
    return int(round(0.2989 * r + 0.5870 * g + 0.1140 * b))


#: Colours of the world [RGB]. Ours: green carpet, dark asphalt, white borders, yellow centre dashes,
#: a light blue-gray backdrop, light boxes, blue bot cars.
COLORS_RGB = {
    "ground": (70, 140, 70),
    "asphalt": (45, 45, 50),
    "border": (240, 240, 240),
    "center": (255, 200, 0),
    "background": (150, 170, 200),
    "box": (225, 220, 205),
    "bot": (40, 80, 200),
}
GRAY = {name: rgb_to_gray(rgb) for name, rgb in COLORS_RGB.items()}
#: (ground, asphalt) colours of the texture variants used by domain randomization; variant 0 is
#: the default look.
_VARIANT_COLORS_RGB = [
    (COLORS_RGB["ground"], COLORS_RGB["asphalt"]),
    ((110, 110, 100), (70, 70, 75)),    # gray carpet, lighter asphalt
    ((40, 100, 50), (25, 25, 30)),      # dark green, very dark asphalt
]

BORDER_WIDTH_M = 0.05
CENTER_DASH_M = 0.10
CENTER_GAP_M = 0.10
CENTER_WIDTH_M = 0.03
#: Texel size [m] of the finest texture, grown for large tracks to cap memory: at most
#: TEXTURE_MAX_TEXELS texels per texture and TEXTURE_MAX_BYTES for all variants and mip levels.
TEXEL_M = 0.0025
TEXTURE_MAX_TEXELS = 8_000_000
TEXTURE_MAX_BYTES = 30_000_000
TEXTURE_MARGIN_M = 0.3
#: Texels of the temporary supersampled drawing masks (memory cap at construction).
SUPERSAMPLE_MAX_TEXELS = 40_000_000
MIP_LEVELS = 6
#: Rows are grouped by ideal mip level into bands [0, 1), [1, 3), [3, ...): one warp call each.
_BAND_LEVEL_EDGES = (1, 3)
#: Ground farther ahead of the camera than this [m] shows the background.
MAX_DISTANCE_M = 12.0
#: Obstacle corners closer than this to the camera plane [m] are clipped.
NEAR_PLANE_M = 0.01

# Domain randomization ranges (ours).
DR_CONTRAST = (0.7, 1.3)
DR_BRIGHTNESS = (-30.0, 30.0)
DR_NOISE_STD = (0.0, 8.0)
_DR_NOISE_BANK = 32

#: The 12 edges of a box whose corners are numbered 0-3 (bottom, CCW) and 4-7 (top).
_BOX_EDGES = np.array([[0, 1], [1, 2], [2, 3], [3, 0], [4, 5], [5, 6], [6, 7], [7, 4],
                       [0, 4], [1, 5], [2, 6], [3, 7]])


def _camera_intrinsics_inv() -> np.ndarray:
    """Pixel (u, v, 1) -> normalized camera ray (x/z, y/z, 1). Pixel centres are integers."""
    cx, cy = (W_PX - 1) / 2, (H_PX - 1) / 2
    return np.array([[1 / FOCAL_PX, 0, -cx / FOCAL_PX], [0, 1 / FOCAL_PX, -cy / FOCAL_PX], [0, 0, 1.0]])


def _ray_to_ground() -> np.ndarray:
    """Normalized camera ray (xn, yn, 1) -> homogeneous ground point (forward, left, 1) relative to
    the camera foot, in the car frame. Camera axes: x right, y down, z forward, pitched down."""
    h, c, s = car.CAMERA_HEIGHT_M, np.cos(car.CAMERA_PITCH_DOWN_RAD), np.sin(car.CAMERA_PITCH_DOWN_RAD)
    return np.array([[0, -h * s, h * c], [-h, 0, 0], [0, c, s]])


@dataclass
class _Band:
    """Image rows [r0, r1) sampled from mip level ``level``; ``pix_to_ground`` (3, 3) maps the
    band's pixel (u, v - r0, 1) to the homogeneous ground point relative to the camera foot."""

    level: int
    r0: int
    r1: int
    pix_to_ground: np.ndarray


class CameraRenderer:
    """Renders DeepRacer camera frames (K, 120, 160) uint8 of K cars on one track.

    Construction draws the track texture (0.1-0.5 s, up to TEXTURE_MAX_BYTES); build one renderer
    per track and reuse it. Renders are deterministic given the poses (and ``rng_seed`` with DR).

    Args:
        track: the track to draw.
        rng_seed: seed of the numpy Generator used by domain randomization.
        domain_randomization: when True every render() call randomizes, per car, the texture
            variant (3 ground/asphalt shades), contrast, brightness (DR_* ranges) and additive
            Gaussian pixel noise (one of 32 precomputed noise frames, std 0-8 gray levels).
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
        variants = _VARIANT_COLORS_RGB if self.domain_randomization else _VARIANT_COLORS_RGB[:1]
        self._build_textures(variants, texel_m, mip_levels)
        self._build_bands()
        self._noise_bank = None
        if self.domain_randomization:
            bank_rng = np.random.default_rng(12345)
            std = bank_rng.uniform(*DR_NOISE_STD, _DR_NOISE_BANK).astype(np.float32)[:, None, None]
            self._noise_bank = bank_rng.standard_normal((_DR_NOISE_BANK, H_PX, W_PX), np.float32) * std

    # ------------------------------------------------------------------ construction
    def _build_textures(self, variants, texel_m: float, mip_levels: int) -> None:
        tr = self.track
        pts = np.concatenate([tr.left_border, tr.right_border, tr.waypoints])
        lo = pts.min(axis=0) - TEXTURE_MARGIN_M
        hi = pts.max(axis=0) + TEXTURE_MARGIN_M
        cell = float(texel_m)
        # the mip pyramid adds a third; every variant holds its own pyramid
        while (np.prod(np.ceil((hi - lo) / cell)) > TEXTURE_MAX_TEXELS
               or np.prod(np.ceil((hi - lo) / cell)) * len(variants) * 4 / 3 > TEXTURE_MAX_BYTES):
            cell *= 1.25
        cols, rows = (int(v) for v in np.ceil((hi - lo) / cell))
        self.texel_m = cell
        self.texture_origin = lo
        # Coverage masks (0..255) are drawn at ss x the texel resolution, then area-averaged. The
        # surface quads are drawn without anti-aliasing, so shared quad edges leave no seams.
        ss = int(max(1, min(4, np.sqrt(SUPERSAMPLE_MAX_TEXELS / (rows * cols)))))
        shift = 4

        def to_pix(p):  # world (..., 2) -> fixed-point subtexel coords; texel i centre at lo + (i + 0.5) cell
            return np.round(((p - lo) / cell * ss - 0.5) * (1 << shift)).astype(np.int32)

        def mask(draw):
            m = np.zeros((rows * ss, cols * ss), np.uint8)
            draw(m)
            return cv2.resize(m, (cols, rows), interpolation=cv2.INTER_AREA).astype(np.float32) / 255

        lb, rb = tr.left_border, tr.right_border
        quads = to_pix(np.stack([lb[:-1], rb[:-1], rb[1:], lb[1:]], axis=1))

        def draw_surface(m):
            for q in quads:
                cv2.fillConvexPoly(m, q, 255, cv2.LINE_8, shift)

        bw = max(1, int(round(BORDER_WIDTH_M / cell * ss)))
        # centre dashes: flat-ended strips following the centre line, as 12-point polygons
        period = CENTER_DASH_M + CENTER_GAP_M
        starts = np.arange(0.0, tr.length_m - CENTER_DASH_M * 0.5, period)
        arcs = np.minimum(starts[:, None] + np.linspace(0.0, CENTER_DASH_M, 6)[None, :], tr.length_m)
        tangent = tr.center_at(arcs + 1e-3) - tr.center_at(arcs - 1e-3)
        normal = np.stack([-tangent[..., 1], tangent[..., 0]], axis=-1)
        normal *= (CENTER_WIDTH_M / 2) / np.linalg.norm(normal, axis=-1, keepdims=True)
        mid = tr.center_at(arcs)
        dashes = list(to_pix(np.concatenate([mid + normal, (mid - normal)[:, ::-1]], axis=1)))
        a_surf = mask(draw_surface)
        a_line = mask(lambda m: cv2.polylines(m, [to_pix(lb), to_pix(rb)], tr.is_loop, 255, bw, cv2.LINE_AA, shift))
        a_dash = mask(lambda m: cv2.fillPoly(m, dashes, 255, cv2.LINE_AA, shift))
        self._pyramids = []      # [variant][level] -> (rows_l, cols_l) uint8
        self._ground_gray = []   # per variant, the border value of warps
        for ground_rgb, asphalt_rgb in variants:
            g, a = rgb_to_gray(ground_rgb), rgb_to_gray(asphalt_rgb)
            img = g + (a - g) * a_surf
            img = img + (GRAY["center"] - img) * a_dash
            img = img + (GRAY["border"] - img) * a_line
            tex = np.clip(np.round(img), 0, 255).astype(np.uint8)
            pyr = [tex]
            for _ in range(1, mip_levels):
                prev = pyr[-1]
                # exact halving keeps texel i of level l centred at lo + (i + 0.5) * cell * 2**l
                h2, w2 = prev.shape[0] // 2, prev.shape[1] // 2
                if min(h2, w2) < 2:
                    break
                pyr.append(cv2.resize(prev[:2 * h2, :2 * w2], (w2, h2), interpolation=cv2.INTER_AREA))
            self._pyramids.append(pyr)
            self._ground_gray.append(g)
        # texel -> world is X = lo + (i + 0.5) * c; world -> texel matrices per level
        self._world_to_tex = []
        for lvl in range(len(self._pyramids[0])):
            c = cell * 2 ** lvl
            self._world_to_tex.append(np.array([[1 / c, 0, -lo[0] / c - 0.5], [0, 1 / c, -lo[1] / c - 0.5], [0, 0, 1.0]]))

    def _build_bands(self) -> None:
        """Split the rows below the horizon into bands of equal mip level (fixed: the camera is
        rigidly mounted, so each row always sees ground at the same forward distance)."""
        pix_to_ground = _ray_to_ground() @ _camera_intrinsics_inv()
        cx = (W_PX - 1) / 2
        v = np.arange(H_PX, dtype=float)

        def ground(u, vv):
            g = pix_to_ground @ np.stack([np.full_like(vv, u), vv, np.ones_like(vv)])
            with np.errstate(divide="ignore", invalid="ignore"):
                return g[:2] / g[2], g[2]

        g0, w = ground(cx, v)
        visible = (w > 1e-9) & (g0[0] > 0) & (g0[0] <= self.max_distance_m)
        rows = np.flatnonzero(visible)
        if rows.size == 0 or rows[-1] != H_PX - 1 or np.any(np.diff(rows) != 1):
            raise ValueError("camera model: the ground must fill the bottom rows of the image")
        #: first image row that shows ground; the rows above show the background
        self.first_ground_row = int(rows[0])
        gx, _ = ground(cx + 1.0, v)
        gy, _ = ground(cx, v + 1.0)
        width = np.linalg.norm(gx - g0, axis=0)
        depth = np.linalg.norm(gy - g0, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = np.log2(np.sqrt(width * depth) / self.texel_m)
        top = len(self._pyramids[0]) - 1  # tiny textures may have fewer levels
        #: ideal mip level of each row (GPU rule: log2 of the footprint in texels, rounded)
        self.row_mip_level = np.clip(np.round(np.nan_to_num(lam, nan=0.0)), 0, top).astype(int)
        # A few bands keep the number of warp calls low: the rows whose ideal level is 0, 1-2 and
        # >= 3; each band samples the median ideal level of its rows.
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
            x, y, yaw: car origin poses (rear-axle centre) [m, m, rad], each (K,).
            obstacles: obstacles of each car's world (K cars x M), or None.
            camera_offset_left_m: sideways shift of the camera to the left [m] (stereo).
        Returns:
            (K, 120, 160) uint8 grayscale frames, row 0 = top of the image.
        """
        return self.render_cameras(x, y, yaw, obstacles, (camera_offset_left_m,))[:, 0]

    def render_cameras(self, x, y, yaw, obstacles: Obstacles | None = None,
                       offsets_left_m=(0.0,)) -> np.ndarray:
        """Frames (K, C, 120, 160) uint8 of C cameras per car, shifted ``offsets_left_m`` [m] to the
        left. With domain randomization, the C cameras of a car share the texture variant,
        contrast and brightness (one world, one light) and get independent noise."""
        x, y, yaw = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (x, y, yaw))
        k, offsets = len(x), [float(o) for o in offsets_left_m]
        out = np.empty((k, len(offsets), H_PX, W_PX), np.uint8)
        out[:, :, :self.first_ground_row] = GRAY["background"]
        if obstacles is not None and obstacles.count and obstacles.xy.shape[0] != k:
            raise ValueError(f"obstacles are for {obstacles.xy.shape[0]} cars, poses for {k}")
        homs, polys = [], []  # per camera: per band (K, 3, 3) homographies; per car obstacle polygons
        for off in offsets:
            pose = self._camera_pose(x, y, yaw, off)
            homs.append([self._world_to_tex[b.level] @ pose @ b.pix_to_ground for b in self._bands])
            has_obs = obstacles is not None and obstacles.count
            polys.append(self._obstacle_polygons(x, y, yaw, obstacles, off) if has_obs else [()] * k)
        dr = self.domain_randomization
        if dr:  # drawn up front, so frames do not depend on threading
            variant = self.rng.integers(0, len(self._pyramids), k).tolist()
            contrast = self.rng.uniform(*DR_CONTRAST, k)
            offset = (128.0 * (1.0 - contrast) + self.rng.uniform(*DR_BRIGHTNESS, k)).tolist()
            contrast = contrast.tolist()
            noise = self.rng.integers(0, len(self._noise_bank), (k, len(offsets))).tolist()
        else:
            variant = [0] * k
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        bands = [(b.r0, b.r1, [pyr[b.level] for pyr in self._pyramids]) for b in self._bands]

        def draw(cars):  # every per-car OpenCV call (they release the GIL)
            for i in cars:
                v = variant[i]
                for cam in range(len(offsets)):
                    frame = out[i, cam]
                    for (r0, r1, textures), hom in zip(bands, homs[cam]):
                        cv2.warpPerspective(textures[v], hom[i], (W_PX, r1 - r0), frame[r0:r1], flags,
                                            cv2.BORDER_CONSTANT, self._ground_gray[v])
                    for pts, gray in polys[cam][i]:  # farthest first
                        cv2.fillConvexPoly(frame, cv2.convexHull(pts), gray, cv2.LINE_AA, 4)
                    if dr:  # saturate(contrast * frame + noise + offset), one pass
                        cv2.addWeighted(frame, contrast[i], self._noise_bank[noise[i][cam]], 1.0, offset[i],
                                        frame, cv2.CV_8U)

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

    def _obstacle_polygons(self, x, y, yaw, obs: Obstacles, offset_left_m: float) -> list:
        """Per car, the list of (points (20, 2) int32 with 4 fractional bits, gray) of its visible
        obstacles, farthest first. The points are the projected corners of the obstacle's 3D box
        (clipped at the camera's near plane); the obstacle is drawn as their convex hull."""
        k = len(x)
        polys = [[] for _ in range(k)]
        c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
        cam_x = x[:, None] + car.CAMERA_AHEAD_M * c - offset_left_m * s
        cam_y = y[:, None] + car.CAMERA_AHEAD_M * s + offset_left_m * c
        # cull: inactive, or the footprint's circumscribed disc entirely behind or beside the view
        dx, dy = obs.xy[..., 0] - cam_x, obs.xy[..., 1] - cam_y                 # (K, M)
        fwd, left = c * dx + s * dy, -s * dx + c * dy
        rad = np.hypot(obs.half_length_m, obs.half_width_m)
        cand = obs.active & (fwd + rad > NEAR_PLANE_M) & (np.abs(left) - rad <= (fwd + rad) * np.tan(car.CAMERA_HFOV_RAD / 2))
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
        cp, sp = np.cos(car.CAMERA_PITCH_DOWN_RAD), np.sin(car.CAMERA_PITCH_DOWN_RAD)
        cam = (-left, -sp * fwd - cp * up, cp * fwd - sp * up)                  # camera x, y, z (N, 8) each
        # near-plane clipping: keep corners in front, add the points where box edges cross the plane
        za, zb = (np.take(cam[2], e, axis=1) - NEAR_PLANE_M for e in _BOX_EDGES.T)  # (N, 12)
        crosses = za * zb < 0
        t = np.where(crosses, za / np.where(crosses, za - zb, 1.0), 0.0)
        x3, y3, z3 = (np.concatenate([q, np.take(q, _BOX_EDGES[:, 0], axis=1) * (1 - t)
                                      + np.take(q, _BOX_EDGES[:, 1], axis=1) * t], axis=1) for q in cam)  # (N, 20)
        valid = np.concatenate([cam[2] >= NEAR_PLANE_M, crosses], axis=1)
        inv_z = FOCAL_PX / np.maximum(z3, NEAR_PLANE_M)
        u = np.clip(x3 * inv_z + (W_PX - 1) / 2, -1e5, 1e5)
        v = np.clip(y3 * inv_z + (H_PX - 1) / 2, -1e5, 1e5)
        # invalid points take the place of a valid one, so every obstacle keeps 20 points
        first = np.argmax(valid, axis=1)[:, None]
        u = np.where(valid, u, np.take_along_axis(u, first, axis=1))
        v = np.where(valid, v, np.take_along_axis(v, first, axis=1))
        show = (valid.any(axis=1) & (u.max(axis=1) >= -1) & (u.min(axis=1) <= W_PX)
                & (v.max(axis=1) >= -1) & (v.min(axis=1) <= H_PX))
        dist = np.hypot(obs.xy[ii, mm, 0] - cam_x[ii, 0], obs.xy[ii, mm, 1] - cam_y[ii, 0])
        order = np.lexsort((-dist, ii))
        order = order[show[order]]                                              # by car, farthest first
        fixed = np.round(np.stack([u[order], v[order]], axis=-1) * 16).astype(np.int32)  # (n, 20, 2)
        gray = np.where(obs.kind[ii[order], mm[order]] == KIND_BOT, GRAY["bot"], GRAY["box"]).tolist()
        for j, i in enumerate(ii[order].tolist()):
            polys[i].append((fixed[j], gray[j]))
        return polys


def render_stereo(renderer: CameraRenderer, x, y, yaw, obstacles: Obstacles | None = None) -> np.ndarray:
    """Stereo frames (K, 120, 160, 2) uint8: channel 0 = left camera (STEREO_HALF_BASELINE_M to the
    left of the car's centre line), channel 1 = right camera."""
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
           "LIDAR_AHEAD_M", "LIDAR_ANGLES_RAD", "GRAY", "COLORS_RGB", "FOCAL_PX"]
