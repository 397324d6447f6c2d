# Runs `mfusim run SCENARIO --json FILE` twice and requires byte-identical JSON (determinism: the same
# inputs give the same output; the JSON holds no wall-clock figures).
# -DMFUSIM=... -DSCENARIO=path -DOUT=prefix
foreach(_i 1 2)
  execute_process(COMMAND ${MFUSIM} run ${SCENARIO} --quiet --json ${OUT}.${_i}.json
                  RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET TIMEOUT 300)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "mfusim run ${SCENARIO} (run ${_i}) failed with exit code ${rc}:\n${err}")
  endif()
endforeach()
file(READ ${OUT}.1.json first)
file(READ ${OUT}.2.json second)
if(NOT first STREQUAL second)
  execute_process(COMMAND diff ${OUT}.1.json ${OUT}.2.json OUTPUT_VARIABLE d)
  message(FATAL_ERROR "mfusim run ${SCENARIO}: two runs gave different JSON (nondeterminism):\n${d}")
endif()
file(REMOVE ${OUT}.1.json ${OUT}.2.json)
