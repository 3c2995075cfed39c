//===- Passes.td - attnres transformation passes -----------*- tablegen -*-===//

#ifndef ATTNRES_LOWERING_PASSES
#define ATTNRES_LOWERING_PASSES

include "mlir/Pass/PassBase.td"

def AttnResDecomposePass : Pass<"attnres-decompose", "::mlir::ModuleOp"> {
  let summary = "Rewrite the fused attnres ops into graph ops.";
  let description = [{
    `attnres.forward` becomes rms_rstd, score, depth_softmax and mix;
    `attnres.backward` becomes the chain of `_grad` ops whose f32 value
    gradients are summed and rounded once to the storage type. Variants other
    than the Kimi form are rejected with an error naming the variant.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def AttnResFusePass : Pass<"attnres-fuse", "::mlir::ModuleOp"> {
  let summary = "Fuse graph-op chains back into attnres.forward / attnres.backward.";
  let description = [{
    Recognizes the forward chain rms_rstd -> score -> depth_softmax -> mix over
    one values tensor and the backward chain `attnres-decompose` and
    `attnres-derive-backward` produce, and replaces each by its fused op.
  }];
}

def AttnResDeriveBackwardPass : Pass<"attnres-derive-backward", "::mlir::ModuleOp"> {
  let summary = "Derive the backward function of every function marked attnres.differentiate.";
  let description = [{
    For each `func.func @f` carrying the unit attribute `attnres.differentiate`,
    adds `func.func @f_vjp(args of @f..., one cotangent per result of @f)`
    returning the gradient of every argument, built by reverse-mode
    differentiation: the forward graph is recomputed, then each graph op
    contributes its vector-Jacobian product (`mix_grad`, `depth_softmax_grad`,
    `score_grad`, `rms_rstd_grad`) and the contributions to each value are
    summed in f32.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::tensor::TensorDialect"];
}

def AttnResSpecializePass : Pass<"attnres-specialize", "::mlir::ModuleOp"> {
  let summary = "Pin N, D and the storage type of every function to a kernel spec.";
  let description = [{
    Refines dynamic N and D in function signatures and attnres ops to the
    static values of the spec, checks that static ones agree and that the
    values' element type is `dtype`, and re-derives the types of dependent
    results. M (tokens) stays dynamic. A mismatch is an error naming both.
  }];
  let options = [
    Option<"numSources", "n", "int64_t", "0", "number of sources N (0: keep)">,
    Option<"width", "d", "int64_t", "0", "feature width D (0: keep)">,
    Option<"dtype", "dtype", "std::string", "\"\"",
           "storage element type: f32, f16 or bf16 (empty: keep)">,
  ];
}

def AttnResLowerToGPUPass : Pass<"attnres-lower-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Turn each function holding one fused attnres op into GPU kernels.";
  let description = [{
    Every `func.func` whose body is a single `attnres.forward` or
    `attnres.backward` with static N and D is replaced by a `gpu.module` of
    kernels with a flat ABI (global pointers and the token count M) that the
    runtime launches:
      - `<func>`: forward (h, alpha, rstd) or the per-token part of the
        backward (dV and per-block partial sums of c),
      - `<func>_reduce` (backward only): the deterministic reduction of the
        partial sums into dq and dg, with no atomics.
    Each CTA processes tokens in a grid-stride loop; within a token the D axis
    is split over the threads in vectors of 16 bytes, reductions use warp
    shuffles and one shared-memory exchange. Forms (`form`):
      - `resident`: the token's N x D tile stays in registers between the
        reduction and the mixing pass (small tiles);
      - `online` (forward): rows in groups of `rows`, one CTA reduction per
        group, the softmax kept online (running max and sum, rescaled f32
        accumulator), the next group's loads issued before the current
        group's reduction: one read of V for any N and D; with `stages`
        >= 2 the groups ahead are copied into a ring in shared memory
        (cp.async), stages - 1 of them in flight;
      - `smem` (backward): each thread copies its part of the tile into
        dynamic shared memory with cp.async (one read of V); the tile is a
        ring of row slots (`stages` tiles; by default one, two where a
        lone CTA per SM would hold under 64 KB), each slot refilled with
        the row a ring ahead as soon as its row is consumed;
      - `cluster` (backward, sm_90): like `smem` with D split over the CTAs
        of a thread-block cluster, the per-row partial sums exchanged
        through distributed shared memory (`auto` takes it where the tile
        does not fit one CTA but fits a cluster, see `cluster`);
      - `streaming`: two passes over V (the second mostly from L2).
    `auto` picks per shape (see docs/PERFORMANCE.md).
  }];
  let options = [
    Option<"threadsPerBlock", "threads", "int64_t", "0",
           "threads per CTA (0: heuristic)">,
    Option<"vectorBytes", "vector-bytes", "int64_t", "16",
           "bytes per vector access (4, 8 or 16; narrowed where D requires)">,
    Option<"resident", "resident", "std::string", "\"auto\"",
           "legacy: on forces the resident form, off excludes it from auto">,
    Option<"form", "form", "std::string", "\"auto\"",
           "kernel form: auto, resident, online, smem, cluster or streaming">,
    Option<"rows", "rows", "int64_t", "0",
           "online form: rows per group (0: heuristic)">,
    Option<"stages", "stages", "int64_t", "0",
           "ring in shared memory: online form, slots of groups, stages - 1 "
           "in flight (1: the next group in registers); smem and cluster "
           "forms, whole tiles of N + 1 rows (1: one, each row refilled "
           "once consumed); 0: heuristic">,
    Option<"cluster", "cluster", "int64_t", "0",
           "cluster form: CTAs per cluster, 2 to cluster-limit (0: a pair "
           "where it holds the tile, else of 3 to 8 the one leaving the most "
           "CTAs an SM, ties to the fewest idle vector slots, then the "
           "larger; sizes other than 2, 4 and 8 only at two or more CTAs an "
           "SM; past 8 only where no size up to 8 leaves two)">,
    Option<"ctasPerSM", "ctas-per-sm", "int64_t", "0",
           "CTAs an SM the registers are budgeted for: each thread may use "
           "the register file's share of that many CTAs (nvvm.maxnreg; 0: "
           "one CTA's share, all ptxas may want)">,
    Option<"clusterLimit", "cluster-limit", "int64_t", "8",
           "largest thread-block cluster of the chip (1: none; the "
           "attnres-to-ptx pipeline sets it from the chip: 16 on sm_90 and "
           "sm_100, where sizes past 8 are non-portable)">,
    Option<"sharedBytes", "shared-bytes", "int64_t", "232448",
           "shared memory one CTA may use (the chip's opt-in limit; the "
           "attnres-to-ptx pipeline sets it from the chip)">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::NVVM::NVVMDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

def AttnResLowerToCPUPass : Pass<"attnres-lower-to-cpu", "::mlir::ModuleOp"> {
  let summary = "Lower attnres graph ops to linalg on tensors for the CPU path.";
  let description = [{
    Each graph op becomes `linalg.generic` ops on tensors with f32 math, so
    that upstream bufferization and loop lowering take the program to LLVM.
    Fused ops must be decomposed first (`attnres-to-cpu` does this).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::tensor::TensorDialect"];
}

def AttnResDumpPTXPass : Pass<"attnres-dump-ptx", "::mlir::ModuleOp"> {
  let summary = "Write the PTX of every gpu.binary as <dir>/<binary>.ptx.";
  let description = [{
    For tools and people: ptxas, cuobjdump and readers take plain `.ptx`
    files. Fails if a binary holds no PTX assembly or the file cannot be
    written.
  }];
  let options = [
    Option<"directory", "dir", "std::string", "\".\"",
           "directory the .ptx files are written to">,
  ];
}

#endif // ATTNRES_LOWERING_PASSES
