//===- attnres-compile.cpp - Compile kernel specs to .ptx + .json files ---===//
//
//   attnres-compile --sources 8 --width 4096 --dtype bf16
//       --direction bwd -o out/
//   attnres-compile --sources 1,2,8 --width 64,4096 --dtype all
//       --direction all --ptxas
//
// Lists of values compile every combination. With --ptxas each PTX is also
// assembled and its registers and spills printed.
//
//===----------------------------------------------------------------------===//

#include "codegen/PTXCodegen.h"

#include "tools/ListOptions.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

static cl::OptionCategory category("attnres-compile options");

static cl::list<int64_t> numSources("sources", cl::desc("number of sources N"),
                                    cl::CommaSeparated, cl::OneOrMore,
                                    cl::cat(category));
static cl::list<int64_t> widths("width", cl::desc("feature width D"),
                                cl::CommaSeparated, cl::OneOrMore,
                                cl::cat(category));
static cl::list<std::string> dtypes("dtype", cl::desc("f32, f16, bf16 or all"),
                                    cl::CommaSeparated, cl::cat(category));
static cl::list<std::string> directions("direction",
                                        cl::desc("fwd, bwd or all"),
                                        cl::CommaSeparated, cl::cat(category));
static cl::list<std::string> archs("arch", cl::desc("sm_80, sm_90a, ..."),
                                   cl::CommaSeparated, cl::cat(category));
static cl::opt<int64_t> threads("cta-threads",
                                cl::desc("threads per CTA (0: auto)"),
                                cl::init(0), cl::cat(category));
static cl::opt<int64_t> vectorBytes("vector-width-bytes", cl::init(16),
                                    cl::desc("bytes per vector access"),
                                    cl::cat(category));
static cl::opt<std::string> resident("tile-resident", cl::init("auto"),
                                     cl::desc("auto, on or off"),
                                     cl::cat(category));
static cl::opt<std::string> form("kernel-form", cl::init("auto"),
                                 cl::desc("auto, resident, online, smem, "
                                          "cluster or streaming"),
                                 cl::cat(category));
static cl::opt<int64_t> rows("group-rows", cl::init(0),
                             cl::desc("online form: rows per group (0: auto)"),
                             cl::cat(category));
static cl::opt<int64_t> stages(
    "ring-stages", cl::init(0),
    cl::desc("ring in shared memory: online form, slots of groups (1: none); "
             "smem and cluster forms, whole tiles; 0: auto"),
    cl::cat(category));
static cl::opt<int64_t>
    clusterSize("cluster-size", cl::init(0),
                cl::desc("cluster form: CTAs per cluster, 2 to 16 (0: auto)"),
                cl::cat(category));
static cl::opt<int64_t>
    ctasPerSM("ctas-per-sm", cl::init(0),
              cl::desc("CTAs an SM the registers are budgeted for (0: one)"),
              cl::cat(category));
static cl::opt<std::string>
    grid("grid", cl::init("auto"),
         cl::desc("forward grid: auto, persistent or tokens (one CTA per "
                  "token; recorded in the metadata, same PTX)"),
         cl::cat(category));
static cl::opt<std::string> outDir("o", cl::desc("output directory"),
                                   cl::init(""), cl::cat(category));
static cl::opt<bool> runPtxas("ptxas", cl::desc("assemble with ptxas"),
                              cl::init(false), cl::cat(category));
static cl::opt<bool>
    requireNoSpills("require-no-spills",
                    cl::desc("fail if ptxas reports spills or a stack"),
                    cl::init(false), cl::cat(category));

int main(int argc, char **argv) {
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "attnres kernel compiler\n");
  if (!outDir.empty()) {
    if (std::error_code ec = sys::fs::create_directories(outDir)) {
      errs() << "error: cannot create output directory '" << outDir
             << "': " << ec.message() << "\n";
      return 1;
    }
  }
  int failures = 0, compiled = 0;
  for (const std::string &arch :
       attnres::expandListOption(archs, {"sm_80", "sm_90a"}, "sm_90a"))
    for (const std::string &dir :
         attnres::expandListOption(directions, {"fwd", "bwd"}, "fwd"))
      for (const std::string &dt :
           attnres::expandListOption(dtypes, {"f32", "f16", "bf16"}, "bf16"))
        for (int64_t n : numSources)
          for (int64_t d : widths) {
            attnres::KernelSpec spec;
            spec.numSources = n;
            spec.width = d;
            spec.arch = arch;
            spec.tuning.threads = threads;
            spec.tuning.vectorBytes = vectorBytes;
            spec.tuning.resident = resident;
            spec.tuning.form = form;
            spec.tuning.rows = rows;
            spec.tuning.stages = stages;
            spec.tuning.cluster = clusterSize;
            spec.tuning.ctasPerSM = ctasPerSM;
            spec.tuning.grid = grid;
            auto dtype = attnres::parseDType(dt);
            auto direction = attnres::parseDirection(dir);
            if (!dtype || !direction) {
              errs() << "error: unknown "
                     << (dtype ? "direction '" + dir : "dtype '" + dt) << "'\n";
              return 1;
            }
            spec.dtype = *dtype;
            spec.direction = *direction;
            std::string error;
            auto kernel = attnres::compileToPTX(spec, error);
            std::string label = attnres::kernelName(spec) + " " + arch;
            if (!kernel) {
              errs() << "error: " << label << ": " << error << "\n";
              ++failures;
              continue;
            }
            ++compiled;
            if (!outDir.empty()) {
              std::string base = attnres::kernelName(spec) +
                                 (archs.size() > 1 ? "_" + arch : "");
              for (auto [ext, text] :
                   {std::pair<const char *, std::string>{".ptx", kernel->ptx},
                    {".json", attnres::toJSON(*kernel)}}) {
                SmallString<256> path(outDir.getValue());
                sys::path::append(path, base + ext);
                std::error_code ec;
                raw_fd_ostream out(path, ec, sys::fs::OF_Text);
                if (ec) {
                  errs() << "error: cannot write '" << path
                         << "': " << ec.message() << "\n";
                  return 1;
                }
                out << text;
              }
            }
            if (!runPtxas) {
              outs() << label << ": ok\n";
              continue;
            }
            auto reports = attnres::assembleWithPtxas(kernel->ptx, arch, error);
            if (!reports) {
              errs() << "error: " << label << ": " << error << "\n";
              ++failures;
              continue;
            }
            for (const auto &r : *reports) {
              bool spills =
                  r.spillStoreBytes || r.spillLoadBytes || r.stackFrameBytes;
              outs() << label << " " << r.entry << ": " << r.registers
                     << " registers, " << r.spillStoreBytes << "+"
                     << r.spillLoadBytes << " spill bytes, "
                     << r.stackFrameBytes << " stack, " << r.sharedBytes
                     << " smem" << (spills ? "  SPILLS" : "") << "\n";
              if (spills && requireNoSpills)
                ++failures;
            }
          }
  outs() << compiled << " compiled, " << failures << " failed\n";
  return failures ? 1 : 0;
}
