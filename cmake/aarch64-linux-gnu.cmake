# Cross-compiles the native code for 64-bit Arm Linux with Debian's g++-aarch64-linux-gnu, so the
# NEON kernels can be tested on an x86-64 machine under qemu-user:
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#   qemu-aarch64 -L /usr/aarch64-linux-gnu build-aarch64/sa_native_tests
# (scripts/test-neon-qemu.sh does both). The target is plain armv8-a: NEON (Advanced SIMD) is part
# of the aarch64 baseline, so no -march flag is needed or wanted.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(SA_CROSS_PREFIX aarch64-linux-gnu- CACHE STRING "Prefix of the cross toolchain's programs")
set(CMAKE_C_COMPILER ${SA_CROSS_PREFIX}gcc)
set(CMAKE_CXX_COMPILER ${SA_CROSS_PREFIX}g++)

# Headers and libraries come from the cross sysroot only; programs (cmake's helpers) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest (and try_run) run the aarch64 programs through qemu-user with the cross sysroot's loader.
find_program(SA_QEMU_AARCH64 qemu-aarch64)
if(SA_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SA_QEMU_AARCH64} -L /usr/aarch64-linux-gnu)
endif()
