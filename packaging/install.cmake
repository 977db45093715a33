# What `cmake --install` puts on a machine, and the .deb CPack makes of it:
# the binary, a man page per command (help2man, from --help), bash
# completion, and the user documentation.
include(GNUInstallDirs)

install(TARGETS cachevault RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_SOURCE_DIR}/packaging/cachevault.bash-completion
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME cachevault)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/docs/json.md ${CMAKE_SOURCE_DIR}/docs/backup_format.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# Every command of the binary, one man page each (cachevault-cluster-up.1, ...).
set(CV_MAN_COMMANDS "" "cluster up" "cluster down" status put get del load scan backup restore inspect verify
    failpoints bench)
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(CV_MAN_PAGES "")
  foreach(cmd IN LISTS CV_MAN_COMMANDS)
    string(REPLACE " " "-" page "${cmd}")
    if(page STREQUAL "")
      set(page cachevault)
    else()
      set(page cachevault-${page})
    endif()
    separate_arguments(words UNIX_COMMAND "${cmd}")
    set(out ${CMAKE_BINARY_DIR}/man/${page}.1)
    add_custom_command(OUTPUT ${out}
                       COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
                       COMMAND ${CMAKE_SOURCE_DIR}/packaging/man-page.sh $<TARGET_FILE:cachevault> ${out} ${words}
                       DEPENDS cachevault ${CMAKE_SOURCE_DIR}/packaging/man-page.sh
                       COMMENT "man page ${page}.1" VERBATIM)
    list(APPEND CV_MAN_PAGES ${out})
  endforeach()
  add_custom_target(man_pages ALL DEPENDS ${CV_MAN_PAGES})
  install(FILES ${CV_MAN_PAGES} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
else()
  message(STATUS "help2man not found: no man pages (./run installs it)")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME cachevault)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "multi-process cache cluster on one host, with backup, consolidation and restore")
set(CPACK_PACKAGE_CONTACT "cachevault maintainers <cachevault@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# Run-time dependencies from the libraries the binary links (dpkg-shlibdeps).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# The build keeps debug information; the package does not need it.
set(CPACK_STRIP_FILES ON)
include(CPack)
