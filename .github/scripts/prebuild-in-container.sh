#!/bin/sh
# Runs inside a Linux build container of .github/workflows/prebuild.yml, in the repo's checkout:
# installs Node 20 and a C++17 toolchain, builds this platform's prebuild into prebuilds/, and tests
# the packed package with it installed (scripts/install-test/packed-smoke.js).
#   Rocky Linux 8: glibc 2.28, so the prebuild loads on any glibc distribution that new or newer;
#                  GCC 12 from gcc-toolset (its libstdc++ additions are linked statically, so the
#                  addon still needs only the system's libstdc++).
#   Alpine:        musl (prebuildify --tag-libc names the file *.musl.node).
set -eu

if [ -f /etc/alpine-release ]; then
  apk add --no-cache build-base python3
else
  dnf -y -q module enable nodejs:20
  dnf -y -q install nodejs nodejs-devel npm make binutils python3.11 gcc-toolset-12-gcc-c++
  # shellcheck disable=SC1091
  . /opt/rh/gcc-toolset-12/enable
  export PYTHON=/usr/bin/python3.11 npm_config_python=/usr/bin/python3.11  # node-gyp needs Python >= 3.8
fi
echo "node $(node --version), npm $(npm --version), $(g++ --version | head -n 1)"

npm ci --ignore-scripts --no-audit --no-fund
npm run build:ts
npm run build:prebuild
ls -l prebuilds/*/
rm -f simd-attention-*.tgz
npm pack --ignore-scripts
node scripts/install-test/packed-smoke.js simd-attention-*.tgz
