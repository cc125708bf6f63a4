"""stack/swarm_check.py, the check swarm.sh runs on every node before deploying the trainer and sims: against
a real Redis (with a password) and a real S3 server, each problem is one line naming the node and the exit
code says whether to deploy."""

from __future__ import annotations

import pytest

from stack import swarm_check
from tests.servers import free_ports, locked_redis_server, s3_server  # noqa: F401 (fixtures)

BUCKET = "swarm-check"


@pytest.fixture(scope="module")
def bucket(s3_server) -> str:
    s3_server.client().create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture
def node_env(monkeypatch, locked_redis_server, s3_server, bucket):
    for key, value in {"NODE_HOSTNAME": "drl-node-7", "DEEPRACER_REDIS_URL": locked_redis_server.url,
                       "REDIS_PASSWORD": locked_redis_server.password, "DEEPRACER_S3_ENDPOINT": s3_server.endpoint,
                       "DEEPRACER_S3_BUCKET": bucket, "AWS_ACCESS_KEY_ID": s3_server.access_key,
                       "AWS_SECRET_ACCESS_KEY": s3_server.secret_key}.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_a_node_that_reaches_both_passes(node_env, capsys):
    assert swarm_check.main(["--wait", "5"]) == 0
    assert capsys.readouterr().out == "node drl-node-7: reaches Redis and the S3 bucket\n"


def test_a_wrong_redis_password_is_named(node_env, capsys):
    node_env.setenv("REDIS_PASSWORD", "not-the-password")
    assert swarm_check.main(["--wait", "5"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("node drl-node-7: Redis at ") and "refused the password" in out and "REDIS_PASSWORD" in out
    assert "not-the-password" not in out


def test_an_unreachable_redis_names_the_ports_to_open(node_env, capsys):
    node_env.setenv("DEEPRACER_REDIS_URL", f"redis://127.0.0.1:{free_ports(1)[0]}/0")    # nothing listens
    assert swarm_check.main(["--wait", "1"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("node drl-node-7: cannot reach Redis at redis://127.0.0.1:")
    assert "4789" in out[0] and "7946" in out[0]


def test_wrong_s3_keys_and_a_missing_bucket_are_named(node_env, capsys):
    node_env.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    assert swarm_check.main(["--wait", "1"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("node drl-node-7: S3 at http://127.0.0.1:") and "refused access key id" in out, out
    assert "wrong-secret" not in out
    node_env.setenv("AWS_SECRET_ACCESS_KEY", "deepracer-test-secret")
    node_env.setenv("DEEPRACER_S3_BUCKET", "no-such-bucket-here")
    assert swarm_check.main(["--wait", "1"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("node drl-node-7: bucket 'no-such-bucket-here' does not exist"), out
