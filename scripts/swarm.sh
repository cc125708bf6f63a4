#!/usr/bin/env bash
# The deepracer-local stack on Docker Swarm (compose/docker-stack.yml). Run on a swarm manager.
#
#   bash scripts/swarm.sh up        # (init a single-node swarm,) label a GPU node, deploy redis+s3,
#                                   # upload the model folder, deploy the trainer and SIMS sims
#   bash scripts/swarm.sh scale     # SIMS sims (docker service scale STACK_sim=SIMS)
#   bash scripts/swarm.sh down      # docker stack rm STACK, and wait until its containers and network are gone
#   bash scripts/swarm.sh init      # only: init a single-node swarm when the engine is in none, label the node
#   bash scripts/swarm.sh leave     # docker swarm leave --force (a single-node swarm made by `init`)
#   bash scripts/swarm.sh ps | logs # the stack's tasks / follow the trainer's log
#
# Settings (environment; the Makefile passes its variables): MODEL (or DEEPRACER_MODEL; required for
# up), SIMS (2), TRACK or TRACKS (reinvent_base), PRESET (default), REWARD, METADATA, HYPERPARAMETERS,
# EPISODES / MINUTES, RESUME=1, SIMS_PER_NODE (at most this many sims on one node; a lost node's sims then
# wait for a node with room instead of doubling up), CHECK_WAIT (60: seconds each node's check may take to
# reach Redis and S3 before `up` deploys the trainer and sims), GPU=1 (trainer image APP_GPU_IMAGE, default deepracer-local/app-gpu:0.1.0),
# STACK_NAME (deepracer), STACK_ENV_FILE (compose/stack.env), S3_ADMIN_ENV_FILE (compose/s3-admin.env),
# S3_PORT (9000), S3_SERVER (seaweedfs or minio: compose/s3-$S3_SERVER.yml), S3_ENDPOINT (an external
# S3 server instead: no s3 service),
# APP_IMAGE (deepracer-local/app:0.1.0; on several machines an
# image in a registry every node can pull: registry.example:5000/deepracer-local/app:1),
# SWARM_ADVERTISE_ADDR (for `swarm init`; default: the engine picks, 127.0.0.1 when it cannot),
# DEEPRACER_DOCKER_CI=1 (the CI images and SeaweedFS: compose/docker-stack.ci.yml), PYTHON (.venv/bin/python).
#
# docker stack deploy (Docker 20.10) merges several -c files wrongly (it appends lists such as
# `command`), so this script merges the files itself (override lists and scalars replace, maps merge:
# compose's rules) and deploys the one merged file: compose/docker-stack.yml, the S3 server of
# compose/s3-$S3_SERVER.yml (all but its compose-only ports, restart and the app's depends_on; none
# with S3_ENDPOINT), then the CI override.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DOCKER=${DOCKER:-$(command -v /usr/bin/docker || command -v docker)}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
STACK=${STACK_NAME:-deepracer}
export STACK_ENV_FILE=$(cd "$ROOT" && realpath -m "${STACK_ENV_FILE:-compose/stack.env}")
export S3_ADMIN_ENV_FILE=$(cd "$ROOT" && realpath -m "${S3_ADMIN_ENV_FILE:-compose/s3-admin.env}")
export S3_PORT=${S3_PORT:-9000} S3_SERVER=${S3_SERVER:-seaweedfs} S3_ENDPOINT=${S3_ENDPOINT:-}
export DEEPRACER_MODEL=${MODEL:-${DEEPRACER_MODEL:-}}
export DEEPRACER_TRACK=${TRACKS:-${TRACK:-${DEEPRACER_TRACK:-}}}   # none: reinvent_base, or the model's own on RESUME
export DEEPRACER_S3_BUCKET=${DEEPRACER_S3_BUCKET:-deepracer-local}
export DEEPRACER_EPISODES=${EPISODES:-${DEEPRACER_EPISODES:-}} DEEPRACER_MINUTES=${MINUTES:-${DEEPRACER_MINUTES:-}}
SIMS=${SIMS:-${DEEPRACER_SIMS:-2}}
export SIMS_PER_NODE=${SIMS_PER_NODE:-}     # at most this many sims on one node (empty: no limit)
case "$SIMS_PER_NODE" in ""|[1-9]|[1-9][0-9]) ;; *) echo "error: SIMS_PER_NODE=$SIMS_PER_NODE: a number of sims from 1 to 99, or empty for no limit" >&2; exit 2 ;; esac
CI=${DEEPRACER_DOCKER_CI:-0}
if [ "$CI" = 1 ]; then
    export APP_IMAGE=${APP_IMAGE:-deepracer-local/app:ci}
    RESOLVE=${DEEPRACER_RESOLVE_IMAGE:-never}        # no registry: the local images serve
else
    export APP_IMAGE=${APP_IMAGE:-deepracer-local/app:0.1.0}
    RESOLVE=${DEEPRACER_RESOLVE_IMAGE:-always}       # pin each image's digest so every node runs the same one
fi
if [ -n "${GPU:-}" ]; then
    export TRAINER_IMAGE=${APP_GPU_IMAGE:-deepracer-local/app-gpu:0.1.0}
else
    export TRAINER_IMAGE=$APP_IMAGE
fi
say() { printf '[swarm] %s\n' "$*"; }

swarm_state() { $DOCKER info --format '{{.Swarm.LocalNodeState}}'; }

cmd_init() {
    if [ "$(swarm_state)" != active ]; then
        if [ -n "${SWARM_ADVERTISE_ADDR:-}" ]; then
            $DOCKER swarm init --advertise-addr "$SWARM_ADVERTISE_ADDR" >/dev/null
        elif ! $DOCKER swarm init >/dev/null 2>&1; then
            # several interfaces and no choice made: a swarm of this machine alone
            $DOCKER swarm init --advertise-addr 127.0.0.1 >/dev/null
        fi
        say "initialised a single-node swarm (leave it with: bash scripts/swarm.sh leave)"
    fi
    [ "$($DOCKER info --format '{{.Swarm.ControlAvailable}}')" = true ] \
        || { echo "error: this node is not a swarm manager; run on a manager" >&2; exit 2; }
    # per node: hostname, its deepracer.gpu label, state, availability
    local nodes labeled
    nodes=$($DOCKER node ls -q | xargs $DOCKER node inspect \
        --format '{{.Description.Hostname}} {{index .Spec.Labels "deepracer.gpu"}} {{.Status.State}} {{.Spec.Availability}}')
    labeled=$(echo "$nodes" | awk '$2 == "true"' | wc -l)
    if [ "$labeled" = 0 ]; then
        if [ "$(echo "$nodes" | wc -l)" -gt 1 ]; then
            echo "error: no node has the label deepracer.gpu=true, which places the trainer; on the manager, label the" \
                 "trainer's machine: docker node update --label-add deepracer.gpu=true NODE (nodes: $(echo "$nodes" | awk '{print $1}' | xargs))" >&2
            exit 2
        fi
        local self
        self=$($DOCKER info --format '{{.Swarm.NodeID}}')
        $DOCKER node update --label-add deepracer.gpu=true "$self" >/dev/null
        say "no node had the label deepracer.gpu=true: labeled this one ($self) for the trainer"
    elif ! echo "$nodes" | awk '$2 == "true" && $3 == "ready" && $4 == "active"' | grep -q .; then
        echo "error: the trainer has no node to run on: the node(s) labeled deepracer.gpu=true are not ready and active:" \
             "$(echo "$nodes" | awk '$2 == "true" {printf "%s (%s, %s) ", $1, $3, $4}')" >&2
        exit 2
    fi
}

merged_file() {   # the stack file (with the CI override when CI=1), merged into one file; prints its path
    local out
    out=$(mktemp --suffix=.yml -t deepracer-stack.XXXXXX)
    local files=("$ROOT/compose/docker-stack.yml")
    [ "$CI" = 1 ] && files+=("$ROOT/compose/docker-stack.ci.yml")
    local s3_file=""
    if [ -z "$S3_ENDPOINT" ]; then
        s3_file="$ROOT/compose/s3-$S3_SERVER.yml"
        [ -f "$s3_file" ] || { echo "error: S3_SERVER=$S3_SERVER: no $s3_file (seaweedfs or minio)" >&2; exit 2; }
    fi
    S3_FILE="$s3_file" "$PYTHON" - "$out" "${files[@]}" <<'EOF'
import os, sys, yaml

def merge(base, over):
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base[k], v) if k in base else v
        return out
    return over

out, files = sys.argv[1], sys.argv[2:]
docs = []
for f in files:
    with open(f) as fh:
        docs.append(yaml.safe_load(fh))
doc = docs[0]
if os.environ.get("S3_FILE"):      # the S3 server as compose runs it (one home for its start script)
    with open(os.environ["S3_FILE"]) as fh:
        server = yaml.safe_load(fh)
    s3 = {k: v for k, v in server["services"]["s3"].items() if k not in ("ports", "restart")}
    doc = merge(doc, {"services": {"s3": s3}, "volumes": server.get("volumes", {})})
else:                              # S3_ENDPOINT: an external server
    doc["services"].pop("s3", None)
    for d in docs[1:]:
        d.get("services", {}).pop("s3", None)
for d in docs[1:]:
    doc = merge(doc, d)
if os.environ.get("SIMS_PER_NODE"):  # compose 3.8's max_replicas_per_node, as a number
    placement = doc["services"]["sim"].setdefault("deploy", {}).setdefault("placement", {})
    placement["max_replicas_per_node"] = int(os.environ["SIMS_PER_NODE"])
doc = {k: v for k, v in doc.items() if not k.startswith("x-")}     # anchors are resolved by now
class NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True

with open(out, "w") as fh:
    yaml.dump(doc, fh, Dumper=NoAliases, sort_keys=False, width=1000)
EOF
    echo "$out"
}

deploy() {   # deploy with DEEPRACER_TRAINERS / DEEPRACER_SIMS from the environment
    local f
    f=$(merged_file)
    $DOCKER stack deploy --prune --resolve-image "$RESOLVE" -c "$f" "$STACK"
    rm -f "$f"
}

service_exists() { $DOCKER service inspect "${STACK}_$1" >/dev/null 2>&1; }

check_nodes() {   # before the trainer and sims: every node that will run them has the image and reaches Redis and S3
    # CHECK_WAIT: seconds a node may take to reach Redis and S3; a node that pulls the image gets 600 s more
    local server_wait=${CHECK_WAIT:-60} failed=0 spec svc image node state err constraint
    local wait_s=$((server_wait + 600))
    local common=(--detach --mode global --restart-condition none --network "${STACK}_deepracer"
                  --env-file "$STACK_ENV_FILE" -e DEEPRACER_REDIS_URL=redis://redis:6379/0
                  -e "DEEPRACER_S3_ENDPOINT=${S3_ENDPOINT:-http://s3:8333}" -e "DEEPRACER_S3_BUCKET=$DEEPRACER_S3_BUCKET"
                  -e 'NODE_HOSTNAME={{.Node.Hostname}}')
    [ "$RESOLVE" = never ] && common+=(--no-resolve-image)
    # the sims' nodes with the sims' image, the trainer's with the trainer's (the same image unless GPU=1)
    local checks=("sims|node.labels.deepracer.sim != false|$APP_IMAGE" "trainer|node.labels.deepracer.gpu == true|$TRAINER_IMAGE")
    for spec in "${checks[@]}"; do
        IFS='|' read -r svc constraint image <<<"$spec"
        $DOCKER service rm "${STACK}_check-$svc" >/dev/null 2>&1 || true
        $DOCKER service create "${common[@]}" --name "${STACK}_check-$svc" --constraint "$constraint" \
            "$image" python -m stack.swarm_check --wait "$server_wait" >/dev/null
    done
    local deadline=$((SECONDS + wait_s)) said
    said=$(mktemp)
    for spec in "${checks[@]}"; do
        IFS='|' read -r svc constraint image <<<"$spec"
        svc="${STACK}_check-$svc"
        # every task in a final state; a node that pulls the image from a registry takes a while
        while [ -z "$($DOCKER service ps -q "$svc")" ] \
                || $DOCKER service ps --format '{{.CurrentState}}' "$svc" | grep -qvE '^(Complete|Failed|Rejected|Shutdown)'; do
            if [ $SECONDS -ge $deadline ]; then
                echo "error: the node check $svc did not finish within $wait_s s:" >&2
                $DOCKER service ps --no-trunc "$svc" >&2; failed=1; break
            fi
            sleep 1
        done
        while IFS='|' read -r node state err; do
            case "$state" in
                Complete*) ;;
                *)
                    failed=1
                    if [[ "$err" == *"No such image"* ]]; then
                        echo "error: node $node has no image $image: load it there (docker save $image | ssh NODE docker load)" \
                             "or push it to a registry every node reaches and set APP_IMAGE" >&2
                    elif [[ "$err" == *"non-zero exit"* ]] && $DOCKER service logs --raw "$svc" 2>/dev/null | grep "^node $node:" >"$said"; then
                        sed 's/^/error: /' "$said" >&2
                    else
                        echo "error: node $node: the check did not run: ${err:-$state}" >&2
                    fi ;;
            esac
        done < <($DOCKER service ps --no-trunc --format '{{.Node}}|{{.CurrentState}}|{{.Error}}' "$svc")
    done
    rm -f "$said"
    for spec in "${checks[@]}"; do $DOCKER service rm "${STACK}_check-${spec%%|*}" >/dev/null 2>&1 || true; done
    [ "$failed" = 0 ] || { echo "error: not deploying the trainer and sims; fix the nodes above, then run up again" >&2; exit 2; }
    say "every node has its image and reaches Redis and S3"
}

cmd_up() {
    [ -n "$DEEPRACER_MODEL" ] || { echo "error: MODEL=name is required" >&2; exit 2; }
    [ -f "$STACK_ENV_FILE" ] || { echo "error: no $STACK_ENV_FILE (python -m stack.compose_launch env-file)" >&2; exit 2; }
    cmd_init
    for image in "$APP_IMAGE" "$TRAINER_IMAGE"; do
        if ! $DOCKER image inspect "$image" >/dev/null 2>&1 && [ "$RESOLVE" = never ]; then
            echo "error: no image $image here (build it, or push it to a registry and set APP_IMAGE)" >&2; exit 2
        fi
    done
    if ! service_exists trainer; then
        say "deploying $STACK: redis and the S3 server"
        DEEPRACER_TRAINERS=0 DEEPRACER_SIMS=0 deploy
    fi
    say "uploading model $DEEPRACER_MODEL (S3 at 127.0.0.1:$S3_PORT)"
    local upload=(-m stack.compose_launch upload --model "$DEEPRACER_MODEL" --endpoint "http://127.0.0.1:$S3_PORT"
                  --bucket "$DEEPRACER_S3_BUCKET" --env-file "$STACK_ENV_FILE" --wait "${S3_WAIT:-180}")
    # given ones only: a RESUME keeps the model's own track, preset and reward
    [ -n "$DEEPRACER_TRACK" ] && upload+=(--track "$DEEPRACER_TRACK")
    [ -n "${PRESET:-}" ] && upload+=(--preset "$PRESET")
    [ -n "${REWARD:-}" ] && upload+=(--reward "$REWARD")
    [ -n "${METADATA:-}" ] && upload+=(--metadata "$METADATA")
    [ -n "${HYPERPARAMETERS:-}" ] && upload+=(--hyperparameters "$HYPERPARAMETERS")
    [ -n "${EPISODES_BETWEEN_TRAINING:-}" ] && upload+=(--episodes-between-training "$EPISODES_BETWEEN_TRAINING")
    [ -n "${RESUME:-}" ] && upload+=(--resume)
    (cd "$ROOT" && env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u DEEPRACER_S3_ENDPOINT "$PYTHON" "${upload[@]}")
    check_nodes
    say "deploying $STACK: the trainer and $SIMS sims"
    DEEPRACER_TRAINERS=1 DEEPRACER_SIMS=$SIMS deploy
}

cmd_scale() { $DOCKER service scale --detach "${STACK}_sim=$SIMS"; }

cmd_down() {
    $DOCKER stack rm "$STACK" || true
    # stack rm returns at once; the network goes only after the containers (a redeploy needs it gone)
    for _ in $(seq 120); do
        [ -z "$($DOCKER ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ] \
            && ! $DOCKER network inspect "${STACK}_deepracer" >/dev/null 2>&1 && break
        sleep 0.5
    done
    say "$STACK removed (its S3 volume stays: docker volume rm ${STACK}_seaweedfs-data (MinIO: ${STACK}_s3data) deletes the models)"
}

cmd_leave() {
    [ "$(swarm_state)" = inactive ] || $DOCKER swarm leave --force >/dev/null
    say "left the swarm"
}

case "${1:-}" in
    up) cmd_up ;;
    scale) cmd_scale ;;
    down) cmd_down ;;
    init) cmd_init ;;
    leave) cmd_leave ;;
    ps) $DOCKER stack ps "$STACK" ;;
    logs) $DOCKER service logs -f --tail 100 "${STACK}_trainer" ;;
    config) f=$(merged_file); cat "$f"; rm -f "$f" ;;
    *) echo "usage: $0 up|scale|down|init|leave|ps|logs|config" >&2; exit 2 ;;
esac
