# Runs `mfusim ARGS` and checks its exit code and that stderr matches a regular expression.
# -DMFUSIM=... -DARGS="a;b" -DEXPECT_EXIT=2 -DEXPECT_STDERR=regex -DWORKDIR=dir
# -DHUGE_FILE=path -DHUGE_MIB=100: first write a file of that many MiB of valid-looking YAML (generated at
# test time, never committed), e.g. to check the loader's size limit.
if(HUGE_FILE)
  string(REPEAT "key: value\n" 95325 _mib)  # 11 bytes x 95325 = ~1 MiB
  file(WRITE ${HUGE_FILE} "")
  foreach(_i RANGE 1 ${HUGE_MIB})
    file(APPEND ${HUGE_FILE} "${_mib}")
  endforeach()
endif()
execute_process(COMMAND ${MFUSIM} ${ARGS}
                WORKING_DIRECTORY ${WORKDIR}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                TIMEOUT 60)
if(HUGE_FILE)
  file(REMOVE ${HUGE_FILE})
endif()
if(NOT rc STREQUAL "${EXPECT_EXIT}")
  message(FATAL_ERROR "mfusim ${ARGS}\nexpected exit code ${EXPECT_EXIT}, got '${rc}'\nstderr:\n${err}\nstdout:\n${out}")
endif()
if(NOT err MATCHES "${EXPECT_STDERR}")
  message(FATAL_ERROR "mfusim ${ARGS}\nstderr does not match the expected message\nexpected (regex): ${EXPECT_STDERR}\ngot:\n${err}")
endif()
string(REGEX MATCHALL "\n" lines "${err}")
list(LENGTH lines n)
if(EXPECT_ONE_LINE AND NOT n EQUAL 1)
  message(FATAL_ERROR "mfusim ${ARGS}\nexpected a one-line error, got ${n} lines:\n${err}")
endif()
