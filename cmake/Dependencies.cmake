# Every dependency comes from a Debian package. A missing one stops configuration with a single line
# that names the package to install (scripts/setup installs them all).
function(mfusim_require package debian_package)
  find_package(${package} ${ARGN} QUIET)
  if(NOT ${package}_FOUND)
    message(FATAL_ERROR "mfusim: missing dependency ${package}: install the Debian package "
                        "'${debian_package}' (or run scripts/setup)")
  endif()
endfunction()

mfusim_require(Boost libboost-graph-dev 1.74 CONFIG COMPONENTS graph)
mfusim_require(Eigen3 libeigen3-dev 3.3 NO_MODULE)
mfusim_require(yaml-cpp libyaml-cpp-dev)
mfusim_require(spdlog libspdlog-dev)
mfusim_require(fmt libfmt-dev)
mfusim_require(CLI11 libcli11-dev CONFIG)
mfusim_require(nlohmann_json nlohmann-json3-dev 3.10)
if(MFUSIM_BUILD_TESTS)
  mfusim_require(GTest libgtest-dev)
  include(GoogleTest)
endif()
if(MFUSIM_BUILD_BENCHMARKS)
  mfusim_require(benchmark libbenchmark-dev)
endif()
find_package(Threads REQUIRED)

# yaml-cpp 0.7 on Debian exports the target 'yaml-cpp' without a namespace.
if(TARGET yaml-cpp AND NOT TARGET yaml-cpp::yaml-cpp)
  add_library(yaml-cpp::yaml-cpp ALIAS yaml-cpp)
endif()
