"""The compose stack's host-side helpers: the env file with the S3 keys, and the model upload.

The containers read the model folder from the bucket, so before the trainer and the sims start,
the host puts reward_function.py, model_metadata.json and ip/hyperparameters.json (from a preset,
or your own files) into the bucket through the S3 port the stack publishes on 127.0.0.1.

    python -m stack.compose_launch env-file [--path compose/stack.env]     # random keys, once
    python -m stack.compose_launch upload --model NAME [--preset state] [--reward FILE]
        [--metadata FILE] [--hyperparameters FILE] [--track NAME] [--episodes-between-training N]
        [--endpoint http://127.0.0.1:9000] [--bucket deepracer-local] [--env-file compose/stack.env]
        [--wait 120]

Endpoint and bucket default to DEEPRACER_S3_ENDPOINT (else http://127.0.0.1:$S3_PORT, 9000) and
DEEPRACER_S3_BUCKET (else deepracer-local); keys to AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, else
those in the env file.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path

from core.config import ConfigError, load_hyperparameters, load_model_metadata, preset_files
from core.model_folder import ModelFolder
from core.s3_storage import S3Storage
from core.storage import StorageError
from simulation.reward import RewardFunction, RewardFunctionError
from simulation.track import load_tracks, store_tracks

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ENV_FILE = ROOT / "compose" / "stack.env"
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


def write_env_file(path: str | os.PathLike = DEFAULT_ENV_FILE) -> bool:
    """Create the stack's env file with random S3 keys (the app's and MinIO's root user, the same);
    False when it exists already (never overwritten: MinIO keeps the keys it was first started with)."""
    path = Path(path)
    if path.exists():
        return False
    access, secret = "racer-" + secrets.token_hex(6), secrets.token_urlsafe(24)
    path.write_text("# Made by `python -m stack.compose_launch env-file`; not committed. Keep it secret.\n"
                    f"AWS_ACCESS_KEY_ID={access}\nAWS_SECRET_ACCESS_KEY={secret}\n"
                    f"MINIO_ROOT_USER={access}\nMINIO_ROOT_PASSWORD={secret}\nAWS_DEFAULT_REGION=us-east-1\n")
    path.chmod(0o600)
    return True


def stack_storage(endpoint: str | None = None, bucket: str | None = None,
                  env_file: str | os.PathLike | None = DEFAULT_ENV_FILE, wait_s: float = 120.0) -> S3Storage:
    """The stack's bucket seen from the host (created when missing), once the S3 server answers.

    Waits up to ``wait_s`` seconds for the server (it may be starting); raises StorageError then."""
    keys = read_env_file(env_file) if env_file and Path(env_file).exists() else {}
    endpoint = endpoint or os.environ.get("DEEPRACER_S3_ENDPOINT") or \
        f"http://127.0.0.1:{os.environ.get('S3_PORT', '9000')}"
    storage = S3Storage(bucket or os.environ.get("DEEPRACER_S3_BUCKET") or DEFAULT_BUCKET, endpoint_url=endpoint,
                        access_key=os.environ.get("AWS_ACCESS_KEY_ID") or keys.get("AWS_ACCESS_KEY_ID"),
                        secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or keys.get("AWS_SECRET_ACCESS_KEY"),
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


def upload_model(storage, model: str, preset: str = "default", reward: str | os.PathLike | None = None,
                 metadata: str | os.PathLike | None = None, hyperparameters: str | os.PathLike | None = None,
                 episodes_between_training: int | None = None, track: str = "reinvent_base") -> ModelFolder:
    """Validate and write a model folder's configuration (spec section 6) into ``storage``.

    ``preset`` names the model_metadata/hyperparameters pair (presets/README.md); ``metadata`` and
    ``hyperparameters`` replace either file; ``reward`` defaults to rewards/default.py;
    ``episodes_between_training`` overrides the hyperparameter of that name. Returns the folder."""
    tracks = load_tracks(track)   # an unknown name or a bad file fails here, not in the sims
    md_path, hp_path = preset_files(preset)
    reward = Path(reward) if reward else ROOT / "rewards" / "default.py"
    md = load_model_metadata(metadata or md_path)
    hp = load_hyperparameters(hyperparameters or hp_path)
    RewardFunction(reward)   # a syntax error or a missing reward_function shows here, not in every sim
    hyper = hp.to_json_dict()
    if episodes_between_training is not None:
        if episodes_between_training < 1:
            raise ConfigError(f"episodes between training must be >= 1, got {episodes_between_training}")
        hyper["num_episodes_between_training"] = int(episodes_between_training)
    folder = ModelFolder(storage, model)
    folder.storage.put_bytes(folder.reward_function(), reward.read_bytes())
    folder.write_json(folder.model_metadata(), md.to_json_dict())
    folder.write_json(folder.hyperparameters(), hyper)
    store_tracks(folder, tracks)  # the sims read the route files from the bucket
    folder.write_text(folder.training_params(), folder.new_training_params(world_name=tracks[0].name).to_yaml())
    return folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stack.compose_launch",
                                description="host-side helpers of the compose stack")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("env-file", help="create compose/stack.env with random S3 keys (kept if it exists)")
    e.add_argument("--path", default=str(DEFAULT_ENV_FILE))
    u = sub.add_parser("upload", help="put a model folder's configuration into the stack's bucket")
    u.add_argument("--model", default=os.environ.get("DEEPRACER_MODEL"), required=not os.environ.get("DEEPRACER_MODEL"))
    u.add_argument("--preset", default="default")
    u.add_argument("--reward")
    u.add_argument("--metadata")
    u.add_argument("--hyperparameters")
    u.add_argument("--episodes-between-training", type=int)
    u.add_argument("--track", default=os.environ.get("DEEPRACER_TRACK", "reinvent_base"),
                   help="track, or comma-separated tracks (sim i drives track i mod n)")
    u.add_argument("--endpoint")
    u.add_argument("--bucket")
    u.add_argument("--env-file", default=str(DEFAULT_ENV_FILE))
    u.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the S3 server")
    u.add_argument("--resume", action="store_true", help="allow a model that already has checkpoints")
    args = p.parse_args(argv)
    try:
        if args.cmd == "env-file":
            made = write_env_file(args.path)
            print(f"{'wrote' if made else 'kept'} {args.path}")
            return 0
        storage = stack_storage(args.endpoint, args.bucket, args.env_file, args.wait)
        folder = ModelFolder(storage, args.model)
        if folder.latest_checkpoint() is not None and not args.resume:
            raise ConfigError(f"model {args.model!r} already has checkpoints in {folder.describe()}; pass --resume "
                              "(RESUME=1) to continue it, or pick a new model name")
        upload_model(storage, args.model, args.preset, args.reward, args.metadata, args.hyperparameters,
                     args.episodes_between_training, track=args.track)
        print(f"uploaded {folder.describe()}")
        return 0
    except (ConfigError, StorageError, RewardFunctionError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
