# Runs `mfusim ARGS` and checks its exit code and that stderr matches a regular expression.
# -DMFUSIM=... -DARGS="a;b" -DEXPECT_EXIT=2 -DEXPECT_STDERR=regex -DWORKDIR=dir
execute_process(COMMAND ${MFUSIM} ${ARGS}
                WORKING_DIRECTORY ${WORKDIR}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                TIMEOUT 60)
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
