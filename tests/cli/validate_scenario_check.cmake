# `mfusim validate --only ID --scenario FILE` writes the scenario it replays for that run; running that
# file with `mfusim run` must give the very step time validate reports (same scenario, same engine), so
# that a user can trace, draw and edit any published run.
# -DMFUSIM=... -DRUNS=published-runs.yaml -DID=run-id -DOUT=dir
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})
execute_process(COMMAND ${MFUSIM} validate ${RUNS} --only ${ID} --json ${OUT}/validate.json
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "mfusim validate --only ${ID} exited with ${rc}:\n${err}")
endif()
execute_process(COMMAND ${MFUSIM} validate ${RUNS} --only ${ID} --scenario ${OUT}/scenario.yaml
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "mfusim validate --only ${ID} --scenario exited with ${rc}:\n${err}")
endif()
if(NOT out STREQUAL "")
  message(FATAL_ERROR "--scenario FILE must only write the file (nothing replayed), but printed:\n${out}")
endif()
execute_process(COMMAND ${MFUSIM} -q run ${OUT}/scenario.yaml --json ${OUT}/run.json
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "mfusim run on the scenario written by validate --scenario exited with ${rc}:\n${err}")
endif()
file(READ ${OUT}/validate.json vj)
file(READ ${OUT}/run.json rj)
string(JSON predicted GET "${vj}" runs 0 predicted_step_time_s)
string(JSON replayed GET "${rj}" step_time_s)
if(NOT predicted STREQUAL replayed)
  message(FATAL_ERROR "validate predicts ${predicted} s for ${ID} but running its --scenario file gives ${replayed} s: "
                      "the written scenario is not the one validate replays")
endif()
