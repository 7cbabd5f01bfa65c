#!/bin/sh
# Configures (once) and builds corral into ./build with ccache.
# BUILD_DIR and BUILD_TYPE choose the tree; CORRAL_WERROR=ON|OFF (./check sets
# ON) turns warnings into errors, and is kept in the tree's cache when unset.
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
    -DCORRAL_WERROR="${CORRAL_WERROR:-OFF}" >/dev/null
elif [ -n "${CORRAL_WERROR:-}" ] &&
  ! grep -qx "CORRAL_WERROR:BOOL=${CORRAL_WERROR}" "$BUILD_DIR/CMakeCache.txt"; then
  cmake "$BUILD_DIR" -DCORRAL_WERROR="${CORRAL_WERROR}" >/dev/null
fi
if [ $# -gt 0 ]; then set -- --target "$@"; fi
cmake --build "$BUILD_DIR" -j"$(nproc)" "$@"
