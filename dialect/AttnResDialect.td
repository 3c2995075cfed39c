//===- AttnResDialect.td - The attnres dialect and its attributes -*- tablegen -*-===//
//
// Attention Residuals (AttnRes): softmax attention over the depth of a network.
// Per token, with N stacked states v_i in R^D, a pseudo-query q and an RMSNorm
// weight g:
//   r_i = 1/sqrt(mean_d v_id^2 + eps)    s_i = r_i * sum_d q_d g_d v_id
//   alpha = softmax_i(s)                 h = sum_i alpha_i v_i
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_DIALECT
#define ATTNRES_DIALECT

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def AttnRes_Dialect : Dialect {
  let name = "attnres";
  let cppNamespace = "::mlir::attnres";
  let summary = "Attention Residuals: softmax attention over network depth.";
  let description = [{
    The `attnres` dialect describes the Attention Residuals operator at two
    levels. The fused ops `attnres.forward` and `attnres.backward` are what a
    user writes and what the GPU and CPU lowerings consume. The graph ops
    (`attnres.rms_rstd`, `attnres.score`, `attnres.depth_softmax`,
    `attnres.mix` and their `_grad` counterparts) spell out the same
    computation step by step; `attnres-decompose` and `attnres-fuse` move
    between the two levels.

    Stacked values are `tensor<N x M x D x T>` (N sources, M tokens, D
    features, T one of f32, f16, bf16). Per-token statistics (rstd, scores,
    alpha) are `tensor<M x N x f32>`, the layout the Triton op saves.
  }];
  let useDefaultAttributePrinterParser = 1;
  // Canonicalizations build splats, reshapes and constants.
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

// Which function normalizes the scores over depth.
def AttnRes_Normalizer : I32EnumAttr<"Normalizer",
    "normalizer of the scores over depth", [
      I32EnumAttrCase<"softmax", 0>,
      I32EnumAttrCase<"sigmoid", 1>,
    ]> {
  let cppNamespace = "::mlir::attnres";
  let genSpecializedAttr = 0;
}
def AttnRes_NormalizerAttr : EnumAttr<AttnRes_Dialect, AttnRes_Normalizer,
                                      "normalizer"> {
  let assemblyFormat = "`<` $value `>`";
}

// Which side of the attention carries the RMSNorm.
def AttnRes_NormTarget : I32EnumAttr<"NormTarget",
    "which operand of the depth attention is RMS-normalized", [
      // Kimi form: keys are RMSNorm(v) * g, values are raw.
      I32EnumAttrCase<"keys", 0>,
      // Zero-centred RMSNorm on the values, raw keys, logits scaled by 1/sqrt(D).
      I32EnumAttrCase<"values", 1>,
    ]> {
  let cppNamespace = "::mlir::attnres";
  let genSpecializedAttr = 0;
}
def AttnRes_NormTargetAttr : EnumAttr<AttnRes_Dialect, AttnRes_NormTarget,
                                      "norm_target"> {
  let assemblyFormat = "`<` $value `>`";
}

class AttnRes_Op<string mnemonic, list<Trait> traits = []>
    : Op<AttnRes_Dialect, mnemonic, traits>;

#endif // ATTNRES_DIALECT
