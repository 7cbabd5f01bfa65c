#!/bin/sh
# Configures (once) and builds corral into ./build with ccache.
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
fi
if [ $# -gt 0 ]; then set -- --target "$@"; fi
cmake --build "$BUILD_DIR" -j"$(nproc)" "$@"
