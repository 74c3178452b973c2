#!/usr/bin/env bash
# Installs everything Tandem needs to build, test and run, from Debian bookworm packages.
# Idempotent: packages already present are skipped by apt.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang clang-format libclang-rt-dev
  # required by the project
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libssl-dev libgtest-dev libgmock-dev prometheus-cpp-dev
  # chosen libraries (see README, "Dependencies")
  libbenchmark-dev libcli11-dev libcpp-httplib-dev nlohmann-json3-dev libicu-dev
  # test-time tools: openssl CLI for dev certificates, curl, Node for the OpenAI client test
  openssl curl ca-certificates prometheus nodejs
  # deploy tests (tests/deploy): YAML for the manifests (promtool and Prometheus: above)
  python3 python3-yaml
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
