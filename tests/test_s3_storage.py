"""S3Storage against a real S3 server (SeaweedFS started by tests/servers.py on loopback ports)."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from core.model_folder import ModelFolder
from core.s3_storage import S3Storage, StorageError
from core.storage import LocalStorage, Storage, StorageKeyError
from tests.servers import s3_server  # noqa: F401  (fixture)

_names = itertools.count()


def make_store(server, **kwargs) -> S3Storage:
    kwargs.setdefault("bucket", f"test-{next(_names)}-{int(time.time() * 1000) % 100000}")
    kwargs.setdefault("create_bucket", True)
    return S3Storage(endpoint_url=server.endpoint, access_key=server.access_key, secret_key=server.secret_key,
                     **kwargs)


def put_keys(event_log: list[str]):
    """A botocore hook that records the key of every PutObject request, in order."""
    def hook(params, **_):
        event_log.append(params["Key"])
    return hook


def test_round_trip(s3_server, tmp_path):
    store = make_store(s3_server)
    assert isinstance(store, Storage)
    assert store.describe() == f"s3://{store.bucket} at {s3_server.endpoint}"
    store.put_bytes("m/model/a.json", b"{}")
    store.put_bytes("m/b.txt", b"b")
    store.put_bytes("other/c", b"c")
    store.put_bytes("m/b.txt", b"bb")                        # replaces
    store.put_bytes("m/empty", b"")
    assert store.get_bytes("m/model/a.json") == b"{}" and store.get_bytes("m/b.txt") == b"bb"
    assert store.get_bytes("m/empty") == b""
    assert store.size("m/b.txt") == 2 and store.size("m/empty") == 0
    with pytest.raises(StorageKeyError):
        store.size("m/nothing")
    assert store.exists("m/b.txt") and not store.exists("m/nothing") and not store.exists("m/model")
    assert store.list("m/") == ["m/b.txt", "m/empty", "m/model/a.json"]
    assert store.list("m/mo") == ["m/model/a.json"]
    assert store.list() == ["m/b.txt", "m/empty", "m/model/a.json", "other/c"]
    assert store.list("nothing/") == []
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 1000)
    store.put_file("m/f.bin", src)
    store.get_file("m/f.bin", tmp_path / "out" / "deep" / "f.bin")
    assert (tmp_path / "out" / "deep" / "f.bin").read_bytes() == src.read_bytes()
    assert [p.name for p in (tmp_path / "out" / "deep").iterdir()] == ["f.bin"]    # no temporary left
    store.delete("m/b.txt")
    store.delete("m/b.txt")                                  # already gone: no error
    assert not store.exists("m/b.txt")
    for bad in ("/abs", "a/../b", "a//b", ""):
        with pytest.raises(ValueError):
            store.put_bytes(bad, b"")


def test_missing_key_names_key_bucket_and_endpoint(s3_server, tmp_path):
    store = make_store(s3_server)
    store.put_bytes("x", b"1")
    for call in (lambda: store.get_bytes("m/nothing.json"), lambda: store.get_file("m/nothing.json", tmp_path / "o")):
        with pytest.raises(StorageKeyError) as err:
            call()
        assert str(err.value) == f"no object 'm/nothing.json' in s3://{store.bucket} at {s3_server.endpoint}"
    assert not (tmp_path / "o").exists()


def test_list_paginates_and_prefix_root(s3_server):
    store = make_store(s3_server, page_size=7, prefix_root="runs/a/")
    calls: list[str] = []
    store.client.meta.events.register("before-call.s3.ListObjectsV2", lambda **_: calls.append("list"))
    keys = sorted(f"m/k{i:03d}" for i in range(25))
    for k in keys:
        store.put_bytes(k, k.encode())
    store.put_bytes("n/other", b"")
    assert store.list("m/") == keys and len(calls) == 4          # 7 + 7 + 7 + 4
    assert store.list() == keys + ["n/other"]
    assert store.describe().startswith(f"s3://{store.bucket}/runs/a at ")
    raw = s3_server.client().list_objects_v2(Bucket=store.bucket, Prefix="runs/a/n/")
    assert [o["Key"] for o in raw["Contents"]] == ["runs/a/n/other"]
    same_bucket = make_store(s3_server, bucket=store.bucket, prefix_root="runs/b")
    assert same_bucket.list() == [] and not same_bucket.exists("n/other")


def test_folders_is_one_delimited_listing_and_agrees_with_the_local_store(s3_server, tmp_path):
    """The viewer finds models by their folders: one LIST request however many keys lie below."""
    from core.storage import LocalStorage

    store = make_store(s3_server, page_size=1000, prefix_root="root")
    local = LocalStorage(tmp_path)
    keys = [f"a/training-simtrace/{i}-iteration.csv" for i in range(30)] + ["b/preview/sim-0/status.json",
                                                                            "b/preview/sim-1/status.json", "top.txt"]
    for st in (store, local):
        for k in keys:
            st.put_bytes(k, b"x")
    calls: list[str] = []
    store.client.meta.events.register("before-call.s3.ListObjectsV2", lambda **_: calls.append("list"))
    assert store.folders() == local.folders() == ["a", "b"] and len(calls) == 1
    assert store.folders("b/preview/") == local.folders("b/preview/") == ["sim-0", "sim-1"]
    assert store.folders("nothing/") == local.folders("nothing/") == []
    for bad in ("b/preview", "/b/"):
        with pytest.raises(ValueError, match="must be empty or a relative folder ending in '/'"):
            store.folders(bad)
        with pytest.raises(ValueError, match="must be empty or a relative folder ending in '/'"):
            local.folders(bad)
    # a plain-prefix listing prunes only what the prefix cannot reach
    for prefix in ("a/tr", "a/training-simtrace/1", "b/p", "t", "", "a/x"):
        assert local.list(prefix) == store.list(prefix) == sorted(k for k in keys if k.startswith(prefix)), prefix


def test_publish_checkpoint_same_keys_as_local_and_pointer_last(s3_server, tmp_path):
    s3 = make_store(s3_server)
    puts: list[str] = []
    s3.client.meta.events.register("before-parameter-build.s3.PutObject", put_keys(puts))
    local = LocalStorage(tmp_path / "models")
    for store in (s3, local):
        folder = ModelFolder(store, "my-model")
        folder.write_json(folder.model_metadata(), {"action_space": []})
        for n in range(6):
            src = tmp_path / f"data-{n}"
            src.write_bytes(b"w" * 1000 * (n + 1))
            folder.publish_checkpoint(n, 100 * n, {"index": b"i", "data-00000-of-00001": src, "meta": b"m"},
                                      frozen_pb=b"pb", metric=float(n == 2) * 100, time_stamp=1.0 + n)
    assert s3.list() == local.list()
    s3_folder = ModelFolder(s3, "my-model")
    assert s3_folder.latest_checkpoint() == (5, 500) and s3_folder.best_checkpoint() == (2, 200)
    assert s3.get_bytes("my-model/model/5_Step-500.ckpt.data-00000-of-00001") == b"w" * 6000
    start = puts.index("my-model/model/5_Step-500.ckpt.index")
    assert puts[start:] == [f"my-model/model/{k}" for k in (
        "5_Step-500.ckpt.index", "5_Step-500.ckpt.data-00000-of-00001", "5_Step-500.ckpt.meta", "model_5.pb",
        "deepracer_checkpoints.json", "checkpoint", ".coach_checkpoint")]       # files first, pointer last


def test_missing_bucket_is_one_clear_error(s3_server):
    store = make_store(s3_server, bucket="no-such-bucket", create_bucket=False)
    for call in (lambda: store.get_bytes("m/k"), lambda: store.put_bytes("m/k", b""), lambda: store.exists("m/k"),
                 lambda: store.list("m/")):
        with pytest.raises(StorageError) as err:
            call()
        msg = str(err.value)
        assert "'no-such-bucket' does not exist" in msg and s3_server.endpoint in msg and "create" in msg


def test_wrong_credentials_name_the_access_key_not_the_secret(s3_server):
    good = make_store(s3_server)
    good.put_bytes("m/k", b"1")
    for access, secret in ((s3_server.access_key, "not-the-secret"), ("nobody", "not-the-secret")):
        store = S3Storage(good.bucket, endpoint_url=s3_server.endpoint, access_key=access, secret_key=secret)
        for call in (lambda: store.get_bytes("m/k"), lambda: store.put_bytes("m/k", b"2"), lambda: store.exists("m/k")):
            t0 = time.monotonic()
            with pytest.raises(StorageError) as err:
                call()
            assert time.monotonic() - t0 < 2.0                      # refused: no retrying
            msg = str(err.value)
            assert s3_server.endpoint in msg and repr(access) in msg and f"s3://{good.bucket}/m/k" in msg
            assert "not-the-secret" not in msg and "AWS_SECRET_ACCESS_KEY" in msg
    assert good.get_bytes("m/k") == b"1"


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:1", "http://no-such-host.invalid:9000"])
def test_wrong_endpoint_is_one_clear_error_not_a_hang(endpoint):
    store = S3Storage("bucket", endpoint_url=endpoint, access_key="k", secret_key="s", retry_s=1.5)
    for call in (lambda: store.put_bytes("m/model/.coach_checkpoint", b""),
                 lambda: store.get_bytes("m/model/.coach_checkpoint")):
        t0 = time.monotonic()
        with pytest.raises(StorageError) as err:
            call()
        assert time.monotonic() - t0 < 6.0
        msg = str(err.value)
        assert f"cannot reach S3 at {endpoint}" in msg and "s3://bucket/m/model/.coach_checkpoint" in msg
        assert "DEEPRACER_S3_ENDPOINT" in msg


def test_from_env(s3_server, monkeypatch):
    env = {"DEEPRACER_S3_BUCKET": "env-bucket", "DEEPRACER_S3_ENDPOINT": s3_server.endpoint,
           "DEEPRACER_S3_PREFIX": "p", "AWS_ACCESS_KEY_ID": s3_server.access_key,
           "AWS_SECRET_ACCESS_KEY": s3_server.secret_key}
    store = S3Storage.from_env(env, create_bucket=True)
    assert (store.bucket, store.endpoint_url, store.prefix_root, store.access_key_id, store.region) == (
        "env-bucket", s3_server.endpoint, "p", s3_server.access_key, "us-east-1")
    store.put_bytes("k", b"v")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert S3Storage.from_env().get_bytes("k") == b"v"
    with pytest.raises(ValueError, match="DEEPRACER_S3_BUCKET"):
        S3Storage.from_env({})


def test_server_restart_is_waited_out(s3_server):
    store = make_store(s3_server, retry_s=30.0)
    store.put_bytes("before", b"0")
    restart = s3_server.restart_in_background(down_s=2.0, after_s=0.2)
    written, slowest, i = [], 0.0, 0
    while restart.is_alive() or i < 5:
        t = time.monotonic()
        store.put_bytes(f"during/{i:03d}", str(i).encode())      # waits while the server is down
        slowest = max(slowest, time.monotonic() - t)
        written.append(i)
        i += 1
        time.sleep(0.05)
    restart.join()
    assert slowest > 1.0                                           # a put really waited for the server
    assert store.get_bytes("before") == b"0"
    assert store.list("during/") == [f"during/{j:03d}" for j in written]
    assert all(store.get_bytes(f"during/{j:03d}") == str(j).encode() for j in written)


def test_get_waits_for_a_server_that_comes_back(s3_server, tmp_path):
    store = make_store(s3_server, retry_s=30.0)
    store.put_bytes("k", b"v" * 100_000)
    s3_server.stop()
    threading.Timer(1.5, s3_server.start).start()
    t0 = time.monotonic()
    store.get_file("k", tmp_path / "k")
    assert time.monotonic() - t0 > 1.0 and (tmp_path / "k").read_bytes() == b"v" * 100_000


def test_large_file_goes_up_in_parts(s3_server, tmp_path, monkeypatch):
    import core.s3_storage
    monkeypatch.setattr(core.s3_storage, "MULTIPART_BYTES", 1 << 20)
    store = make_store(s3_server)
    parts: list[str] = []
    store.client.meta.events.register("before-call.s3.UploadPart", lambda **_: parts.append("part"))
    src = tmp_path / "big.bin"
    src.write_bytes(bytes(range(256)) * (70 * 1024))                 # 17.5 MiB
    store.put_file("m/big.bin", src)
    assert len(parts) == 3                                           # 8 + 8 + 1.5 MiB
    store.get_file("m/big.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()


def test_no_credentials_is_one_clear_error(s3_server, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    store = S3Storage("models", endpoint_url=s3_server.endpoint)
    assert store.access_key_id is None
    with pytest.raises(StorageError, match="no S3 credentials for .*AWS_ACCESS_KEY_ID"):
        store.get_bytes("m/k")
