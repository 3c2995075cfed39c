//===- AttnResOps.td - attnres graph-level and fused ops -*- tablegen -*-===//

#ifndef ATTNRES_OPS
#define ATTNRES_OPS

include "dialect/AttnResDialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

// Attributes shared by the fused ops: eps and the variant knobs.
defvar AttnRes_FusedAttrs = (ins
  DefaultValuedAttr<F32Attr, "1.0e-6">:$eps,
  DefaultValuedAttr<AttnRes_NormalizerAttr,
                    "::mlir::attnres::Normalizer::softmax">:$normalizer,
  DefaultValuedAttr<AttnRes_NormTargetAttr,
                    "::mlir::attnres::NormTarget::keys">:$norm_target,
  OptionalAttr<I64Attr>:$num_valid
);

// Spliced with !strconcat: after `#` TableGen reads an identifier as its name.
defvar AttnRes_VerifierText = [{
    Shapes: values `[N, M, D]`; query `[D]` (a learned pseudo-query) or
    `[M, D]` (one query per token); norm_weight `[D]`; per-token statistics
    `[M, N]` f32; token outputs `[M, D]` in the element type of the values.
    Any dimension may be dynamic; static dimensions must agree, with
    1 <= N <= 64 and 1 <= D <= 16384 (M may be 0). Element types are f32,
    f16 or bf16.
}];

//===----------------------------------------------------------------------===//
// Fused ops
//===----------------------------------------------------------------------===//

def AttnRes_ForwardOp : AttnRes_Op<"forward", [Pure]> {
  let summary = "Fused AttnRes forward: mixes N depth states by softmax attention.";
  let description = !strconcat([{
    Computes, per token m and with math in f32:

    ```
    rstd[m, i] = 1 / sqrt(mean_d values[i, m, d]^2 + eps)
    s_i        = rstd[m, i] * sum_d query[d] * norm_weight[d] * values[i, m, d]
    alpha[m]   = softmax_i(s)
    h[m, d]    = sum_i alpha[m, i] * values[i, m, d]
    ```

    `alpha` and `rstd` are the statistics the backward needs. The variant
    attributes (`normalizer`, `norm_target`, `num_valid`) describe published
    relatives of the operator; the lowerings accept the Kimi form
    (`softmax`, `keys`, all N sources valid) and reject the others by name.
    With N = 1 in that form it canonicalizes to `h = values[0]` (a reshape),
    `alpha = 1` and `rstd` from `attnres.rms_rstd`.

    Example:

    ```mlir
    %h, %alpha, %rstd = attnres.forward %v, %q, %g {eps = 1.0e-06 : f32}
        : (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
        -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
    ```
  }], AttnRes_VerifierText, [{
    The verifier also rejects an eps that is not positive and finite, and
    num_valid outside [1, N].
  }]);
  let arguments = !con((ins AnyRankedTensor:$values, AnyRankedTensor:$query,
                            AnyRankedTensor:$norm_weight), AttnRes_FusedAttrs);
  let results = (outs AnyRankedTensor:$h, AnyRankedTensor:$alpha,
                      AnyRankedTensor:$rstd);
  let assemblyFormat = [{
    $values `,` $query `,` $norm_weight attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def AttnRes_BackwardOp : AttnRes_Op<"backward", [Pure]> {
  let summary = "Fused AttnRes backward: gradients of values, query and norm weight.";
  let description = !strconcat([{
    Given the gradient of `h` and the statistics saved by `attnres.forward`,
    computes per token (w = query * norm_weight, s recomputed from values):

    ```
    dalpha_i = sum_d dh_d v_id
    ds_i     = alpha_i (dalpha_i - sum_j alpha_j dalpha_j)
    dv_id    = alpha_i dh_d + ds_i (r_i w_d - s_i r_i^2 v_id / D)
    c_d      = sum_tokens sum_i ds_i r_i v_id
    dquery = norm_weight * c,   dnorm_weight = query * c
    ```

    With N = 1 in the Kimi form (`softmax`, `keys`) it canonicalizes to
    `grad_values = grad_h` (a reshape) and zero `grad_query` and
    `grad_norm_weight`.

    Example:

    ```mlir
    %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %alpha, %rstd
        : (tensor<?x4096xbf16>, tensor<8x?x4096xbf16>, tensor<4096xf32>,
           tensor<4096xf32>, tensor<?x8xf32>, tensor<?x8xf32>)
        -> (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
    ```
  }], AttnRes_VerifierText, [{
    grad_h has the shape and element type of h; grad_values those of values;
    grad_query and grad_norm_weight those of query and norm_weight.
  }]);
  let arguments = !con((ins AnyRankedTensor:$grad_h, AnyRankedTensor:$values,
                            AnyRankedTensor:$query, AnyRankedTensor:$norm_weight,
                            AnyRankedTensor:$alpha, AnyRankedTensor:$rstd),
                       AttnRes_FusedAttrs);
  let results = (outs AnyRankedTensor:$grad_values, AnyRankedTensor:$grad_query,
                      AnyRankedTensor:$grad_norm_weight);
  let assemblyFormat = [{
    $grad_h `,` $values `,` $query `,` $norm_weight `,` $alpha `,` $rstd
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// Graph ops: forward
//===----------------------------------------------------------------------===//

def AttnRes_RmsRstdOp : AttnRes_Op<"rms_rstd", [Pure]> {
  let summary = "Reciprocal RMS of every source row: 1/sqrt(mean_d v^2 + eps).";
  let description = !strconcat([{
    `rstd[m, i] = 1 / sqrt(mean_d values[i, m, d]^2 + eps)`, in f32.

    ```mlir
    %r = attnres.rms_rstd %v {eps = 1.0e-06 : f32}
        : (tensor<8x?x4096xbf16>) -> tensor<?x8xf32>
    ```
  }], AttnRes_VerifierText);
  let arguments = (ins AnyRankedTensor:$values,
                       DefaultValuedAttr<F32Attr, "1.0e-6">:$eps);
  let results = (outs AnyRankedTensor:$rstd);
  let assemblyFormat = "$values attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def AttnRes_ScoreOp : AttnRes_Op<"score", [Pure]> {
  let summary = "Query score of every normalized source: s = rstd * sum_d q g v.";
  let description = !strconcat([{
    `scores[m, i] = rstd[m, i] * sum_d query[d] * norm_weight[d] * values[i, m, d]`,
    that is q . RMSNorm(v_i) with RMSNorm weight g.

    ```mlir
    %s = attnres.score %v, %r, %q, %g
        : (tensor<8x?x4096xbf16>, tensor<?x8xf32>, tensor<4096xf32>, tensor<4096xf32>)
        -> tensor<?x8xf32>
    ```
  }], AttnRes_VerifierText);
  let arguments = (ins AnyRankedTensor:$values, AnyRankedTensor:$rstd,
                       AnyRankedTensor:$query, AnyRankedTensor:$norm_weight);
  let results = (outs AnyRankedTensor:$scores);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def AttnRes_DepthSoftmaxOp : AttnRes_Op<"depth_softmax", [Pure]> {
  let summary = "Softmax of the scores over depth (the N axis).";
  let description = !strconcat([{
    `alpha[m, i] = exp(s[m, i] - max_j s[m, j]) / sum_j exp(s[m, j] - max_j s[m, j])`.
    With N = 1 it canonicalizes to a tensor of ones.

    ```mlir
    %a = attnres.depth_softmax %s : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
  }], AttnRes_VerifierText);
  let arguments = (ins AnyRankedTensor:$scores);
  let results = (outs AnyRankedTensor:$alpha);
  let assemblyFormat = "$scores attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def AttnRes_MixOp : AttnRes_Op<"mix", [Pure]> {
  let summary = "Weighted sum of the sources: h = sum_i alpha_i v_i.";
  let description = !strconcat([{
    `h[m, d] = sum_i alpha[m, i] * values[i, m, d]`, accumulated in f32 and
    stored in the element type of the values. With N = 1 and alpha a splat of
    ones it canonicalizes to a reshape of the values.

    ```mlir
    %h = attnres.mix %a, %v
        : (tensor<?x8xf32>, tensor<8x?x4096xbf16>) -> tensor<?x4096xbf16>
    ```
  }], AttnRes_VerifierText);
  let arguments = (ins AnyRankedTensor:$alpha, AnyRankedTensor:$values);
  let results = (outs AnyRankedTensor:$h);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// Graph ops: vector-Jacobian products. Value gradients are f32 partial sums;
// the caller adds them and rounds once to the storage type.
//===----------------------------------------------------------------------===//

def AttnRes_MixGradOp : AttnRes_Op<"mix_grad", [Pure]> {
  let summary = "VJP of attnres.mix: gradients of alpha and of the values.";
  let description = !strconcat([{
    `grad_alpha[m, i] = sum_d grad_h[m, d] * values[i, m, d]` and
    `grad_values[i, m, d] = alpha[m, i] * grad_h[m, d]` (f32).

    ```mlir
    %da, %dv = attnres.mix_grad %dh, %a, %v
        : (tensor<?x64xf32>, tensor<?x4xf32>, tensor<4x?x64xf32>)
        -> (tensor<?x4xf32>, tensor<4x?x64xf32>)
    ```
  }], AttnRes_VerifierText);
  let arguments = (ins AnyRankedTensor:$grad_h, AnyRankedTensor:$alpha,
                       AnyRankedTensor:$values);
  let results = (outs AnyRankedTensor:$grad_alpha, AnyRankedTensor:$grad_values);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def AttnRes_DepthSoftmaxGradOp : AttnRes_Op<"depth_softmax_grad", [Pure]> {
  let summary = "VJP of attnres.depth_softmax: ds = alpha (dalpha - sum alpha dalpha).";
  let description = !strconcat([{
    `grad_scores[m, i] = alpha[m, i] * (grad_alpha[m, i] - sum_j alpha[m, j] * grad_alpha[m, j])`.
    With N = 1 it canonicalizes to zeros.

    ```mlir
    %ds = attnres.depth_softmax_grad %a, %da
        : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
    ```
  }], AttnRes_VerifierText);
  let arguments = (ins AnyRankedTensor:$alpha, AnyRankedTensor:$grad_alpha);
  let results = (outs AnyRankedTensor:$grad_scores);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def AttnRes_ScoreGradOp : AttnRes_Op<"score_grad", [Pure]> {
  let summary = "VJP of attnres.score: gradients of values, rstd, query and norm weight.";
  let description = !strconcat([{
    With w = query * norm_weight and u_i = sum_d w_d v_id:

    ```
    grad_values[i, m, d] = grad_scores[m, i] * rstd[m, i] * w[d]      (f32)
    grad_rstd[m, i]      = grad_scores[m, i] * u_i                    (f32)
    c[d]                 = sum_m sum_i grad_scores[m, i] * rstd[m, i] * values[i, m, d]
    grad_query = norm_weight * c,   grad_norm_weight = query * c
    ```

    ```mlir
    %dv, %dr, %dq, %dg = attnres.score_grad %ds, %v, %r, %q, %g
        : (tensor<?x4xf32>, tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
        -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
    ```
  }], AttnRes_VerifierText);
  let arguments = (ins AnyRankedTensor:$grad_scores, AnyRankedTensor:$values,
                       AnyRankedTensor:$rstd, AnyRankedTensor:$query,
                       AnyRankedTensor:$norm_weight);
  let results = (outs AnyRankedTensor:$grad_values, AnyRankedTensor:$grad_rstd,
                      AnyRankedTensor:$grad_query, AnyRankedTensor:$grad_norm_weight);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def AttnRes_RmsRstdGradOp : AttnRes_Op<"rms_rstd_grad", [Pure]> {
  let summary = "VJP of attnres.rms_rstd: grad_values = -grad_rstd * rstd^3 * v / D.";
  let description = !strconcat([{
    `grad_values[i, m, d] = -grad_rstd[m, i] * rstd[m, i]^3 * values[i, m, d] / D` (f32).

    ```mlir
    %dv = attnres.rms_rstd_grad %dr, %v, %r
        : (tensor<?x4xf32>, tensor<4x?x64xf32>, tensor<?x4xf32>) -> tensor<4x?x64xf32>
    ```
  }], AttnRes_VerifierText);
  let arguments = (ins AnyRankedTensor:$grad_rstd, AnyRankedTensor:$values,
                       AnyRankedTensor:$rstd);
  let results = (outs AnyRankedTensor:$grad_values);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

#endif // ATTNRES_OPS
