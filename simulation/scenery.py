"""The world around a track that the sensors see: walls, ground markings, colours and lights.

One home for the scenery, read by the camera (simulation/sensors.py) and the lidar
(simulation/lidar.py). Sources are files of the reference simulator (aws-deepracer-community/
deepracer-simapp, under ``bundle/``); figures marked "derived" are ours, to be calibrated against the
Gazebo backend.

Walls
- WALL_HEIGHT_M 1.0: every reference world that has walls has 1 m high ones (``wallmesh`` /
  ``wallShape`` in ``meshes/<track>/<track>.dae``).
- REFERENCE_WALLS_M: the inner faces of the walls of each reference world that has a plain wall
  rectangle, read from those meshes (``worlds/<track>.world`` -> ``models/<track>/*.sdf`` -> the
  visual ``.dae``). ``None``: the world has no walls (the 2022 monthly "open"/"pro" worlds show a
  field and a distant backdrop mesh instead). The margin between track and walls varies: 0.9 m on
  reinvent_base, 1-9 m elsewhere.
- WALL_MARGIN_M 0.9 (``field_rectangle``, ``wall_segments``): the rule for every other track (city
  tracks whose scenery is buildings and barriers, tracks the reference does not ship, custom tracks):
  walls 0.9 m beyond the track's bounding box, as on reinvent_base (derived).
  ``walls_rectangle`` picks the right one for a track.

Ground markings (``meshes/reinvent/reinvent_base.dae`` and ``meshes/2022_march_pro/...dae``, measured
against the route files): the white border lines are 3 in (0.0762 m) wide and lie on the road,
inside its edge; the centre line is 1 in (0.0254 m) wide dashes, 2 in (0.0508 m) long, 2 in apart.
On reinvent_base the first dash after the start starts 0.0519 m along the centre line.

Colours (PALETTES): mean gray (Y = 0.2989 R + 0.5870 G + 0.1140 B, the spec's conversion) of the
texture each material uses, before lighting, measured from the textures under ``meshes/``:
- reinvent_base (``meshes/reinvent/textures/{road,field,outerLine,centerLine,wall}.png``).
- reinvent_carpet / _concrete / _wood: road and field both use ``Carpet_Office_DIFF.jpg`` /
  ``Concrete_DIFF.jpg`` / ``Wood_Panels_DIFF.jpg`` (``road_<x>.dae``, ``field_<x>.dae``), lines as
  reinvent_base, walls ``walls.jpg``.
- generated: the textures shared by the 2019-2024 worlds (``road.png``, ``Track_road_01.png``,
  ``<Track>_road_T_01.png``...: all the same images).
- caecer (caecer_gp, caecer_loop: ``grass2.png``, ``centerline-yellow.png``), vegas
  (``Re_Invent_track_field_grass_T_01.png``), virtual_may19 (``Virtual_May19_Comp_track_*.png``).
Worlds whose walls are barriers or buildings (Spain, July_2020, city tracks) get the generated wall
gray on our stand-in walls. ``palette_name`` maps a track to its palette; tracks the reference does
not ship have none (the camera then uses reinvent_base, randomized with domain randomization).
- SKY_GRAY 178.5: no world sets ``<scene><background>``; SDF's default is 0.7 gray.
- BOX_GRAY: ``models/box_obstacle/model.sdf`` diffuse (0.482, 0.38, 0.309). BOT_GRAY: the bot car
  body diffuse 0.156 (``models/bot_car/model.sdf``).

Lights (``worlds/reinvent_base.world``; 121 of the 127 worlds have the same rig, the six city worlds
Canada_Training, China_track, Mexico_track, New_York_Track, Tokyo_Training_track and Vegas_track
differ and are not modelled): scene ambient 0.5; a directional "sun" of colour (1, 1, 0.8),
intensity 1, travelling along (-0.5, 0.1, -0.9); a point lamp of colour 0.225 at (0, 0, 15) m with
attenuation 1 / (0.4 + 0.01 d). Our shading is Lambert in gray: a surface of albedo A with normal n
shows A * EXPOSURE * (ambient + sun * max(0, n.l_sun) + lamp * max(0, n.l_lamp) / attenuation),
clipped to 0..255; specular is left out (the sun's highlight lies outside the camera's view).
EXPOSURE (derived) makes a horizontal surface under the lamp show its texture's own gray.
Domain randomization (``markov/domain_randomizations/visual/light_randomizer.py``, at each episode
reset): every light gets a random diffuse colour, each channel uniform in [0, 1], and random
attenuation coefficients, each uniform in [0, 1]; obstacles and bot cars get a random colour
(``model_visual_randomizer.py``); the track's textures do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .track import Track

WALL_MARGIN_M = 0.9
WALL_HEIGHT_M = 1.0

LINE_WIDTH_M = 0.0762
CENTER_WIDTH_M = 0.0254
CENTER_DASH_M = 0.0508
CENTER_GAP_M = 0.0508
CENTER_DASH_START_M = 0.0519

#: Inner faces of the walls (x_min, y_min, x_max, y_max) [m] of the reference worlds; None: no walls.
REFERENCE_WALLS_M: dict[str, tuple[float, float, float, float] | None] = {
    "2022_april_open": None,
    "2022_april_open_ccw": (-10.531, -7.987, 10.534, 7.989),
    "2022_april_open_cw": (-10.531, -7.987, 10.534, 7.989),
    "2022_april_pro": None,
    "2022_april_pro_ccw": (-10.470, -7.717, 10.475, 7.717),
    "2022_april_pro_cw": (-10.470, -7.717, 10.475, 7.717),
    "2022_august_open": None,
    "2022_august_open_ccw": (-8.492, -5.342, 8.547, 5.356),
    "2022_august_open_cw": (-8.492, -5.342, 8.547, 5.356),
    "2022_august_pro": None,
    "2022_august_pro_ccw": (-8.521, -8.181, 8.519, 8.191),
    "2022_august_pro_cw": (-8.521, -8.181, 8.519, 8.191),
    "2022_july_open": None,
    "2022_july_pro": None,
    "2022_july_pro_ccw": (-9.810, -4.820, 9.817, 4.819),
    "2022_july_pro_cw": (-9.810, -4.820, 9.817, 4.819),
    "2022_june_open": None,
    "2022_june_open_ccw": (-8.462, -4.555, 8.465, 4.550),
    "2022_june_open_cw": (-8.462, -4.555, 8.465, 4.550),
    "2022_june_pro": None,
    "2022_june_pro_ccw": (-8.862, -6.582, 8.869, 6.581),
    "2022_june_pro_cw": (-8.862, -6.582, 8.869, 6.581),
    "2022_march_open": (-17.768, -16.313, 17.768, 16.313),
    "2022_march_open_ccw": (-9.390, -7.934, 9.389, 7.935),
    "2022_march_open_cw": (-9.390, -7.934, 9.389, 7.935),
    "2022_march_pro": (-17.300, -16.154, 17.293, 16.153),
    "2022_march_pro_ccw": (-8.919, -7.776, 8.913, 7.775),
    "2022_march_pro_cw": (-8.919, -7.776, 8.913, 7.775),
    "2022_may_open": None,
    "2022_may_open_ccw": (-6.331, -6.620, 6.350, 6.619),
    "2022_may_open_cw": (-6.331, -6.620, 6.350, 6.619),
    "2022_may_pro": None,
    "2022_may_pro_ccw": (-8.189, -6.704, 8.188, 6.704),
    "2022_may_pro_cw": (-8.189, -6.704, 8.188, 6.704),
    "2022_october_open": None,
    "2022_october_open_ccw": (-10.532, -6.288, 10.509, 6.410),
    "2022_october_open_cw": (-10.532, -6.288, 10.509, 6.410),
    "2022_october_pro": None,
    "2022_october_pro_ccw": (-12.677, -7.409, 12.674, 7.150),
    "2022_october_pro_cw": (-12.677, -7.409, 12.674, 7.150),
    "2022_reinvent_champ_ccw": None,
    "2022_reinvent_champ_cw": None,
    "2022_september_open": None,
    "2022_september_open_ccw": (-8.918, -7.854, 8.919, 7.836),
    "2022_september_open_cw": (-8.918, -7.854, 8.919, 7.836),
    "2022_september_pro": None,
    "2022_september_pro_ccw": (-10.358, -9.001, 10.366, 8.983),
    "2022_september_pro_cw": (-10.358, -9.001, 10.366, 8.983),
    "2022_summit_speedway": (-9.661, -9.668, 19.753, 13.076),
    "2022_summit_speedway_ccw": (-6.326, -2.987, 6.320, 2.999),
    "2022_summit_speedway_cw": (-6.326, -2.987, 6.320, 2.999),
    "2022_summit_speedway_mini": (-5.380, -3.371, 5.384, 3.380),
    "2024_reinvent_champ_ccw": (-6.174, -2.835, 6.168, 2.847),
    "2024_reinvent_champ_cw": (-6.174, -2.835, 6.168, 2.847),
    "Albert": (-18.644, -13.267, 19.792, 15.795),
    "AmericasGeneratedInclStart": (-16.900, -11.726, 16.869, 16.564),
    "Aragon": (-19.204, -13.212, 23.156, 14.447),
    "arctic_open": (-18.342, -13.289, 18.344, 13.288),
    "arctic_open_ccw": (-9.964, -4.910, 9.965, 4.910),
    "arctic_open_cw": (-9.964, -4.910, 9.965, 4.910),
    "arctic_pro": (-19.040, -14.132, 19.039, 14.133),
    "arctic_pro_ccw": (-10.658, -5.747, 10.662, 5.755),
    "arctic_pro_cw": (-10.658, -5.747, 10.662, 5.755),
    "Belille": (-18.871, -17.133, 21.041, 13.978),
    "dubai_open": (-17.180, -13.375, 17.179, 13.313),
    "dubai_open_ccw": (-8.799, -4.994, 8.795, 4.930),
    "dubai_open_cw": (-8.799, -4.994, 8.795, 4.930),
    "dubai_pro": (-19.283, -14.891, 19.389, 14.889),
    "FS_June2020": (-18.053, -12.417, 18.493, 13.955),
    "hamption_open": (-17.042, -14.857, 17.009, 14.840),
    "hamption_pro": (-17.508, -14.852, 17.591, 14.853),
    "jyllandsringen_open": (-17.338, -13.634, 17.341, 13.647),
    "jyllandsringen_open_ccw": (-8.959, -5.246, 8.962, 5.259),
    "jyllandsringen_open_cw": (-8.959, -5.246, 8.962, 5.259),
    "jyllandsringen_pro": (-19.268, -16.336, 19.275, 16.342),
    "jyllandsringen_pro_ccw": (-10.891, -7.956, 10.897, 7.955),
    "jyllandsringen_pro_cw": (-10.891, -7.956, 10.897, 7.955),
    "LGSWide": (-13.194, -14.137, 14.618, 15.040),
    "morgan_open": (-19.229, -12.557, 19.229, 12.562),
    "morgan_pro": (-19.487, -15.879, 19.637, 15.692),
    "penbay_open": (-19.673, -17.170, 19.672, 17.172),
    "penbay_open_ccw": (-11.294, -8.789, 11.293, 8.791),
    "penbay_open_cw": (-11.294, -8.789, 11.293, 8.791),
    "penbay_pro": (-19.672, -17.173, 19.673, 17.173),
    "penbay_pro_ccw": (-11.293, -8.794, 11.294, 8.795),
    "penbay_pro_cw": (-11.293, -8.794, 11.294, 8.795),
    "red_star_open": (-14.665, -15.530, 14.669, 15.538),
    "red_star_pro": (-16.963, -15.546, 16.966, 15.543),
    "red_star_pro_ccw": (-8.585, -7.166, 8.587, 7.161),
    "red_star_pro_cw": (-8.585, -7.166, 8.587, 7.161),
    "reInvent2019_track": (-0.995, -1.116, 9.643, 7.449),
    "reInvent2019_track_ccw": (-5.314, -4.279, 5.314, 4.278),
    "reInvent2019_track_cw": (-5.314, -4.279, 5.314, 4.278),
    "reInvent2019_wide": (-0.407, -0.234, 8.408, 5.837),
    "reInvent2019_wide_ccw": (-4.402, -3.031, 4.394, 3.032),
    "reInvent2019_wide_cw": (-4.402, -3.031, 4.394, 3.032),
    "reInvent2019_wide_mirrored": (-0.407, -0.234, 8.408, 5.837),
    "reinvent_base": (-0.587, -0.613, 8.575, 5.795),
    "thunder_hill_open": (-16.270, -14.276, 16.270, 14.276),
    "thunder_hill_pro": (-16.247, -16.045, 16.243, 16.042),
    "thunder_hill_pro_ccw": (-7.865, -7.663, 7.861, 7.659),
    "thunder_hill_pro_cw": (-7.865, -7.663, 7.861, 7.659),
}


def field_rectangle(track: Track, margin_m: float = WALL_MARGIN_M) -> tuple[float, float, float, float]:
    """(x_min, y_min, x_max, y_max) [m] of the walls' inner faces by the margin rule: the bounding box
    of the track's borders grown by ``margin_m`` on every side."""
    pts = np.concatenate([track.inner_border, track.outer_border], axis=0)
    lo, hi = pts.min(axis=0) - margin_m, pts.max(axis=0) + margin_m
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def wall_segments(track: Track, margin_m: float = WALL_MARGIN_M) -> np.ndarray:
    """The four walls' inner faces by the margin rule as segments (4, 2, 2) [m]: [[x0, y0], [x1, y1]]
    each, counter-clockwise from the bottom-left corner."""
    return rectangle_segments(field_rectangle(track, margin_m))


def rectangle_segments(rect: tuple[float, float, float, float]) -> np.ndarray:
    """The sides (4, 2, 2) [m] of rectangle (x_min, y_min, x_max, y_max), counter-clockwise from the
    bottom-left corner."""
    x0, y0, x1, y1 = rect
    c = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)
    return np.stack([c, np.roll(c, -1, axis=0)], axis=1)


def walls_rectangle(track: Track) -> tuple[float, float, float, float] | None:
    """The walls around ``track`` (x_min, y_min, x_max, y_max) [m], or None where its reference world
    has none: the reference world's walls when it has a wall rectangle that encloses the track (a
    custom file that reuses a reference name but not its shape falls back), else the margin rule."""
    if track.name in REFERENCE_WALLS_M:
        rect = REFERENCE_WALLS_M[track.name]
        if rect is None:
            return None
        pts = np.concatenate([track.inner_border, track.outer_border], axis=0)
        if np.all(pts.min(axis=0) > rect[:2]) and np.all(pts.max(axis=0) < rect[2:]):
            return rect
    return field_rectangle(track)


# ---------------------------------------------------------------------- colours
def rgb_to_gray(rgb) -> float:
    """The spec's RGB -> Y conversion, same scale as the input."""
    r, g, b = rgb
    return 0.2989 * r + 0.5870 * g + 0.1140 * b


@dataclass(frozen=True)
class Palette:
    """Gray levels (0..255, before lighting) of a world's materials."""

    road: float
    field: float
    line: float
    center: float
    wall: float


PALETTES: dict[str, Palette] = {
    "reinvent_base": Palette(road=46.6, field=119.9, line=193.4, center=126.5, wall=61.1),
    "reinvent_carpet": Palette(road=49.8, field=49.8, line=193.4, center=126.5, wall=157.5),
    "reinvent_concrete": Palette(road=111.6, field=111.6, line=193.4, center=126.5, wall=157.5),
    "reinvent_wood": Palette(road=78.9, field=78.9, line=193.4, center=126.5, wall=157.5),
    "generated": Palette(road=62.9, field=123.3, line=222.6, center=151.4, wall=61.1),
    "caecer": Palette(road=62.9, field=79.9, line=222.6, center=137.5, wall=61.1),
    "vegas": Palette(road=62.9, field=133.5, line=222.6, center=151.4, wall=61.1),
    "virtual_may19": Palette(road=73.3, field=121.1, line=231.1, center=151.4, wall=61.1),
}
#: The palette of tracks without one of their own.
DEFAULT_PALETTE = "reinvent_base"
#: The palettes a track without its own draws from under domain randomization (the reference's own
#: looks; ours to pick).
RANDOMIZED_PALETTES = ("reinvent_base", "generated", "reinvent_concrete", "reinvent_carpet")
_OWN_PALETTE = {
    "reinvent_base": "reinvent_base", "reinvent_carpet": "reinvent_carpet",
    "reinvent_concrete": "reinvent_concrete", "reinvent_wood": "reinvent_wood",
    "caecer_gp": "caecer", "caecer_loop": "caecer", "Vegas_track": "vegas",
    "Virtual_May19_Train_track": "virtual_may19",
}
#: The names of the reference's worlds (``worlds/*.world``); those not in _OWN_PALETTE use "generated".
REFERENCE_WORLDS = frozenset((
    "2022_april_open", "2022_april_open_ccw", "2022_april_open_cw", "2022_april_pro", "2022_april_pro_ccw",
    "2022_april_pro_cw", "2022_august_open", "2022_august_open_ccw", "2022_august_open_cw", "2022_august_pro",
    "2022_august_pro_ccw", "2022_august_pro_cw", "2022_july_open", "2022_july_pro", "2022_july_pro_ccw",
    "2022_july_pro_cw", "2022_june_open", "2022_june_open_ccw", "2022_june_open_cw", "2022_june_pro",
    "2022_june_pro_ccw", "2022_june_pro_cw", "2022_march_open", "2022_march_open_ccw", "2022_march_open_cw",
    "2022_march_pro", "2022_march_pro_ccw", "2022_march_pro_cw", "2022_may_open", "2022_may_open_ccw",
    "2022_may_open_cw", "2022_may_pro", "2022_may_pro_ccw", "2022_may_pro_cw", "2022_october_open",
    "2022_october_open_ccw", "2022_october_open_cw", "2022_october_pro", "2022_october_pro_ccw",
    "2022_october_pro_cw", "2022_reinvent_champ_ccw", "2022_reinvent_champ_cw", "2022_september_open",
    "2022_september_open_ccw", "2022_september_open_cw", "2022_september_pro", "2022_september_pro_ccw",
    "2022_september_pro_cw", "2022_summit_speedway", "2022_summit_speedway_ccw", "2022_summit_speedway_cw",
    "2022_summit_speedway_mini", "2024_reinvent_champ_ccw", "2024_reinvent_champ_cw", "Albert",
    "AmericasGeneratedInclStart", "Aragon", "arctic_open", "arctic_open_ccw", "arctic_open_cw", "arctic_pro",
    "arctic_pro_ccw", "arctic_pro_cw", "Austin", "AWS_track", "Belille", "Bowtie_track", "caecer_gp",
    "caecer_loop", "Canada_Training", "China_track", "dubai_open", "dubai_open_ccw", "dubai_open_cw",
    "dubai_pro", "FS_June2020", "hamption_open", "hamption_pro", "July_2020", "jyllandsringen_open",
    "jyllandsringen_open_ccw", "jyllandsringen_open_cw", "jyllandsringen_pro", "jyllandsringen_pro_ccw",
    "jyllandsringen_pro_cw", "LGSWide", "Mexico_track", "Monaco", "Monaco_building", "morgan_open",
    "morgan_pro", "New_York_Track", "Oval_track", "penbay_open", "penbay_open_ccw", "penbay_open_cw",
    "penbay_pro", "penbay_pro_ccw", "penbay_pro_cw", "red_star_open", "red_star_pro", "red_star_pro_ccw",
    "red_star_pro_cw", "reInvent2019_track", "reInvent2019_track_ccw", "reInvent2019_track_cw",
    "reInvent2019_wide", "reInvent2019_wide_ccw", "reInvent2019_wide_cw", "reInvent2019_wide_mirrored",
    "reinvent_base", "reinvent_carpet", "reinvent_concrete", "reinvent_wood", "Singapore", "Singapore_building",
    "Singapore_f1", "Spain_track", "Spain_track_f1", "Straight_track", "thunder_hill_open", "thunder_hill_pro",
    "thunder_hill_pro_ccw", "thunder_hill_pro_cw", "Tokyo_Training_track", "Vegas_track",
    "Virtual_May19_Train_track",
))

SKY_GRAY = 0.7 * 255
BOX_GRAY = rgb_to_gray((0.482, 0.38, 0.309)) * 255
BOT_GRAY = 0.156 * 255


def palette_name(track_name: str) -> str | None:
    """The key in PALETTES of the track's own colours, or None when the reference does not ship it."""
    if track_name in _OWN_PALETTE:
        return _OWN_PALETTE[track_name]
    return "generated" if track_name in REFERENCE_WORLDS else None


# ---------------------------------------------------------------------- lights
AMBIENT = 0.5
SUN_GRAY = rgb_to_gray((1.0, 1.0, 0.8))
#: Direction the sun's light travels (unit vector, world frame).
SUN_DIRECTION = np.array([-0.5, 0.1, -0.9]) / np.linalg.norm([-0.5, 0.1, -0.9])
LAMP_GRAY = 0.225
LAMP_POSITION_M = np.array([0.0, 0.0, 15.0])
#: (constant, linear, quadratic) attenuation of the lamp: light / (c + l d + q d^2).
LAMP_ATTENUATION = (0.4, 0.01, 0.0)
#: Smallest attenuation denominator (random attenuations near 0 would divide by 0; the pixel
#: saturates long before). Ours.
_MIN_ATTENUATION = 1e-2


@dataclass
class Lights:
    """Light settings of K worlds (one per car): gray intensities (K,) of the sun and the lamp and the
    lamp's attenuation coefficients (K, 3). The geometry (directions, positions, ambient) is fixed."""

    sun_gray: np.ndarray
    lamp_gray: np.ndarray
    lamp_attenuation: np.ndarray

    @classmethod
    def reference(cls, k: int) -> "Lights":
        """The worlds' own lights, K times."""
        return cls(np.full(k, SUN_GRAY), np.full(k, LAMP_GRAY), np.tile(LAMP_ATTENUATION, (k, 1)).astype(float))

    @classmethod
    def random(cls, rng: np.random.Generator, k: int) -> "Lights":
        """K draws of the reference's light randomization: diffuse colour channels and attenuation
        coefficients each uniform in [0, 1]."""
        sun = rgb_to_gray(rng.uniform(0.0, 1.0, (3, k)))
        lamp = rgb_to_gray(rng.uniform(0.0, 1.0, (3, k)))
        return cls(np.asarray(sun, float), np.asarray(lamp, float), rng.uniform(0.0, 1.0, (k, 3)))

    def take(self, cars) -> "Lights":
        return Lights(self.sun_gray[cars], self.lamp_gray[cars], self.lamp_attenuation[cars])

    def put(self, cars, other: "Lights") -> None:
        self.sun_gray[cars], self.lamp_gray[cars] = other.sun_gray, other.lamp_gray
        self.lamp_attenuation[cars] = other.lamp_attenuation

    def irradiance(self, normal, point_m) -> np.ndarray:
        """Light falling on S surfaces with unit normals ``normal`` (S, 3) at points ``point_m`` (S, 3)
        [m], in each of the K worlds: (K, S)."""
        sun_cos, lamp_cos, d = _incidence(normal, point_m)
        return self._combine(self.sun_gray[:, None], self.lamp_gray[:, None], self.lamp_attenuation[:, None, :],
                             sun_cos[None], lamp_cos[None], d[None])

    def irradiance_each(self, normal, point_m) -> np.ndarray:
        """Light falling on one surface per world: normals and points (K, 3) -> (K,)."""
        sun_cos, lamp_cos, d = _incidence(normal, point_m)
        return self._combine(self.sun_gray, self.lamp_gray, self.lamp_attenuation, sun_cos, lamp_cos, d)

    @staticmethod
    def _combine(sun_gray, lamp_gray, att, sun_cos, lamp_cos, d):
        """Ambient + sun + attenuated lamp."""
        denom = np.maximum(att[..., 0] + att[..., 1] * d + att[..., 2] * d * d, _MIN_ATTENUATION)
        return AMBIENT + sun_gray * sun_cos + lamp_gray * lamp_cos / denom


def _incidence(normal, point_m):
    """Cosines of the sun's and the lamp's light on surfaces (normals and points (..., 3)), and the
    distance to the lamp [m]: three (...) arrays."""
    n, p = np.asarray(normal, float), np.asarray(point_m, float)
    sun_cos = np.maximum(0.0, -(n @ SUN_DIRECTION))
    to_lamp = LAMP_POSITION_M - p
    d = np.linalg.norm(to_lamp, axis=-1)
    lamp_cos = np.maximum(0.0, np.sum(n * to_lamp, axis=-1) / np.maximum(d, 1e-9))
    return sun_cos, lamp_cos, d


#: Gain from irradiance to gray (derived): a horizontal surface right under the lamp, in the
#: reference light, shows its texture's gray.
EXPOSURE = 1.0 / float(Lights.reference(1).irradiance([[0.0, 0.0, 1.0]], [[0.0, 0.0, 0.0]])[0, 0])
