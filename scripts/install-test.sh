#!/usr/bin/env bash
# The package as a user gets it (run by .ci/run after `npm test`; Linux, x64 or arm64):
#   1. `npm pack` the repo; check the tarball ships what an install needs and nothing else.
#   2. Unpack it and run `npm run build:prebuild` there (prebuildify: prebuilds/<platform>-<arch>/),
#      so the prebuild is built from exactly the sources the tarball ships. On x64, check from the
#      machine code that AVX / AVX-512 appear only inside the kernels (install-test/check-isa-regions.js).
#   3. Install the tarball with that prebuild into an empty project whose PATH holds node, npm and sh
#      only — no compiler, make or python — and compute there (matmul and attention against answers known
#      by hand), from CommonJS and ESM, on every ISA; on emulated CPUs without AVX-512 or AVX (qemu-user,
#      when installed); type-check a .mts and a .cts consumer; `npx simd-attention info` when the package
#      has a bin. It must load the prebuild, and no build/ folder may appear. Once with npm's default
#      install-script policy (npm 11: unreviewed scripts run, with a warning), once with the package's
#      install script denied under --strict-allow-scripts (what npm says it will enforce): a prebuild
#      needs no install script at all.
#   4. The tarball without a prebuild: with no compiler on PATH the install must fail (so step 3 could
#      not have compiled anything); with the compiler back and the package approved in the project's
#      `allowScripts` (checked with --strict-allow-scripts), node-gyp builds it from the tarball.
# Temporary files live under one mktemp folder, removed at the end (kept when a step fails).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
fixtures="$repo/scripts/install-test"
work="$(mktemp -d "${TMPDIR:-/tmp}/sa-install-test.XXXXXX")"
trap 'status=$?; if [ $status -eq 0 ]; then rm -rf "$work"; else echo "install-test: FAILED (files kept in $work)" >&2; fi' EXIT
platform="$(node -p 'process.platform + "-" + process.arch')"
export JOBS=max  # node-gyp: one compile job per core
failures=0

step() { echo; echo "== install-test: $*"; }
# quiet <log name> <command...>: the command's output goes to $work/<log name>.log, shown if it fails.
quiet() {
  local log="$work/$1.log" status=0
  shift
  "$@" >"$log" 2>&1 || status=$?
  [ $status -eq 0 ] || tail -n 60 "$log" >&2
  return $status
}

# A clean environment for the "user": HOME (npm's cache and user config), the PATH given, and the few
# variables that npm needs to reach the registry here. Nothing of ours leaks in (no CC, no npm_config_*).
user_env() {
  local path="$1"; shift
  local keep=(HOME="$HOME" PATH="$path" TMPDIR="${TMPDIR:-/tmp}")
  for v in NODE_EXTRA_CA_CERTS http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy NO_PROXY npm_config_registry; do
    [ -n "${!v:-}" ] && keep+=("$v=${!v}")
  done
  env -i "${keep[@]}" "$@"
}

step "npm pack"
(cd "$repo" && quiet pack npm pack --pack-destination "$work")
packed=("$work"/simd-attention-*.tgz)
[ ${#packed[@]} -eq 1 ] || { echo "expected one tarball, got: ${packed[*]}" >&2; exit 1; }
tar tzf "${packed[0]}" | sed 's|^package/||' | sort >"$work/contents.txt"
for must in package.json dist/lib/index.js dist/lib/index.d.ts dist/lib/index.mjs dist/lib/index.d.mts \
            dist/cli/main.js dist/bench/index.js README.md docs/SPEC.md \
            binding.gyp native/sources.gypi CMakeLists.txt native/runtime/dispatch.cc; do
  grep -qx "$must" "$work/contents.txt" || { echo "the tarball lacks $must" >&2; failures=$((failures + 1)); }
done
if grep -E '^(build|lib|test|bench|node_modules|scripts|\.ci)/|\.map$|\.tgz$' "$work/contents.txt" >&2; then
  echo "the tarball ships the files above, which a user does not need" >&2
  failures=$((failures + 1))
fi
# The library's folder holds the library: the bin's command line and benchmarks live in dist/cli, dist/bench.
if grep -E '^dist/lib/.*(bench|cli|onnx|harness|suite)' "$work/contents.txt" >&2; then
  echo "dist/lib ships the benchmark or command-line files above" >&2
  failures=$((failures + 1))
fi
# Every source file the build lists must be in the tarball.
node -e '
  const g = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const have = new Set(require("fs").readFileSync(process.argv[2], "utf8").split("\n"));
  const missing = g.sources.map((s) => "native/" + s).filter((s) => !have.has(s));
  if (missing.length) { console.error("the tarball lacks sources the build lists: " + missing.join(", ")); process.exit(1); }
' "$repo/native/sources.gypi" "$work/contents.txt" || failures=$((failures + 1))
echo "$(wc -l <"$work/contents.txt") files, $(du -k "${packed[0]}" | cut -f1) KiB"

step "prebuild: npm run build:prebuild in the unpacked tarball"
stage="$work/stage/package"
mkdir -p "$work/stage" "$work/source-only" "$work/with-prebuild" "$work/unstripped"
tar xzf "${packed[0]}" -C "$work/stage"
rm -rf "$stage/prebuilds"  # whatever the repo held: build this platform's prebuild from these sources
ln -s "$repo/node_modules" "$stage/node_modules"  # prebuildify and node-addon-api (dev tools only)
(cd "$stage" && quiet pack-source-only npm pack --ignore-scripts --pack-destination "$work/source-only")
# prebuildify strips the addon in place; this stand-in for strip keeps an unstripped copy for the check.
printf '#!/bin/sh\ncp "$1" "%s/unstripped/addon.node"\nexec strip "$@"\n' "$work" >"$work/strip-keeping-a-copy"
chmod +x "$work/strip-keeping-a-copy"
(cd "$stage" && quiet prebuild env PREBUILD_STRIP_BIN="$work/strip-keeping-a-copy" npm run build:prebuild)
prebuilt=("$stage/prebuilds/$platform"/*.node)
[ ${#prebuilt[@]} -eq 1 ] && [ -f "${prebuilt[0]}" ] || { echo "prebuildify wrote no prebuilds/$platform/*.node" >&2; exit 1; }
echo "${prebuilt[0]#"$stage/"}: $(du -k "${prebuilt[0]}" | cut -f1) KiB"
if [ "$platform" = linux-x64 ]; then
  strip --strip-all -o "$work/restripped.node" "$work/unstripped/addon.node"
  cmp -s "$work/restripped.node" "${prebuilt[0]}" || { echo "the unstripped copy is not the prebuild's code" >&2; exit 1; }
  node "$fixtures/check-isa-regions.js" "$work/unstripped/addon.node" "$stage/build/Release/obj.target/simd_attention" ||
    failures=$((failures + 1))
fi
rm -rf "$stage/build"
(cd "$stage" && quiet pack-with-prebuild npm pack --ignore-scripts --pack-destination "$work/with-prebuild")
with_prebuild=("$work/with-prebuild"/*.tgz)
source_only=("$work/source-only"/*.tgz)
tar tzf "${with_prebuild[0]}" >"$work/contents-with-prebuild.txt"
grep -q "^package/prebuilds/$platform/" "$work/contents-with-prebuild.txt" || { echo "the repacked tarball lacks the prebuild" >&2; exit 1; }

# A PATH with node, npm, npx and sh only, and proof that it reaches no build tool.
bare="$work/bare-bin"
mkdir "$bare"
for tool in node npm npx sh; do ln -s "$(command -v "$tool")" "$bare/$tool"; done
if user_env "$bare" sh -c 'for t in cc c++ gcc g++ clang clang++ make gmake python python3; do command -v $t; done' | grep .; then
  echo "the bare PATH reaches the build tools above" >&2
  exit 1
fi

new_project() {  # new_project <name> [<allowScripts value for the tarball: true|false>] <tarball>
  local dir="$work/$1" policy=""
  [ $# -eq 3 ] && policy=", \"allowScripts\": { \"file:$3\": $2 }"
  mkdir "$dir"
  printf '{ "name": "consumer-%s", "version": "1.0.0", "private": true%s }\n' "$1" "$policy" >"$dir/package.json"
  cp "$fixtures"/smoke.cjs "$fixtures"/esm.mjs "$fixtures"/types.mts "$fixtures"/types.cts "$fixtures"/tsconfig.json "$dir/"
  echo "$dir"
}
check() {  # check <description> <command...>: counts a failure instead of stopping, so every case reports
  local what="$1"; shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what" >&2; failures=$((failures + 1)); fi
}

# qemu-user prints a warning for each host CPU feature its emulator lacks; they say nothing here.
emulated() { "$@" 2> >(grep -v "TCG doesn't support requested feature" >&2); }

step "install the tarball with its prebuild, PATH without compiler, make or python"
proj="$(new_project prebuilt)"
(cd "$proj" && quiet install-prebuilt user_env "$bare" npm install --no-audit --no-fund "${with_prebuild[0]}")
cd "$proj"
check "CommonJS: computes, loads prebuilds/$platform, no build/" user_env "$bare" node smoke.cjs prebuild
isas="$(user_env "$bare" node -p "require('simd-attention').backendInfo().availableIsas.join(' ')")"
for isa in $isas; do
  check "SIMD_ATTENTION_ISA=$isa" user_env "$bare" SIMD_ATTENTION_ISA="$isa" node smoke.cjs prebuild --isa="$isa"
done
check "ESM import: the same objects as require" user_env "$bare" node esm.mjs
# protobufjs and onnxruntime-node are optional peers: not installed, never loaded by the library.
check "the optional peers are not installed" \
  sh -c '! [ -e node_modules/protobufjs ] && ! [ -e node_modules/onnxruntime-node ]'
check "require('simd-attention') loads no tool module" user_env "$bare" node -e '
  const sa = require("simd-attention"); sa.backendInfo();
  const tool = /[\\/]dist[\\/](cli|bench)[\\/]|protobufjs|onnxruntime|commander/;
  const tools = Object.keys(require.cache).filter((f) => tool.test(f));
  if (tools.length) { console.error(tools.join("\n")); process.exit(1); }'
check "types: a .mts and a .cts consumer type-check (tsc, nodenext)" \
  user_env "$bare" node "$repo/node_modules/typescript/bin/tsc" -p tsconfig.json
if [ "$platform" = linux-x64 ] && command -v qemu-x86_64 >/dev/null; then
  # Real CPUs without AVX-512 (Haswell: AVX2 + FMA) and without any AVX (qemu64: the x86-64 baseline),
  # emulated by qemu-user: the prebuild must load on both and pick the best path each CPU has.
  qemu="$(command -v qemu-x86_64)"
  node="$(command -v node)"
  check "emulated Haswell CPU picks avx2" emulated user_env "$bare" "$qemu" -cpu Haswell "$node" smoke.cjs prebuild --isa=avx2
  check "emulated baseline x86-64 CPU (qemu64, no AVX) picks scalar" \
    emulated user_env "$bare" "$qemu" -cpu qemu64 "$node" smoke.cjs prebuild --isa=scalar
elif [ "$platform" = linux-x64 ]; then
  echo "(qemu-x86_64 not installed: skipping the emulated-CPU runs)"
fi
if node -e 'process.exit(require(process.argv[1]).bin ? 0 : 1)' "$proj/node_modules/simd-attention/package.json"; then
  check "npx simd-attention info" user_env "$bare" npx --no-install simd-attention info
  check "npx simd-attention bench (tiny) --out" user_env "$bare" npx --no-install simd-attention bench matmul \
    --sizes 64 --threads 1 --budget 20 --json --out bench.json
  check "npx simd-attention plot" user_env "$bare" npx --no-install simd-attention plot bench.json -o chart.svg
  check "npx simd-attention heatmap --demo" user_env "$bare" npx --no-install simd-attention heatmap --demo -o heatmap.svg
  check "plot and heatmap wrote SVG" sh -c 'grep -q "<svg" chart.svg && grep -q "<svg" heatmap.svg'
  compare_says_what_to_install() {
    user_env "$bare" npx --no-install simd-attention bench matmul --sizes 32 --threads 1 --budget 10 --compare \
      >compare.log 2>&1 && grep -q 'npm install onnxruntime-node' compare.log
  }
  check "bench --compare without onnxruntime-node says what to install" compare_says_what_to_install
else
  echo "(the package has no bin yet: skipping npx simd-attention info)"
fi
cd "$work"

step "the same, with the install script denied (allowScripts false, --strict-allow-scripts)"
proj="$(new_project prebuilt-scripts-denied false "${with_prebuild[0]}")"
(cd "$proj" && quiet install-scripts-denied user_env "$bare" npm install --no-audit --no-fund --strict-allow-scripts "${with_prebuild[0]}")
cd "$proj"
check "the prebuild loads without the install script" user_env "$bare" node smoke.cjs prebuild
cd "$work"

step "install the tarball without a prebuild, PATH without compiler: must fail"
proj="$(new_project no-compiler)"
if (cd "$proj" && user_env "$bare" npm install --no-audit --no-fund "${source_only[0]}" >"$work/no-compiler.log" 2>&1); then
  echo "FAILED: the install succeeded without a prebuild or a compiler" >&2
  failures=$((failures + 1))
else
  echo "ok: refused as expected: $(grep -m1 'gyp ERR! stack Error' "$work/no-compiler.log" | sed 's/.*stack //' || true)"
fi

step "install the tarball without a prebuild, compiler on PATH, approved in allowScripts: node-gyp builds it"
proj="$(new_project from-source true "${source_only[0]}")"
(cd "$proj" && quiet install-from-source user_env "$PATH" npm install --no-audit --no-fund --strict-allow-scripts "${source_only[0]}")
cd "$proj"
check "CommonJS from a source build: computes, loads build/Release" user_env "$PATH" node smoke.cjs source
check "ESM import from a source build" user_env "$PATH" node esm.mjs
cd "$work"

echo
if [ "$failures" -ne 0 ]; then
  echo "install-test: $failures check(s) failed" >&2
  exit 1
fi
echo "install-test: all checks passed"
