# The build that ships (node-gyp; prebuildify uses it too).
# Sources, defines and compiler flags live in native/sources.gypi, which CMakeLists.txt reads as
# well: the two builds must stay in sync, and test/package/build-sync.test.ts fails when they drift.
# No machine-specific or global ISA flag here: the binary is x86-64 (or armv8-a) baseline; AVX2 and AVX-512 kernels
# are compiled inside per-function target regions (native/kernels/common/target.h) and chosen at
# run time.
{
  "targets": [
    {
      "target_name": "simd_attention",
      "includes": ["native/sources.gypi"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "11.0",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-fvisibility=hidden"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": {
          "ExceptionHandling": 1,
          "AdditionalOptions": ["/std:c++17", "/O2"]
        }
      }
    }
  ]
}
