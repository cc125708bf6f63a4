"""The compose stack's host-side helpers: the env file with the S3 keys, and the model upload.

The containers read the model folder from the bucket, so before the trainer and the sims start,
the host puts reward_function.py, model_metadata.json and ip/hyperparameters.json (from a preset,
or your own files) into the bucket through the S3 port the stack publishes on 127.0.0.1.

    python -m stack.compose_launch env-file [--path compose/stack.env]     # random secrets, once
    python -m stack.compose_launch upload --model NAME [--preset state] [--reward FILE]
        [--metadata FILE] [--hyperparameters FILE] [--track NAME] [--episodes-between-training N]
        [--endpoint http://127.0.0.1:9000] [--bucket deepracer-local] [--env-file compose/stack.env]
        [--wait 120]

Endpoint and bucket default to S3_ENDPOINT or DEEPRACER_S3_ENDPOINT (else http://127.0.0.1:$S3_PORT,
9000) and DEEPRACER_S3_BUCKET (else deepracer-local); keys to AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
else the app's keys in the env file (never the S3 server's admin keys).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import time
from pathlib import Path

from core.config import ConfigError
from core.model_folder import ModelFolder, ModelLock
from core.s3_storage import S3Storage
from core.storage import StorageError
from simulation.reward import RewardFunctionError

from .model_setup import SetupRequest, add_race_arguments, prepare_model, race_options_from_args

ROOT = Path(__file__).resolve().parent.parent
#: The app's env file: STACK_ENV_FILE (as compose reads it), else compose/stack.env.
DEFAULT_ENV_FILE = Path(os.environ.get("STACK_ENV_FILE") or ROOT / "compose" / "stack.env")
ADMIN_ENV_FILE_NAME = "s3-admin.env"
DEFAULT_BUCKET = "deepracer-local"


def read_env_file(path: str | os.PathLike) -> dict[str, str]:
    """KEY=VALUE lines of a compose env file (comments and blank lines skipped; no quoting rules)."""
    out: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


#: What each env file must hold (the templates beside compose/ list the same keys).
APP_ENV_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "REDIS_PASSWORD")
ADMIN_ENV_KEYS = ("S3_ADMIN_ACCESS_KEY", "S3_ADMIN_SECRET_KEY")
#: Characters a key may hold (the S3 server's start script writes them into JSON unquoted-safe).
_KEY_CHARS = re.compile(r"[A-Za-z0-9_.+/=-]+")


def _random_values(keys: tuple[str, ...]) -> dict[str, str]:
    made = {}
    for key in keys:
        if key.endswith("ACCESS_KEY_ID") or key.endswith("ACCESS_KEY"):
            made[key] = ("racer-" if key.startswith("AWS") else "admin-") + secrets.token_hex(6)
        else:
            made[key] = secrets.token_urlsafe(24)
    return made


def _write_secret_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only from the first byte (0600), atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_env_file(path: str | os.PathLike = DEFAULT_ENV_FILE,
                   admin_path: str | os.PathLike | None = None) -> list[str]:
    """Make the stack's env files with random secrets, 0600 from the start: ``path`` (the app's S3 keys
    and the Redis password; every service but the S3 server reads only this one) and ``admin_path``
    (default ``s3-admin.env`` beside it: the S3 server's admin keys). Keys already there are kept (the
    S3 server knows the keys it was first started with); missing ones are added. Returns what was added."""
    path = Path(path)
    admin = Path(admin_path) if admin_path else path.with_name(ADMIN_ENV_FILE_NAME)
    added = []
    for target, keys in ((path, APP_ENV_KEYS + ("AWS_DEFAULT_REGION",)), (admin, ADMIN_ENV_KEYS)):
        have = read_env_file(target) if target.exists() else {}
        missing = tuple(k for k in keys if not have.get(k))
        if not missing:
            continue
        values = _random_values(tuple(k for k in missing if k != "AWS_DEFAULT_REGION"))
        old_root = read_env_file(path) if target == admin and path.exists() else {}
        if old_root.get("MINIO_ROOT_USER") and old_root.get("MINIO_ROOT_PASSWORD"):
            # a stack.env of the MinIO era: its root user stays the S3 server's admin (S3_SERVER=minio
            # then opens the old volume with the keys it was made with)
            values.update({k: v for k, v in (("S3_ADMIN_ACCESS_KEY", old_root["MINIO_ROOT_USER"]),
                                             ("S3_ADMIN_SECRET_KEY", old_root["MINIO_ROOT_PASSWORD"]))
                           if k in missing})
        if "AWS_DEFAULT_REGION" in missing:
            values["AWS_DEFAULT_REGION"] = "us-east-1"
        old = target.read_text() if target.exists() else \
            "# Made by `python -m stack.compose_launch env-file`; not committed. Keep it secret.\n"
        if old and not old.endswith("\n"):
            old += "\n"
        _write_secret_file(target, old + "".join(f"{k}={v}\n" for k, v in values.items()))
        added += [f"{target.name}:{k}" for k in values]
    return added


def check_env_values(values: dict[str, str], keys: tuple[str, ...], source: str) -> None:
    """Refuse a missing key, the template's change-me values, and characters a key may not hold."""
    for key in keys:
        value = values.get(key, "")
        if not value:
            raise ConfigError(f"{source}: {key} is missing; run `python -m stack.compose_launch env-file` "
                              "(make up does) to add it")
        if value.lower().startswith("change-me"):
            raise ConfigError(f"{source}: {key} is still the template's change-me value; set your own, or delete "
                              "the line and run `python -m stack.compose_launch env-file` to make a random one")
        if not _KEY_CHARS.fullmatch(value):
            raise ConfigError(f"{source}: {key} may hold only letters, digits and _.+/=-")


def host_s3_endpoint() -> str:
    """The stack's S3 endpoint as this host reaches it: S3_ENDPOINT (an external server) or
    DEEPRACER_S3_ENDPOINT, else the local server's port on 127.0.0.1 (S3_PORT, default 9000)."""
    return os.environ.get("S3_ENDPOINT") or os.environ.get("DEEPRACER_S3_ENDPOINT") or \
        f"http://127.0.0.1:{os.environ.get('S3_PORT', '9000')}"


def stack_storage(endpoint: str | None = None, bucket: str | None = None,
                  env_file: str | os.PathLike | None = DEFAULT_ENV_FILE, wait_s: float = 120.0) -> S3Storage:
    """The stack's bucket seen from the host (created when missing), once the S3 server answers.

    Waits up to ``wait_s`` seconds for the server (it may be starting); raises StorageError then."""
    keys = read_env_file(env_file) if env_file and Path(env_file).exists() else {}
    keys = {k: os.environ.get(k) or keys.get(k, "") for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    if keys["AWS_ACCESS_KEY_ID"] or keys["AWS_SECRET_ACCESS_KEY"]:
        check_env_values(keys, ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), str(env_file or "the environment"))
    storage = S3Storage(bucket or os.environ.get("DEEPRACER_S3_BUCKET") or DEFAULT_BUCKET,
                        endpoint_url=endpoint or host_s3_endpoint(),
                        access_key=keys["AWS_ACCESS_KEY_ID"] or None, secret_key=keys["AWS_SECRET_ACCESS_KEY"] or None,
                        create_bucket=True, retry_s=5.0)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            storage.exists("probe/.ready")   # makes the bucket on first use
            return storage
        except StorageError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def upload_model(storage, model: str, preset: str | None = None, reward: str | os.PathLike | None = None,
                 metadata: str | os.PathLike | None = None, hyperparameters: str | os.PathLike | None = None,
                 episodes_between_training: int | None = None, track: str | None = None,
                 race: dict | None = None, resume: bool = False, num_workers: int = 1) -> ModelFolder:
    """Validate and write a model folder's configuration (spec section 6) into ``storage``, through
    the one setup every launcher uses (stack.model_setup). ``preset`` names the model_metadata /
    hyperparameters pair (presets/README.md); ``metadata`` and ``hyperparameters`` replace either file;
    ``track`` is one or more comma-separated tracks; ``race`` the run spec's race options;
    ``episodes_between_training`` overrides the hyperparameter of that name. Returns the folder."""
    folder = ModelFolder(storage, model)
    lock = ModelLock(folder, what="an upload (make up)", lease_s=30.0).acquire()   # refused while a trainer runs
    try:
        _upload_locked(folder, model, preset, reward, metadata, hyperparameters, episodes_between_training, track,
                       race, resume, num_workers)
    finally:
        lock.release()
    return folder


def _upload_locked(folder, model, preset, reward, metadata, hyperparameters, episodes_between_training, track,
                   race, resume, num_workers) -> None:
    setup = prepare_model(folder, SetupRequest(
        model=model, tracks=track, reward=reward, preset=preset, metadata=metadata, hyperparameters=hyperparameters,
        race=dict(race or {}), resume=resume, episodes_between_training=episodes_between_training,
        num_workers=num_workers))
    setup.write()
    for note in setup.notes:
        print(note)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stack.compose_launch",
                                description="host-side helpers of the compose stack")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("env-file", help="make compose/stack.env and compose/s3-admin.env with random secrets "
                                        "(0600; keys already there are kept, missing ones added)")
    e.add_argument("--path", default=str(DEFAULT_ENV_FILE))
    e.add_argument("--admin-path", help="default: s3-admin.env beside --path")
    u = sub.add_parser("upload", help="put a model folder's configuration into the stack's bucket")
    u.add_argument("--model", default=os.environ.get("DEEPRACER_MODEL"), required=not os.environ.get("DEEPRACER_MODEL"))
    u.add_argument("--preset", help="default for a new model; a RESUME keeps the model's own files")
    u.add_argument("--reward")
    u.add_argument("--metadata")
    u.add_argument("--hyperparameters")
    u.add_argument("--episodes-between-training", type=int)
    u.add_argument("--track", help="track, or comma-separated tracks (sim i drives track i mod n); default "
                                   "reinvent_base, or the model's own on --resume")
    add_race_arguments(u)
    u.add_argument("--endpoint")
    u.add_argument("--bucket")
    u.add_argument("--env-file", default=str(DEFAULT_ENV_FILE))
    u.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the S3 server")
    u.add_argument("--resume", action="store_true", help="allow a model that already has checkpoints")
    args = p.parse_args(argv)
    try:
        if args.cmd == "env-file":
            added = write_env_file(args.path, args.admin_path)
            print(f"added {', '.join(added)}" if added else f"kept {args.path} (every key is there)")
            check_env_values(read_env_file(args.path), APP_ENV_KEYS, args.path)
            return 0
        storage = stack_storage(args.endpoint, args.bucket, args.env_file, args.wait)
        folder = upload_model(storage, args.model, args.preset, args.reward, args.metadata, args.hyperparameters,
                              args.episodes_between_training, track=args.track, race=race_options_from_args(args),
                              resume=args.resume)
        print(f"uploaded {folder.describe()}")
        return 0
    except (ConfigError, StorageError, RewardFunctionError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
