//===- ListOptions.h - Comma-separated list flags of the tools -*- C++ -*-===//
//
// The spec flags attnres-compile and attnres-tune share (--dtype, --direction,
// --arch): a list of words where "all" names every value.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_TOOLS_LISTOPTIONS_H
#define ATTNRES_TOOLS_LISTOPTIONS_H

#include "llvm/Support/CommandLine.h"

#include <string>
#include <vector>

namespace attnres {

/// The words of `values`; `all` if one of them is "all"; `fallback` alone
/// if none was given.
inline std::vector<std::string>
expandListOption(const llvm::cl::list<std::string> &values,
                 std::vector<std::string> all, std::string fallback) {
  if (values.empty())
    return {fallback};
  std::vector<std::string> out;
  for (const std::string &v : values) {
    if (v == "all")
      return all;
    out.push_back(v);
  }
  return out;
}

} // namespace attnres

#endif // ATTNRES_TOOLS_LISTOPTIONS_H
