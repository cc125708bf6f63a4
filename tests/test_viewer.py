"""The live viewer (stack/viewer.py) and the sims' preview frames (simulation/preview.py): real
frames from a real env, served by the real app (Starlette's test client)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.model_folder import ModelFolder
from core.storage import LocalStorage
from core.traces import TrainingMetrics
from simulation.env import BatchedEnv
from simulation.preview import Previewer

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from stack.viewer import ViewerState, build_app  # noqa: E402

CAMERA_META = {"action_space": [{"steering_angle": 0, "speed": 1.0}], "sensor": ["FRONT_FACING_CAMERA"]}
STATE_META = {"action_space": [{"steering_angle": 0, "speed": 1.0}], "sensor": ["STATE"]}


def published(tmp_path, name: str, meta: dict, worker: int = 0, cars: int = 4) -> tuple[ModelFolder, Previewer]:
    folder = ModelFolder(LocalStorage(tmp_path), name)
    env = BatchedEnv("reinvent_base", None, meta, num_cars=cars, seed=0)
    obs = env.reset()
    prev = Previewer(folder, worker, env, interval_s=1.0)
    assert prev.offer(obs, iteration=3, phase="training")
    assert not prev.offer(obs, iteration=3, phase="training")      # within the interval: nothing
    return folder, prev


def test_a_sim_publishes_jpeg_frames_and_a_status(tmp_path):
    folder, prev = published(tmp_path, "m", CAMERA_META, worker=2)
    top = folder.storage.get_bytes(folder.preview(2, "topdown-0.jpg"))
    cam = folder.storage.get_bytes(folder.preview(2, "camera.jpg"))
    assert top[:2] == cam[:2] == b"\xff\xd8"                       # JPEG, not arrays
    status = json.loads(folder.storage.get_bytes(folder.preview(2, "status.json")))
    assert status["seq"] == 1 and status["iteration"] == 3 and status["phase"] == "training"
    assert status["tracks"] == ["reinvent_base"] and status["cars"] == 4
    assert 0 <= prev.share() < 1


def test_a_model_without_a_camera_still_gets_a_camera_frame(tmp_path):
    folder, _ = published(tmp_path, "s", STATE_META)
    import cv2

    frame = cv2.imdecode(np.frombuffer(folder.storage.get_bytes(folder.preview(0, "camera.jpg")), np.uint8),
                         cv2.IMREAD_UNCHANGED)
    assert frame.shape == (120, 160) and frame.std() > 5           # a rendered road, not a blank


def test_previews_off_publish_nothing(tmp_path):
    folder = ModelFolder(LocalStorage(tmp_path), "off")
    env = BatchedEnv("reinvent_base", None, STATE_META, num_cars=1, seed=0)
    prev = Previewer(folder, 0, env, interval_s=0)
    assert not prev.offer(env.reset(), 0, "training") and folder.storage.list("") == []


def test_a_storage_that_refuses_previews_turns_them_off_and_training_goes_on(tmp_path, capsys):
    from core.storage import StorageError

    class Full(LocalStorage):
        def put_bytes(self, key, data):
            raise StorageError(f"no space left for {key}")

    env = BatchedEnv("reinvent_base", None, STATE_META, num_cars=1, seed=0)
    prev = Previewer(ModelFolder(Full(tmp_path), "m"), 0, env, interval_s=0.001)
    assert not prev.offer(env.reset(), 0, "training") and not prev.enabled
    assert "viewer previews off, the storage refused them: no space left" in capsys.readouterr().err


def test_the_app_serves_what_the_sims_published_and_nothing_else(tmp_path, monkeypatch):
    from stack import viewer

    monkeypatch.setattr(viewer, "METRICS_POLL_S", 0.0)              # look at the metrics on every request
    folder, _ = published(tmp_path, "m", CAMERA_META)
    client = TestClient(build_app(ViewerState(LocalStorage(tmp_path))))
    page = client.get("/")
    assert page.status_code == 200 and "EventSource" in page.text
    state = client.get("/state").json()
    assert list(state) == ["m"] and state["m"]["sims"]["0"]["files"] == ["topdown-0.jpg", "camera.jpg"]
    assert state["m"]["curves"] == ""                               # no metrics yet
    jpeg = client.get("/preview/m/0/topdown-0.jpg")
    assert jpeg.status_code == 200 and jpeg.headers["content-type"] == "image/jpeg" and jpeg.content[:2] == b"\xff\xd8"
    for bad in ("/preview/m/0/status.json", "/preview/m/1/camera.jpg", "/preview/other/0/camera.jpg",
                "/preview/m/0/..%2F..%2Fmodel_metadata.json", "/curves/m.png"):
        assert client.get(bad).status_code == 404, bad
    # metrics appear: the curves follow
    folder.write_json(folder.training_metrics(0), TrainingMetrics().to_json_dict() | {"metrics": [
        {"phase": "training", "reward_score": 10.0, "completion_percentage": 20, "episode": 1, "trial": 1,
         "episode_status": "Off track", "iteration": 1}]})
    state = client.get("/state").json()
    assert state["m"]["curves"] != ""
    png = client.get("/curves/m.png")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
