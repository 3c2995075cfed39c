//===- LowerToGPU.cpp - attnres-lower-to-gpu: fused ops to GPU kernels ----===//
//
// Every function whose body is one fused attnres op with static N and D
// becomes a gpu.module of kernels with a flat ABI the runtime launches. The
// kernel ABI (all pointers are !llvm.ptr<1>, 16-byte aligned, rows contiguous):
//
//   forward  (v_0 .. v_{N-1}, query, norm_weight, h, alpha, rstd, i64 M)
//   backward (grad_h, v_0 .. v_{N-1}, query, norm_weight, alpha, rstd,
//             dv_0 .. dv_{N-1}, partials, i64 M)
//   reduce   (partials, query, norm_weight, grad_query, grad_norm_weight,
//             i64 num_partials)
//
// Sources are separate pointers so that a stacked [N, M, D] tensor and a list
// of N [M, D] tensors use the same kernel. The backward writes one f32 row of
// c partial sums per CTA into `partials` [grid, D]; `reduce` sums them in a
// fixed order (no atomics: bit-identical results run to run).
//
// Within a CTA, one token at a time (grid-stride loop over M): D is split
// over the threads in vectors of `vector-bytes`; thread t owns the vectors
// k * threads + t. Reductions over D use warp shuffles then one exchange in
// shared memory. Forms (the `form` option; see docs/ARCHITECTURE.md): the
// resident tile in registers, the online forward (groups of rows, online
// softmax, next group in flight), the shared-memory backward (cp.async tile,
// also split over a thread-block cluster), and streaming (two passes).
//
//===----------------------------------------------------------------------===//

#include "dialect/AttnResOps.h"
#include "lowering/GPULayout.h"
#include "lowering/KernelABI.h"
#include "lowering/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <cmath>
#include <optional>

namespace mlir::attnres {
#define GEN_PASS_DEF_ATTNRESLOWERTOGPUPASS
#include "lowering/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

using ::attnres::kReduceColumns;
using ::attnres::kReduceThreads;
constexpr llvm::StringLiteral kVectorElemsAttr = "attnres.vector_elems";
constexpr llvm::StringLiteral kDynamicSharedAttr =
    "attnres.dynamic_shared_bytes";

constexpr llvm::StringLiteral kClusterSizeAttr = "attnres.cluster_size";
constexpr llvm::StringLiteral kLayoutAttr = "attnres.layout";

/// Emits the kernel bodies. Scalars are f32, indices and offsets i64.
class KernelEmitter {
public:
  KernelEmitter(ImplicitLocOpBuilder &b, const TileLayout &layout)
      : b(b), layout(layout), ptrType(LLVM::LLVMPointerType::get(
                                  b.getContext(), /*addressSpace=*/1)) {}

  Type ptr() const { return ptrType; }

  Value i64(int64_t value) {
    return arith::ConstantIntOp::create(b, value, 64);
  }
  Value f32(double value) {
    return arith::ConstantFloatOp::create(b, b.getF32Type(),
                                          APFloat(static_cast<float>(value)));
  }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b, x, y); }
  /// x * y + z, rounded once. A separate multiply and add become
  /// mul.rn/add.rn in PTX, which ptxas may not fuse: the backward at N = 32
  /// ran half its instructions as FMUL and FADD.
  Value fma(Value x, Value y, Value z) {
    return LLVM::FMAOp::create(b, x, y, z);
  }
  Value addI(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value mulI(Value x, Value y) { return arith::MulIOp::create(b, x, y); }

  Value toI64(Value index) {
    return arith::IndexCastOp::create(b, b.getI64Type(), index);
  }
  Value toI64Ext(Value i32Value) {
    return arith::ExtUIOp::create(b, b.getI64Type(), i32Value);
  }
  Value toIndex(Value value) {
    return arith::IndexCastOp::create(b, b.getIndexType(), value);
  }

  /// Sets up the per-kernel thread indices.
  void beginKernel() {
    tid = toI64(gpu::ThreadIdOp::create(b, gpu::Dimension::x));
    lane = arith::AndIOp::create(b, tid, i64(kWarpSize - 1));
    warp = arith::ShRUIOp::create(b, tid, i64(5));
    isThreadZero = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, tid,
                                         i64(0));
  }

  /// Element offset (within a row) of this thread's chunk `k`.
  Value chunkOffset(int64_t k) {
    return mulI(addI(i64(k * layout.threads), tid), i64(layout.vectorElems));
  }

  /// Null where chunk `k` is in bounds for every thread, else the i1 guard.
  Value chunkGuard(int64_t k) {
    if (k < layout.fullChunks)
      return {};
    return arith::CmpIOp::create(b, arith::CmpIPredicate::slt, chunkOffset(k),
                                 i64(layout.width));
  }

  Value address(Value base, Value offset, Type element) {
    return LLVM::GEPOp::create(b, ptrType, element, base, ValueRange{offset});
  }

  /// Loads `vectorElems` elements of `element` at base[offset] and extends
  /// them to f32. Out-of-bounds chunks (guard false) read element 0 and
  /// yield zeros, so they add nothing to any sum.
  SmallVector<Value> loadVector(Value base, Value offset, Type element,
                                Value guard) {
    if (guard)
      offset = arith::SelectOp::create(b, guard, offset, i64(0));
    int64_t n = layout.vectorElems;
    int64_t bytes = n * element.getIntOrFloatBitWidth() / 8;
    SmallVector<Value> lanes;
    if (n == 1) {
      lanes.push_back(LLVM::LoadOp::create(b, element,
                                           address(base, offset, element),
                                           std::min<int64_t>(bytes, 16)));
    } else {
      auto vecType = VectorType::get({n}, element);
      Value vec = LLVM::LoadOp::create(b, vecType,
                                       address(base, offset, element),
                                       std::min<int64_t>(bytes, 16));
      for (int64_t e = 0; e < n; ++e)
        lanes.push_back(LLVM::ExtractElementOp::create(
            b, vec, arith::ConstantIntOp::create(b, e, 32)));
    }
    for (Value &v : lanes) {
      if (!v.getType().isF32())
        v = arith::ExtFOp::create(b, b.getF32Type(), v);
      if (guard)
        v = arith::SelectOp::create(b, guard, v, f32(0.0));
    }
    return lanes;
  }

  /// Rounds f32 lanes to `element` and stores them at base[offset], only
  /// where `guard` (if any) holds.
  void storeVector(Value base, Value offset, Type element,
                   ArrayRef<Value> lanes, Value guard) {
    auto emit = [&] {
      int64_t n = lanes.size();
      int64_t bytes = n * element.getIntOrFloatBitWidth() / 8;
      SmallVector<Value> rounded;
      for (Value v : lanes)
        rounded.push_back(element.isF32()
                              ? v
                              : Value(arith::TruncFOp::create(b, element, v)));
      Value stored = rounded.front();
      if (n > 1) {
        stored = LLVM::PoisonOp::create(b, VectorType::get({n}, element));
        for (int64_t e = 0; e < n; ++e)
          stored = LLVM::InsertElementOp::create(
              b, stored, rounded[e], arith::ConstantIntOp::create(b, e, 32));
      }
      LLVM::StoreOp::create(b, stored, address(base, offset, element),
                            std::min<int64_t>(bytes, 16));
    };
    if (!guard)
      return emit();
    emitIf(guard, emit);
  }

  void storeScalar(Value base, Value offset, Value value) {
    LLVM::StoreOp::create(b, value, address(base, offset, b.getF32Type()), 4);
  }
  Value loadScalar(Value base, Value offset) {
    return LLVM::LoadOp::create(b, b.getF32Type(),
                                address(base, offset, b.getF32Type()), 4);
  }

  void emitIf(Value cond, llvm::function_ref<void()> body) {
    auto ifOp = scf::IfOp::create(b, cond, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    body();
  }

  /// `value` of the lane `offset` away (lane ^ offset).
  Value shuffleXor(Value value, int32_t offset) {
    return gpu::ShuffleOp::create(b, value, offset, kWarpSize,
                                  gpu::ShuffleMode::XOR)
        .getShuffleResult();
  }

  /// Butterfly reduction over the warp (sum or max); every lane gets it.
  Value warpReduce(Value value, bool max) {
    for (int32_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
      Value other = shuffleXor(value, offset);
      value = max ? Value(arith::MaximumFOp::create(b, value, other))
                  : add(value, other);
    }
    return value;
  }

  /// Sums each of `values` (at most a warp's worth) over the warp. Each
  /// level sends half of the values to the lane `offset` away and keeps the
  /// other half, so P values (the count rounded up to a power of two, zeros
  /// past it) take P - 1 + 5 - log2 P shuffles instead of 5 P (9 for 8).
  /// Lane l ends with the total of value l >> (5 - log2 P), as does every
  /// lane of its group of 32 / P. Returns that total and its index.
  std::pair<Value, Value> warpReduceScatter(ArrayRef<Value> values) {
    assert(!values.empty() && values.size() <= size_t(kWarpSize));
    SmallVector<Value> v(values);
    v.resize(llvm::PowerOf2Ceil(values.size()), f32(0.0));
    const int64_t count = v.size();
    for (int32_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
      if (v.size() == 1) {
        v[0] = add(v[0], shuffleXor(v[0], offset));
        continue;
      }
      // The upper lanes of this level keep the upper half.
      Value upper = arith::CmpIOp::create(
          b, arith::CmpIPredicate::ne,
          arith::AndIOp::create(b, lane, i64(offset)), i64(0));
      const size_t half = v.size() / 2;
      for (size_t j = 0; j < half; ++j) {
        Value keep = arith::SelectOp::create(b, upper, v[j + half], v[j]);
        Value send = arith::SelectOp::create(b, upper, v[j], v[j + half]);
        v[j] = add(keep, shuffleXor(send, offset));
      }
      v.resize(half);
    }
    Value index =
        arith::ShRUIOp::create(b, lane, i64(llvm::Log2_64(kWarpSize / count)));
    return {v[0], index};
  }

  /// Sums every value of `partials` over the CTA; every thread gets the
  /// totals. `scratch` holds numWarps x partials.size() f32 in shared memory.
  SmallVector<Value> blockSum(ArrayRef<Value> partials, Value scratch) {
    SmallVector<Value> sums(partials);
    for (Value &sum : sums)
      sum = warpReduce(sum, /*max=*/false);
    if (layout.numWarps() == 1)
      return sums;
    int64_t count = sums.size();
    Value isLaneZero =
        arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lane, i64(0));
    emitIf(isLaneZero, [&] {
      Value rowStart = mulI(warp, i64(count));
      for (int64_t j = 0; j < count; ++j)
        memref::StoreOp::create(b, sums[j], scratch,
                                ValueRange{toIndex(addI(rowStart, i64(j)))});
    });
    gpu::BarrierOp::create(b);
    for (int64_t j = 0; j < count; ++j) {
      Value total;
      for (int64_t w = 0; w < layout.numWarps(); ++w) {
        Value part = memref::LoadOp::create(
            b, scratch,
            ValueRange{arith::ConstantIndexOp::create(b, w * count + j)});
        total = total ? add(total, part) : part;
      }
      sums[j] = total;
    }
    // The next token's exchange reuses the scratch rows.
    gpu::BarrierOp::create(b);
    return sums;
  }

  /// Loads this thread's lanes of a [D] parameter, in f32.
  SmallVector<SmallVector<Value>> loadParameter(Value base, Type element) {
    SmallVector<SmallVector<Value>> chunks;
    for (int64_t k = 0; k < layout.chunks; ++k)
      chunks.push_back(loadVector(base, chunkOffset(k), element, chunkGuard(k)));
    return chunks;
  }

  /// An f32 -> f32 NVVM intrinsic. Called by name: the GPU-to-NVVM
  /// conversion would turn llvm.intr.sqrt/exp2 into libdevice calls, and the
  /// kernels should not depend on libdevice being found at JIT time.
  Value nvvmIntrinsic(StringRef name, Value x) {
    return LLVM::CallIntrinsicOp::create(b, b.getF32Type(),
                                         b.getStringAttr(name), ValueRange{x})
        .getResult(0);
  }

  /// rstd from the sum of squares: 1 / sqrt(ss / D + eps).
  Value rstdOf(Value sumSquares, float eps) {
    Value mean = div(sumSquares, f32(static_cast<double>(layout.fullWidth)));
    Value root = nvvmIntrinsic("llvm.nvvm.sqrt.rn.f", add(mean, f32(eps)));
    return div(f32(1.0), root);
  }

  /// Softmax over depth, max-subtracted, exp through ex2.
  SmallVector<Value> softmax(ArrayRef<Value> scores) {
    Value maxScore = scores.front();
    for (Value s : scores.drop_front())
      maxScore = arith::MaximumFOp::create(b, maxScore, s);
    SmallVector<Value> weights;
    Value total;
    for (Value s : scores) {
      Value scaled = mul(sub(s, maxScore), f32(M_LOG2E));
      Value e = nvvmIntrinsic("llvm.nvvm.ex2.approx.f32", scaled);
      weights.push_back(e);
      total = total ? add(total, e) : e;
    }
    Value inverse = div(f32(1.0), total);
    for (Value &w : weights)
      w = mul(w, inverse);
    return weights;
  }

  /// Per-row coefficients of the backward, from alpha_i, rstd_i, the
  /// reduced dalpha_i and u_i = w . v_i, and mean = sum_j alpha_j dalpha_j:
  /// dv = alpha dh + coefW w + coefV v, and c += coefW v.
  std::pair<Value, Value> backwardCoefficients(Value alpha, Value rstd,
                                               Value dalpha, Value u,
                                               Value mean) {
    Value ds = mul(alpha, sub(dalpha, mean));
    Value coefW = mul(ds, rstd);
    Value score = mul(rstd, u);
    Value coefV =
        mul(f32(-1.0 / static_cast<double>(layout.fullWidth)),
            mul(mul(coefW, score), rstd));
    return {coefW, coefV};
  }

  /// dv lanes of one row, accumulating coefW * v into `c`.
  SmallVector<Value> gradientRow(Value alpha, Value coefW, Value coefV,
                                 ArrayRef<Value> dh, ArrayRef<Value> w,
                                 ArrayRef<Value> v, SmallVector<Value> &c) {
    SmallVector<Value> dv;
    for (auto [l, x] : llvm::enumerate(v)) {
      dv.push_back(fma(alpha, dh[l], fma(coefW, w[l], mul(coefV, x))));
      c[l] = fma(coefW, x, c[l]);
    }
    return dv;
  }

  /// Grid-stride loop over tokens with loop-carried values; `body` gets the
  /// token (i64) and the carried values and returns the next ones.
  /// `first` and `step` (i64) default to the block index and grid size.
  SmallVector<Value> tokenLoop(
      Value numTokens, ValueRange init,
      llvm::function_ref<SmallVector<Value>(Value, ValueRange)> body,
      Value first = {}, Value step = {}) {
    first = first ? toIndex(first)
                  : Value(gpu::BlockIdOp::create(b, gpu::Dimension::x));
    step = step ? toIndex(step)
                : Value(gpu::GridDimOp::create(b, gpu::Dimension::x));
    auto loop = scf::ForOp::create(b, first, toIndex(numTokens), step, init);
    OpBuilder::InsertionGuard guard(b);
    // Without carried values the builder adds its own terminator.
    if (init.empty())
      loop.getBody()->getTerminator()->erase();
    b.setInsertionPointToStart(loop.getBody());
    SmallVector<Value> next =
        body(toI64(loop.getInductionVar()), loop.getRegionIterArgs());
    scf::YieldOp::create(b, next);
    return loop.getResults();
  }

  ImplicitLocOpBuilder &b;
  const TileLayout &layout;
  Type ptrType;
  Value tid, lane, warp, isThreadZero;
};

/// Creates `gpu.func @name(argTypes) kernel` at the end of `module`, with a
/// shared-memory scratch of `scratchFloats` f32 if non-zero and at most
/// `registers` registers a thread.
gpu::GPUFuncOp createKernel(ImplicitLocOpBuilder &b, gpu::GPUModuleOp module,
                            StringRef name, TypeRange argTypes, int64_t threads,
                            int64_t registers, int64_t vectorElems,
                            int64_t scratchFloats,
                            int64_t scratchPointers = 0) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  SmallVector<Type> workgroup;
  auto shared = gpu::AddressSpaceAttr::get(b.getContext(),
                                           gpu::AddressSpace::Workgroup);
  if (scratchFloats > 0)
    workgroup.push_back(MemRefType::get({scratchFloats}, b.getF32Type(),
                                        MemRefLayoutAttrInterface{}, shared));
  if (scratchPointers > 0)
    workgroup.push_back(MemRefType::get({scratchPointers}, b.getI64Type(),
                                        MemRefLayoutAttrInterface{}, shared));
  auto kernel = gpu::GPUFuncOp::create(
      b, name, b.getFunctionType(argTypes, {}), workgroup);
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  // 16-byte aligned scratch: LLVM merges neighbouring shared-memory stores
  // into vector stores, which fault on a buffer aligned to its element only.
  for (unsigned i = 0; i < workgroup.size(); ++i)
    kernel.setWorkgroupAttributionAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                                       b.getI64IntegerAttr(16));
  // The runtime derives the pointer alignment it checks from this.
  kernel->setAttr(kVectorElemsAttr, b.getI64IntegerAttr(vectorElems));
  kernel.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(threads), 1, 1}));
  // By default every register one CTA per SM leaves (TileLayout::
  // registerLimit): left to itself ptxas may aim for two CTAs and spill.
  kernel->setAttr("nvvm.maxnreg",
                  b.getI32IntegerAttr(static_cast<int32_t>(registers)));
  return kernel;
}

void finishKernel(ImplicitLocOpBuilder &b) { gpu::ReturnOp::create(b); }

/// Types of the flat kernel signature: `count` pointers then one i64.
SmallVector<Type> pointerArgs(KernelEmitter &e, int64_t count) {
  SmallVector<Type> types(count, e.ptr());
  types.push_back(e.b.getI64Type());
  return types;
}

/// The forward kernels' arguments (the runtime's launch ABI):
/// v_0..v_{N-1}, q, g, h, alpha, rstd, then M.
struct ForwardArgs {
  static int64_t pointers(int64_t n) { return n + 5; }
  ForwardArgs(gpu::GPUFuncOp kernel, int64_t n) {
    ValueRange args = kernel.getArguments();
    sources = args.take_front(n);
    query = args[n];
    norm = args[n + 1];
    hOut = args[n + 2];
    alphaOut = args[n + 3];
    rstdOut = args[n + 4];
    numTokens = args[n + 5];
  }
  ValueRange sources;
  Value query, norm, hOut, alphaOut, rstdOut, numTokens;
};

/// The backward kernels' arguments (the runtime's launch ABI): dh,
/// v_0..v_{N-1}, q, g, alpha, rstd, dv_0..dv_{N-1}, partials, then M.
struct BackwardArgs {
  static int64_t pointers(int64_t n) { return 2 * n + 6; }
  BackwardArgs(gpu::GPUFuncOp kernel, int64_t n) {
    ValueRange args = kernel.getArguments();
    gradH = args[0];
    sources = args.slice(1, n);
    query = args[n + 1];
    norm = args[n + 2];
    alphaIn = args[n + 3];
    rstdIn = args[n + 4];
    gradSources = args.slice(n + 5, n);
    partialsOut = args[2 * n + 5];
    numTokens = args[2 * n + 6];
  }
  Value gradH;
  ValueRange sources;
  Value query, norm, alphaIn, rstdIn;
  ValueRange gradSources;
  Value partialsOut, numTokens;
};

/// Sum of `values` as a balanced tree (short dependency chains).
Value sumTree(KernelEmitter &e, SmallVector<Value> values) {
  if (values.empty())
    return e.f32(0.0);
  while (values.size() > 1) {
    SmallVector<Value> next;
    for (size_t i = 0; i + 1 < values.size(); i += 2)
      next.push_back(e.add(values[i], values[i + 1]));
    if (values.size() % 2)
      next.push_back(values.back());
    values = std::move(next);
  }
  return values.front();
}

/// This thread's lanes of one row: chunks x vectorElems f32 values.
SmallVector<Value> loadRow(KernelEmitter &e, Value base, Value rowStart,
                           Type element) {
  SmallVector<Value> lanes;
  for (int64_t k = 0; k < e.layout.chunks; ++k)
    llvm::append_range(lanes, e.loadVector(base, e.addI(rowStart, e.chunkOffset(k)),
                                           element, e.chunkGuard(k)));
  return lanes;
}

void storeRow(KernelEmitter &e, Value base, Value rowStart, Type element,
              ArrayRef<Value> lanes) {
  int64_t n = e.layout.vectorElems;
  for (int64_t k = 0; k < e.layout.chunks; ++k)
    e.storeVector(base, e.addI(rowStart, e.chunkOffset(k)), element,
                  lanes.slice(k * n, n), e.chunkGuard(k));
}

/// Sum over this thread's lanes of a[l] * b[l]: a chain of fma per vector
/// (its lanes), the vectors' sums added as a tree.
Value dotLanes(KernelEmitter &e, ArrayRef<Value> a, ArrayRef<Value> b) {
  assert(a.size() == b.size() && "lanes of two rows of one thread");
  const size_t width = e.layout.vectorElems;
  SmallVector<Value> vectorSums;
  for (size_t first = 0; first < a.size(); first += width) {
    Value sum = e.mul(a[first], b[first]);
    for (size_t l = first + 1; l < std::min(a.size(), first + width); ++l)
      sum = e.fma(a[l], b[l], sum);
    vectorSums.push_back(sum);
  }
  return sumTree(e, vectorSums);
}

/// w = query * norm_weight, this thread's lanes.
SmallVector<Value> loadWeights(KernelEmitter &e, Value query, Value norm) {
  Value zero = e.i64(0);
  SmallVector<Value> q = loadRow(e, query, zero, e.layout.queryType);
  SmallVector<Value> g = loadRow(e, norm, zero, e.layout.normType);
  SmallVector<Value> w;
  for (auto [qv, gv] : llvm::zip_equal(q, g))
    w.push_back(e.mul(qv, gv));
  return w;
}

void emitForward(ImplicitLocOpBuilder &b, gpu::GPUModuleOp module,
                 StringRef name, float eps, const TileLayout &layout) {
  KernelEmitter e(b, layout);
  const int64_t n = layout.numSources;
  auto kernel = createKernel(
      b, module, name, pointerArgs(e, ForwardArgs::pointers(n)), layout.threads,
      layout.registerLimit(), layout.vectorElems, 2 * n * layout.numWarps());
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&kernel.getBody().front());
  ForwardArgs args(kernel, n);
  Value scratch = layout.numWarps() > 1 ? Value(kernel.getWorkgroupAttributions()[0])
                                        : Value();
  e.beginKernel();
  SmallVector<Value> w = loadWeights(e, args.query, args.norm);

  e.tokenLoop(args.numTokens, {}, [&](Value token, ValueRange) {
    Value rowStart = e.mulI(token, e.i64(layout.width));
    // Pass 1: per row, sum of squares and w . v.
    SmallVector<SmallVector<Value>> tile;
    SmallVector<Value> partials;
    for (int64_t i = 0; i < n; ++i) {
      SmallVector<Value> v =
          loadRow(e, args.sources[i], rowStart, layout.storage);
      partials.push_back(dotLanes(e, v, v));
      partials.push_back(dotLanes(e, w, v));
      tile.push_back(std::move(v));
    }
    SmallVector<Value> sums = e.blockSum(partials, scratch);
    SmallVector<Value> rstd, scores;
    for (int64_t i = 0; i < n; ++i) {
      rstd.push_back(e.rstdOf(sums[2 * i], eps));
      scores.push_back(e.mul(rstd[i], sums[2 * i + 1]));
    }
    SmallVector<Value> alpha = e.softmax(scores);
    e.emitIf(e.isThreadZero, [&] {
      Value statStart = e.mulI(token, e.i64(n));
      for (int64_t i = 0; i < n; ++i) {
        e.storeScalar(args.alphaOut, e.addI(statStart, e.i64(i)), alpha[i]);
        e.storeScalar(args.rstdOut, e.addI(statStart, e.i64(i)), rstd[i]);
      }
    });
    // Pass 2: h = sum_i alpha_i v_i from the tile in registers.
    SmallVector<Value> h;
    for (int64_t i = 0; i < n; ++i) {
      for (auto [l, x] : llvm::enumerate(tile[i])) {
        if (i == 0)
          h.push_back(e.mul(alpha[i], x));
        else
          h[l] = e.fma(alpha[i], x, h[l]);
      }
    }
    storeRow(e, args.hOut, rowStart, layout.storage, h);
    return SmallVector<Value>{};
  });
  finishKernel(b);
}

/// Ends a backward kernel whose CTAs walk tokens with a grid stride: this
/// CTA's row of partial sums of c goes to row blockIdx.x of the partials,
/// which the reduce kernel sums in order.
void storePartialsAndFinish(KernelEmitter &e, const BackwardArgs &args,
                            ArrayRef<Value> c) {
  ImplicitLocOpBuilder &b = e.b;
  Value block = e.toI64(gpu::BlockIdOp::create(b, gpu::Dimension::x));
  storeRow(e, args.partialsOut, e.mulI(block, e.i64(e.layout.width)),
           b.getF32Type(), c);
  finishKernel(b);
}

void emitBackward(ImplicitLocOpBuilder &b, gpu::GPUModuleOp module,
                  StringRef name, const TileLayout &layout) {
  KernelEmitter e(b, layout);
  const int64_t n = layout.numSources;
  auto kernel =
      createKernel(b, module, name, pointerArgs(e, BackwardArgs::pointers(n)),
                   layout.threads, layout.registerLimit(), layout.vectorElems,
                   2 * n * layout.numWarps());
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&kernel.getBody().front());
  BackwardArgs args(kernel, n);
  Value scratch = layout.numWarps() > 1 ? Value(kernel.getWorkgroupAttributions()[0])
                                        : Value();
  e.beginKernel();
  SmallVector<Value> w = loadWeights(e, args.query, args.norm);

  // c_d partial sums over this CTA's tokens are carried in registers.
  SmallVector<Value> zeros(w.size(), e.f32(0.0));
  SmallVector<Value> c =
      e.tokenLoop(args.numTokens, zeros, [&](Value token, ValueRange carried) {
        Value rowStart = e.mulI(token, e.i64(layout.width));
        // The saved alpha and rstd first: their loads overlap the tile's.
        Value statStart = e.mulI(token, e.i64(n));
        SmallVector<Value> alpha, rstd;
        for (int64_t i = 0; i < n; ++i) {
          alpha.push_back(
              e.loadScalar(args.alphaIn, e.addI(statStart, e.i64(i))));
          rstd.push_back(
              e.loadScalar(args.rstdIn, e.addI(statStart, e.i64(i))));
        }
        SmallVector<Value> dh =
            loadRow(e, args.gradH, rowStart, layout.storage);
        // Pass 1: dalpha_i = dh . v_i and u_i = w . v_i.
        SmallVector<SmallVector<Value>> tile;
        SmallVector<Value> partials;
        for (int64_t i = 0; i < n; ++i) {
          SmallVector<Value> v =
              loadRow(e, args.sources[i], rowStart, layout.storage);
          partials.push_back(dotLanes(e, dh, v));
          partials.push_back(dotLanes(e, w, v));
          tile.push_back(std::move(v));
        }
        SmallVector<Value> sums = e.blockSum(partials, scratch);
        SmallVector<Value> weighted; // alpha_j * dalpha_j
        for (int64_t i = 0; i < n; ++i)
          weighted.push_back(e.mul(alpha[i], sums[2 * i]));
        // The exact sum_j alpha_j dalpha_j from the resident reduction (not
        // dh . h, whose rounding cancels badly in dalpha_i - dh . h).
        Value mean = sumTree(e, weighted);
        // Pass 2: dv = alpha_i dh + coefW_i w + coefV_i v; c += coefW_i v.
        SmallVector<Value> next(carried.begin(), carried.end());
        for (int64_t i = 0; i < n; ++i) {
          auto [coefW, coefV] = e.backwardCoefficients(
              alpha[i], rstd[i], sums[2 * i], sums[2 * i + 1], mean);
          storeRow(e, args.gradSources[i], rowStart, layout.storage,
                   e.gradientRow(alpha[i], coefW, coefV, dh, w, tile[i], next));
        }
        return next;
      });
  storePartialsAndFinish(e, args, c);
}

//===----------------------------------------------------------------------===//
// Streaming form: rows are visited in scf.for loops (not unrolled), so the
// registers a thread needs do not grow with N. Row pointers come from a table
// in shared memory; per-row partial sums go to shared memory right after
// their warp reduction; warp 0 turns the totals into per-row coefficients.
//===----------------------------------------------------------------------===//

/// Shared-memory layout of the streaming kernels (f32 words).
struct StreamScratch {
  int64_t numSources, numWarps;
  int64_t partials() const { return 0; }                      // [warps][2N]
  int64_t totals() const { return numWarps * 2 * numSources; } // [2N]
  int64_t coef(int k) const { return totals() + (2 + k) * numSources; } // [N]
  int64_t size() const { return totals() + 5 * numSources; }
};

/// An scf.for over [0, count) that LLVM keeps rolled: unrolled, its loads
/// get hoisted and the registers grow with N again. (scf-to-cf forwards the
/// annotation to the back edge.)
SmallVector<Value>
rolledLoop(KernelEmitter &e, Value count, ValueRange init,
           llvm::function_ref<SmallVector<Value>(Value, ValueRange)> body) {
  ImplicitLocOpBuilder &b = e.b;
  auto loop = scf::ForOp::create(b, arith::ConstantIndexOp::create(b, 0), count,
                                 arith::ConstantIndexOp::create(b, 1), init);
  loop->setAttr("llvm.loop_annotation",
                LLVM::LoopAnnotationAttr::get(
                    b.getContext(), {}, {}, {},
                    LLVM::LoopUnrollAttr::get(b.getContext(),
                                              /*disable=*/b.getBoolAttr(true),
                                              {}, {}, {}, {}, {}, {}),
                    {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}));
  OpBuilder::InsertionGuard guard(b);
  if (init.empty())
    loop.getBody()->getTerminator()->erase();
  b.setInsertionPointToStart(loop.getBody());
  SmallVector<Value> next =
      body(e.toI64(loop.getInductionVar()), loop.getRegionIterArgs());
  scf::YieldOp::create(b, next);
  return loop.getResults();
}

class StreamEmitter {
public:
  StreamEmitter(KernelEmitter &e, gpu::GPUFuncOp kernel)
      : e(e), b(e.b), n(e.layout.numSources),
        scratch{e.layout.numSources, e.layout.numWarps()},
        floats(kernel.getWorkgroupAttributions()[0]),
        pointers(kernel.getWorkgroupAttributions()[1]) {}

  Value index(Value i64Value) { return e.toIndex(i64Value); }
  Value loadF(int64_t base, Value offset) {
    return memref::LoadOp::create(b, floats,
                                  ValueRange{index(e.addI(e.i64(base), offset))});
  }
  void storeF(int64_t base, Value offset, Value value) {
    memref::StoreOp::create(b, value, floats,
                            ValueRange{index(e.addI(e.i64(base), offset))});
  }

  /// Thread 0 writes the row pointers into the table; then a barrier.
  void fillPointerTable(ValueRange rowPointers) {
    e.emitIf(e.isThreadZero, [&] {
      for (auto [i, ptr] : llvm::enumerate(rowPointers))
        memref::StoreOp::create(
            b, LLVM::PtrToIntOp::create(b, b.getI64Type(), ptr), pointers,
            ValueRange{arith::ConstantIndexOp::create(b, i)});
    });
    gpu::BarrierOp::create(b);
  }
  Value rowPointer(Value slot) {
    Value bits = memref::LoadOp::create(b, pointers, ValueRange{index(slot)});
    return LLVM::IntToPtrOp::create(b, e.ptr(), bits);
  }

  /// scf.for over rows 0..N-1 carrying `init`; body gets the row (i64).
  SmallVector<Value>
  rowLoop(ValueRange init,
          llvm::function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    return rolledLoop(e, arith::ConstantIndexOp::create(b, n), init, body);
  }

  /// Warp-reduces the two partial sums of `row` and stores them (lane 0).
  void publishPartials(Value row, Value first, Value second) {
    SmallVector<Value> sums = {first, second};
    for (Value &sum : sums)
      sum = warpReduce(sum, /*max=*/false);
    Value isLaneZero =
        arith::CmpIOp::create(b, arith::CmpIPredicate::eq, e.lane, e.i64(0));
    e.emitIf(isLaneZero, [&] {
      Value slot = e.addI(e.mulI(e.warp, e.i64(2 * n)), e.mulI(row, e.i64(2)));
      storeF(scratch.partials(), slot, sums[0]);
      storeF(scratch.partials(), e.addI(slot, e.i64(1)), sums[1]);
    });
  }

  /// Warp-reduces the partial sums of rows firstRow, firstRow + 1, ...
  /// (`sums`: two a row, at most a warp's worth) and stores them, one lane
  /// per sum.
  void publishRows(int64_t firstRow, ArrayRef<Value> sums) {
    auto [total, index] = e.warpReduceScatter(sums);
    const int64_t group = kWarpSize / llvm::PowerOf2Ceil(sums.size());
    Value first = arith::CmpIOp::create(
        b, arith::CmpIPredicate::eq,
        arith::AndIOp::create(b, e.lane, e.i64(group - 1)), e.i64(0));
    Value inRange = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, index,
                                          e.i64(sums.size()));
    e.emitIf(arith::AndIOp::create(b, first, inRange), [&] {
      storeF(scratch.partials(),
             e.addI(e.mulI(e.warp, e.i64(2 * n)),
                    e.addI(index, e.i64(2 * firstRow))),
             total);
    });
  }

  /// After the row loop: totals[j] = sum over warps of partials[w][j].
  /// Thread t sums the columns t, t + threads, ... (2N may exceed threads).
  void sumPartials() {
    gpu::BarrierOp::create(b);
    for (int64_t first = 0; first < 2 * n; first += e.layout.threads) {
      Value column = e.addI(e.tid, e.i64(first));
      Value active = arith::CmpIOp::create(b, arith::CmpIPredicate::slt,
                                           column, e.i64(2 * n));
      e.emitIf(active, [&] {
        Value total;
        for (int64_t w = 0; w < scratch.numWarps; ++w) {
          Value part = loadF(scratch.partials() + w * 2 * n, column);
          total = total ? e.add(total, part) : part;
        }
        storeF(scratch.totals(), column, total);
      });
    }
    gpu::BarrierOp::create(b);
  }

  Value warpReduce(Value value, bool max) { return e.warpReduce(value, max); }

  /// Runs `body` in warp 0 for the rows lane and lane + 32 (those < N);
  /// `body` gets the row (clamped into range) and its validity.
  void inWarpZero(llvm::function_ref<void(ArrayRef<Value>, ArrayRef<Value>)> body) {
    inWarpZeroNoBarrier(body);
    gpu::BarrierOp::create(b);
  }

  /// inWarpZero() without the closing barrier.
  void inWarpZeroNoBarrier(
      llvm::function_ref<void(ArrayRef<Value>, ArrayRef<Value>)> body) {
    Value isWarpZero =
        arith::CmpIOp::create(b, arith::CmpIPredicate::eq, e.warp, e.i64(0));
    e.emitIf(isWarpZero, [&] {
      SmallVector<Value> rows, valid;
      for (int64_t base = 0; base < n; base += kWarpSize) {
        Value row = e.addI(e.lane, e.i64(base));
        valid.push_back(arith::CmpIOp::create(b, arith::CmpIPredicate::slt,
                                              row, e.i64(n)));
        rows.push_back(arith::MinSIOp::create(b, row, e.i64(n - 1)));
      }
      body(rows, valid);
    });
  }

  Value select(Value cond, Value x, Value y) {
    return arith::SelectOp::create(b, cond, x, y);
  }
  /// Warp sum of the values where `valid` holds.
  Value maskedSum(ArrayRef<Value> values, ArrayRef<Value> valid) {
    Value sum = e.f32(0.0);
    for (auto [v, ok] : llvm::zip_equal(values, valid))
      sum = e.add(sum, select(ok, v, e.f32(0.0)));
    return warpReduce(sum, /*max=*/false);
  }

  KernelEmitter &e;
  ImplicitLocOpBuilder &b;
  int64_t n;
  StreamScratch scratch;
  Value floats, pointers;
};

void emitForwardStreaming(ImplicitLocOpBuilder &b, gpu::GPUModuleOp module,
                          StringRef name, float eps, const TileLayout &layout) {
  KernelEmitter e(b, layout);
  const int64_t n = layout.numSources;
  StreamScratch scratch{n, layout.numWarps()};
  auto kernel = createKernel(
      b, module, name, pointerArgs(e, ForwardArgs::pointers(n)), layout.threads,
      layout.registerLimit(), layout.vectorElems, scratch.size(), n);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&kernel.getBody().front());
  ForwardArgs args(kernel, n);
  e.beginKernel();
  StreamEmitter s(e, kernel);
  s.fillPointerTable(args.sources);
  SmallVector<Value> w = loadWeights(e, args.query, args.norm);

  e.tokenLoop(args.numTokens, {}, [&](Value token, ValueRange) {
    Value rowStart = e.mulI(token, e.i64(layout.width));
    // Pass 1: per row, sum of squares and w . v.
    s.rowLoop({}, [&](Value row, ValueRange) {
      SmallVector<Value> v = loadRow(e, s.rowPointer(row), rowStart, layout.storage);
      s.publishPartials(row, dotLanes(e, v, v), dotLanes(e, w, v));
      return SmallVector<Value>{};
    });
    s.sumPartials();
    // Warp 0: rstd, scores and the softmax over depth.
    s.inWarpZero([&](ArrayRef<Value> rows, ArrayRef<Value> valid) {
      SmallVector<Value> rstd, scores;
      Value maxScore = e.f32(-INFINITY);
      for (auto [row, ok] : llvm::zip_equal(rows, valid)) {
        Value twice = e.mulI(row, e.i64(2));
        rstd.push_back(e.rstdOf(s.loadF(scratch.totals(), twice), eps));
        scores.push_back(e.mul(rstd.back(), s.loadF(scratch.totals(),
                                                    e.addI(twice, e.i64(1)))));
        maxScore = arith::MaximumFOp::create(
            b, maxScore, s.select(ok, scores.back(), e.f32(-INFINITY)));
      }
      maxScore = s.warpReduce(maxScore, /*max=*/true);
      SmallVector<Value> exps;
      for (Value score : scores)
        exps.push_back(e.nvvmIntrinsic(
            "llvm.nvvm.ex2.approx.f32",
            e.mul(e.sub(score, maxScore), e.f32(M_LOG2E))));
      Value inverse = e.div(e.f32(1.0), s.maskedSum(exps, valid));
      Value statStart = e.mulI(token, e.i64(n));
      for (auto [k, row] : llvm::enumerate(rows)) {
        Value alpha = e.mul(exps[k], inverse);
        e.emitIf(valid[k], [&] {
          s.storeF(scratch.coef(0), row, alpha);
          e.storeScalar(args.alphaOut, e.addI(statStart, row), alpha);
          e.storeScalar(args.rstdOut, e.addI(statStart, row), rstd[k]);
        });
      }
    });
    // Pass 2: h = sum_i alpha_i v_i.
    SmallVector<Value> zeros(layout.chunks * layout.vectorElems, e.f32(0.0));
    SmallVector<Value> h = s.rowLoop(zeros, [&](Value row, ValueRange acc) {
      Value alpha = s.loadF(scratch.coef(0), row);
      SmallVector<Value> v = loadRow(e, s.rowPointer(row), rowStart, layout.storage);
      SmallVector<Value> next;
      for (auto [a, x] : llvm::zip_equal(acc, v))
        next.push_back(e.fma(alpha, x, a));
      return next;
    });
    storeRow(e, args.hOut, rowStart, layout.storage, h);
    return SmallVector<Value>{};
  });
  finishKernel(b);
}

//===----------------------------------------------------------------------===//
// Online form (forward): rows in groups of R; one CTA reduction per group
// gives the group's scores, folded into h with an online softmax (running
// max m and sum l, the f32 accumulator rescaled by exp(m_old - m_new)). The
// next group's loads (of this token or the next) are issued before the
// current group's reduction, so HBM stays busy across the barriers, and V
// is read once whatever N and D are.
//===----------------------------------------------------------------------===//

/// Loads this thread's vectors of one row as stored (one value per chunk,
/// not widened): the registers of a row in flight. Out-of-bounds chunks
/// read element 0; widenRow() zeroes them.
SmallVector<Value> loadRawRow(KernelEmitter &e, Value base, Value rowStart,
                              Type element) {
  ImplicitLocOpBuilder &b = e.b;
  const TileLayout &layout = e.layout;
  int64_t n = layout.vectorElems;
  Type type = n == 1 ? element : Type(VectorType::get({n}, element));
  int64_t bytes = std::min<int64_t>(n * element.getIntOrFloatBitWidth() / 8, 16);
  SmallVector<Value> raw;
  for (int64_t k = 0; k < layout.chunks; ++k) {
    Value offset = e.addI(rowStart, e.chunkOffset(k));
    if (Value guard = e.chunkGuard(k))
      offset = arith::SelectOp::create(b, guard, offset, e.i64(0));
    raw.push_back(LLVM::LoadOp::create(b, type, e.address(base, offset, element),
                                       bytes));
  }
  return raw;
}

/// The f32 lanes of a row loaded by loadRawRow().
SmallVector<Value> widenRow(KernelEmitter &e, ArrayRef<Value> raw) {
  ImplicitLocOpBuilder &b = e.b;
  SmallVector<Value> lanes;
  for (auto [k, vec] : llvm::enumerate(raw)) {
    Value guard = e.chunkGuard(k);
    SmallVector<Value> parts;
    if (auto vecType = dyn_cast<VectorType>(vec.getType())) {
      for (int64_t i = 0; i < vecType.getNumElements(); ++i)
        parts.push_back(LLVM::ExtractElementOp::create(
            b, vec, arith::ConstantIntOp::create(b, i, 32)));
    } else {
      parts.push_back(vec);
    }
    for (Value v : parts) {
      if (!v.getType().isF32())
        v = arith::ExtFOp::create(b, b.getF32Type(), v);
      if (guard)
        v = arith::SelectOp::create(b, guard, v, e.f32(0.0));
      lanes.push_back(v);
    }
  }
  return lanes;
}

/// Copies rows into dynamic shared memory with cp.async, each thread its own
/// vectors: a thread reads back only what it copied, so no barrier guards a
/// tile row between its copy and its use (the smem backward's tile, the
/// online forward's ring).
class TileCopier {
public:
  /// `symbol` names the module's dynamic shared memory (declareTile()).
  TileCopier(KernelEmitter &e, StringRef symbol, int64_t offsetBytes = 0)
      : e(e), b(e.b), offsetBytes(offsetBytes) {
    tile = LLVM::AddressOfOp::create(
        b, LLVM::LLVMPointerType::get(b.getContext(), /*addressSpace=*/3),
        symbol);
    vecBytes = e.layout.vectorElems * e.layout.elementBytes();
  }

  /// Declares the dynamic shared memory of `module` as an external
  /// zero-length shared array (PTX `.extern .shared .b8 name[]`), aligned
  /// to `alignment` (ptxas rounds the static shared memory up to it). Not
  /// gpu.dynamic_shared_memory: its internal-linkage global is demoted by
  /// NVPTX to a one-byte static variable.
  static StringRef declareTile(ImplicitLocOpBuilder &b, gpu::GPUModuleOp module,
                               int64_t alignment) {
    static constexpr llvm::StringLiteral name = "attnres_tile";
    if (!module.lookupSymbol(name)) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(module.getBody());
      LLVM::GlobalOp::create(b, LLVM::LLVMArrayType::get(b.getI8Type(), 0),
                             /*isConstant=*/false, LLVM::Linkage::External,
                             name, Attribute(), alignment,
                             /*addrSpace=*/3);
    }
    return name;
  }

  /// This thread's slot of chunk k of tile row `row`: consecutive threads
  /// use consecutive vectors (no bank conflicts).
  Value slot(Value row, int64_t k) {
    const TileLayout &l = e.layout;
    Value index = e.addI(
        e.mulI(e.addI(e.mulI(row, e.i64(l.chunks)), e.i64(k)), e.i64(l.threads)),
        e.tid);
    return LLVM::GEPOp::create(
        b, tile.getType(), b.getI8Type(), tile,
        ValueRange{e.addI(e.mulI(index, e.i64(vecBytes)), e.i64(offsetBytes))});
  }

  /// Starts copying this thread's vectors of base[rowStart ..] into tile
  /// row `row` and, unless `commit` is false, commits them as one group.
  void copyRow(Value base, Value rowStart, Value row, bool commit = true) {
    const TileLayout &l = e.layout;
    for (int64_t k = 0; k < l.chunks; ++k) {
      auto copy = [&] {
        Value src = e.address(base, e.addI(rowStart, e.chunkOffset(k)),
                              l.storage);
        NVVM::CpAsyncOp::create(b, slot(row, k), src,
                                static_cast<uint32_t>(vecBytes),
                                vecBytes == 16 ? NVVM::LoadCacheModifierKind::CG
                                               : NVVM::LoadCacheModifierKind::CA,
                                Value());
      };
      if (Value guard = e.chunkGuard(k))
        e.emitIf(guard, copy);
      else
        copy();
    }
    if (commit)
      this->commit();
  }

  /// Closes the copies started since the last commit into one group.
  void commit() { NVVM::CpAsyncCommitGroupOp::create(b); }

  /// Waits until at most `pending` copy groups are in flight.
  void wait(int64_t pending) {
    NVVM::CpAsyncWaitGroupOp::create(b, static_cast<uint32_t>(pending));
  }

  /// The f32 lanes of tile row `row` (chunks past D read as zeros).
  SmallVector<Value> readRow(Value row) {
    const TileLayout &l = e.layout;
    int64_t n = l.vectorElems;
    Type type = n == 1 ? l.storage : Type(VectorType::get({n}, l.storage));
    SmallVector<Value> raw;
    for (int64_t k = 0; k < l.chunks; ++k)
      raw.push_back(LLVM::LoadOp::create(b, type, slot(row, k), vecBytes));
    return widenRow(e, raw);
  }

  KernelEmitter &e;
  ImplicitLocOpBuilder &b;
  Value tile;
  int64_t vecBytes;
  int64_t offsetBytes;
};

void emitForwardOnline(ImplicitLocOpBuilder &b, gpu::GPUModuleOp module,
                       StringRef name, float eps, const TileLayout &layout) {
  KernelEmitter e(b, layout);
  const int64_t n = layout.numSources;
  const int64_t rows = layout.groupRows;
  const int64_t groups = llvm::divideCeil(n, rows);
  const int64_t chunks = layout.chunks;
  OnlineScratch scratch{n, layout.numWarps(), rows};
  // With a ring (stages >= 2) the groups ahead are copied into shared
  // memory, stages - 1 of them in flight; else the next group is loaded
  // into registers.
  const int64_t stages = layout.stages;
  const bool ring = stages >= 2;
  auto kernel = createKernel(
      b, module, name, pointerArgs(e, ForwardArgs::pointers(n)), layout.threads,
      layout.registerLimit(), layout.vectorElems, scratch.size(), n);
  if (ring)
    kernel->setAttr(kDynamicSharedAttr, b.getI64IntegerAttr(layout.tileBytes));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&kernel.getBody().front());
  ForwardArgs args(kernel, n);
  e.beginKernel();
  StreamEmitter s(e, kernel);
  s.fillPointerTable(args.sources);
  SmallVector<Value> w = loadWeights(e, args.query, args.norm);
  Value grid = e.toI64(gpu::GridDimOp::create(b, gpu::Dimension::x));
  Value lastToken = e.addI(args.numTokens, e.i64(-1));
  Value isLaneZero =
      arith::CmpIOp::create(b, arith::CmpIPredicate::eq, e.lane, e.i64(0));
  std::optional<TileCopier> copier;
  if (ring)
    copier.emplace(
        e, TileCopier::declareTile(b, module, tileAlignment(e.layout.form)));

  // Row r of group `group`, clamped into [0, N) (a partial last group
  // repeats row N - 1; its scores are masked).
  auto groupRow = [&](Value group, int64_t r) {
    Value row = e.addI(e.mulI(group, e.i64(rows)), e.i64(r));
    if (n % rows != 0)
      row = arith::MinSIOp::create(b, row, e.i64(n - 1));
    return row;
  };
  // The raw vectors of group `group` of `token`.
  auto loadGroup = [&](Value token, Value group) {
    Value rowStart = e.mulI(token, e.i64(layout.width));
    SmallVector<Value> raw;
    for (int64_t r = 0; r < rows; ++r)
      llvm::append_range(raw, loadRawRow(e, s.rowPointer(groupRow(group, r)),
                                         rowStart, layout.storage));
    return raw;
  };
  // The first tile row of the ring slot of the CTA's group `index`.
  auto ringSlot = [&](Value index) {
    return e.mulI(arith::RemUIOp::create(b, index, e.i64(stages)),
                  e.i64(rows));
  };

  Value block = e.toI64(gpu::BlockIdOp::create(b, gpu::Dimension::x));
  // Ring: copies group `index` of this CTA's sequence (token-major: group
  // index % groups of its (index / groups)-th token) into ring slot
  // index % stages, and commits them as one cp.async group (empty past the
  // last token, so every iteration waits for the same count).
  auto copyGroup = [&](Value index) {
    Value tokenIndex = arith::DivUIOp::create(b, index, e.i64(groups));
    Value group = e.addI(index, e.mulI(tokenIndex, e.i64(-groups)));
    Value token = e.addI(block, e.mulI(tokenIndex, grid));
    Value slot = ringSlot(index);
    e.emitIf(arith::CmpIOp::create(b, arith::CmpIPredicate::slt, token,
                                   args.numTokens),
             [&] {
               Value rowStart = e.mulI(token, e.i64(layout.width));
               for (int64_t r = 0; r < rows; ++r)
                 copier->copyRow(s.rowPointer(groupRow(group, r)), rowStart,
                                 e.addI(slot, e.i64(r)), /*commit=*/false);
             });
    copier->commit();
  };
  SmallVector<Value> init;
  if (ring) {
    for (int64_t ahead = 0; ahead + 1 < stages; ++ahead)
      copyGroup(e.i64(ahead));
  } else {
    init = loadGroup(arith::MinSIOp::create(b, block, lastToken), e.i64(0));
  }
  // The CTA's group counter: parity of the partials buffer, ring slot.
  init.push_back(e.i64(0));

  e.tokenLoop(args.numTokens, init, [&](Value token, ValueRange carried) {
    // Carried: h lanes, m, l, the current group's raw vectors, the counter.
    SmallVector<Value> start(layout.lanes(), e.f32(0.0));
    start.push_back(e.f32(-INFINITY));
    start.push_back(e.f32(0.0));
    llvm::append_range(start, carried);
    const size_t hEnd = layout.lanes(), rawBegin = hEnd + 2,
                 rawEnd = rawBegin + (ring ? 0 : rows * chunks);
    SmallVector<Value> state = rolledLoop(
        e, arith::ConstantIndexOp::create(b, groups), start,
        [&](Value group, ValueRange acc) {
          Value counter = acc.back();
          // Issue the next loads first: the group stages - 1 ahead into the
          // slot the previous iteration consumed, or the next group into
          // registers.
          SmallVector<Value> next;
          SmallVector<SmallVector<Value>> v;
          if (ring) {
            copyGroup(e.addI(counter, e.i64(stages - 1)));
            copier->wait(stages - 1);
            Value slot = ringSlot(counter);
            for (int64_t r = 0; r < rows; ++r)
              v.push_back(copier->readRow(e.addI(slot, e.i64(r))));
          } else {
            Value nextGroup = e.addI(group, e.i64(1));
            Value sameToken = arith::CmpIOp::create(
                b, arith::CmpIPredicate::slt, nextGroup, e.i64(groups));
            Value nextToken = s.select(
                sameToken, token,
                arith::MinSIOp::create(b, e.addI(token, grid), lastToken));
            next = loadGroup(nextToken,
                             s.select(sameToken, nextGroup, e.i64(0)));
            for (int64_t r = 0; r < rows; ++r)
              v.push_back(widenRow(
                  e, SmallVector<Value>(acc.slice(rawBegin + r * chunks,
                                                  chunks))));
          }

          // Partial sums of the current group, one CTA exchange.
          SmallVector<Value> partials;
          for (int64_t r = 0; r < rows; ++r) {
            partials.push_back(dotLanes(e, v[r], v[r]));
            partials.push_back(dotLanes(e, w, v[r]));
          }
          Value parity = arith::AndIOp::create(b, counter, e.i64(1));
          Value base =
              e.mulI(parity, e.i64(scratch.partials(1) - scratch.partials(0)));
          for (Value &p : partials)
            p = e.warpReduce(p, /*max=*/false);
          e.emitIf(isLaneZero, [&] {
            Value slot = e.addI(base, e.mulI(e.warp, e.i64(2 * rows)));
            for (auto [j, p] : llvm::enumerate(partials))
              s.storeF(0, e.addI(slot, e.i64(j)), p);
          });
          // One barrier per group: the partials alternate between two
          // buffers, so the next group's stores cannot overwrite a buffer
          // another thread still reads.
          gpu::BarrierOp::create(b);
          SmallVector<Value> totals;
          for (int64_t j = 0; j < 2 * rows; ++j) {
            Value total;
            for (int64_t wp = 0; wp < layout.numWarps(); ++wp) {
              Value part = s.loadF(0, e.addI(base, e.i64(wp * 2 * rows + j)));
              total = total ? e.add(total, part) : part;
            }
            totals.push_back(total);
          }

          // Scores; rows past N (a partial last group) weigh nothing.
          Value m = acc[hEnd], l = acc[hEnd + 1];
          SmallVector<Value> rstd, score;
          Value groupMax = m;
          for (int64_t r = 0; r < rows; ++r) {
            rstd.push_back(e.rstdOf(totals[2 * r], eps));
            Value sc = e.mul(rstd[r], totals[2 * r + 1]);
            if (n % rows != 0) {
              Value row = e.addI(e.mulI(group, e.i64(rows)), e.i64(r));
              Value valid = arith::CmpIOp::create(b, arith::CmpIPredicate::slt,
                                                  row, e.i64(n));
              sc = s.select(valid, sc, e.f32(-INFINITY));
            }
            score.push_back(sc);
            groupMax = arith::MaximumFOp::create(b, groupMax, sc);
          }
          auto expOf = [&](Value x) {
            return e.nvvmIntrinsic("llvm.nvvm.ex2.approx.f32",
                                   e.mul(x, e.f32(M_LOG2E)));
          };
          // m = -inf before the first group: the scale is exp(-inf) = 0.
          Value scale = expOf(e.sub(m, groupMax));
          SmallVector<Value> weight;
          Value newL = e.mul(l, scale);
          for (Value sc : score) {
            weight.push_back(expOf(e.sub(sc, groupMax)));
            newL = e.add(newL, weight.back());
          }
          SmallVector<Value> out;
          for (int64_t lane = 0; lane < static_cast<int64_t>(hEnd); ++lane) {
            Value h = e.mul(acc[lane], scale);
            for (int64_t r = 0; r < rows; ++r)
              h = e.fma(weight[r], v[r][lane], h);
            out.push_back(h);
          }
          // Thread 0 keeps the scores and rstd for the alpha/rstd outputs.
          e.emitIf(e.isThreadZero, [&] {
            for (int64_t r = 0; r < rows; ++r) {
              Value row = e.addI(e.mulI(group, e.i64(rows)), e.i64(r));
              auto storeStats = [&] {
                s.storeF(scratch.scores(), row, score[r]);
                s.storeF(scratch.rstds(), row, rstd[r]);
              };
              if (n % rows != 0)
                e.emitIf(arith::CmpIOp::create(b, arith::CmpIPredicate::slt,
                                               row, e.i64(n)),
                         storeStats);
              else
                storeStats();
            }
          });
          out.push_back(groupMax);
          out.push_back(newL);
          llvm::append_range(out, next);
          out.push_back(e.addI(counter, e.i64(1)));
          return out;
        });

    Value m = state[hEnd], l = state[hEnd + 1];
    Value inverse = e.div(e.f32(1.0), l);
    SmallVector<Value> h;
    for (size_t lane = 0; lane < hEnd; ++lane)
      h.push_back(e.mul(state[lane], inverse));
    Value rowStart = e.mulI(token, e.i64(layout.width));
    storeRow(e, args.hOut, rowStart, layout.storage, h);
    // Thread 0's scores are visible after a barrier; warp 0 writes alpha
    // and rstd coalesced. The next token's first writes to the statistics
    // come after its first group barrier, so one barrier here suffices.
    gpu::BarrierOp::create(b);
    s.inWarpZeroNoBarrier([&](ArrayRef<Value> rowsOfLane,
                              ArrayRef<Value> valid) {
      Value statStart = e.mulI(token, e.i64(n));
      for (auto [row, ok] : llvm::zip_equal(rowsOfLane, valid)) {
        Value alpha =
            e.mul(e.nvvmIntrinsic(
                      "llvm.nvvm.ex2.approx.f32",
                      e.mul(e.sub(s.loadF(scratch.scores(), row), m),
                            e.f32(M_LOG2E))),
                  inverse);
        Value rstd = s.loadF(scratch.rstds(), row);
        e.emitIf(ok, [&] {
          e.storeScalar(args.alphaOut, e.addI(statStart, row), alpha);
          e.storeScalar(args.rstdOut, e.addI(statStart, row), rstd);
        });
      }
    });
    SmallVector<Value> carry(state.begin() + rawBegin, state.begin() + rawEnd);
    carry.push_back(state.back());
    return carry;
  });
  finishKernel(b);
}

/// The saved alpha and rstd of `token` for warp 0's rows (lane, lane + 32,
/// ...; see inWarpZero), as (alpha, rstd) pairs. Loaded a token ahead by the
/// tile backward and at the token's start by the streaming one, so that
/// their latency is not on the path from the reductions to pass 2.
SmallVector<Value> loadTokenStats(KernelEmitter &e, Value token, Value alphaIn,
                                  Value rstdIn) {
  const int64_t n = e.layout.numSources;
  Value statStart = e.mulI(token, e.i64(n));
  SmallVector<Value> stats;
  for (int64_t base = 0; base < n; base += kWarpSize) {
    Value row =
        arith::MinSIOp::create(e.b, e.addI(e.lane, e.i64(base)), e.i64(n - 1));
    stats.push_back(e.loadScalar(alphaIn, e.addI(statStart, row)));
    stats.push_back(e.loadScalar(rstdIn, e.addI(statStart, row)));
  }
  return stats;
}

/// Warp 0 of a streaming or tile backward: from the reduced totals
/// (dalpha_i, u_i per row) and the token's saved alpha, rstd
/// (loadTokenStats), the exact sum_j alpha_j dalpha_j (not dh . h) and each
/// row's coefficients of dv, stored to the scratch for the whole CTA.
void storeBackwardCoefficients(KernelEmitter &e, StreamEmitter &s,
                               const StreamScratch &scratch,
                               ArrayRef<Value> stats) {
  s.inWarpZero([&](ArrayRef<Value> rows, ArrayRef<Value> valid) {
    SmallVector<Value> alpha, rstd, dalpha, u, weighted;
    for (auto [j, row] : llvm::enumerate(rows)) {
      Value twice = e.mulI(row, e.i64(2));
      alpha.push_back(stats[2 * j]);
      rstd.push_back(stats[2 * j + 1]);
      dalpha.push_back(s.loadF(scratch.totals(), twice));
      u.push_back(s.loadF(scratch.totals(), e.addI(twice, e.i64(1))));
      weighted.push_back(e.mul(alpha.back(), dalpha.back()));
    }
    Value mean = s.maskedSum(weighted, valid);
    for (auto [j, row] : llvm::enumerate(rows)) {
      auto [coefW, coefV] =
          e.backwardCoefficients(alpha[j], rstd[j], dalpha[j], u[j], mean);
      e.emitIf(valid[j], [&] {
        s.storeF(scratch.coef(0), row, alpha[j]);
        s.storeF(scratch.coef(1), row, coefW);
        s.storeF(scratch.coef(2), row, coefV);
      });
    }
  });
}

void emitBackwardStreaming(ImplicitLocOpBuilder &b, gpu::GPUModuleOp module,
                           StringRef name, const TileLayout &layout) {
  KernelEmitter e(b, layout);
  const int64_t n = layout.numSources;
  StreamScratch scratch{n, layout.numWarps()};
  auto kernel =
      createKernel(b, module, name, pointerArgs(e, BackwardArgs::pointers(n)),
                   layout.threads, layout.registerLimit(), layout.vectorElems,
                   scratch.size(), 2 * n);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&kernel.getBody().front());
  BackwardArgs args(kernel, n);
  e.beginKernel();
  StreamEmitter s(e, kernel);
  // Slots 0..N-1: sources, N..2N-1: their gradients.
  SmallVector<Value> table(args.sources);
  llvm::append_range(table, args.gradSources);
  s.fillPointerTable(table);
  SmallVector<Value> w = loadWeights(e, args.query, args.norm);

  SmallVector<Value> zeros(w.size(), e.f32(0.0));
  SmallVector<Value> c =
      e.tokenLoop(args.numTokens, zeros, [&](Value token, ValueRange carried) {
        // The saved alpha and rstd first: their loads overlap pass 1's.
        SmallVector<Value> stats =
            loadTokenStats(e, token, args.alphaIn, args.rstdIn);
        Value rowStart = e.mulI(token, e.i64(layout.width));
        SmallVector<Value> dh =
            loadRow(e, args.gradH, rowStart, layout.storage);
        // Pass 1: dalpha_i = dh . v_i and u_i = w . v_i.
        s.rowLoop({}, [&](Value row, ValueRange) {
          SmallVector<Value> v =
              loadRow(e, s.rowPointer(row), rowStart, layout.storage);
          s.publishPartials(row, dotLanes(e, dh, v), dotLanes(e, w, v));
          return SmallVector<Value>{};
        });
        s.sumPartials();
        // Warp 0: ds_i and the coefficients of dv (exact sum_j alpha_j
        // dalpha_j from the reductions, not dh . h).
        storeBackwardCoefficients(e, s, scratch, stats);
        // Pass 2: dv = alpha_i dh + coefW_i w + coefV_i v; c += coefW_i v.
        return s.rowLoop(carried, [&](Value row, ValueRange acc) {
          Value alpha = s.loadF(scratch.coef(0), row);
          Value coefW = s.loadF(scratch.coef(1), row);
          Value coefV = s.loadF(scratch.coef(2), row);
          SmallVector<Value> v =
              loadRow(e, s.rowPointer(row), rowStart, layout.storage);
          SmallVector<Value> next(acc.begin(), acc.end());
          storeRow(e, s.rowPointer(e.addI(row, e.i64(n))), rowStart,
                   layout.storage,
                   e.gradientRow(alpha, coefW, coefV, dh, w, v, next));
          return next;
        });
      });
  storePartialsAndFinish(e, args, c);
}

//===----------------------------------------------------------------------===//
// Shared-memory form (backward): the token's dh and N rows are copied into
// dynamic shared memory with cp.async, each thread its own vectors (so no
// barrier guards the tile: a thread only reads back what it copied). The
// tile is a ring of R >= N + 1 row slots that the CTA's rows fill in turn;
// pass 1 waits for the copies row by row, pass 2 reads each row back and,
// once it is consumed, starts copying the row R ahead into its slot, so
// loads stay in flight across the reductions. One read of V.
//===----------------------------------------------------------------------===//

/// Cluster form: sums the CTAs' totals (2N per-row partial sums) in rank
/// order through distributed shared memory; every CTA ends with the same
/// totals. The first cluster barrier publishes each CTA's copy, the second
/// keeps it until every peer has read it (and orders the new totals before
/// the CTA's coefficient step).
void exchangeTotals(KernelEmitter &e, StreamEmitter &s, Value tile,
                    const StreamScratch &scratch) {
  ImplicitLocOpBuilder &b = e.b;
  const int64_t n = e.layout.numSources, k = e.layout.clusterSize;
  auto slotOf = [&](Value base, Value column) {
    return LLVM::GEPOp::create(b, base.getType(), b.getF32Type(), base,
                               ValueRange{column});
  };
  for (int64_t firstColumn = 0; firstColumn < 2 * n;
       firstColumn += e.layout.threads) {
    Value column = e.addI(e.tid, e.i64(firstColumn));
    e.emitIf(arith::CmpIOp::create(b, arith::CmpIPredicate::slt, column,
                                   e.i64(2 * n)),
             [&] {
               LLVM::StoreOp::create(b, s.loadF(scratch.totals(), column),
                                     slotOf(tile, column), 4);
             });
  }
  NVVM::ClusterArriveOp::create(b, b.getUnitAttr());
  NVVM::ClusterWaitOp::create(b, b.getUnitAttr());
  auto clusterPtr = LLVM::LLVMPointerType::get(b.getContext(), 7);
  for (int64_t firstColumn = 0; firstColumn < 2 * n;
       firstColumn += e.layout.threads) {
    Value column = e.addI(e.tid, e.i64(firstColumn));
    e.emitIf(arith::CmpIOp::create(b, arith::CmpIPredicate::slt, column,
                                   e.i64(2 * n)),
             [&] {
               Value local = slotOf(tile, column);
               Value total;
               for (int64_t r = 0; r < k; ++r) {
                 Value remote = NVVM::MapaOp::create(
                     b, clusterPtr, local,
                     arith::ConstantIntOp::create(b, r, 32));
                 Value part = LLVM::LoadOp::create(b, b.getF32Type(), remote, 4);
                 total = total ? e.add(total, part) : part;
               }
               s.storeF(scratch.totals(), column, total);
             });
  }
  NVVM::ClusterArriveOp::create(b, b.getUnitAttr());
  NVVM::ClusterWaitOp::create(b, b.getUnitAttr());
}

/// The smem form, and with clusterSize > 1 the cluster form: the K CTAs of
/// a cluster share each token, CTA rank r holding columns [r D/K, (r+1) D/K)
/// of dh and the N rows. After each CTA's reduction the per-row partial sums
/// are exchanged through distributed shared memory and summed in rank order
/// (the same bits in every CTA: deterministic).
void emitBackwardSmem(ImplicitLocOpBuilder &b, gpu::GPUModuleOp module,
                      StringRef name, const TileLayout &layout) {
  KernelEmitter e(b, layout);
  const int64_t n = layout.numSources;
  const int64_t k = layout.clusterSize;
  const int64_t fullWidth = layout.fullWidth;
  const int64_t exchangeBytes = k > 1 ? llvm::alignTo(2 * n * 4, 16) : 0;
  StreamScratch scratch{n, layout.numWarps()};
  auto kernel =
      createKernel(b, module, name, pointerArgs(e, BackwardArgs::pointers(n)),
                   layout.threads, layout.registerLimit(), layout.vectorElems,
                   scratch.size(), 2 * n + 1);
  kernel->setAttr(kDynamicSharedAttr, b.getI64IntegerAttr(layout.tileBytes));
  if (k > 1) {
    // Cluster shape in the PTX (.reqnctapercluster): a plain launch works.
    kernel->setAttr(NVVM::NVVMDialect::getClusterDimAttrName(),
                    b.getDenseI32ArrayAttr({static_cast<int32_t>(k), 1, 1}));
    kernel->setAttr(kClusterSizeAttr, b.getI64IntegerAttr(k));
  }
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&kernel.getBody().front());
  BackwardArgs args(kernel, n);
  e.beginKernel();
  StreamEmitter s(e, kernel);
  // Slot 0: grad_h, 1..N: sources (slot r is row r of a token's rows in
  // the ring), N+1..2N: their gradients.
  SmallVector<Value> table{args.gradH};
  llvm::append_range(table, args.sources);
  llvm::append_range(table, args.gradSources);
  s.fillPointerTable(table);
  StringRef tileSymbol =
      TileCopier::declareTile(b, module, tileAlignment(e.layout.form));
  TileCopier tile(e, tileSymbol, exchangeBytes);
  Value block = e.toI64(gpu::BlockIdOp::create(b, gpu::Dimension::x));
  Value grid = e.toI64(gpu::GridDimOp::create(b, gpu::Dimension::x));
  // Tokens go to clusters (to CTAs when k = 1); this CTA's columns start at
  // rank * D / K.
  Value first = block, step = grid, columns = e.i64(0);
  if (k > 1) {
    auto i32 = b.getI32Type();
    first = e.toI64Ext(NVVM::ClusterIdXOp::create(b, i32));
    step = e.toI64Ext(NVVM::ClusterDimXOp::create(b, i32));
    columns = e.mulI(e.toI64Ext(NVVM::ClusterId::create(b, i32)),
                     e.i64(layout.width));
  }
  SmallVector<Value> q = loadRow(e, args.query, columns, layout.queryType);
  SmallVector<Value> g = loadRow(e, args.norm, columns, layout.normType);
  SmallVector<Value> w;
  for (auto [qv, gv] : llvm::zip_equal(q, g))
    w.push_back(e.mul(qv, gv));
  Value lastToken = e.addI(args.numTokens, e.i64(-1));
  auto startOf = [&](Value token) {
    return e.addI(e.mulI(token, e.i64(fullWidth)), columns);
  };

  // The ring: the CTA's rows in order (per token: dh, v_0, ..., v_{N-1})
  // fill the R row slots in turn, one cp.async group per row. A slot is
  // refilled once its row is consumed (dh once in registers, v_i once its
  // dv row is out) with the row R ahead, so before reading a row the copies
  // of the R - 1 rows after it may still be in flight. R is a whole number
  // T of tiles: the row R ahead is the same row of the CTA's token T ahead,
  // and a token's tile starts at a slot that advances by adds and selects
  // (no division in the loop).
  const int64_t ringRows = layout.ringRows;
  const int64_t tokenRows = n + 1;
  assert(ringRows % tokenRows == 0 && "the ring holds whole tiles");
  const int64_t ringTiles = ringRows / tokenRows;
  // i mod bound for i in [0, 2 bound).
  auto wrap = [&](Value i, int64_t bound) {
    Value over =
        arith::CmpIOp::create(b, arith::CmpIPredicate::sge, i, e.i64(bound));
    return s.select(over, e.addI(i, e.i64(-bound)), i);
  };
  // Copies row `row` (0: dh, 1 + i: v_i) of `token` into ring slot `slot`
  // as one group (empty past the last token, so every wait counts the
  // same groups).
  auto copyInto = [&](Value token, Value row, Value slot) {
    e.emitIf(arith::CmpIOp::create(b, arith::CmpIPredicate::slt, token,
                                   args.numTokens),
             [&] {
               tile.copyRow(s.rowPointer(row), startOf(token), slot,
                            /*commit=*/false);
             });
    tile.commit();
  };
  // Row `row` of `token` was consumed from `slot`: the row R ahead goes in.
  auto refill = [&](Value token, Value row, Value slot) {
    copyInto(e.addI(token, e.mulI(step, e.i64(ringTiles))), row, slot);
  };
  rolledLoop(e, arith::ConstantIndexOp::create(b, ringRows), {},
             [&](Value index, ValueRange) {
               Value ahead = arith::DivUIOp::create(b, index, e.i64(tokenRows));
               copyInto(e.addI(first, e.mulI(ahead, step)),
                        arith::RemUIOp::create(b, index, e.i64(tokenRows)),
                        index);
               return SmallVector<Value>{};
             });

  // Carried: the c lanes, the ring slot of the token's dh, the token's saved
  // alpha and rstd.
  SmallVector<Value> init(w.size(), e.f32(0.0));
  const size_t slotIndex = init.size();
  init.push_back(e.i64(0));
  llvm::append_range(
      init, loadTokenStats(e, arith::MinSIOp::create(b, first, lastToken),
                           args.alphaIn, args.rstdIn));
  SmallVector<Value> carriedOut = e.tokenLoop(
      args.numTokens, init,
      [&](Value token, ValueRange carried) {
        SmallVector<Value> nextStats = loadTokenStats(
            e, arith::MinSIOp::create(b, e.addI(token, step), lastToken),
            args.alphaIn, args.rstdIn);
        Value rowStart = startOf(token);
        Value dhSlot = carried[slotIndex];
        auto slotOf = [&](Value row) { return e.addI(dhSlot, row); };
        // Pass 1 (unrolled: cp.async.wait_group takes a constant):
        // dalpha_i = dh . v_i and u_i = w . v_i as each row lands.
        tile.wait(ringRows - 1);
        SmallVector<Value> dh = tile.readRow(dhSlot);
        refill(token, e.i64(0), dhSlot);
        // The rows' sums are reduced over the warp four rows at a time (as
        // few shuffles a row as a whole warp's worth, far fewer registers
        // held: 16 rows spilled f32 at D = 8192 on sm_80).
        constexpr size_t kSumsPerReduction = 8;
        SmallVector<Value> pending;
        for (int64_t i = 0; i < n; ++i) {
          tile.wait(ringRows - 1 - i);
          SmallVector<Value> v = tile.readRow(slotOf(e.i64(1 + i)));
          pending.push_back(dotLanes(e, dh, v));
          pending.push_back(dotLanes(e, w, v));
          if (pending.size() == kSumsPerReduction || i == n - 1) {
            s.publishRows(i + 1 - int64_t(pending.size()) / 2, pending);
            pending.clear();
          }
        }
        s.sumPartials();
        if (k > 1)
          exchangeTotals(e, s, tile.tile, scratch);
        storeBackwardCoefficients(
            e, s, scratch,
            SmallVector<Value>(carried.drop_front(slotIndex + 1)));
        // Pass 2: dv rows from the tile, each slot refilled once consumed.
        SmallVector<Value> next = rolledLoop(
            e, arith::ConstantIndexOp::create(b, n),
            carried.take_front(slotIndex), [&](Value i, ValueRange acc) {
              Value alpha = s.loadF(scratch.coef(0), i);
              Value coefW = s.loadF(scratch.coef(1), i);
              Value coefV = s.loadF(scratch.coef(2), i);
              Value row = e.addI(i, e.i64(1));
              Value slot = slotOf(row);
              SmallVector<Value> v = tile.readRow(slot);
              SmallVector<Value> c(acc.begin(), acc.end());
              storeRow(e, s.rowPointer(e.addI(row, e.i64(n))), rowStart,
                       layout.storage,
                       e.gradientRow(alpha, coefW, coefV, dh, w, v, c));
              refill(token, row, slot);
              return c;
            });
        next.push_back(wrap(e.addI(dhSlot, e.i64(tokenRows)), ringRows));
        llvm::append_range(next, nextStats);
        return next;
      },
      first, step);
  SmallVector<Value> c(ArrayRef<Value>(carriedOut).take_front(slotIndex));
  // Copies past the last token are empty, but every group must complete
  // before the CTA exits.
  tile.wait(0);
  // This CTA's partial row of c: its columns, zeros in the other CTAs'
  // columns of the cluster (the reduce kernel sums whole rows).
  Value blockRow = e.mulI(block, e.i64(fullWidth));
  if (k == 1) {
    storeRow(e, args.partialsOut, blockRow, b.getF32Type(), c);
  } else {
    Value rankColumns = columns;
    for (int64_t r = 0; r < k; ++r) {
      Value sliceStart = e.i64(r * layout.width);
      Value mine = arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                         sliceStart, rankColumns);
      SmallVector<Value> lanes;
      for (Value x : c)
        lanes.push_back(s.select(mine, x, e.f32(0.0)));
      storeRow(e, args.partialsOut, e.addI(blockRow, sliceStart),
               b.getF32Type(), lanes);
    }
  }
  finishKernel(b);
}

/// dq = g * c and dg = q * c with c the fixed-order sum of the partial rows.
/// A CTA sums kReduceColumns columns (one per lane) over all rows: each of
/// its warps takes every (warps)-th row, with kRowsInFlight independent
/// loads per iteration so the rows stream in rather than one load at a time,
/// and warp 0 adds the warps' sums in warp order. The order depends only on
/// the number of rows, so the result is the same on every run.
void emitReduce(ImplicitLocOpBuilder &b, gpu::GPUModuleOp module,
                StringRef name, const TileLayout &layout, Type gradQueryType,
                Type gradNormType) {
  static_assert(kReduceColumns == kWarpSize, "one column per lane");
  constexpr int64_t warps = kReduceThreads / kWarpSize;
  constexpr int64_t kRowsInFlight = 8;
  KernelEmitter e(b, layout);
  auto kernel =
      createKernel(b, module, name, pointerArgs(e, 5), kReduceThreads,
                   registerBudget(kReduceThreads),
                   /*vectorElems=*/1, /*scratchFloats=*/kReduceThreads);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&kernel.getBody().front());
  ValueRange args = kernel.getArguments();
  Value partials = args[0], query = args[1], norm = args[2], dqOut = args[3],
        dgOut = args[4], numPartials = args[5];
  Value scratch = kernel.getWorkgroupAttributions()[0];
  e.beginKernel();
  Value block = e.toI64(gpu::BlockIdOp::create(b, gpu::Dimension::x));
  Value column = e.addI(e.mulI(block, e.i64(kReduceColumns)), e.lane);
  Value inBounds = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, column,
                                         e.i64(layout.fullWidth));
  // Lanes past D read column D - 1 and drop it: every thread reaches the
  // barrier.
  Value readColumn =
      arith::MinSIOp::create(b, column, e.i64(layout.fullWidth - 1));
  auto load = [&](Value row) {
    return e.loadScalar(partials,
                        e.addI(e.mulI(row, e.i64(layout.fullWidth)), readColumn));
  };
  // Full iterations: rows warp + warps * (kRowsInFlight * i + k).
  const int64_t stride = warps * kRowsInFlight;
  Value fullIterations = arith::DivSIOp::create(b, numPartials, e.i64(stride));
  SmallVector<Value> zeros(kRowsInFlight, e.f32(0.0));
  auto loop = scf::ForOp::create(b, e.toIndex(e.i64(0)),
                                 e.toIndex(fullIterations),
                                 e.toIndex(e.i64(1)), zeros);
  {
    OpBuilder::InsertionGuard inner(b);
    b.setInsertionPointToStart(loop.getBody());
    Value base = e.addI(e.mulI(e.toI64(loop.getInductionVar()), e.i64(stride)),
                        e.warp);
    SmallVector<Value> parts, next;
    for (int64_t k = 0; k < kRowsInFlight; ++k)
      parts.push_back(load(e.addI(base, e.i64(k * warps))));
    for (int64_t k = 0; k < kRowsInFlight; ++k)
      next.push_back(e.add(loop.getRegionIterArgs()[k], parts[k]));
    scf::YieldOp::create(b, next);
  }
  SmallVector<Value> sums(loop.getResults());
  // The rows after the full iterations, at most one per accumulator.
  Value tailBase = e.addI(e.mulI(fullIterations, e.i64(stride)), e.warp);
  for (int64_t k = 0; k < kRowsInFlight; ++k) {
    Value row = e.addI(tailBase, e.i64(k * warps));
    Value present = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, row,
                                          numPartials);
    auto ifOp = scf::IfOp::create(b, b.getF32Type(), present,
                                  /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      scf::YieldOp::create(b, ValueRange{e.add(sums[k], load(row))});
      b.setInsertionPointToStart(ifOp.elseBlock());
      scf::YieldOp::create(b, ValueRange{sums[k]});
    }
    sums[k] = ifOp.getResult(0);
  }
  Value warpSum = sumTree(e, sums);
  memref::StoreOp::create(b, warpSum, scratch,
                          ValueRange{e.toIndex(e.tid)});
  gpu::BarrierOp::create(b);
  Value firstWarp = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, e.warp,
                                          e.i64(0));
  Value write = arith::AndIOp::create(b, firstWarp, inBounds);
  e.emitIf(write, [&] {
    Value c;
    for (int64_t w = 0; w < warps; ++w) {
      Value part = memref::LoadOp::create(
          b, scratch,
          ValueRange{e.toIndex(e.addI(e.lane, e.i64(w * kWarpSize)))});
      c = c ? e.add(c, part) : part;
    }
    auto loadParam = [&](Value base, Type type) -> Value {
      Value v = LLVM::LoadOp::create(b, type, e.address(base, column, type),
                                     type.getIntOrFloatBitWidth() / 8);
      return type.isF32() ? v : arith::ExtFOp::create(b, b.getF32Type(), v);
    };
    auto storeParam = [&](Value base, Type type, Value v) {
      if (!type.isF32())
        v = arith::TruncFOp::create(b, type, v);
      LLVM::StoreOp::create(b, v, e.address(base, column, type),
                            type.getIntOrFloatBitWidth() / 8);
    };
    storeParam(dqOut, gradQueryType, e.mul(loadParam(norm, layout.normType), c));
    storeParam(dgOut, gradNormType, e.mul(loadParam(query, layout.queryType), c));
  });
  finishKernel(b);
}

/// The single fused op that makes up `func`'s body, if any.
Operation *getFusedBody(func::FuncOp func) {
  Operation *fused = nullptr;
  for (Operation &op : func.getBody().front()) {
    if (isa<ForwardOp, BackwardOp>(op)) {
      if (fused)
        return nullptr;
      fused = &op;
    } else if (!isa<func::ReturnOp>(op)) {
      return nullptr;
    }
  }
  return fused;
}

Type elementOf(Value value) {
  return cast<ShapedType>(value.getType()).getElementType();
}

struct AttnResLowerToGPUPass
    : mlir::attnres::impl::AttnResLowerToGPUPassBase<AttnResLowerToGPUPass> {
  using AttnResLowerToGPUPassBase::AttnResLowerToGPUPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<func::FuncOp> lowered;
    WalkResult result = module.walk([&](func::FuncOp func) {
      if (func.isExternal())
        return WalkResult::advance();
      Operation *fused = getFusedBody(func);
      if (!fused) {
        if (!func.getOps<ForwardOp>().empty() ||
            !func.getOps<BackwardOp>().empty() ||
            llvm::any_of(func.getBody().getOps(), [](Operation &op) {
              return isa<AttnResDialect>(op.getDialect());
            })) {
          func.emitError("attnres-lower-to-gpu: function must hold exactly "
                         "one attnres.forward or attnres.backward and a "
                         "return (fuse graph ops with attnres-fuse first)");
          return WalkResult::interrupt();
        }
        return WalkResult::advance();
      }
      if (failed(lowerFunction(func, fused)))
        return WalkResult::interrupt();
      lowered.push_back(func);
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      return signalPassFailure();
    for (func::FuncOp func : lowered)
      func.erase();
    if (!lowered.empty())
      module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                      UnitAttr::get(module.getContext()));
  }

  /// Records what the layout chose on the main kernel (kernel metadata and
  /// the tuner's table; no effect on the code).
  static void markLayout(gpu::GPUModuleOp module, StringRef name,
                         const TileLayout &layout) {
    auto kernel = module.lookupSymbol<gpu::GPUFuncOp>(name);
    kernel->setAttr(kLayoutAttr,
                    StringAttr::get(kernel.getContext(), describe(layout)));
  }

  LayoutOptions layoutOptions() const {
    LayoutOptions options;
    options.threads = threadsPerBlock;
    options.vectorBytes = vectorBytes;
    options.resident = resident;
    options.form = form;
    options.rows = rows;
    options.stages = stages;
    options.sharedLimit = sharedBytes;
    options.cluster = cluster;
    options.clusterLimit = clusterLimit;
    options.ctasPerSM = ctasPerSM;
    return options;
  }

  LogicalResult lowerFunction(func::FuncOp func, Operation *fused) {
    auto checkVariant = [&](auto op) -> LogicalResult {
      if (op.getNormalizer() != Normalizer::softmax)
        return op.emitError("attnres-lower-to-gpu: the sigmoid normalizer is "
                            "declared but not lowered yet");
      if (op.getNormTarget() != NormTarget::keys)
        return op.emitError("attnres-lower-to-gpu: norm_target = values is "
                            "declared but not lowered yet");
      if (op.getNumValid())
        return op.emitError("attnres-lower-to-gpu: num_valid (valid prefix) "
                            "is declared but not lowered yet");
      if (cast<ShapedType>(op.getQuery().getType()).getRank() != 1)
        return op.emitError("attnres-lower-to-gpu: a per-token query [M, D] "
                            "is declared but not lowered yet");
      return success();
    };

    ImplicitLocOpBuilder b(func.getLoc(), func);
    auto module = gpu::GPUModuleOp::create(b, func.getSymName());
    b.setInsertionPointToStart(module.getBody());
    StringRef name = func.getSymName();

    if (auto forward = dyn_cast<ForwardOp>(fused)) {
      if (failed(checkVariant(forward)))
        return failure();
      FailureOr<TileLayout> layout = chooseLayout(
          forward, forward.getValues(), elementOf(forward.getQuery()),
          elementOf(forward.getNormWeight()), layoutOptions());
      if (failed(layout))
        return failure();
      float eps = forward.getEps().convertToFloat();
      if (layout->form == Form::Resident)
        emitForward(b, module, name, eps, *layout);
      else if (layout->form == Form::Online)
        emitForwardOnline(b, module, name, eps, *layout);
      else
        emitForwardStreaming(b, module, name, eps, *layout);
      markLayout(module, name, *layout);
      return success();
    }
    auto backward = cast<BackwardOp>(fused);
    if (failed(checkVariant(backward)))
      return failure();
    FailureOr<TileLayout> layout = chooseLayout(
        backward, backward.getValues(), elementOf(backward.getQuery()),
        elementOf(backward.getNormWeight()), layoutOptions());
    if (failed(layout))
      return failure();
    if (layout->form == Form::Resident)
      emitBackward(b, module, name, *layout);
    else if (layout->form == Form::Smem || layout->form == Form::Cluster)
      emitBackwardSmem(b, module, name, *layout);
    else
      emitBackwardStreaming(b, module, name, *layout);
    markLayout(module, name, *layout);
    emitReduce(b, module, (name + "_reduce").str(), *layout,
               elementOf(backward.getGradQuery()),
               elementOf(backward.getGradNormWeight()));
    return success();
  }
};

} // namespace
