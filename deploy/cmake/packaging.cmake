# Debian package for gateways (CPack): `tandem-edge`, with the edge daemon, the `tandem`
# model tool, the systemd unit and its example config. Built for the build's architecture:
# amd64 natively, arm64 in the cross build (deploy/cmake/aarch64-linux-gnu.cmake).
#   cmake --build build --target package      -> build/tandem-edge_<version>_<arch>.deb
# The worker ships as a container image instead (deploy/docker).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tandem-edge)
set(CPACK_PACKAGE_VENDOR "Tandem")
set(CPACK_PACKAGE_CONTACT "Tandem maintainers <tandem@example.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Split LLM inference, device side: the tandem-edge daemon and the tandem model tool")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "tandem-edge runs the embedding and the first K transformer layers of an LLM on this
device and the rest on a tandem-cloud worker over gRPC with TLS, with an OpenAI-compatible
HTTP API for local apps and an on-device fallback model. The systemd unit is installed
but not enabled: edit /etc/tandem/tandem-edge.env, then systemctl enable --now tandem-edge.")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # tandem-edge_<version>_<arch>.deb
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)                # with CMAKE_STRIP: the cross strip for arm64
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)   # Depends: from the binaries' shared libraries
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "ca-certificates")
# CPack asks dpkg for the architecture, which is the build machine's; a cross build
# packages the target's.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
endif()
# Only the edge component (tandem-edge, tandem, the unit, the default model): not the worker or the tests.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL edge)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${CMAKE_SOURCE_DIR}/deploy/deb/conffiles;${CMAKE_SOURCE_DIR}/deploy/deb/postinst;${CMAKE_SOURCE_DIR}/deploy/deb/prerm;${CMAKE_SOURCE_DIR}/deploy/deb/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# The unit as packaged: binaries in /usr/bin (deploy/systemd has /usr/local/bin, where
# `cmake --install` puts them).
file(READ "${CMAKE_SOURCE_DIR}/deploy/systemd/tandem-edge.service" _tandem_edge_unit)
string(REPLACE "/usr/local/bin/" "/usr/bin/" _tandem_edge_unit "${_tandem_edge_unit}")
file(WRITE "${CMAKE_BINARY_DIR}/deb/tandem-edge.service" "${_tandem_edge_unit}")
install(FILES "${CMAKE_BINARY_DIR}/deb/tandem-edge.service" DESTINATION lib/systemd/system
        COMPONENT edge EXCLUDE_FROM_ALL)
install(FILES "${CMAKE_SOURCE_DIR}/deploy/config/tandem-edge.env" DESTINATION /etc/tandem
        COMPONENT edge EXCLUDE_FROM_ALL)
install(TARGETS tandem-edge tandem RUNTIME COMPONENT edge EXCLUDE_FROM_ALL)
install(FILES "${TANDEM_DEFAULT_MODEL}" DESTINATION "${TANDEM_DATA_SUBDIR}" COMPONENT edge
        EXCLUDE_FROM_ALL)

include(CPack)
