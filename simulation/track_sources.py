"""Where track files come from: the one module that knows the places and the order.

A track name is looked up, in this order, in
1. the folder named by ``DEEPRACER_TRACKS`` (or ``deepracer-local --tracks-dir``): a clone of the
   community's analysis ``tracks/`` folder, the simulator's ``bundle/routes``, or your own ``.npy``
   files;
2. the user cache, ``$XDG_CACHE_HOME/deepracer-local/tracks`` (default ``~/.cache/...``);
3. the public source: the file is downloaded over HTTPS from the community analysis repository at
   the commit the manifest names (``DEEPRACER_TRACKS_URL`` replaces the base URL, for mirrors),
   checked against the manifest's sha256 and size, and written into the cache atomically.

The manifest (``tracks/manifest.json`` beside this module) holds facts about the public files (name,
sha256, size, point count, centre-line length), never the files. ``core`` marks the 61 tracks that
``deepracer-local tracks --download`` fetches; the other entries are upstream variants (``_cw``/``_ccw``,
2022 open tracks) that can be named and are downloaded on first use like the rest.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

ENV_TRACKS_DIR = "DEEPRACER_TRACKS"
ENV_TRACKS_URL = "DEEPRACER_TRACKS_URL"
MANIFEST_PATH = Path(__file__).resolve().parent / "tracks" / "manifest.json"
#: Seconds a download may wait on the server before it counts as failed.
DOWNLOAD_TIMEOUT_S = 30.0
#: The smallest border-to-border width [m] a track file may have at any waypoint.
MIN_TRACK_WIDTH_M = 0.05
HOW_TO_PROVIDE = (f"Provide it: set {ENV_TRACKS_DIR} to a folder holding the .npy file (or pass a path to the "
                  "file), or run `make tracks-download` (deepracer-local tracks --download) on a machine with "
                  "internet access and copy its cache folder here.")


class UnknownTrackError(ValueError):
    """A track that no source has: unknown name, no network, a download that failed its check."""


class TrackFileError(ValueError):
    """A track file that is not a DeepRacer route: names the file and what is wrong."""


@dataclass(frozen=True)
class ManifestEntry:
    """Facts about one public track file."""

    name: str
    sha256: str
    size_bytes: int
    points: int
    length_m: float
    core: bool


@dataclass(frozen=True)
class Manifest:
    repository: str
    commit: str
    folder: str
    licence: str
    url: str  # default base URL of the files (ends with "/")
    tracks: dict[str, ManifestEntry]

    def core_names(self) -> list[str]:
        return sorted((n for n, e in self.tracks.items() if e.core), key=str.lower)


@functools.lru_cache(maxsize=1)
def manifest() -> Manifest:
    raw = json.loads(MANIFEST_PATH.read_text())
    src = raw["source"]
    entries = {t["name"]: ManifestEntry(t["name"], t["sha256"], int(t["size_bytes"]), int(t["points"]),
                                        float(t["length_m"]), bool(t["core"])) for t in raw["tracks"]}
    return Manifest(src["repository"], src["commit"], src["folder"], src["licence"], src["url"], entries)


# ---------------------------------------------------------------------------------------- places
def tracks_dir() -> Path | None:
    """The folder named by DEEPRACER_TRACKS, or None; a name that is not a folder is an error."""
    value = os.environ.get(ENV_TRACKS_DIR, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise UnknownTrackError(f"{ENV_TRACKS_DIR}={value} is not a folder; point it at a folder of track .npy "
                                "files, or unset it to use the cache and the public source")
    return path


def set_tracks_dir(path: str | os.PathLike) -> None:
    """Use ``path`` as the track folder for this process and the processes it starts (--tracks-dir)."""
    os.environ[ENV_TRACKS_DIR] = str(Path(path).expanduser().resolve())
    tracks_dir()  # fail now on a wrong folder


def cache_dir() -> Path:
    """The user cache of downloaded tracks (may not exist yet)."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "deepracer-local" / "tracks"


def base_url() -> str:
    url = os.environ.get(ENV_TRACKS_URL, "").strip() or manifest().url
    return url if url.endswith("/") else url + "/"


def _npy_files(folder: Path | None) -> dict[str, Path]:
    if folder is None or not folder.is_dir():
        return {}
    return {p.stem: p for p in folder.glob("*.npy") if p.is_file()}


def local_tracks() -> dict[str, Path]:
    """Every track file available without a download: stem -> path (the tracks folder wins)."""
    found = _npy_files(cache_dir())
    found.update(_npy_files(tracks_dir()))
    return found


def known_names() -> list[str]:
    """Every name that can be loaded: local files and the manifest's downloadable ones."""
    return sorted(set(local_tracks()) | set(manifest().tracks), key=str.lower)


def places_looked() -> list[str]:
    """The places a name is looked up in, for messages."""
    folder = os.environ.get(ENV_TRACKS_DIR, "").strip()
    return [f"{ENV_TRACKS_DIR}={folder}" if folder else f"{ENV_TRACKS_DIR} (not set)",
            f"the cache {cache_dir()}", f"the public source {base_url()}"]


# ---------------------------------------------------------------------------------------- files
def parse_track_array(data: bytes | Path, source: str) -> np.ndarray:
    """Read and check a route file: (N, 6) finite floats, positive width, a loop or an open line.

    ``source`` names the file in errors. Returns the array (float64)."""
    try:
        arr = np.load(io.BytesIO(data) if isinstance(data, bytes) else data, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise TrackFileError(f"track file {source} cannot be read as a plain .npy array (pickled objects "
                             f"are refused): {exc}") from exc
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.shape[1] != 6:
        shape = getattr(arr, "shape", None)
        raise TrackFileError(f"track file {source} has shape {shape}; a DeepRacer route is (N, 6): "
                             "center_x, center_y, inner_x, inner_y, outer_x, outer_y in metres")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise TrackFileError(f"track file {source} holds {arr.dtype} values; expected real numbers (float64)")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise TrackFileError(f"track file {source} has NaN or infinite values in row(s) "
                             f"{', '.join(map(str, np.flatnonzero(bad)[:5]))}")
    distinct = np.any(np.abs(np.diff(arr[:, 0:2], axis=0)) > 1e-9, axis=1).sum() + 1 if len(arr) else 0
    if distinct < 2:
        raise TrackFileError(f"track file {source} has {distinct} distinct centre point(s); a route needs at least 2")
    width = np.linalg.norm(arr[:, 2:4] - arr[:, 4:6], axis=1)
    narrow = np.flatnonzero(width < MIN_TRACK_WIDTH_M)
    if narrow.size:
        raise TrackFileError(f"track file {source}: the borders are {width[narrow[0]]:.3f} m apart at row "
                             f"{narrow[0]} ({narrow.size} rows under {MIN_TRACK_WIDTH_M} m); every row needs "
                             "an inner and an outer border point on either side of the centre point")
    return arr


def read_track_file(path: str | os.PathLike) -> np.ndarray:
    path = Path(path).expanduser()
    if not path.is_file():
        raise UnknownTrackError(f"track file {path} does not exist")
    return parse_track_array(path, str(path))


def find_track_file(stem: str, download: bool = True) -> Path:
    """The path of track ``stem`` from the first place that has it; downloads it into the cache on
    a miss when the manifest knows it (and ``download``). Raises UnknownTrackError naming every place."""
    local = local_tracks()
    if stem in local:
        return local[stem]
    looked = "; ".join(places_looked())
    entry = manifest().tracks.get(stem)
    if entry is None:
        raise UnknownTrackError(f"track {stem!r} is in no track folder and not in the public source's manifest "
                                f"(looked in {looked}). {HOW_TO_PROVIDE}")
    if not download:
        raise UnknownTrackError(f"track {stem!r} is not downloaded yet (looked in {looked}). {HOW_TO_PROVIDE}")
    try:
        return download_track(stem)
    except UnknownTrackError as exc:
        raise UnknownTrackError(f"track {stem!r}: not in a track folder or the cache, and {exc} "
                                f"(looked in {looked}). {HOW_TO_PROVIDE}") from None


def download_track(stem: str, on_bytes: Callable[[int], None] | None = None) -> Path:
    """Download one manifest track into the cache, verified; returns its path there.

    The file appears in the cache only whole and verified (written beside it, then renamed), so a
    failed or interrupted download leaves nothing behind. ``on_bytes(n)`` reports progress."""
    entry = manifest().tracks[stem]
    url = base_url() + f"{stem}.npy"
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".part", dir=cache)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
                    while chunk := resp.read(64 * 1024):
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        if size > 4 * entry.size_bytes:
                            break
                        if on_bytes:
                            on_bytes(len(chunk))
            except urllib.error.HTTPError as exc:
                raise UnknownTrackError(f"the download of {url} failed: HTTP {exc.code} {exc.reason}") from None
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise UnknownTrackError(f"the download of {url} failed: {reason}") from None
        if digest.hexdigest() != entry.sha256 or size != entry.size_bytes:
            raise UnknownTrackError(f"the download of {url} failed its check: got {size} bytes with sha256 "
                                    f"{digest.hexdigest()[:16]}..., the manifest says {entry.size_bytes} bytes "
                                    f"with sha256 {entry.sha256[:16]}... (a wrong mirror or a changed file); "
                                    "nothing was written to the cache")
        final = cache / f"{stem}.npy"
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
        return final
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def download_tracks(names: Iterable[str], on_done: Callable[[str, Path | None, str | None], None] | None = None,
                    skip_local: bool = True) -> dict[str, str]:
    """Download several manifest tracks; returns {name: error} for those that failed.

    ``on_done(name, path, error)`` is called after each (path None on failure)."""
    errors: dict[str, str] = {}
    have = local_tracks() if skip_local else {}
    for name in names:
        if name not in manifest().tracks:
            errors[name] = f"{name!r} is not in the manifest"
            if on_done:
                on_done(name, None, errors[name])
            continue
        if name in have:
            if on_done:
                on_done(name, have[name], None)
            continue
        try:
            path = download_track(name)
        except UnknownTrackError as exc:
            errors[name] = str(exc)
            if on_done:
                on_done(name, None, str(exc))
        else:
            if on_done:
                on_done(name, path, None)
    return errors


def file_facts(path: Path) -> dict:
    """The manifest facts of a file: sha256, size, point count and centre-line length [m]."""
    data = path.read_bytes()
    arr = np.load(io.BytesIO(data), allow_pickle=False)
    length = float(np.sum(np.linalg.norm(np.diff(arr[:, 0:2], axis=0), axis=1)))
    return {"name": path.stem, "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data),
            "points": int(arr.shape[0]), "length_m": round(length, 4)}
