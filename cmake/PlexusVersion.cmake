# Generates plexus/core/version_info.hpp at build time so that the git hash recorded in result files
# is the one the binary was built from, not the one present at configure time.
set(PLEXUS_GENERATED_DIR ${CMAKE_BINARY_DIR}/generated)
add_custom_target(plexus_version_info
  COMMAND ${CMAKE_COMMAND}
          -DSOURCE_DIR=${CMAKE_SOURCE_DIR}
          -DOUTPUT=${PLEXUS_GENERATED_DIR}/plexus/core/version_info.hpp
          -DVERSION=${PROJECT_VERSION}
          -P ${CMAKE_SOURCE_DIR}/cmake/WriteVersion.cmake
  BYPRODUCTS ${PLEXUS_GENERATED_DIR}/plexus/core/version_info.hpp
  COMMENT "Recording the git revision")
