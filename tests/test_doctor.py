"""`make doctor`: one line per problem with its fix; with the CI images it passes (as in CI)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stack.doctor import Report, check_env_files, check_ports, split_image
from tests.test_docker_stack import _compose_cmd, _engine_skip_reason, _use_ci_override, _docker

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("image,parts", [
    ("python:3.11.16-slim-bookworm", ("registry-1.docker.io", "library/python", "3.11.16-slim-bookworm")),
    ("chrislusf/seaweedfs:4.48", ("registry-1.docker.io", "chrislusf/seaweedfs", "4.48")),
    ("quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z", ("quay.io", "minio/minio", "RELEASE.2025-09-07T16-13-09Z")),
    ("localhost:5000/team/app:1", ("localhost:5000", "team/app", "1")),
    ("redis", ("registry-1.docker.io", "library/redis", "latest")),
])
def test_image_references_split_as_docker_does(image, parts):
    assert split_image(image) == parts


def test_a_port_in_use_and_a_template_env_file_are_problems_with_fixes(tmp_path, monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        report = Report()
        check_ports({"services": {"s3": {"ports": [f"127.0.0.1:{port}:8333/tcp"]}}}, running=False, report=report)
        assert len(report.problems) == 1 and f"127.0.0.1:{port}" in report.problems[0]
        assert "S3_PORT=" in report.problems[0]
    report = Report()
    env_file = tmp_path / "stack.env"
    env_file.write_text((ROOT / "compose" / "stack.env.template").read_text())
    env_file.chmod(0o644)
    check_env_files({"STACK_ENV_FILE": str(env_file), "S3_ADMIN_ENV_FILE": str(tmp_path / "none")}, True, report)
    assert len(report.problems) == 1 and "change-me" in report.problems[0] and "fix:" in report.problems[0]


@pytest.mark.docker
def test_doctor_passes_with_the_ci_images_and_names_a_missing_image(tmp_path):
    reason = _engine_skip_reason()
    if reason:
        pytest.skip(reason)
    docker = _docker()
    if not _use_ci_override(docker):
        pytest.skip("the CI images are not built (bash scripts/ci-docker.sh)")
    files = ["-f", "compose/docker-compose.yml", "-f", "compose/s3-seaweedfs.yml", "-f", "compose/docker-compose.ci.yml"]
    env = dict(os.environ, STACK_ENV_FILE=str(tmp_path / "stack.env"), S3_ADMIN_ENV_FILE=str(tmp_path / "s3-admin.env"))
    env.pop("S3_ENDPOINT", None)
    cmd = [sys.executable, "-m", "stack.doctor", "--compose", " ".join(_compose_cmd()), "--docker", docker, "--", *files]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "local/seaweedfs:ci (s3) is here" in r.stdout and "ready for make up" in r.stdout
    # an image that is neither here nor in a registry that answers (a closed port on loopback)
    extra = tmp_path / "missing-image.yml"
    extra.write_text("services:\n  redis:\n    image: 127.0.0.1:9/nothing:1\n")
    r = subprocess.run(cmd + ["-f", str(extra)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    problems = [line for line in r.stdout.splitlines() if "PROBLEM" in line]
    assert r.returncode == 1 and len(problems) == 1, r.stdout
    assert "127.0.0.1:9/nothing:1" in problems[0] and "fix:" in problems[0]
