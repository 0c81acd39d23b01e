#!/usr/bin/env bash
# The native code under a second compiler, clang++ (the compiler of the macOS prebuilds, and the one
# whose target regions work differently from GCC's: `#pragma clang attribute` in
# native/kernels/common/target.h):
#   1. the native kernel tests (CMake, sa_native_tests): every ISA this CPU has against the scalar
#      reference;
#   2. the addon itself (node-gyp, in a temporary copy so the repo's build/ is left alone): loads, and
#      its machine code uses AVX / AVX-512 only inside the kernels (install-test/check-isa-regions.js).
# Needs clang (.ci/run installs Debian's).
#   scripts/test-native-clang.sh [build dir]     (default: build-ci-clang)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
dir="${1:-build-ci-clang}"
command -v clang++ >/dev/null || { echo "test-native-clang: clang++ is missing (apt-get install clang)" >&2; exit 1; }
echo "$(clang++ --version | head -n 1)"

cmake -S . -B "$dir" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$dir" -j"$(nproc)" >/dev/null
(cd "$dir" && ctest --output-on-failure)

copy="$(mktemp -d "${TMPDIR:-/tmp}/sa-clang-addon.XXXXXX")"
trap 'rm -rf "$copy"' EXIT
cp -r package.json binding.gyp native "$copy/"
ln -s "$repo/node_modules" "$copy/node_modules"
if ! (cd "$copy" && CC=clang CXX=clang++ JOBS=max npm run build:native >"$copy/build.log" 2>&1); then
  tail -n 40 "$copy/build.log" >&2
  exit 1
fi
node -e '
  const addon = require(process.argv[1]);
  const info = addon.backendInfo();
  if (!/^clang/.test(info.build.compiler)) throw new Error("not a clang build: " + info.build.compiler);
  console.log(`clang addon: loads; ${info.build.compiler}; isa ${info.isa} of [${info.availableIsas.join(", ")}]`);
' "$copy/build/Release/simd_attention.node"
node scripts/install-test/check-isa-regions.js "$copy/build/Release/simd_attention.node" "$copy/build/Release/obj.target/simd_attention"
