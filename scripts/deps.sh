#!/bin/sh
# Installs qbench's build and runtime dependencies from Debian packages (apt-get).
# Called by `make deps`, and by make itself when a library is missing.
set -e
PKGS="build-essential pkg-config libopenblas-dev liblapacke-dev libsqlite3-dev sqlite3 libcmocka-dev \
libcjson-dev libyaml-dev libstemmer-dev libutf8proc-dev wordnet-base gnuplot-nox python3 ca-certificates curl"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends $PKGS
