"""Track loading, names and centre-line geometry on hand-made and shipped tracks."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.track import Track, UnknownTrackError, available_tracks, resolve_track_name
from simulation.track_sources import MANIFEST_PATH, tracks_dir
from tests.conftest import circle_track, square_track

# Reference figures from the track README (centre-line length, orientation).
REFERENCE = {
    "reinvent_base": (17.71, "ccw"), "Albert": (51.39, "cw"), "Spain_track": (60.00, "cw"),
    "H_track": (100.85, "ccw"), "Vegas_track": (22.55, "ccw"), "2022_reinvent_champ": (33.28, "ccw"),
    "Straight_track": (5.71, "ccw"),
}
CLOCKWISE = {"Albert", "Aragon", "Belille", "FS_June2020", "July_2020", "Monaco", "Spain_track"}
OPEN = {"Straight_track", "China_eval_track", "New_York_Eval_Track"}


def test_the_61_tracks_come_from_the_track_folder_and_the_licence_and_provenance_ship():
    assert len(available_tracks()) == 61
    folder = MANIFEST_PATH.parent
    assert (folder / "LICENSE").is_file() and (folder / "README.md").is_file()
    assert not list(folder.glob("*.npy")), "the project stores no track files"


@pytest.mark.parametrize("name,expected", sorted(REFERENCE.items()))
def test_reference_lengths_and_orientation(name, expected):
    length, direction = expected
    info = Track.load(name).info()
    assert info.length_m == pytest.approx(length, abs=0.01)
    assert info.direction == direction


def test_orientation_and_loops_of_every_track():
    for name in available_tracks():
        t = Track.load(name)
        assert t.is_loop == (name not in OPEN), name
        if t.is_loop:
            assert t.clockwise == (name in CLOCKWISE), name
            assert np.array_equal(t.waypoints[0], t.waypoints[-1])
        assert np.all(t.segment_length_m > 0), f"{name} kept a duplicate point"


def test_consecutive_duplicates_dropped():
    raw = np.load(tracks_dir() / "Vegas_track.npy")
    assert len(Track.load("Vegas_track").waypoints) == len(raw) - 1


@pytest.mark.parametrize("alias,stem", [("reinvent", "reinvent_base"), ("REINVENT_BASE", "reinvent_base"),
                                        ("vegas", "Vegas_track"), ("spain", "Spain_track"), ("albert", "Albert"),
                                        ("smile_speedway", "reInvent2019_track")])
def test_names_case_insensitive_with_aliases(alias, stem):
    assert resolve_track_name(alias) == stem


def test_unknown_track_lists_closest_names():
    with pytest.raises(UnknownTrackError) as e:
        Track.load("reinvnt_bse")
    msg = str(e.value)
    assert "reinvnt_bse" in msg and "reinvent_base" in msg and "deepracer-local tracks" in msg


def test_circle_projection_distance_and_side():
    t = circle_track(radius=3.0)
    # at angle 0 the car drives towards +y; the centre of the circle is on its left
    p = t.project(np.array([[3.2, 0.0], [2.7, 0.0]]))
    assert p.distance_m == pytest.approx([0.2, 0.3], abs=2e-3)
    assert list(p.is_left) == [False, True]
    # arc length of a point a quarter of the way round
    q = t.project(np.array([[0.0, 3.1]]))
    assert q.arc_m[0] == pytest.approx(t.length_m / 4, abs=1e-3)
    assert t.length_m == pytest.approx(2 * np.pi * 3.0, rel=1e-3)
    assert t.local_width(p) == pytest.approx([1.0, 1.0])


def test_square_exact_answers():
    t = square_track()
    p = t.project(np.array([[2.1, 0.3], [4.2, 1.5], [1.0, 3.9]]))
    assert p.arc_m == pytest.approx([2.1, 5.5, 11.0])
    assert p.distance_m == pytest.approx([0.3, 0.2, 0.1])
    assert list(p.is_left) == [True, False, True]   # inside of a counter-clockwise loop is on the left
    assert list(t.closest_waypoints(p)[0]) == [4, 5]
    assert t.length_m == pytest.approx(16.0)


def test_left_of_center_on_clockwise_track():
    t = square_track(clockwise=True)
    p = t.project(np.array([[2.0, 0.3], [2.0, -0.3]]))   # inside, outside
    assert list(p.is_left) == [False, True]              # driving clockwise, the inside is on the right
    assert t.clockwise


def test_reversed_track_runs_backwards_and_swaps_sides():
    t = square_track()
    r = t.reversed_copy()
    assert r.reversed and np.allclose(r.waypoints, t.waypoints[::-1])
    p = r.project(np.array([[2.0, 0.3]]))
    assert p.arc_m[0] == pytest.approx(16.0 - 2.0)
    assert not p.is_left[0]


def test_point_in_track():
    t = square_track()
    pts = np.array([[2.0, 0.4], [2.0, 0.6], [2.0, -0.49], [2.0, -0.6], [2.0, 2.0], [-0.45, -0.45], [10, 10]])
    assert list(t.contains(pts)) == [True, False, True, False, False, True, False]


def test_projection_matches_brute_force_on_shipped_tracks():
    rng = np.random.default_rng(1)
    for name in ("reinvent_base", "Bowtie_track", "H_track", "Spain_track", "China_eval_track"):
        t = Track.load(name)
        pts = t.center_at(rng.random(500) * t.length_m) + rng.normal(0, 0.25, (500, 2))
        a, d, length = t.waypoints[:-1], t.segment_dir, t.segment_length_m
        rel = pts[:, None] - a[None]
        tt = np.clip((rel * d[None]).sum(-1), 0, length)
        brute = np.linalg.norm(rel - tt[..., None] * d[None], axis=-1).min(1)
        assert np.abs(t.project(pts).distance_m - brute).max() < 0.02, name


def test_start_poses_round_robin_and_offset(square):
    assert square.start_arc(0) == 0.0
    assert square.start_arc(1) == pytest.approx(0.05 * 16.0)
    assert square.start_arc(21) == pytest.approx(0.05 * 16.0)   # wraps after 20 episodes
    assert square.start_arc(0, offset_m=1.0) == pytest.approx(1.0)
    x, y, yaw = square.pose_at(2.0)
    assert (x, y, yaw) == pytest.approx((2.0, 0.0, 0.0))


def test_open_track_starts_at_its_beginning():
    t = Track.load("Straight_track")
    assert not t.is_loop
    assert t.start_arc(7) == 0.0
