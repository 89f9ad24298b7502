#!/usr/bin/env bash
# Installs everything Lectern needs on Debian 12 and builds it. Idempotent: what is already
# installed is skipped, so CI runs it every time.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(
  # build
  build-essential pkg-config
  # GStreamer 1.22: development files and the plugins that decode what people upload
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  # tests: ffmpeg decodes every rung, Chromium plays the output, redis-server for the cache tier
  ffmpeg chromium redis-server curl
  # benchmarks: nginx and wrk for the origin, GNU time and bc for the packaging comparison
  nginx-light wrk time bc
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js for the browser tests: any install will do; Debian's if there is none.
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust (https://rustup.rs) and run ./setup.sh again" >&2
  exit 1
fi

# Browser-test dependencies: playwright-core drives Debian's chromium (it never downloads a
# browser); hls.js and dashjs are the players under test.
if [ ! -d tests/browser/node_modules ] || [ tests/browser/package-lock.json -nt tests/browser/node_modules ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
  touch tests/browser/node_modules
fi

# The web app (Vue 3 + TypeScript + Vite): built into web/dist, which the binary embeds, so
# it is built before cargo.
if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules ]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  touch web/node_modules
fi
# Rebuilt only when a source is newer than the last build (a rebuild makes cargo relink).
if [ ! -f web/dist/index.html ] || [ -n "$(find web/src web/public web/index.html web/package-lock.json web/vite.config.ts web/tsconfig.json -newer web/dist/index.html -print -quit)" ]; then
  (cd web && npm run build --silent)
fi

cargo build --release --locked
echo "setup: done. Run the tests with: cargo test --release --workspace --locked"
