#!/bin/sh
# Install the Debian packages standingd needs to build and test, if missing.
# Idempotent; needs root (or sudo) only when something is missing.
set -eu
pkgs="gcc meson ninja-build pkgconf libuv1-dev liblmdb-dev lmdb-utils libyaml-dev
libsystemd-dev libjansson-dev libcmocka-dev tzdata valgrind python3 systemd
clang libclang-rt-dev libicu-dev libcurl4-openssl-dev python3-aiosmtpd
libical-dev libsqlite3-dev"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
