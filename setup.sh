#!/usr/bin/env bash
# Installs everything Lectern needs on Debian 12 and builds it. Idempotent: what is present is skipped.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(
  # build
  build-essential pkg-config
  # GStreamer 1.22: dev files and the plugins that decode what people upload
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  # tests and benchmarks
  ffmpeg chromium redis-server nginx-light wrk
  nodejs npm
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Browser-test dependencies (playwright-core drives Debian's chromium; hls.js and dash.js are the players).
if [ ! -d tests/browser/node_modules ] || [ tests/browser/package-lock.json -nt tests/browser/node_modules ]; then
  (cd tests/browser && npm ci --no-audit --no-fund)
fi

cargo build --release --locked
