# -*- Python -*-
# lit configuration of the attnres test suite.

import os

import lit.formats
from lit.llvm import llvm_config

config.name = "attnres"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attnres_obj_root, "tests")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "malformed", "unit", "gpu", "python"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%ptxas", config.ptxas))
llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

tool_dirs = [config.attnres_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["attnres-opt"], tool_dirs)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

if os.path.exists(config.ptxas):
    config.available_features.add("ptxas")
