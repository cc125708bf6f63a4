#!/usr/bin/env bash
# Several swarm nodes on one machine, for the multi-node test and `make bench-swarm`: this machine's
# engine is the manager, and each further node is a container running a Docker engine of its own (Docker in
# Docker, with what --privileged gives: NODE_RUN_FLAGS), on a bridge network of their own, joined as a worker.
#
#   bash scripts/swarm-nodes.sh up N      # a swarm of N nodes: init this engine as the manager (advertised on
#                                         # the nodes' network), start N-1 node containers, load the app image
#                                         # into each (docker save | docker load: no registry needed), join them
#   bash scripts/swarm-nodes.sh add       # one more node, images loaded, joined (prints its name)
#   bash scripts/swarm-nodes.sh kill I    # node I lost at once (docker kill: its engine and sims die together)
#   bash scripts/swarm-nodes.sh start I   # node I back (its engine restarts and rejoins with the same identity)
#   bash scripts/swarm-nodes.sh down      # remove the node containers and their data, leave the swarm
#   bash scripts/swarm-nodes.sh ls        # the swarm's nodes (docker node ls)
#
# Node I (2..N) is the container drl-node-I with hostname drl-node-I at 192.168.212.(10+I) on the network
# drl-nodes (SWARM_NODES_SUBNET, default 192.168.212.0/24: outside the 10.0.0.0/8 swarm takes for overlay
# networks and the 172.16.0.0/12 of Docker's bridges); the manager is advertised at the network's gateway.
# Real machines join the same way (images/README.md, "Adding a second workstation"); these containers stand
# in for them so that CI, on one machine, runs a swarm whose sims cross a network to Redis and S3.
#
# Settings: APP_IMAGE (the image the nodes' sims run; DEEPRACER_DOCKER_CI=1: deepracer-local/app:ci),
# SWARM_NODE_IMAGE (an image with sh, mount and dockerd on its PATH, run as `sh -c '... exec dockerd'`:
# docker:29.10.1-dind; CI: local/swarm-node:ci, made by scripts/ci-docker.sh), DOCKER_STATE (where the
# saved image tar is kept: /tmp/deepracer-docker).
set -euo pipefail

DOCKER=${DOCKER:-$(command -v /usr/bin/docker || command -v docker)}
CI=${DEEPRACER_DOCKER_CI:-0}
if [ "$CI" = 1 ]; then
    APP_IMAGE=${APP_IMAGE:-deepracer-local/app:ci}
    NODE_IMAGE=${SWARM_NODE_IMAGE:-local/swarm-node:ci}
else
    APP_IMAGE=${APP_IMAGE:-deepracer-local/app:0.1.0}
    NODE_IMAGE=${SWARM_NODE_IMAGE:-docker:29.10.1-dind}
fi
SUBNET=${SWARM_NODES_SUBNET:-192.168.212.0/24}
PREFIX=${SUBNET%.*}                     # 192.168.212
GATEWAY=$PREFIX.1
NET=drl-nodes
STATE=${DOCKER_STATE:-/tmp/deepracer-docker}/swarm-nodes
say() { printf '[swarm-nodes %4ds] %s\n' "$SECONDS" "$*"; }
die() { echo "swarm-nodes: $*" >&2; exit 2; }

# What --privileged gives a Docker engine, less CAP_SYS_RESOURCE: --privileged asks for every capability,
# and runc refuses it where root's bounding set lacks one (CI's machines lack CAP_SYS_RESOURCE). The host's
# cgroup tree is mounted read-write for the node's engine to make its containers' cgroups (cgroup v1: the
# container's own is read-only), and /sys is remounted read-write in the node before dockerd starts.
NODE_RUN_FLAGS=(--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined
                --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm' -v /sys/fs/cgroup:/sys/fs/cgroup
                --tmpfs /run)      # as a machine's: empty at each start (a killed engine leaves its pid files there)

node_name() { echo "drl-node-$1"; }
node_ip() { echo "$PREFIX.$((10 + $1))"; }
in_node() { local n=$1; shift; $DOCKER exec "$(node_name "$n")" docker "$@"; }
nodes_running() { $DOCKER ps -a --filter "label=deepracer.swarm-node" --format '{{.Label "deepracer.swarm-node"}}' | sort -n; }

wait_engine() {   # node I's engine answers (60 s)
    local n=$1
    for _ in $(seq 300); do
        in_node "$n" info >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    $DOCKER logs --tail 10 "$(node_name "$n")" >&2 || true
    die "node $(node_name "$n"): its Docker engine did not start within 60 s (its log is above)"
}

saved_image() {   # the app image as $STATE/app-image.tar (the nodes' /images/app-image.tar), saved once per image id
    mkdir -p "$STATE"
    local id tar="$STATE/app-image.tar"
    id=$($DOCKER image inspect --format '{{.Id}}' "$APP_IMAGE" 2>/dev/null) \
        || die "no image $APP_IMAGE on this engine to give the nodes (build it first: docker-compose -f compose/docker-compose.yml build trainer)"
    if [ ! -f "$tar" ] || [ "$(cat "$tar.id" 2>/dev/null)" != "$id" ]; then
        say "saving $APP_IMAGE for the nodes ($tar)"
        $DOCKER save -o "$tar.part" "$APP_IMAGE" && mv "$tar.part" "$tar" && echo "$id" >"$tar.id"
    fi
}

start_node() {   # node I: container up (made, or started again), engine answering
    local n=$1 name
    name=$(node_name "$n")
    if ! $DOCKER container inspect "$name" >/dev/null 2>&1; then
        $DOCKER run -d "${NODE_RUN_FLAGS[@]}" --name "$name" --hostname "$name" --label "deepracer.swarm-node=$n" \
            --network "$NET" --ip "$(node_ip "$n")" -v "$name-data:/var/lib/docker" -v "$STATE:/images:ro" \
            --entrypoint sh "$NODE_IMAGE" -c 'mount -o remount,rw /sys && exec dockerd --host=unix:///var/run/docker.sock' \
            >/dev/null
    else
        $DOCKER start "$name" >/dev/null
    fi
    wait_engine "$n"
}

load_image() {   # the app image into node I, unless it has it
    local n=$1
    in_node "$n" image inspect "$APP_IMAGE" >/dev/null 2>&1 && return 0
    in_node "$n" load -q -i /images/app-image.tar >/dev/null
    in_node "$n" image inspect "$APP_IMAGE" >/dev/null 2>&1 || die "node $(node_name "$n"): loading $APP_IMAGE failed"
}

join_node() {   # node I joins as a worker, unless it is in the swarm
    local n=$1 token
    [ "$(in_node "$n" info --format '{{.Swarm.LocalNodeState}}')" = active ] && return 0
    token=$($DOCKER swarm join-token -q worker)
    in_node "$n" swarm join --token "$token" --advertise-addr "$(node_ip "$n")" "$GATEWAY:2377" >/dev/null
}

cmd_up() {
    local total=${1:-3}
    [ "$total" -ge 1 ] 2>/dev/null || die "up N: N is the number of nodes (1 or more), got '${1:-}'"
    $DOCKER image inspect "$NODE_IMAGE" >/dev/null 2>&1 \
        || die "no node image $NODE_IMAGE here (docker pull $NODE_IMAGE; CI: bash scripts/ci-docker.sh makes local/swarm-node:ci)"
    $DOCKER network inspect "$NET" >/dev/null 2>&1 \
        || $DOCKER network create --subnet "$SUBNET" --gateway "$GATEWAY" "$NET" >/dev/null
    local state
    state=$($DOCKER info --format '{{.Swarm.LocalNodeState}}')
    if [ "$state" != active ]; then
        $DOCKER swarm init --advertise-addr "$GATEWAY" >/dev/null
        mkdir -p "$STATE" && touch "$STATE/inited"
        say "this engine is the manager at $GATEWAY"
    elif [ "$($DOCKER info --format '{{.Swarm.NodeAddr}}')" != "$GATEWAY" ]; then
        die "this engine is already in a swarm advertised at $($DOCKER info --format '{{.Swarm.NodeAddr}}'), which the node containers cannot reach; leave it first (bash scripts/swarm.sh leave)"
    fi
    [ "$total" -gt 1 ] || return 0
    saved_image
    local pids=() n
    for n in $(seq 2 "$total"); do
        ( start_node "$n" && load_image "$n" && join_node "$n" && say "node $(node_name "$n") joined" ) &
        pids+=($!)
    done
    local failed=0
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
    [ "$failed" = 0 ] || die "a node did not come up (above)"
    $DOCKER node ls
}

cmd_add() {
    local last n
    last=$(nodes_running | tail -1)
    n=$(( ${last:-1} + 1 ))
    saved_image
    start_node "$n" && load_image "$n" && join_node "$n"
    node_name "$n"
}

cmd_kill() {
    [ -n "${1:-}" ] || die "kill I: which node (2, 3, ...)"
    $DOCKER kill "$(node_name "$1")" >/dev/null
    say "node $(node_name "$1") killed"
}

cmd_start() {
    [ -n "${1:-}" ] || die "start I: which node (2, 3, ...)"
    start_node "$1"
    say "node $(node_name "$1") started"
}

cmd_down() {
    local n ids
    for n in $(nodes_running); do
        $DOCKER rm -f -v "$(node_name "$n")" >/dev/null 2>&1 || true
        $DOCKER volume rm "$(node_name "$n")-data" >/dev/null 2>&1 || true
    done
    if [ "$($DOCKER info --format '{{.Swarm.ControlAvailable}}')" = true ]; then
        ids=$($DOCKER node ls --format '{{.ID}} {{.Hostname}}' | awk '$2 ~ /^drl-node-[0-9]+$/ {print $1}')
        [ -z "$ids" ] || $DOCKER node rm --force $ids >/dev/null 2>&1 || true
    fi
    if [ -f "$STATE/inited" ]; then
        $DOCKER swarm leave --force >/dev/null 2>&1 || true
        rm -f "$STATE/inited"
    fi
    $DOCKER network rm "$NET" >/dev/null 2>&1 || true
    rm -f "$STATE/app-image.tar" "$STATE/app-image.tar.id"
    say "nodes removed"
}

case "${1:-}" in
    up) cmd_up "${2:-3}" ;;
    add) cmd_add ;;
    kill) cmd_kill "${2:-}" ;;
    start) cmd_start "${2:-}" ;;
    down) cmd_down ;;
    ls) $DOCKER node ls ;;
    *) echo "usage: $0 up N|add|kill I|start I|down|ls" >&2; exit 2 ;;
esac
