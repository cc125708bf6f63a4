"""Where model folders live: a small object-store interface (S3's shape) and a local-folder store.

Keys are '/'-separated relative paths ("my-model/model/model_metadata.json"). A store holds bytes
under keys; there are no folders, only key prefixes. An S3 store with the same interface comes later.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

#: Suffix of LocalStorage's temporary files (written beside the target, then renamed over it).
_TMP_SUFFIX = ".drl-tmp"


class StorageError(RuntimeError):
    """The store cannot be used (unreachable, refused credentials, missing bucket); the message says
    which endpoint and key failed and what to check."""


class StorageKeyError(KeyError):
    """A key that is not in the store; the message names the key and the store."""

    def __str__(self) -> str:          # KeyError would print the repr of its argument
        return str(self.args[0]) if self.args else ""


@runtime_checkable
class Storage(Protocol):
    """An object store. Writes replace a whole object at once: a reader sees the old or the new bytes."""

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes; StorageKeyError when there is none."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """The object's size in bytes, without reading it; StorageKeyError when there is none."""
        ...

    def list(self, prefix: str = "") -> list[str]:
        """Every key that starts with ``prefix`` (a plain string prefix, as in S3), sorted."""
        ...

    def folders(self, prefix: str = "") -> list[str]:
        """The names of the folders directly under ``prefix`` ("" or ending in "/"), sorted: S3's common
        prefixes of a delimited listing. One request however many keys lie below them."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; no error when it is already gone (S3 semantics)."""
        ...

    def put_file(self, key: str, path: str | os.PathLike) -> None: ...

    def get_file(self, key: str, path: str | os.PathLike) -> None:
        """Copy the object to a local file (parent folders are made); StorageKeyError when missing."""
        ...

    def describe(self) -> str:
        """Where the store is, for messages: "local folder /x/models", "s3://bucket"."""
        ...


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key, else raise ValueError saying why."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"storage key must be a non-empty string, got {key!r}")
    if key.startswith("/") or (len(key) > 1 and key[1] == ":"):
        raise ValueError(f"storage key {key!r} must be relative (no leading '/' or drive)")
    if "\\" in key or "\0" in key:
        raise ValueError(f"storage key {key!r} must use '/' as separator and contain no NUL")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"storage key {key!r} must not contain '..', '.' or empty parts")
    if parts[-1].endswith(_TMP_SUFFIX):
        raise ValueError(f"storage key {key!r} must not end with {_TMP_SUFFIX!r} (reserved for temporary files)")
    return key


class LocalStorage:
    """A store in a local folder: key "a/b.json" is the file ``root/a/b.json``.

    Writes go to a temporary file in the target's folder, are flushed to disk, then renamed over the
    target (os.replace), so a concurrent reader never sees a half-written object.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()

    def describe(self) -> str:
        return f"local folder {self.root}"

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def _missing(self, key: str) -> StorageKeyError:
        return StorageKeyError(f"no object {key!r} in {self.describe()}")

    def _write_atomic(self, target: Path, write, size: int | None = None) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=_TMP_SUFFIX)
        except OSError as exc:
            raise self._write_error(target, exc, size) from None
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException as exc:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise self._write_error(target, exc, size) from None
            raise

    def _write_error(self, target: Path, exc: OSError, size: int | None) -> StorageError:
        """One message for a failed write: a full disk names the folder and the space needed."""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            free = shutil.disk_usage(self.root if self.root.exists() else target.parent).free
            need = f"{size / 1e6:.1f} MB" if size is not None else "more"
            return StorageError(f"no space left on the disk of {self.root}: writing {target.name} needs {need}, "
                                f"{free / 1e6:.1f} MB are free; free some space and RESUME=1 (the last published "
                                "checkpoint is intact: the pointer moves only after a checkpoint is complete)")
        return StorageError(f"cannot write {target} in {self.describe()}: {exc.strerror or exc}")

    def remove_leftovers(self, prefix: str = "") -> int:
        """Delete temporary files a killed writer left under ``prefix`` (call it when nothing else
        writes there, e.g. before training starts); returns how many."""
        folder = self.root.joinpath(*check_key(prefix.rstrip("/")).split("/")) if prefix.strip("/") else self.root
        removed = 0
        if folder.is_dir():
            for path in folder.rglob(f"*{_TMP_SUFFIX}"):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def put_bytes(self, key: str, data: bytes) -> None:
        self._write_atomic(self._path(key), lambda f: f.write(bytes(data)), len(data))

    def put_file(self, key: str, path: str | os.PathLike) -> None:
        with open(path, "rb") as src:
            self._write_atomic(self._path(key), lambda f: shutil.copyfileobj(src, f), os.path.getsize(path))

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise self._missing(key) from None

    def get_file(self, key: str, path: str | os.PathLike) -> None:
        src = self._path(key)
        if not src.is_file():
            raise self._missing(key)
        with open(src, "rb") as f:
            self._write_atomic(Path(path), lambda out: shutil.copyfileobj(f, out))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise self._missing(key)
        return path.stat().st_size

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            pass

    def list(self, prefix: str = "") -> list[str]:
        folder = prefix.rpartition("/")[0]
        base = self.root.joinpath(*folder.split("/")) if folder else self.root
        if folder:
            check_key(folder)
        if not base.is_dir():
            return []
        keys = []
        stem = prefix.rpartition("/")[2]
        for dirpath, dirs, files in os.walk(base):
            if stem and dirpath == str(base):     # only the folders the prefix can reach (not a model's sim-traces)
                dirs[:] = [d for d in dirs if d.startswith(stem)]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in files:
                if name.endswith(_TMP_SUFFIX):
                    continue
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def folders(self, prefix: str = "") -> list[str]:
        base = self.root.joinpath(*check_folder_prefix(prefix).strip("/").split("/")) if prefix else self.root
        if prefix:
            check_key(prefix.rstrip("/"))
        try:
            return sorted(p.name for p in base.iterdir() if p.is_dir())
        except (FileNotFoundError, NotADirectoryError):
            return []


def check_folder_prefix(prefix: str) -> str:
    """``prefix`` for Storage.folders: "" or a key folder ending in "/"; ValueError otherwise."""
    if prefix and (not prefix.endswith("/") or prefix.startswith("/")):
        raise ValueError(f"folder prefix {prefix!r} must be empty or a relative folder ending in '/'")
    return prefix


def open_storage(spec: str | os.PathLike) -> "Storage":
    """``s3://bucket[/root]`` -> S3Storage (endpoint and credentials from the environment, see
    core.s3_storage.S3Storage.from_env); anything else is a local folder."""
    text = str(spec)
    if text.startswith("s3://"):
        from .s3_storage import S3Storage

        bucket, _, root = text[len("s3://"):].partition("/")
        return S3Storage.from_env(bucket=bucket, prefix_root=root.strip("/"))
    return LocalStorage(text)
