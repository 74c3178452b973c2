# CMake toolchain file: cross-compile Tandem for 64-bit ARM Linux (Raspberry Pi 4/5,
# i.MX 8, Jetson, Rockchip) on a Debian x86-64 machine with multiarch arm64 packages
# (deploy/install-deps-arm64.sh sets it up; tests/run-arm64.sh uses it).
#   cmake -S . -B build-arm64 -G Ninja \
#     -DCMAKE_TOOLCHAIN_FILE=deploy/cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Debian multiarch: the arm64 libraries live in /usr/lib/aarch64-linux-gnu next to the
# host's, headers are shared in /usr/include; the cross compiler searches both, so no
# sysroot. CMake finds packages under lib/aarch64-linux-gnu (CMAKE_LIBRARY_ARCHITECTURE).
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# prometheus-cpp-dev:arm64 is unpacked into a prefix of its own (it cannot be installed
# next to the amd64 package; see deploy/install-deps-arm64.sh).
list(APPEND CMAKE_PREFIX_PATH /opt/tandem-arm64/prometheus-cpp/usr)

# pkg-config (OpenSSL, cpp-httplib, re2, curl) must read the arm64 .pc files only.
set(ENV{PKG_CONFIG_LIBDIR}
    "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig:/opt/tandem-arm64/prometheus-cpp/usr/lib/aarch64-linux-gnu/pkgconfig")

# Programs (protoc, grpc_cpp_plugin, python3) come from the build machine; gRPC's CMake
# config resolves grpc_cpp_plugin to /usr/bin, where the host's plugin is installed.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)

# The baseline is ARMv8.0-A (Raspberry Pi 4's Cortex-A72): NEON is part of it; newer
# instructions (dotprod) live only in kernels picked at run time (see common/kernels).
set(CMAKE_C_FLAGS_INIT "-march=armv8-a")
set(CMAKE_CXX_FLAGS_INIT "-march=armv8-a")

# Test binaries run through user-mode QEMU (no binfmt registration needed); the arm64
# loader and libraries are the multiarch ones in /lib/aarch64-linux-gnu.
find_program(TANDEM_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(TANDEM_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${TANDEM_QEMU_AARCH64}"
      CACHE STRING "Runs arm64 test binaries on the build machine")
endif()
