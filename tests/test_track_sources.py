"""Where tracks come from: the track folder, the cache, and downloads from a server on 127.0.0.1
(checksum pass, checksum fail, 404, server down); custom track files; tracks in model folders."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from core.model_folder import ModelFolder
from core.storage import LocalStorage
from simulation import track_sources as ts
from simulation.track import (Track, TrackFileError, UnknownTrackError, available_tracks, load_tracks,
                              resolve_track_name, store_tracks)
from stack.cli import main as cli


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def track_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving a folder (start empty; tests put files in it)."""
    root = tmp_path / "served"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_local_tracks(tmp_path, monkeypatch):
    """No track folder and an empty cache: every track must come from the download URL."""
    shared = ts.tracks_dir()
    monkeypatch.delenv(ts.ENV_TRACKS_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return shared


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_manifest_matches_the_61_reference_files_byte_for_byte():
    m = ts.manifest()
    assert len(m.core_names()) == 61 and len(m.tracks) == 135
    assert m.commit in m.url and m.url.startswith("https://")
    for name in m.core_names():
        facts = ts.file_facts(ts.tracks_dir() / f"{name}.npy")
        entry = m.tracks[name]
        assert (facts["sha256"], facts["size_bytes"], facts["points"]) == (entry.sha256, entry.size_bytes, entry.points)
        assert facts["length_m"] == pytest.approx(entry.length_m, abs=1e-3)
    # the upstream variants users name (cw/ccw copies, 2022 open tracks) are known without a download
    assert {"2022_april_open", "reInvent2019_track_cw", "arctic_pro_ccw"} <= set(ts.known_names())
    assert resolve_track_name("2022_APRIL_OPEN") == "2022_april_open"


def test_a_missing_track_downloads_once_verified_into_the_cache(no_local_tracks, track_server, monkeypatch):
    root, url = track_server
    shutil.copy(no_local_tracks / "reinvent_base.npy", root)
    monkeypatch.setenv(ts.ENV_TRACKS_URL, url)
    assert available_tracks() == []
    track = Track.load("reinvent")
    cached = ts.cache_dir() / "reinvent_base.npy"
    assert track.source_path == cached and track.length_m == pytest.approx(17.71, abs=0.01)
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == ts.manifest().tracks["reinvent_base"].sha256
    assert [p.name for p in ts.cache_dir().iterdir()] == ["reinvent_base.npy"]
    (root / "reinvent_base.npy").unlink()   # now served from the cache, not the server
    assert Track.load("reinvent_base").source_path == cached


def test_a_download_that_fails_its_checksum_leaves_nothing(no_local_tracks, track_server, monkeypatch):
    root, url = track_server
    data = bytearray((no_local_tracks / "Vegas_track.npy").read_bytes())
    data[-1] ^= 0xFF                        # one flipped byte: a corrupted mirror
    (root / "Vegas_track.npy").write_bytes(bytes(data))
    monkeypatch.setenv(ts.ENV_TRACKS_URL, url)
    with pytest.raises(UnknownTrackError) as e:
        Track.load("Vegas_track")
    msg = str(e.value)
    assert "Vegas_track" in msg and "failed its check" in msg and "sha256" in msg
    assert ts.ENV_TRACKS_DIR in msg and "make tracks-download" in msg and str(ts.cache_dir()) in msg
    assert not ts.cache_dir().exists() or list(ts.cache_dir().iterdir()) == []


def test_404_and_server_down_name_the_track_every_place_and_both_remedies(no_local_tracks, track_server,
                                                                          monkeypatch):
    _, url = track_server
    for base, reason in ((url, "HTTP 404"), (f"http://127.0.0.1:{_closed_port()}/", "refused")):
        monkeypatch.setenv(ts.ENV_TRACKS_URL, base)
        with pytest.raises(UnknownTrackError) as e:
            Track.load("Albert")
        msg = str(e.value)
        assert "'Albert'" in msg and reason in msg.replace("Connection refused", "refused"), msg
        assert f"{ts.ENV_TRACKS_DIR} (not set)" in msg and str(ts.cache_dir()) in msg and base in msg
        assert "make tracks-download" in msg
        assert not ts.cache_dir().exists() or list(ts.cache_dir().iterdir()) == []


def test_an_unknown_name_is_not_downloaded_and_lists_the_places(no_local_tracks, monkeypatch):
    monkeypatch.setenv(ts.ENV_TRACKS_URL, f"http://127.0.0.1:{_closed_port()}/")
    with pytest.raises(UnknownTrackError) as e:
        Track.load("reinvnt_bse")
    msg = str(e.value)
    assert "reinvent_base" in msg and "Looked in" in msg and "make tracks-download" in msg


def test_tracks_download_fills_an_empty_cache_from_a_local_server(no_local_tracks, track_server, monkeypatch,
                                                                  capsys):
    root, url = track_server
    for f in no_local_tracks.glob("*.npy"):
        shutil.copy(f, root)
    monkeypatch.setenv(ts.ENV_TRACKS_URL, url)
    assert cli(["tracks", "--download"]) == 0
    cached = sorted(p.stem for p in ts.cache_dir().iterdir())
    assert cached == sorted(ts.manifest().core_names())
    for name in cached:
        assert ts.file_facts(ts.cache_dir() / f"{name}.npy")["sha256"] == ts.manifest().tracks[name].sha256
    assert "61 tracks verified" in capsys.readouterr().out
    assert len(available_tracks()) == 61
    # a name upstream has but the server lacks: one error, the rest stays
    assert cli(["tracks", "--download", "2022_april_open"]) == 2
    assert "HTTP 404" in capsys.readouterr().err
    assert len(list(ts.cache_dir().iterdir())) == 61


def test_tracks_lists_what_is_here_and_what_can_be_downloaded(capsys):
    assert cli(["tracks"]) == 0
    out = capsys.readouterr().out
    assert "reinvent_base" in out and "downloadable variants (74" in out and "2022_april_open" in out


def _write_npy(path: Path, arr) -> Path:
    np.save(path, arr, allow_pickle=True)
    return path


def test_a_custom_track_by_path_or_dropped_in_the_track_folder(tmp_path, monkeypatch):
    ring = np.array(Track.load("reinvent_base")._file_rows) * 1.5          # a bigger re:Invent 2018
    path = _write_npy(tmp_path / "my_ring.npy", ring)
    t = Track.load(str(path))
    assert t.name == "my_ring" and t.is_loop and t.length_m == pytest.approx(1.5 * 17.71, abs=0.02)
    folder = tmp_path / "mytracks"
    folder.mkdir()
    shutil.copy(path, folder / "ring_two.npy")
    monkeypatch.setenv(ts.ENV_TRACKS_DIR, str(folder))
    assert Track.load("RING_TWO").source_path == folder / "ring_two.npy"
    assert "ring_two" in available_tracks()


@pytest.mark.parametrize("content,problem", [
    (np.zeros((10, 4)), "has shape (10, 4)"),
    (np.full((10, 6), np.nan), "NaN or infinite"),
    (np.tile(np.array([[0.0, 0, 0, 0, 0, 0]]), (10, 1)) + np.arange(10)[:, None] * [1, 0, 1, 0, 1, 0],
     "borders are 0.000 m apart"),
    (np.array([["a"] * 6] * 3), "holds <U1 values"),
    (np.array([[1.0, 0, 1, 0.5, 1, -0.5]] * 4), "1 distinct centre point"),
    (np.array([{"x": 1}], dtype=object), "cannot be read as a plain .npy array"),      # pickled: refused, never run
    (b"not an array", "cannot be read as a plain .npy array"),
])
def test_a_bad_track_file_is_one_error_naming_the_file_and_the_fault(tmp_path, content, problem):
    path = tmp_path / "bad.npy"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        _write_npy(path, content)
    with pytest.raises(TrackFileError) as e:
        Track.load(str(path))
    assert str(path) in str(e.value) and problem in str(e.value), str(e.value)
    assert cli(["render", "--track", str(path), "--out", str(tmp_path / "x.png")]) == 2


def test_a_missing_track_file_or_folder_is_an_error(tmp_path, monkeypatch):
    with pytest.raises(UnknownTrackError, match="does not exist"):
        Track.load(str(tmp_path / "nope.npy"))
    monkeypatch.setenv(ts.ENV_TRACKS_DIR, str(tmp_path / "no-such-folder"))
    with pytest.raises(UnknownTrackError, match="is not a folder"):
        Track.load("reinvent")


def test_tracks_travel_in_the_model_folder(tmp_path, monkeypatch):
    ring = _write_npy(tmp_path / "ring.npy", np.array(Track.load("reinvent_base")._file_rows) * 1.2)
    folder = ModelFolder(LocalStorage(tmp_path / "models"), "m")
    tracks = load_tracks(f"reinvent,{ring}")
    store_tracks(folder, tracks)
    assert sorted(folder.track_files()) == ["reinvent_base", "ring"]
    # a machine without any track source still gets both from the model folder
    monkeypatch.delenv(ts.ENV_TRACKS_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    ring.unlink()
    assert Track.from_model_folder(folder, "reinvent").length_m == pytest.approx(17.71, abs=0.01)
    assert Track.from_model_folder(folder, "/somewhere/else/ring.npy").length_m == pytest.approx(1.2 * 17.71, abs=0.02)
    assert Track.from_model_folder(folder, "ring", reverse=True).reversed
    with pytest.raises(UnknownTrackError):
        Track.from_model_folder(folder, "Vegas_track")   # not stored, no folder, nothing served
