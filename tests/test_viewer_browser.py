"""The live viewer in a real browser: a short real training, the viewer serving it, Debian's Chromium
(headless, through its WebDriver) showing the page: the sims' frames and the learning curves must
appear and then change. The last screenshot is kept in out/test-artifacts/viewer.png."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "out" / "test-artifacts"
CLI = str(Path(sys.executable).parent / "deepracer-local")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check, timeout_s: float, procs: list[subprocess.Popen]):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        for p in procs:
            if p.poll() not in (None, 0):
                raise AssertionError(f"{what}: {p.args[1]} exited with {p.returncode}")
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout_s:.0f} s")


def _loaded(driver, css: str) -> list[str]:
    """The src of every image matching ``css`` that the browser has decoded (naturalWidth > 0)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).filter(i => i.complete && i.naturalWidth > 0)"
        ".map(i => i.getAttribute('src'));", css)


def test_the_page_shows_frames_and_curves_that_update(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.skip("chromium and chromedriver are not installed (make test installs them: scripts/install-test-services.sh)")
    models, port = tmp_path / "models", _free_port()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    log = (tmp_path / "train.log").open("w")
    train = subprocess.Popen([CLI, "train", "--track", "reinvent_base", "--model", "live", "--preset", "default",
                              "--episodes", "100", "--models-dir", str(models)], cwd=ROOT, env=env, stdout=log,
                             stderr=subprocess.STDOUT)
    viewer = subprocess.Popen([CLI, "viewer", "--models-dir", str(models), "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1500,1000"):
        options.add_argument(arg)
    driver = None
    try:
        _wait("viewer listening", lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 60, [viewer])
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        driver.get(f"http://127.0.0.1:{port}/")
        procs = [train, viewer]
        first = _wait("a top view and a camera frame shown", lambda: (t := _loaded(driver, "img.top"))
                      and _loaded(driver, "img.cam") and t, 180, procs)
        _wait("the top view updated", lambda: (t := _loaded(driver, "img.top")) and t != first, 60, procs)
        curves = _wait("learning curves shown", lambda: _loaded(driver, "img.curves"), 180, procs)
        _wait("the curves updated after another iteration", lambda: (c := _loaded(driver, "img.curves")) and c != curves,
              180, procs)
        assert "live" in driver.find_element("css selector", "h2").text
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(ARTIFACTS / "viewer.png"))
    finally:
        if driver is not None:
            driver.quit()
        for p in (train, viewer):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()
