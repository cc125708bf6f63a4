"""`make s3-copy`: copy model folders between two S3 endpoints, each object verified.

    python -m stack.s3_copy --from http://127.0.0.1:9000/deepracer-local --to http://127.0.0.1:9100/deepracer-local
        [--models a,b] [--overwrite]

For moving models off an old MinIO onto SeaweedFS (or to AWS S3, Ceph RGW, ...). Each object is read,
written, read back from the destination and compared by size and sha256; an object the destination
already holds with the same bytes is skipped, one with other bytes is left alone and reported
(``--overwrite`` replaces it). Nothing is deleted at the source. Keys: FROM_AWS_ACCESS_KEY_ID /
FROM_AWS_SECRET_ACCESS_KEY and TO_AWS_ACCESS_KEY_ID / TO_AWS_SECRET_ACCESS_KEY, else AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, else the app's keys in compose/stack.env.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from core.s3_storage import S3Storage
from core.storage import StorageError, StorageKeyError

from .compose_launch import DEFAULT_ENV_FILE, read_env_file


@dataclass
class CopyResult:
    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)    # already there with the same bytes
    conflicts: list[str] = field(default_factory=list)  # there with other bytes, left alone
    failed: list[str] = field(default_factory=list)     # "key: why"
    bytes_copied: int = 0


def parse_location(url: str) -> tuple[str, str, str]:
    """``http(s)://host[:port]/bucket[/prefix]`` -> (endpoint, bucket, prefix)."""
    parts = urlsplit(url)
    path = parts.path.strip("/")
    if parts.scheme not in ("http", "https") or not parts.netloc or not path:
        raise ValueError(f"{url!r} is not an S3 location; use http(s)://host[:port]/bucket[/prefix]")
    bucket, _, prefix = path.partition("/")
    return f"{parts.scheme}://{parts.netloc}", bucket, prefix


def _keys(side: str) -> tuple[str | None, str | None]:
    env_file = read_env_file(DEFAULT_ENV_FILE) if DEFAULT_ENV_FILE.exists() else {}
    pick = [os.environ.get(f"{side}_AWS_ACCESS_KEY_ID"), os.environ.get(f"{side}_AWS_SECRET_ACCESS_KEY")]
    if not all(pick):
        pick = [os.environ.get("AWS_ACCESS_KEY_ID") or env_file.get("AWS_ACCESS_KEY_ID"),
                os.environ.get("AWS_SECRET_ACCESS_KEY") or env_file.get("AWS_SECRET_ACCESS_KEY")]
    return pick[0], pick[1]


def open_location(url: str, side: str) -> S3Storage:
    endpoint, bucket, prefix = parse_location(url)
    access, secret = _keys(side)
    return S3Storage(bucket, prefix_root=prefix, endpoint_url=endpoint, access_key=access, secret_key=secret,
                     create_bucket=side == "TO", retry_s=10.0)


def copy_models(src: S3Storage, dst: S3Storage, models: list[str] | None = None, overwrite: bool = False,
                on_key=None) -> CopyResult:
    """Copy every object under ``models`` (folder names; None: everything) from ``src`` to ``dst``."""
    keys = src.list("") if not models else sorted(k for m in models for k in src.list(m.strip("/") + "/"))
    if models:
        empty = [m for m in models if not any(k.startswith(m.strip("/") + "/") for k in keys)]
        if empty:
            raise StorageKeyError(f"no model folder {', '.join(empty)} in {src.describe()}")
    result = CopyResult()
    for key in keys:
        data = src.get_bytes(key)
        digest = hashlib.sha256(data).hexdigest()
        try:
            there = dst.get_bytes(key)
        except StorageKeyError:
            there = None
        if there is not None and hashlib.sha256(there).hexdigest() == digest:
            result.skipped.append(key)
        elif there is not None and not overwrite:
            result.conflicts.append(key)
        else:
            dst.put_bytes(key, data)
            back = dst.get_bytes(key)
            if len(back) != len(data) or hashlib.sha256(back).hexdigest() != digest:
                result.failed.append(f"{key}: read back {len(back)} bytes that differ from the {len(data)} written")
            else:
                result.copied.append(key)
                result.bytes_copied += len(data)
        if on_key:
            on_key(key)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stack.s3_copy", description=__doc__.splitlines()[0])
    p.add_argument("--from", dest="src", required=True, help="http(s)://host[:port]/bucket[/prefix]")
    p.add_argument("--to", dest="dst", required=True, help="http(s)://host[:port]/bucket[/prefix]")
    p.add_argument("--models", help="comma-separated model folders (default: every object)")
    p.add_argument("--overwrite", action="store_true", help="replace objects the destination holds with other bytes")
    args = p.parse_args(argv)
    try:
        src, dst = open_location(args.src, "FROM"), open_location(args.dst, "TO")
        models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
        r = copy_models(src, dst, models, args.overwrite)
    except (StorageError, StorageKeyError, ValueError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    print(f"copied {len(r.copied)} objects ({r.bytes_copied / 1e6:.1f} MB), each read back and its sha256 checked; "
          f"{len(r.skipped)} already there with the same bytes")
    for key in r.conflicts:
        print(f"left alone (the destination holds other bytes; --overwrite replaces): {key}", file=sys.stderr)
    for line in r.failed:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if r.conflicts or r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
