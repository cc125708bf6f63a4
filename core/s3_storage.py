"""The Storage of core.storage over the S3 API (MinIO in the stack, SeaweedFS in CI, AWS S3).

Keys are the same relative keys LocalStorage takes; ``prefix_root`` (if any) is put in front of each
in the bucket. Every request goes through one helper that

- retries connection errors, timeouts and server errors (HTTP 5xx) with exponential backoff (0.1 s
  doubling up to 4 s) for up to ``retry_s`` seconds in total, so a MinIO restart of a few seconds
  is survived, then raises StorageError naming the endpoint and the key and what to check;
- turns a refused access key (InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied, 403) into
  StorageError naming the endpoint, the access key id (never the secret) and the key, at once;
- turns a missing bucket into StorageError naming the bucket, and a missing key into
  StorageKeyError naming the key and "s3://bucket at <endpoint>".

Each object is written by one PUT (a multipart upload above ``MULTIPART_BYTES``), so a reader sees
the old or the new bytes; ModelFolder writes the checkpoint pointer last, which makes a publish
atomic for readers.

Environment (``S3Storage.from_env``): DEEPRACER_S3_BUCKET (required), DEEPRACER_S3_ENDPOINT (e.g.
http://minio:9000; unset = AWS S3), DEEPRACER_S3_PREFIX (optional prefix_root), AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY (unset = boto3's usual credential chain), AWS_DEFAULT_REGION or AWS_REGION
(default us-east-1).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (ClientError, ConnectionError as BotoConnectionError,
                                 HTTPClientError, NoCredentialsError, SSLError)

from .storage import _TMP_SUFFIX, StorageError, StorageKeyError, check_folder_prefix, check_key

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Files larger than this [bytes] are uploaded in parts (a single PUT is limited to 5 GiB).
MULTIPART_BYTES = 256 << 20
_CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "InvalidToken",
                     "ExpiredToken", "InvalidSecurity", "AuthorizationHeaderMalformed"}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_RETRY_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "XMinioServerNotInitialized"}
_TRANSIENT = (BotoConnectionError, HTTPClientError, ConnectionError, TimeoutError)


class S3Storage:
    """A Storage in an S3 bucket; see the module docstring for errors and retries.

    ``endpoint_url``: the S3 server (None = AWS S3). ``access_key``/``secret_key``: None = boto3's
    credential chain. ``create_bucket``: make the bucket on first use when it is missing.
    ``retry_s`` [s]: total time to keep retrying an unreachable or failing server. ``page_size``:
    keys per LIST request (S3's maximum, 1000, by default). ``max_attempts``: botocore's own
    attempts per request inside each of our tries (1: the time-bounded retries here do it all).
    """

    def __init__(self, bucket: str, prefix_root: str = "", endpoint_url: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None, region: str = "us-east-1",
                 create_bucket: bool = False, retry_s: float = 30.0, page_size: int = 1000, max_attempts: int = 1):
        if not bucket or "/" in bucket:
            raise ValueError(f"S3 bucket name {bucket!r} must be non-empty without '/'")
        self.bucket, self.endpoint_url, self.region = bucket, endpoint_url, region
        self.prefix_root = check_key(prefix_root.strip("/")) if prefix_root.strip("/") else ""
        self.retry_s, self.page_size = float(retry_s), int(page_size)
        self.create_bucket = create_bucket
        self._session = session = boto3.session.Session(aws_access_key_id=access_key,
                                                        aws_secret_access_key=secret_key, region_name=region)
        config = Config(retries={"max_attempts": int(max_attempts), "mode": "standard"}, connect_timeout=5,
                        read_timeout=30, s3={"addressing_style": "path"} if endpoint_url else None,
                        # MinIO/SeaweedFS-friendly: checksums only where S3 requires them
                        request_checksum_calculation="when_required", response_checksum_validation="when_required")
        self.client = session.client("s3", endpoint_url=endpoint_url, config=config)
        self._bucket_ok = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "S3Storage":
        """An S3Storage configured by environment variables (see the module docstring)."""
        env = os.environ if env is None else env
        bucket = env.get("DEEPRACER_S3_BUCKET", "")
        if not bucket and "bucket" not in overrides:
            raise ValueError("DEEPRACER_S3_BUCKET is not set: name the bucket that holds the models")
        kwargs: dict[str, Any] = dict(
            bucket=bucket, prefix_root=env.get("DEEPRACER_S3_PREFIX", ""),
            endpoint_url=env.get("DEEPRACER_S3_ENDPOINT") or None,
            access_key=env.get("AWS_ACCESS_KEY_ID") or None, secret_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1")
        kwargs.update(overrides)
        return cls(**kwargs)

    # ---- naming -------------------------------------------------------------------------------
    @property
    def access_key_id(self) -> str | None:
        """The access key id in use (for messages; the secret is never shown), None without credentials."""
        creds = self._session.get_credentials()
        return creds.access_key if creds is not None else None

    @property
    def where(self) -> str:
        return self.endpoint_url or f"AWS S3 ({self.region})"

    def describe(self) -> str:
        root = f"/{self.prefix_root}" if self.prefix_root else ""
        return f"s3://{self.bucket}{root} at {self.where}"

    def __repr__(self) -> str:
        return f"S3Storage({self.bucket!r}, prefix_root={self.prefix_root!r}, endpoint_url={self.endpoint_url!r})"

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix_root}/{key}" if self.prefix_root else key

    def _url(self, s3_key: str) -> str:
        return f"s3://{self.bucket}/{s3_key}"

    # ---- the request helper -------------------------------------------------------------------
    def _call(self, what: str, s3_key: str, fn: Callable[[], T]) -> T:
        """``fn()`` (one S3 request for ``what`` on ``s3_key``), retried and its errors explained."""
        if self.create_bucket and not self._bucket_ok:
            self._ensure_bucket()
        deadline = time.monotonic() + self.retry_s
        delay, warned = 0.1, False
        while True:
            try:
                return fn()
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
                if not (status >= 500 or code in _RETRY_CODES):
                    raise self._explain(exc, what, s3_key) from None
                cause: Exception = exc
            except S3UploadFailedError as exc:
                raise StorageError(f"{what} {self._url(s3_key)} at {self.where} failed: {exc}") from None
            except NoCredentialsError:
                raise StorageError(f"no S3 credentials for {self.where} ({what} {self._url(s3_key)}): set "
                                   "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") from None
            except SSLError as exc:
                raise StorageError(f"TLS error talking to S3 at {self.where} ({what} {self._url(s3_key)}): {exc}; "
                                   "check the endpoint's scheme (http/https) and certificates") from None
            except _TRANSIENT as exc:
                cause = exc
            if time.monotonic() + delay > deadline:
                raise StorageError(
                    f"cannot reach S3 at {self.where} ({what} {self._url(s3_key)}), tried for {self.retry_s:.0f} s: "
                    f"{cause}; check the endpoint URL (DEEPRACER_S3_ENDPOINT) and that the server (MinIO) is "
                    "running and reachable from here") from None
            if not warned:
                log.warning("S3 at %s: %s; retrying for up to %.0f s", self.where, cause, self.retry_s)
                warned = True
            time.sleep(delay)
            delay = min(2 * delay, 4.0)

    def _explain(self, exc: ClientError, what: str, s3_key: str) -> Exception:
        err = exc.response.get("Error", {})
        code, message = str(err.get("Code", "")), err.get("Message", "")
        if code == "NoSuchBucket":
            return self._no_bucket(what, s3_key)
        if code in _CREDENTIAL_CODES:
            return StorageError(f"S3 at {self.where} refused access key id {self.access_key_id!r} ({what} "
                                f"{self._url(s3_key)}): {code} {message}".rstrip() + "; check AWS_ACCESS_KEY_ID "
                                "and AWS_SECRET_ACCESS_KEY (and the key's rights on the bucket)")
        if code in _MISSING_CODES:
            return self._missing(s3_key)
        return StorageError(f"S3 at {self.where}: {what} {self._url(s3_key)} failed: {code} {message}".rstrip())

    def _missing(self, s3_key: str) -> StorageKeyError:
        key = s3_key[len(self.prefix_root) + 1:] if self.prefix_root else s3_key
        return StorageKeyError(f"no object {key!r} in {self.describe()}")

    def _no_bucket(self, what: str, s3_key: str) -> StorageError:
        return StorageError(f"bucket {self.bucket!r} does not exist at {self.where} ({what} {self._url(s3_key)}); "
                            "create it (e.g. S3Storage(..., create_bucket=True)) or check DEEPRACER_S3_BUCKET")

    def _ensure_bucket(self) -> None:
        """Check once that the bucket exists; make it when ``create_bucket``, else StorageError."""
        self._bucket_ok = True           # first: the _call below must not come back here
        try:
            try:
                self._call("check bucket", "", lambda: self.client.head_bucket(Bucket=self.bucket))
            except StorageKeyError:      # head_bucket's 404
                if not self.create_bucket:
                    raise self._no_bucket("check bucket", "") from None
                self._call("create bucket", "", self._create_bucket)
        except BaseException:
            self._bucket_ok = False
            raise

    def _create_bucket(self) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(**kwargs)
        except ClientError as exc:       # made meanwhile by another worker: fine
            if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    # ---- Storage ------------------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes) -> None:
        k, body = self._key(key), bytes(data)
        self._call("write", k, lambda: self.client.put_object(Bucket=self.bucket, Key=k, Body=body))

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes; StorageKeyError when there is none."""
        k = self._key(key)
        return self._call("read", k, lambda: self.client.get_object(Bucket=self.bucket, Key=k)["Body"].read())

    def size(self, key: str) -> int:
        """The object's size in bytes (one HEAD request); StorageKeyError when there is none."""
        k = self._key(key)
        try:
            head = self._call("check", k, lambda: self.client.head_object(Bucket=self.bucket, Key=k))
        except StorageKeyError:
            if not self._bucket_ok:
                self._ensure_bucket()
            raise
        return int(head["ContentLength"])

    def exists(self, key: str) -> bool:
        k = self._key(key)
        try:
            self._call("check", k, lambda: self.client.head_object(Bucket=self.bucket, Key=k))
            return True
        except StorageKeyError:
            if not self._bucket_ok:      # a HEAD's 404 does not say whether the key or the bucket is missing
                self._ensure_bucket()
            return False

    def list(self, prefix: str = "") -> list[str]:
        """Every key that starts with ``prefix``, sorted (LIST requests of ``page_size`` keys)."""
        full = f"{self.prefix_root}/{prefix}" if self.prefix_root else prefix
        cut = len(self.prefix_root) + 1 if self.prefix_root else 0
        keys: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full, "MaxKeys": self.page_size}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list", full, lambda: self.client.list_objects_v2(**kwargs))
            keys += [o["Key"][cut:] for o in page.get("Contents", ()) if not o["Key"].endswith("/")]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return sorted(keys)

    def folders(self, prefix: str = "") -> list[str]:
        """The folders directly under ``prefix`` (a delimited listing: its common prefixes), sorted."""
        full = f"{self.prefix_root}/{check_folder_prefix(prefix)}" if self.prefix_root else prefix
        names: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full, "Delimiter": "/",
                                      "MaxKeys": self.page_size}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list", full, lambda: self.client.list_objects_v2(**kwargs))
            names += [p["Prefix"][len(full):].rstrip("/") for p in page.get("CommonPrefixes", ())]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return sorted(n for n in names if n)

    def delete(self, key: str) -> None:
        """Remove the object; no error when it is already gone."""
        k = self._key(key)
        self._call("delete", k, lambda: self.client.delete_object(Bucket=self.bucket, Key=k))

    def put_file(self, key: str, path: str | os.PathLike) -> None:
        k = self._key(key)
        if os.path.getsize(path) > MULTIPART_BYTES:
            cfg = TransferConfig(multipart_threshold=MULTIPART_BYTES,
                                 multipart_chunksize=max(8 << 20, MULTIPART_BYTES // 8))
            self._call("write", k, lambda: self.client.upload_file(os.fspath(path), self.bucket, k, Config=cfg))
            return

        def put() -> Any:
            with open(path, "rb") as f:
                return self.client.put_object(Bucket=self.bucket, Key=k, Body=f)
        self._call("write", k, put)

    def get_file(self, key: str, path: str | os.PathLike) -> None:
        """Copy the object to a local file (written beside it, then renamed; parents are made)."""
        k, target = self._key(key), Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)

        def get() -> None:
            body = self.client.get_object(Bucket=self.bucket, Key=k)["Body"]
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=_TMP_SUFFIX)
            try:
                with os.fdopen(fd, "wb") as f:
                    for chunk in body.iter_chunks(1 << 20):
                        f.write(chunk)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        self._call("read", k, get)


__all__ = ["S3Storage", "StorageError", "MULTIPART_BYTES"]
