# Writes OUTPUT: a header defining ATTNRES_COMPILER_HASH, the SHA-256 of the
# compiler's sources (dialect, lowering, codegen). It enters the kernel cache
# key, so kernels cached by an older compiler of the same version are not
# reused. The file is rewritten only when the hash changes.
file(GLOB_RECURSE sources
  ${ROOT}/dialect/*.td ${ROOT}/dialect/*.h ${ROOT}/dialect/*.cpp
  ${ROOT}/lowering/*.td ${ROOT}/lowering/*.h ${ROOT}/lowering/*.cpp
  ${ROOT}/codegen/*.h ${ROOT}/codegen/*.cpp)
list(SORT sources)
set(all "")
foreach(source ${sources})
  file(SHA256 ${source} hash)
  file(RELATIVE_PATH name ${ROOT} ${source})
  string(APPEND all "${name} ${hash}\n")
endforeach()
string(SHA256 total "${all}")
set(text "// Generated: SHA-256 of the compiler's sources.\n#define ATTNRES_COMPILER_HASH \"${total}\"\n")
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE ${OUTPUT} "${text}")
endif()
