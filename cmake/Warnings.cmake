# One INTERFACE target carries warnings and sanitizer flags; every mfusim target links it.
add_library(mfusim_options INTERFACE)
target_compile_options(mfusim_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  -Wold-style-cast -Woverloaded-virtual -Wimplicit-fallthrough)
if(MFUSIM_WERROR)
  target_compile_options(mfusim_options INTERFACE -Werror)
endif()
if(MFUSIM_SANITIZE)
  string(REPLACE ";" "," _mfusim_san "${MFUSIM_SANITIZE}")
  target_compile_options(mfusim_options INTERFACE -fsanitize=${_mfusim_san} -fno-omit-frame-pointer
                                                  -fno-sanitize-recover=all)
  target_link_options(mfusim_options INTERFACE -fsanitize=${_mfusim_san})
endif()
if(MFUSIM_FUZZ)
  # Coverage instrumentation for libFuzzer in every library; the fuzz targets add -fsanitize=fuzzer.
  target_compile_options(mfusim_options INTERFACE -fsanitize=fuzzer-no-link)
endif()

# mfusim_library(name SOURCES ... DEPENDS ...): one layer under sim/, include root sim/.
function(mfusim_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS;PRIVATE_DEPENDS" ${ARGN})
  add_library(mfusim_${name} STATIC ${ARG_SOURCES})
  target_include_directories(mfusim_${name} PUBLIC ${PROJECT_SOURCE_DIR}/sim)
  target_link_libraries(mfusim_${name} PUBLIC mfusim_options ${ARG_DEPENDS} PRIVATE ${ARG_PRIVATE_DEPENDS})
  add_library(mfusim::${name} ALIAS mfusim_${name})
endfunction()
