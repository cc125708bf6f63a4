"""`make viewer`: a page on 127.0.0.1 that shows training as it runs, for every model being trained.

For each model: every sim's track from above with all its cars, one car's camera frame, and the
learning curves, updated as they change. The sims publish the frames into the model folder
(simulation/preview.py); this server reads the model folders' storage (models/ locally, the stack's
bucket with --stack), so it runs beside embedded training, a scenario, or the compose stack alike.

- ``GET /``: the page (plain HTML and JavaScript, nothing fetched from elsewhere);
- ``GET /events``: server-sent events, one JSON ``state`` whenever a preview or the metrics change
  (POLL_S apart at most); the page swaps the images it names;
- ``GET /state``: the same JSON once;
- ``GET /preview/<model>/<sim>/<file>``: a preview JPEG of a known model and sim;
- ``GET /curves/<model>.png``: reward, progress and evaluation progress per iteration (matplotlib,
  redrawn when the metrics change).
Nothing is written; names not in the state are 404. Starlette (ASGI) served by uvicorn.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from dataclasses import dataclass, field

from core.model_folder import ModelFolder
from core.storage import Storage, StorageError, StorageKeyError

POLL_S = 0.5
"""Seconds between looks at the storage for new previews."""
METRICS_POLL_S = 5.0
"""Seconds between looks for new metrics (the curves are redrawn at most this often)."""
DISCOVER_S = 15.0
"""Seconds between looks for models (when no list of models was given)."""
STALE_S = 120.0
"""A sim whose last preview is older than this is shown as idle."""
DEFAULT_PORT = 8100
_PREVIEW_FILE = re.compile(r"^(topdown-\d+|camera)\.jpg$")
_SIM_DIR = re.compile(r"preview/sim-(\d+)/status\.json$")


@dataclass
class ModelView:
    name: str
    sims: dict[int, dict] = field(default_factory=dict)   # sim -> its status.json (+ "age_s")
    metrics_version: str = ""                              # changes when any metrics file changes
    curves_png: bytes = b""
    curves_version: str = ""
    metrics_read_at: float = -float("inf")                 # time.monotonic() of the last look at the metrics
    metrics_cache: dict = field(default_factory=dict, repr=False)   # ModelFolder.read_training_metrics' cache


class ViewerState:
    """What the page shows, read from ``storage``: the ``models`` given, or every model folder that
    has preview frames."""

    def __init__(self, storage: Storage, models: list[str] | None = None) -> None:
        self.storage = storage
        self.fixed = list(models or [])
        self.models: dict[str, ModelView] = {m: ModelView(m) for m in self.fixed}
        self._discovered_at = 0.0

    def discover(self) -> None:
        if self.fixed or time.monotonic() - self._discovered_at < DISCOVER_S:
            return
        self._discovered_at = time.monotonic()
        # the top-level folders, then their preview/ (listing the whole store would list every sim-trace)
        for name in self.storage.folders(""):
            if name not in self.models and any(_SIM_DIR.search(k) for k in self.storage.list(f"{name}/preview/")):
                self.models[name] = ModelView(name)

    def refresh(self) -> None:
        """Read every model's sim statuses and metrics version."""
        self.discover()
        now = time.time()
        for view in self.models.values():
            folder = ModelFolder(self.storage, view.name)
            sims: dict[int, dict] = {}
            try:
                keys = self.storage.list(folder.key("preview/"))
            except StorageError:
                keys = []
            for key in keys:
                m = _SIM_DIR.search(key)
                if not m:
                    continue
                try:
                    status = json.loads(self.storage.get_bytes(key))
                except (StorageKeyError, StorageError, ValueError):
                    continue
                status["age_s"] = round(now - float(status.get("time", 0.0)), 1)
                status["idle"] = status["age_s"] > STALE_S
                sims[int(m.group(1))] = status
            view.sims = dict(sorted(sims.items()))
            if time.monotonic() - view.metrics_read_at >= METRICS_POLL_S:
                view.metrics_read_at = time.monotonic()
                view.metrics_version = self._metrics_version(folder)

    def _metrics_version(self, folder: ModelFolder) -> str:
        """The metrics files' and chunks' names and sizes: changes when a sim reports an iteration."""
        parts = []
        chunks = [k for per_worker in folder.training_metrics_chunks().values() for k in per_worker.values()]
        for key in folder.training_metrics_keys() + sorted(chunks):
            try:
                parts.append(f"{key}:{self.storage.size(key)}")
            except (StorageKeyError, StorageError):
                continue
        return "|".join(parts)

    def snapshot(self) -> dict:
        """The JSON the page reads: per model, its sims (status and the preview files) and the
        curves' version."""
        out = {}
        for name, view in sorted(self.models.items()):
            out[name] = {
                "sims": {str(w): {**s, "files": [f"topdown-{t}.jpg" for t in range(len(s.get("tracks", [])))]
                                  + ["camera.jpg"]} for w, s in view.sims.items()},
                "curves": view.metrics_version and str(abs(hash(view.metrics_version)) % 10**9),
            }
        return out

    def preview(self, model: str, sim: int, name: str) -> bytes | None:
        view = self.models.get(model)
        if view is None or sim not in view.sims or not _PREVIEW_FILE.match(name):
            return None
        try:
            return self.storage.get_bytes(ModelFolder(self.storage, model).preview(sim, name))
        except (StorageKeyError, StorageError):
            return None

    def curves(self, model: str) -> bytes | None:
        view = self.models.get(model)
        if view is None or not view.metrics_version:
            return None
        if view.curves_version != view.metrics_version:
            view.curves_png = curves_png(ModelFolder(self.storage, model), view.metrics_cache)
            view.curves_version = view.metrics_version
        return view.curves_png


def curves_png(folder: ModelFolder, file_cache: dict | None = None) -> bytes:
    """A small PNG of the model's learning curves (stack.report.training_curves; ``file_cache``: see
    ModelFolder.read_training_metrics)."""
    from core.plotting import pyplot

    plt = pyplot()

    from .report import mean_per_iteration, training_curves

    curves = training_curves(folder, file_cache)
    fig, (ax_r, ax_p) = plt.subplots(2, 1, figsize=(5.2, 4.0), sharex=True)
    its, reward = mean_per_iteration(curves["reward"])
    ax_r.plot(its, reward, color="#1f77b4", marker=".")
    ax_r.set_ylabel("mean reward")
    for key, colour, label in (("progress", "#2ca02c", "training"), ("eval_progress", "#d62728", "evaluation")):
        its, values = mean_per_iteration(curves[key])
        if its:
            ax_p.plot(its, values, color=colour, marker=".", label=label)
    ax_p.set_ylim(0, 105)
    ax_p.set_ylabel("progress %")
    ax_p.set_xlabel("iteration")
    ax_p.legend(fontsize=7, loc="lower right")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_r, ax_p):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_r.set_title(f"{folder.prefix}: {len(its)} iterations", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>deepracer-local viewer</title>
<style>
body { background:#161616; color:#e8e8e8; font-family:sans-serif; margin:16px; }
h2 { margin:18px 0 6px; font-size:18px; }
.row { display:flex; flex-wrap:wrap; gap:12px; align-items:flex-start; }
.card { background:#222; padding:8px; border-radius:6px; }
.card p { margin:4px 0 0; font-size:12px; color:#aaa; }
img.top { width:480px; }
img.cam { width:320px; image-rendering:pixelated; }
img.curves { width:468px; background:#fff; }
#note { color:#888; font-size:13px; }
</style></head>
<body><h1>deepracer-local: live training</h1><div id="note">waiting for sims...</div><div id="models"></div>
<script>
const root = document.getElementById("models");
function el(tag, attrs, parent) { const e = document.createElement(tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]); parent.appendChild(e); return e; }
function setImg(id, cls, parent, src, caption) {
  let card = document.getElementById(id);
  if (!card) { card = el("div", {id: id, class: "card"}, parent); el("img", {class: cls}, card); el("p", {}, card); }
  const img = card.querySelector("img"); if (img.getAttribute("src") !== src) img.setAttribute("src", src);
  card.querySelector("p").textContent = caption;
}
function show(state) {
  const names = Object.keys(state);
  document.getElementById("note").textContent = names.length ? names.length + " model(s); updated " +
    new Date().toLocaleTimeString() : "no model with preview frames yet: start a training";
  for (const m of names) {
    const sec = "model-" + m;
    let box = document.getElementById(sec);
    if (!box) { box = el("div", {id: sec}, root); el("h2", {}, box).textContent = m; el("div", {class: "row"}, box); }
    const row = box.querySelector(".row");
    const model = state[m];
    for (const [w, s] of Object.entries(model.sims)) {
      const what = "sim " + w + ": iteration " + s.iteration + " " + s.phase + ", " + s.cars + " cars" +
        (s.idle ? " (idle " + Math.round(s.age_s) + " s)" : "");
      s.files.forEach((f, i) => {
        const src = "/preview/" + encodeURIComponent(m) + "/" + w + "/" + f + "?v=" + s.seq;
        if (f === "camera.jpg") setImg(sec + "-" + w + "-cam", "cam", row, src, "sim " + w + ", car " + s.camera_car + ": camera");
        else setImg(sec + "-" + w + "-" + f, "top", row, src, what + " - " + s.tracks[i]);
      });
    }
    if (model.curves) setImg(sec + "-curves", "curves", row, "/curves/" + encodeURIComponent(m) + ".png?v=" + model.curves, "learning curves");
  }
}
const events = new EventSource("/events");
events.onmessage = (e) => show(JSON.parse(e.data));
</script></body></html>
"""


def build_app(state: ViewerState, poll_s: float = POLL_S):
    """The Starlette application serving ``state``."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    lock = asyncio.Lock()

    async def refreshed() -> dict:
        async with lock:
            await asyncio.to_thread(state.refresh)
            return state.snapshot()

    async def page(request):
        return HTMLResponse(PAGE)

    async def snapshot(request):
        return JSONResponse(await refreshed())

    async def events(request):
        async def stream():
            last = None
            while True:
                snap = await refreshed()
                text = json.dumps(snap, sort_keys=True)
                if text != last:
                    last = text
                    yield f"data: {text}\n\n"
                if await request.is_disconnected():
                    return
                await asyncio.sleep(poll_s)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def preview(request):
        data = await asyncio.to_thread(state.preview, request.path_params["model"], request.path_params["sim"],
                                       request.path_params["name"])
        if data is None:
            return Response(status_code=404)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def curves(request):
        async with lock:
            data = await asyncio.to_thread(state.curves, request.path_params["model"])
        if data is None:
            return Response(status_code=404)
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    return Starlette(routes=[
        Route("/", page), Route("/state", snapshot), Route("/events", events),
        Route("/preview/{model:path}/{sim:int}/{name}", preview), Route("/curves/{model:path}.png", curves),
    ])


def serve(state: ViewerState, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
    """Serve until Ctrl-C."""
    import uvicorn

    uvicorn.run(build_app(state), host=host, port=port, log_level="warning")


__all__ = ["ViewerState", "build_app", "serve", "curves_png", "DEFAULT_PORT"]
