"""`make doctor`: check a host before `make up`; every problem is one line with its fix.

    python -m stack.doctor [--compose docker-compose] [--gpu] -- -f compose/docker-compose.yml -f ...

Checks: the Docker engine answers and is recent enough, Compose is there, free disk where Docker
keeps its data, the host ports the stack publishes are free (or held by this stack), the env files
(present: no change-me values, mode 0600), an external S3_ENDPOINT answers, the NVIDIA runtime with
--gpu, and that every image the chosen compose files name is here or, where a registry answers,
its registry has it (asked through the Registry v2 API; images with a build section: their base
image). Exit code 1 when anything is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core.config import ConfigError

from .compose_launch import ADMIN_ENV_FILE_NAME, ADMIN_ENV_KEYS, APP_ENV_KEYS, DEFAULT_ENV_FILE, \
    check_env_values, read_env_file

ROOT = Path(__file__).resolve().parent.parent
MIN_ENGINE = (20, 10)
MIN_COMPOSE = (1, 29)
#: Free disk [GiB] the images (the app image is about 2.3 GB), builds and model folders need.
MIN_FREE_GIB = 10.0
DOCKER_TIMEOUT_S = 20.0


@dataclass
class Report:
    ok: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def good(self, text: str) -> None:
        self.ok.append(text)

    def bad(self, what: str, fix: str) -> None:
        self.problems.append(f"{what} -- fix: {fix}")


def _run(cmd: list[str], env: dict | None = None, timeout: float = DOCKER_TIMEOUT_S) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    except FileNotFoundError:
        return subprocess.CompletedProcess(cmd, 127, "", f"{cmd[0]}: command not found")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, 124, "", f"no answer within {timeout:.0f} s")


def _version(text: str) -> tuple[int, ...]:
    digits = []
    for part in text.strip().lstrip("v").split("."):
        num = "".join(c for c in part if c.isdigit())
        if not num:
            break
        digits.append(int(num))
    return tuple(digits)


def _last_line(r: subprocess.CompletedProcess) -> str:
    lines = (r.stderr or r.stdout).strip().splitlines()
    return lines[-1][:200] if lines else f"exit code {r.returncode}"


def _check_version(cmd: list[str], name: str, minimum: tuple[int, ...], missing: str, missing_fix: str,
                   upgrade_fix: str, report: Report) -> bool:
    """Run a version command; report it missing, too old, or fine. False when it does not run."""
    r = _run(cmd)
    if r.returncode != 0 or not r.stdout.strip():
        report.bad(f"{missing} ({_last_line(r)})", missing_fix)
        return False
    version = r.stdout.strip()
    if _version(version) < minimum:
        report.bad(f"{name} {version} is older than {'.'.join(map(str, minimum))}", upgrade_fix)
    else:
        report.good(f"{name} {version}")
    return True


def check_engine(docker: str, report: Report) -> bool:
    return _check_version([docker, "version", "--format", "{{.Server.Version}}"], "Docker engine", MIN_ENGINE,
                          "the Docker engine does not answer",
                          "install Docker (Debian: apt-get install docker.io) and start it (systemctl start docker); "
                          "as a non-root user join the docker group",
                          "upgrade Docker (compose healthcheck conditions need 20.10+)", report)


def check_compose(compose: list[str], report: Report) -> bool:
    return _check_version(compose + ["version", "--short"], "Compose", MIN_COMPOSE,
                          f"`{' '.join(compose)}` does not run",
                          "install Compose (Debian: apt-get install docker-compose; or the docker compose v2 plugin) "
                          "and pass COMPOSE='docker compose' to make for v2", "upgrade Compose", report)


def check_disk(docker: str, report: Report) -> None:
    r = _run([docker, "info", "--format", "{{.DockerRootDir}}"])
    root = Path(r.stdout.strip()) if r.returncode == 0 and r.stdout.strip() else None
    where = root if root is not None and root.exists() else ROOT
    free_gib = shutil.disk_usage(where).free / 2**30
    if free_gib < MIN_FREE_GIB:
        report.bad(f"only {free_gib:.1f} GiB free at {where} (Docker's data)",
                   f"free at least {MIN_FREE_GIB:.0f} GiB (docker system prune removes unused images)")
    else:
        report.good(f"{free_gib:.0f} GiB free at {where}")


def check_gpu(docker: str, report: Report) -> None:
    r = _run([docker, "info", "--format", "{{json .Runtimes}}"])
    runtimes = json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip().startswith("{") else {}
    if "nvidia" not in runtimes:
        report.bad("GPU=1 but the Docker engine has no nvidia runtime",
                   "install the NVIDIA driver and the NVIDIA Container Toolkit, then "
                   "`nvidia-ctk runtime configure --runtime=docker` and restart Docker; or drop GPU=1")
    else:
        report.good("NVIDIA container runtime")


def check_ports(config: dict, running: bool, report: Report) -> None:
    for name, service in sorted(config.get("services", {}).items()):
        for port in service.get("ports", []) or []:
            host_ip, published = "0.0.0.0", None
            if isinstance(port, dict):
                host_ip, published = port.get("host_ip", "0.0.0.0"), port.get("published")
            else:
                parts = str(port).split(":")
                if len(parts) == 3:
                    host_ip, published = parts[0], parts[1]
                elif len(parts) == 2:
                    published = parts[0]
            if not published:
                continue
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((host_ip, int(published)))
                    report.good(f"port {host_ip}:{published} ({name}) is free")
                except OSError:
                    if running:
                        report.good(f"port {host_ip}:{published} ({name}) is held by this stack (running)")
                    else:
                        var = "S3_PORT" if name == "s3" else f"{name.upper()}_PORT"
                        report.bad(f"port {host_ip}:{published} for {name} is in use by another program",
                                   f"stop it, or pick another port: make up {var}=<free port>")


def check_env_files(env: dict, s3_local: bool, report: Report) -> None:
    files = [(Path(env.get("STACK_ENV_FILE") or DEFAULT_ENV_FILE), APP_ENV_KEYS)]
    if s3_local:
        files.append((Path(env.get("S3_ADMIN_ENV_FILE") or DEFAULT_ENV_FILE.with_name(ADMIN_ENV_FILE_NAME)),
                      ADMIN_ENV_KEYS))
    for path, keys in files:
        if not path.exists():
            report.good(f"{path} is not there yet (make up / make env-files makes it with random secrets)")
            continue
        try:
            check_env_values(read_env_file(path), keys, str(path))
        except ConfigError as exc:
            report.bad(str(exc), "edit the file, or delete the line and run make env-files")
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            report.bad(f"{path} is readable by others (mode {mode:o})", f"chmod 600 {path}")
        else:
            report.good(f"{path}: every key set, mode {mode:o}")


def check_external_s3(endpoint: str, report: Report) -> None:
    try:
        urllib.request.urlopen(endpoint, timeout=10)
        report.good(f"S3_ENDPOINT {endpoint} answers")
    except urllib.error.HTTPError:        # 403 without keys: it answers
        report.good(f"S3_ENDPOINT {endpoint} answers")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        report.bad(f"S3_ENDPOINT {endpoint} does not answer ({getattr(exc, 'reason', exc)})",
                   "check the URL (https://host[:port]) and that this host can reach it")


def _images(config: dict) -> list[tuple[str, str]]:
    """(image, what needs it) for every service: its image, or for a built one its base image."""
    out = []
    for name, service in sorted(config.get("services", {}).items()):
        build = service.get("build")
        if build:
            args = build.get("args", {}) if isinstance(build, dict) else {}
            base = args.get("BASE_IMAGE") if isinstance(args, dict) else None
            if base:
                out.append((base, f"the base image of {name}'s build"))
        elif service.get("image"):
            out.append((service["image"], name))
    seen, unique = set(), []
    for image, who in out:
        if image not in seen:
            seen.add(image)
            unique.append((image, who))
    return unique


#: Manifest media types a registry may answer with (OCI index first: the official images are OCI indexes,
#: which Docker 20.10's `docker manifest inspect` cannot read, so the registry API is asked directly).
_MANIFEST_TYPES = ", ".join(("application/vnd.oci.image.index.v1+json",
                             "application/vnd.docker.distribution.manifest.list.v2+json",
                             "application/vnd.oci.image.manifest.v1+json",
                             "application/vnd.docker.distribution.manifest.v2+json"))


def split_image(image: str) -> tuple[str, str, str]:
    """``name[:tag][@digest]`` -> (registry host, repository, tag or digest); Docker Hub's rules."""
    name, _, digest = image.partition("@")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repo = first, rest
    else:
        registry, repo = "registry-1.docker.io", name if "/" in name else f"library/{name}"
    repo, _, tag = repo.partition(":") if ":" in repo.rsplit("/", 1)[-1] else (repo, "", "latest")
    return registry, repo, digest or tag


def registry_has(image: str, timeout_s: float = 15.0) -> tuple[bool | None, str]:
    """Whether the image's registry has it: (True, ""), (False, why) or (None, why) when no registry answered.
    Anonymous token auth (Docker Hub, quay.io, ghcr.io) through the Registry v2 API."""
    registry, repo, ref = split_image(image)
    url = f"https://{registry}/v2/{repo}/manifests/{ref}"
    headers = {"Accept": _MANIFEST_TYPES}
    for _ in range(2):
        req = urllib.request.Request(url, headers=headers, method="HEAD")
        try:
            with urllib.request.urlopen(req, timeout=timeout_s):
                return True, ""
        except urllib.error.HTTPError as exc:
            challenge = exc.headers.get("WWW-Authenticate", "") if exc.code == 401 else ""
            if challenge.lower().startswith("bearer") and "Authorization" not in headers:
                params = dict(part.split("=", 1) for part in
                              (p.strip() for p in challenge[6:].split(",")) if "=" in part)
                params = {k: v.strip('"') for k, v in params.items()}
                query = urllib.parse.urlencode({k: v for k, v in params.items() if k in ("service", "scope")})
                try:
                    with urllib.request.urlopen(f"{params.get('realm', '')}?{query}", timeout=timeout_s) as resp:
                        token = json.loads(resp.read()).get("token", "")
                except (urllib.error.URLError, OSError, ValueError) as tok_exc:
                    return None, f"token from {params.get('realm')}: {tok_exc}"
                headers["Authorization"] = f"Bearer {token}"
                continue
            if exc.code in (401, 403, 404):
                return False, f"{registry} answered HTTP {exc.code} for {repo}:{ref}"
            return None, f"{registry} answered HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            return None, f"{registry}: {getattr(exc, 'reason', exc)}"
    return False, f"{registry} refused access to {repo}"


def check_images(docker: str, config: dict, report: Report) -> None:
    for image, who in _images(config):
        if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
            report.bad(f"{who} names {image} without a pinned tag", "pin a version tag (images/README.md)")
        if _run([docker, "image", "inspect", image]).returncode == 0:
            report.good(f"{image} ({who}) is here")
            continue
        found, why = registry_has(image)
        if found:
            report.good(f"{image} ({who}) is not here yet; its registry has it (pulled on make up)")
        elif found is False:
            report.bad(f"{image} ({who}) is not here and its registry does not have it ({why})",
                       "pick an image that exists (images/README.md lists the pinned ones), or build it")
        else:
            report.bad(f"{image} ({who}) is not here and no registry answered ({why})",
                       "connect this host to its registry, or load the image (docker load) from a machine that has it")


def run(compose_files: list[str], compose: list[str], docker: str, gpu: bool) -> Report:
    report = Report()
    env = dict(os.environ)
    s3_local = not env.get("S3_ENDPOINT")
    check_env_files(env, s3_local, report)
    if env.get("S3_ENDPOINT"):
        check_external_s3(env["S3_ENDPOINT"], report)
    if not check_engine(docker, report):
        return report
    check_disk(docker, report)
    if gpu:
        check_gpu(docker, report)
    if not check_compose(compose, report):
        return report
    # compose needs the env files to exist even to print the config: the templates serve for that
    cfg_env = dict(env)
    for var, default, template in (("STACK_ENV_FILE", DEFAULT_ENV_FILE, "stack.env.template"),
                                   ("S3_ADMIN_ENV_FILE", DEFAULT_ENV_FILE.with_name(ADMIN_ENV_FILE_NAME),
                                    "s3-admin.env.template")):
        if not Path(env.get(var) or default).exists():
            cfg_env[var] = str(ROOT / "compose" / template)
    r = _run(compose + compose_files + ["config"], env=cfg_env)
    if r.returncode != 0:
        report.bad(f"the compose files do not load ({_last_line(r)})", "fix the file or variable it names")
        return report
    config = yaml.safe_load(r.stdout) or {}
    ps = _run(compose + compose_files + ["ps", "-q"], env=cfg_env)
    check_ports(config, ps.returncode == 0 and bool(ps.stdout.strip()), report)
    check_images(docker, config, report)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stack.doctor", description=__doc__.splitlines()[0])
    p.add_argument("--compose", default="docker-compose", help="the Compose command (docker-compose, docker compose)")
    p.add_argument("--docker", default=shutil.which("docker") or "docker")
    p.add_argument("--gpu", action="store_true", help="the trainer will use an NVIDIA GPU (GPU=1)")
    p.add_argument("files", nargs=argparse.REMAINDER, help="-f FILE ... as make passes them")
    args = p.parse_args(argv)
    files = [a for a in args.files if a != "--"]
    report = run(files, shlex.split(args.compose), args.docker, args.gpu)
    for line in report.ok:
        print(f"  ok       {line}")
    for line in report.problems:
        print(f"  PROBLEM  {line}")
    print(f"doctor: {len(report.problems)} problem(s)" if report.problems else "doctor: ready for make up")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
