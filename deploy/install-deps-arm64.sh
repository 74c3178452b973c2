#!/usr/bin/env bash
# Installs what the arm64 cross build and its emulated test run need on a Debian bookworm
# x86-64 machine: Debian multiarch (arm64 foreign architecture), the cross toolchain, the
# :arm64 development packages of every library Tandem links (all Multi-Arch: same, so they
# sit next to the amd64 ones), the HOST protoc + grpc_cpp_plugin (code generation runs on
# the build machine), and qemu-user to run arm64 binaries.
# Idempotent: the architecture is added once and packages already present are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

# The native toolchain and host tools (protoc, grpc_cpp_plugin, openssl, node, python).
bash deploy/install-deps.sh

packages=(
  crossbuild-essential-arm64
  # qemu-user-static: statically linked arm64 emulator; CMAKE_CROSSCOMPILING_EMULATOR runs
  # it explicitly, so no binfmt registration (and no privileged container) is needed.
  qemu-user-static
  # the libraries, for arm64 (headers are shared, libraries go to /usr/lib/aarch64-linux-gnu)
  libgrpc++-dev:arm64 libprotobuf-dev:arm64 libabsl-dev:arm64 libssl-dev:arm64
  libgtest-dev:arm64 libgmock-dev:arm64 libbenchmark-dev:arm64 libcpp-httplib-dev:arm64
  zlib1g-dev:arm64
  # ICU (the BPE pre-tokenizers' Unicode classes); its icu-devtools dependency is
  # Multi-Arch: foreign, so the host's satisfies it
  libicu-dev:arm64
  # prometheus-cpp: prometheus-cpp-dev:arm64 cannot be installed next to the amd64 one (it
  # depends on the civetweb binary package, which is not Multi-Arch), so install the arm64
  # libraries and what its CMake config finds, and unpack the -dev package below.
  libprometheus-cpp-core1.0:arm64 libprometheus-cpp-pull1.0:arm64
  libprometheus-cpp-push1.0:arm64 libcivetweb-dev:arm64 libcurl4-openssl-dev:arm64
  # dpkg packaging for the .deb (cpack -G DEB uses dpkg-shlibdeps / dpkg-deb)
  dpkg-dev file
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  "${sudo_cmd[@]}" dpkg --add-architecture arm64
  added_arch=1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ -n "${added_arch:-}" ]; then
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends --no-remove "${missing[@]}"
  fi
fi

# prometheus-cpp-dev for arm64, unpacked (headers, CMake config, library links) into a
# prefix of its own; the toolchain file (deploy/cmake/aarch64-linux-gnu.cmake) searches it.
prefix=/opt/tandem-arm64/prometheus-cpp
if [ ! -f "$prefix/usr/lib/aarch64-linux-gnu/cmake/prometheus-cpp/prometheus-cpp-config.cmake" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq prometheus-cpp-dev:arm64)
  "${sudo_cmd[@]}" mkdir -p "$prefix"
  "${sudo_cmd[@]}" dpkg-deb -x "$tmp"/prometheus-cpp-dev_*_arm64.deb "$prefix"
  # The -dev package's .so links point at the runtime libraries installed above.
  "${sudo_cmd[@]}" cp -a /usr/lib/aarch64-linux-gnu/libprometheus-cpp-*.so.* \
    "$prefix/usr/lib/aarch64-linux-gnu/"
  rm -rf "$tmp"
fi

# binfmt_misc: lets the kernel run arm64 programs through qemu when a test (a Python
# script, or a test binary that spawns tandem-cloud) starts them directly. Needs root
# and a kernel with binfmt_misc; where that is unavailable (an unprivileged container),
# tests/run-arm64.sh skips the tests that start arm64 child processes and says so.
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/qemu-aarch64" ]; then
  if [ ! -e "$binfmt/register" ]; then
    "${sudo_cmd[@]}" mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null || true
  fi
  if [ -w "$binfmt/register" ] || [ ${#sudo_cmd[@]} -gt 0 ]; then
    # The F flag opens the interpreter now, so it also works inside chroots and namespaces.
    "${sudo_cmd[@]}" sh -c "cat /usr/lib/binfmt.d/qemu-aarch64.conf > $binfmt/register" \
      2>/dev/null || true
  fi
fi
if [ -e "$binfmt/qemu-aarch64" ]; then
  echo "install-deps-arm64: arm64 programs run through $(sed -n 's/^interpreter //p' "$binfmt/qemu-aarch64")"
else
  echo "install-deps-arm64: binfmt_misc unavailable; only the emulator-wrapped tests can run"
fi
