#!/bin/sh
# apt-get update for Debian 11 (bullseye), falling back to archive.debian.org once the main mirror has
# dropped it (Debian 11 left LTS in August 2026). Used at image build time only.
set -e
if ! apt-get update -qq 2>/tmp/apt-update.err || grep -q "does not have a Release file\|404" /tmp/apt-update.err; then
    echo "apt-sources: bullseye is gone from the main mirror; using archive.debian.org" >&2
    rm -f /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources
    printf 'deb http://archive.debian.org/debian bullseye main\ndeb http://archive.debian.org/debian-security bullseye-security main\n' \
        >/etc/apt/sources.list
    printf 'Acquire::Check-Valid-Until "false";\n' >/etc/apt/apt.conf.d/99archive
    apt-get update -qq
fi
