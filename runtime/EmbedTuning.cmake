# Writes OUTPUT: a header holding every ${ROOT}/tuning/*.json as a string
# (BuiltinTuningFile kBuiltinTuningFiles[]), so an installed runtime knows
# the committed tuning database without the repository. The runtime parses
# them at first use; the file is rewritten only when its text changes.
file(GLOB files ${ROOT}/tuning/*.json)
list(SORT files)
set(delimiter "attnres_db") # at most 16 characters
set(text "// Generated from tuning/*.json by runtime/EmbedTuning.cmake.\n")
string(APPEND text "#ifndef ATTNRES_RUNTIME_TUNINGDATA_H\n#define ATTNRES_RUNTIME_TUNINGDATA_H\n")
string(APPEND text "namespace attnres {\nstruct BuiltinTuningFile {\n  const char *name;\n  const char *text;\n};\n")
string(APPEND text "inline const BuiltinTuningFile kBuiltinTuningFiles[] = {\n")
foreach(file ${files})
  get_filename_component(name ${file} NAME)
  file(READ ${file} content)
  string(FIND "${content}" ")${delimiter}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${file} contains the raw-string delimiter ${delimiter}")
  endif()
  string(APPEND text "    {\"${name}\", R\"${delimiter}(${content})${delimiter}\"},\n")
endforeach()
# Keeps the array non-empty when tuning/ has no file.
string(APPEND text "    {nullptr, nullptr}};\n} // namespace attnres\n#endif\n")
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE ${OUTPUT} "${text}")
endif()
