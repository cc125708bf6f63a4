#!/usr/bin/env bash
# Runs a deepracer-local command against a Gazebo sim, both in containers of the compose stack:
#   bash scripts/gazebo-run.sh evaluate --model m --trials 3      (what `make evaluate BACKEND=gazebo` runs)
#   bash scripts/gazebo-run.sh bench transfer --minutes 30         (what `make bench-transfer GAZEBO=1` runs)
# starts the sim-gazebo service (profile gazebo) when it is not running, then the command in a one-off
# container of the app image on the stack's network (the ROS connections of a Gazebo sim go both ways on
# ports of their own, so the worker side must be on that network too), with models/ and out/ mounted and
# GAZEBO_MASTER_URI=http://sim-gazebo:11311. Files it writes belong to the calling user.
#   DC        the compose command with its -f files (the Makefile passes its own)
#   DEEPRACER_MODELS_DIR (default models), DEEPRACER_TRACKS (mounted read-only when set)
set -euo pipefail
cd "$(dirname "$0")/.."
DC=${DC:-docker-compose -f compose/docker-compose.yml -f compose/s3-seaweedfs.yml}
models=$(realpath -m "${DEEPRACER_MODELS_DIR:-models}")
out=$(realpath -m out)
mkdir -p "$out"
[ -d "$models" ] || { echo "gazebo-run: no models folder $models (DEEPRACER_MODELS_DIR)" >&2; exit 2; }
$DC --profile gazebo up -d --no-deps sim-gazebo >&2
extra=()
if [ -n "${DEEPRACER_TRACKS:-}" ]; then
    extra+=(-v "$(realpath "$DEEPRACER_TRACKS"):/tracks:ro" -e DEEPRACER_TRACKS=/tracks)
fi
# evaluate races in Gazebo beside the fast simulator; other commands find the sim by GAZEBO_MASTER_URI
if [ "${1:-}" = evaluate ]; then
    set -- "$@" --backend gazebo
fi
exec $DC run --rm --no-deps --user "$(id -u):$(id -g)" -w /work -v "$models:/work/models" -v "$out:/work/out" \
    -e DEEPRACER_MODELS_DIR=/work/models -e GAZEBO_MASTER_URI=http://sim-gazebo:11311 -e HOME=/tmp \
    "${extra[@]}" trainer deepracer-local "$@"
