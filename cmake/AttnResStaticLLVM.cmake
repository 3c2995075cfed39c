#===- AttnResStaticLLVM.cmake - Link MLIR and LLVM statically -------------===#
#
# Included from the top-level CMakeLists when ATTNRES_STATIC_LLVM is ON. Sets
# ATTNRES_MLIR_LIBS to the static MLIR libraries of the GPU compile path
# (KernelSpec -> attnres IR -> PTX) plus the static LLVM components, so that
# a binary needs neither libMLIR.so nor libLLVM.so and can be carried to a
# machine without LLVM.
#
# The distribution's static MLIR* targets list the `LLVM` dylib in their
# INTERFACE_LINK_LIBRARIES; every target reachable from ATTNRES_MLIR_LIBS is
# rewritten to name the static LLVM components instead. zlib and zstd become
# static where their archives exist; libz3 (only used by LLVM's Z3 solver
# support, which nothing here links) is dropped.
#
#===----------------------------------------------------------------------===#

llvm_map_components_to_libnames(ATTNRES_LLVM_COMPONENT_LIBS
  Core Support Analysis BitReader BitWriter IRReader Linker Passes
  TransformUtils Target TargetParser MC Object AsmParser
  FrontendOpenMP FrontendOffloading
  NVPTXCodeGen NVPTXDesc NVPTXInfo)

# What dialect/, lowering/, codegen/PTXCodegen.cpp and runtime/ use; the
# rest comes through the targets' interface link libraries.
set(ATTNRES_MLIR_STATIC_LIBS
  # Core.
  MLIRIR MLIRSupport MLIRParser MLIRPass MLIRTransforms MLIRTransformUtils
  # Dialects (compilerRegistry() and the attnres lowering).
  MLIRArithDialect MLIRArithUtils MLIRControlFlowDialect MLIRFuncDialect
  MLIRGPUDialect MLIRIndexDialect MLIRLLVMDialect MLIRMathDialect
  MLIRMemRefDialect MLIRNVVMDialect MLIRSCFDialect MLIRTensorDialect
  MLIRUBDialect
  # attnres-to-ptx: conversions and the ConvertToLLVM interfaces.
  MLIRGPUTransforms MLIRGPUToNVVMTransforms MLIRNVVMToLLVM
  MLIRSCFToControlFlow MLIRReconcileUnrealizedCasts MLIRConvertToLLVMInterface
  MLIRArithToLLVM MLIRControlFlowToLLVM MLIRFuncToLLVM MLIRIndexToLLVM
  MLIRMathToLLVM MLIRMemRefToLLVM MLIRUBToLLVM
  # NVVM target and the translation to LLVM IR.
  MLIRNVVMTarget MLIRTargetLLVM MLIRTargetLLVMIRExport
  MLIRBuiltinToLLVMIRTranslation MLIRGPUToLLVMIRTranslation
  MLIRLLVMToLLVMIRTranslation MLIRNVVMToLLVMIRTranslation
  # AttnResLowering also holds the CPU passes and pipeline (attnres-to-cpu).
  MLIRLinalgDialect MLIRLinalgTransforms MLIRBufferizationDialect
  MLIRBufferizationTransforms MLIRBufferizationPipelines
  MLIRBufferizationToMemRef MLIRArithTransforms MLIRMemRefTransforms
  MLIRAffineToStandard)

set(ATTNRES_MLIR_LIBS ${ATTNRES_MLIR_STATIC_LIBS} ${ATTNRES_LLVM_COMPONENT_LIBS})

find_library(ATTNRES_ZLIB_STATIC NAMES ${CMAKE_STATIC_LIBRARY_PREFIX}z${CMAKE_STATIC_LIBRARY_SUFFIX})
mark_as_advanced(ATTNRES_ZLIB_STATIC)

# Rewrites one imported target's INTERFACE_LINK_LIBRARIES, then those of the
# imported targets it names. $<LINK_ONLY:...> wrappers are kept.
function(attnres_static_rewrite target)
  get_property(done GLOBAL PROPERTY ATTNRES_STATIC_REWRITTEN)
  if(target IN_LIST done)
    return()
  endif()
  set_property(GLOBAL APPEND PROPERTY ATTNRES_STATIC_REWRITTEN ${target})
  get_target_property(imported ${target} IMPORTED)
  get_target_property(libs ${target} INTERFACE_LINK_LIBRARIES)
  if(NOT imported OR NOT libs)
    return()
  endif()
  set(rewritten)
  foreach(lib IN LISTS libs)
    set(name "${lib}")
    set(linkOnly OFF)
    if(lib MATCHES "^\\$<LINK_ONLY:(.+)>$")
      set(name "${CMAKE_MATCH_1}")
      set(linkOnly ON)
    endif()
    if(name STREQUAL "LLVM")
      set(replacement ${ATTNRES_LLVM_COMPONENT_LIBS})
    elseif(name STREQUAL "MLIR")
      message(FATAL_ERROR "${target} links the MLIR dylib; it cannot be static")
    elseif(name STREQUAL "zstd::libzstd_shared" AND TARGET zstd::libzstd_static)
      set(replacement zstd::libzstd_static)
    elseif(name STREQUAL "ZLIB::ZLIB" AND ATTNRES_ZLIB_STATIC)
      set(replacement ${ATTNRES_ZLIB_STATIC})
    elseif(name MATCHES "libz3")
      set(replacement)
    else()
      set(replacement ${name})
    endif()
    foreach(item IN LISTS replacement)
      if(linkOnly)
        list(APPEND rewritten "$<LINK_ONLY:${item}>")
      else()
        list(APPEND rewritten ${item})
      endif()
      if(TARGET ${item})
        attnres_static_rewrite(${item})
      endif()
    endforeach()
  endforeach()
  set_target_properties(${target} PROPERTIES INTERFACE_LINK_LIBRARIES "${rewritten}")
endfunction()

foreach(lib IN LISTS ATTNRES_MLIR_LIBS)
  if(NOT TARGET ${lib})
    message(FATAL_ERROR "ATTNRES_STATIC_LLVM: no imported target ${lib}")
  endif()
  attnres_static_rewrite(${lib})
endforeach()
get_property(ATTNRES_STATIC_REWRITTEN GLOBAL PROPERTY ATTNRES_STATIC_REWRITTEN)
list(LENGTH ATTNRES_STATIC_REWRITTEN count)
message(STATUS "ATTNRES_STATIC_LLVM: static MLIR/LLVM (${count} imported targets rewritten)")

# Position-independent code everywhere, so that the same objects link into
# the shared core library (libattnres.so, runtime/CMakeLists.txt) that the
# Python module of a machine without LLVM is built against; the
# distribution's static LLVM/MLIR archives are PIC already.
set(CMAKE_POSITION_INDEPENDENT_CODE ON)

# Let the linker drop what the pipeline never reaches (the distribution's
# archives are built with function and data sections too).
add_compile_options(-ffunction-sections -fdata-sections)
add_link_options(LINKER:--gc-sections)
