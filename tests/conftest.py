"""Test setup: the 61 track files from a folder (never the network), and hand-made tracks where
every geometric answer is known."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from simulation import track_sources
from simulation.track import Track

#: Where the reference track files sit beside the project checkout (CI and the development machines).
SHARED_TRACKS = Path(__file__).resolve().parent.parent.parent / "shared" / "tracks"


def pytest_configure(config) -> None:
    """Tests read the 61 tracks from DEEPRACER_TRACKS (default ../shared/tracks); a missing folder
    fails the run instead of skipping tests. The cache is a fresh folder and the download URL a
    closed loopback port, so no test writes to the user's cache or reaches past loopback (the
    download tests start their own server)."""
    folder = os.environ.get(track_sources.ENV_TRACKS_DIR) or (str(SHARED_TRACKS) if SHARED_TRACKS.is_dir() else "")
    if not folder or not Path(folder).is_dir():
        raise pytest.UsageError(
            f"the tests need the 61 track files: set {track_sources.ENV_TRACKS_DIR} to a folder holding them "
            f"(CI: {SHARED_TRACKS}; elsewhere `make tracks-download`, then "
            f"{track_sources.ENV_TRACKS_DIR}=~/.cache/deepracer-local/tracks); got {folder or 'nothing'}")
    missing = [n for n in track_sources.manifest().core_names() if not (Path(folder) / f"{n}.npy").is_file()]
    if missing:
        raise pytest.UsageError(f"{track_sources.ENV_TRACKS_DIR}={folder} lacks {len(missing)} of the 61 tracks: "
                                f"{', '.join(missing[:5])}...")
    os.environ[track_sources.ENV_TRACKS_DIR] = str(Path(folder).resolve())
    # the public models scripts/fetch_test_models.py put in the user's cache (read before the cache moves)
    os.environ.setdefault("DEEPRACER_TEST_MODELS", str(_fetch_script().target_dir()))
    config._track_cache = tempfile.TemporaryDirectory(prefix="deepracer-test-cache-")
    os.environ["XDG_CACHE_HOME"] = config._track_cache.name
    os.environ[track_sources.ENV_TRACKS_URL] = "http://127.0.0.1:9/"  # discard port: nothing answers


def _fetch_script():
    """scripts/fetch_test_models.py as a module (scripts/ is not a package)."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "scripts" / "fetch_test_models.py"
    spec = importlib.util.spec_from_file_location("fetch_test_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_unconfigure(config) -> None:
    cache = getattr(config, "_track_cache", None)
    if cache is not None:
        cache.cleanup()


def circle_track(radius: float = 3.0, half_width: float = 0.5, n: int = 241, clockwise: bool = False) -> Track:
    """A circle around the origin, starting at (radius, 0); counter-clockwise unless ``clockwise``."""
    a = np.linspace(0.0, 2 * np.pi, n)
    if clockwise:
        a = -a
    unit = np.stack([np.cos(a), np.sin(a)], axis=1)
    unit[-1] = unit[0]
    return Track.from_arrays("circle", radius * unit, (radius - half_width) * unit, (radius + half_width) * unit)


def square_track(side: float = 4.0, half_width: float = 0.5, spacing: float = 0.5, clockwise: bool = False) -> Track:
    """A square with corners (0,0), (side,0), (side,side), (0,side), driven counter-clockwise from (0,0)
    unless ``clockwise``. Border points sit square to the centre line (on the diagonals at corners)."""
    corners = np.array([(0, 0), (side, 0), (side, side), (0, side)], float)
    inward = np.array([(1, 1), (-1, 1), (-1, -1), (1, -1)], float)     # diagonal towards the middle
    n_side = int(round(side / spacing))
    center, inner = [], []
    for i in range(4):
        a, b = corners[i], corners[(i + 1) % 4]
        d = (b - a) / side
        normal = np.array([-d[1], d[0]])                                 # left of travel = inside
        for j in range(n_side):
            c = a + d * j * spacing
            center.append(c)
            inner.append(c + half_width * (inward[i] if j == 0 else normal))
    center.append(center[0])
    inner.append(inner[0])
    center, inner = np.array(center), np.array(inner)
    outer = 2 * center - inner
    if clockwise:
        center, inner, outer = center[::-1], inner[::-1], outer[::-1]
    return Track.from_arrays("square", center, inner, outer)


@pytest.fixture
def circle() -> Track:
    return circle_track()


@pytest.fixture
def square() -> Track:
    return square_track()
