# Install layout and the Debian package.
#
#   cmake --install build --prefix /usr     # install from source
#   cpack --config build/CPackConfig.cmake -G DEB   # build vitals_<version>_<arch>.deb
#
# Included from the top-level CMakeLists.txt after the vitalsd target is
# defined. Paths below are relative to the install prefix (/usr in the
# package, CMAKE_INSTALL_PREFIX otherwise) except the configuration, which
# always goes to /etc/vitals, where the daemon looks for it.

include(GNUInstallDirs)

set(VITALS_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
  "Where the systemd unit is installed (relative to the prefix, or absolute)")
set(VITALS_SYSUSERS_DIR "lib/sysusers.d" CACHE STRING
  "Where the sysusers.d snippet is installed (relative to the prefix, or absolute)")

set(_vitals_src "${PROJECT_SOURCE_DIR}")
set(_vitals_stage "${PROJECT_BINARY_DIR}/vitals-install")

# The daemon.
install(TARGETS vitalsd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The unit names the binary and the docs by their installed paths, known
# only at install time (cpack installs with prefix /usr, `cmake --install
# --prefix` with its own): rewrite them then.
if(IS_ABSOLUTE "${CMAKE_INSTALL_BINDIR}")
  set(_vitals_bindir "${CMAKE_INSTALL_BINDIR}")
else()
  set(_vitals_bindir "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_DOCDIR}")
  set(_vitals_docdir "${CMAKE_INSTALL_DOCDIR}")
else()
  set(_vitals_docdir "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}")
endif()
if(IS_ABSOLUTE "${VITALS_SYSTEMD_UNIT_DIR}")
  set(_vitals_unitdir "${VITALS_SYSTEMD_UNIT_DIR}")
else()
  set(_vitals_unitdir "\${CMAKE_INSTALL_PREFIX}/${VITALS_SYSTEMD_UNIT_DIR}")
endif()
install(CODE "
  file(READ \"${_vitals_src}/systemd/vitalsd.service\" _vitals_unit)
  string(REPLACE \"=/usr/bin/vitalsd \" \"=${_vitals_bindir}/vitalsd \" _vitals_unit \"\${_vitals_unit}\")
  string(REPLACE \"file:///usr/share/doc/vitals/\" \"file://${_vitals_docdir}/\" _vitals_unit \"\${_vitals_unit}\")
  # Removed first: a root-owned copy left by `sudo cmake --install` must not
  # stop a later unprivileged cpack.
  file(REMOVE \"${_vitals_stage}/vitalsd.service\")
  file(WRITE \"${_vitals_stage}/vitalsd.service\" \"\${_vitals_unit}\")
  file(INSTALL DESTINATION \"${_vitals_unitdir}\" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES \"${_vitals_stage}/vitalsd.service\")
")
install(FILES ${_vitals_src}/systemd/vitals.sysusers DESTINATION ${VITALS_SYSUSERS_DIR} RENAME vitals.conf)

# /etc/vitals/vitals.yaml: a conffile in the package (dpkg keeps local
# edits). A source install never overwrites an existing file either: the
# new default lands next to it as vitals.yaml.default.
install(CODE "
  if(EXISTS \"\$ENV{DESTDIR}/etc/vitals/vitals.yaml\")
    message(STATUS \"Keeping \$ENV{DESTDIR}/etc/vitals/vitals.yaml; the shipped default goes to vitals.yaml.default\")
    file(INSTALL DESTINATION /etc/vitals TYPE FILE RENAME vitals.yaml.default
         FILES \"${_vitals_src}/config/vitals.yaml\")
  else()
    file(INSTALL DESTINATION /etc/vitals TYPE FILE FILES \"${_vitals_src}/config/vitals.yaml\")
  endif()
")

# Grafana dashboards and Prometheus files (scrape config, rules), for users
# to copy into their own setups.
install(DIRECTORY ${_vitals_src}/config/grafana ${_vitals_src}/config/prometheus DESTINATION ${CMAKE_INSTALL_DATADIR}/vitals OPTIONAL)

# Documentation. docs/runbooks/<Alert>.md ends up in
# /usr/share/doc/vitals/runbooks/ (the daemon also serves them itself, at
# /runbooks/<Alert>, built in).
install(FILES ${_vitals_src}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${_vitals_src}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${_vitals_src}/systemd/vitalsd.service.d/owner-lookup.conf.example DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# The Debian package: cpack -G DEB.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME vitals)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "vitals maintainers <root@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "health-monitoring daemon exporting Prometheus metrics")
set(CPACK_PACKAGE_DESCRIPTION
  "vitalsd runs the checks of incident runbooks continuously: port owners, HTTP and
WebSocket health, Redis memory, PostgreSQL sessions, SQLite locks, process
memory and disk space. It exports every result as Prometheus metrics,
evaluates alert rules and names the cause of each failure.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies as dpkg-shlibdeps finds them in the built binary;
# the maintainer scripts need one of these to create the vitals user.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd | adduser")
# libsystemd0 is loaded (dlopen) only by the log probe's journal sources.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd, libsystemd0")
file(WRITE "${_vitals_stage}/conffiles" "/etc/vitals/vitals.yaml\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  "${_vitals_src}/packaging/deb/postinst"
  "${_vitals_src}/packaging/deb/prerm"
  "${_vitals_src}/packaging/deb/postrm"
  "${_vitals_stage}/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
