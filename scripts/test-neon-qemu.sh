#!/usr/bin/env bash
# The NEON kernels, tested for real on an x86-64 machine: cross-compiles the native test program
# (CMake target sa_native_tests) for aarch64 with Debian's g++-aarch64-linux-gnu
# (cmake/aarch64-linux-gnu.cmake) and runs it under qemu-user, where the dispatcher sees an arm64 CPU:
# every NEON kernel is checked against the scalar reference, as on a real arm64 machine.
# Needs g++-aarch64-linux-gnu and qemu-user (.ci/run installs them).
#   scripts/test-neon-qemu.sh [build dir]     (default: build-ci-aarch64)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build-ci-aarch64}"

for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  command -v "$tool" >/dev/null || { echo "test-neon-qemu: $tool is missing (apt-get install g++-aarch64-linux-gnu qemu-user)" >&2; exit 1; }
done

cmake -S . -B "$dir" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$dir" -j"$(nproc)" --target sa_native_tests >/dev/null
readelf -h "$dir/sa_native_tests" | grep -q "Machine:.*AArch64" || { echo "test-neon-qemu: $dir/sa_native_tests is not an aarch64 program" >&2; exit 1; }

# native/test/test_arch_isas.cc fails unless the program sees itself as arm64 with NEON preferred, so
# the NEON kernels cannot silently go untested. ctest runs it through qemu-aarch64 (the toolchain file
# sets CMAKE_CROSSCOMPILING_EMULATOR) three times: on qemu's default CPU model, which has BF16 and FHM
# (the neonbf16 tier and the float16 GEMM, asserted), with QEMU_CPU=neoverse-n1, which lacks both
# (plain neon, float16 widened, asserted), and on the default model with SIMD_ATTENTION_ISA=neon (the
# dispatch test alone: the forced tier turns both off).
(cd "$dir" && ctest --output-on-failure --verbose)
