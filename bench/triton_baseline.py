"""A straightforward fused Triton AttnRes: the baseline the benchmark beats.

One program per token in the forward (a loop over the N sources with an
online softmax: running max and sum, rescaled fp32 accumulator), a few tokens
per program in the backward (a first loop over the sources for dalpha and the
score, a second one that re-reads them for dV), fp32 math throughout,
Triton's autotuner over the number of warps. dq and dg are summed
from per-program partial rows with torch (no atomics, deterministic).

Same interface as the op people use today:
TritonAttnResFunction.apply(V, w_query, w_norm, eps) with V [N, B, T, D],
h [B, T, D] in V's dtype, Alpha and RSTD saved as [B*T, N] fp32.
"""

import torch
import triton
import triton.language as tl


def _warps_for_width(configs, named_args, **kwargs):
    """Keeps the two warp counts that suit the row width (2-4 kB of a row
    per warp), so each shape compiles two configs, not every one."""
    block_d = kwargs.get("BLOCK_D", named_args.get("BLOCK_D"))
    wanted = (4, 8) if block_d <= 2048 else (8, 16) if block_d >= 8192 else (4, 8, 16)
    kept = [c for c in configs if c.num_warps in wanted]
    return kept or configs


def _fwd_configs():
    return [triton.Config({}, num_warps=w) for w in (4, 8, 16)]


@triton.autotune(configs=_fwd_configs(), key=["N", "D", "BLOCK_D"],
                 prune_configs_by={"early_config_prune": _warps_for_width})
@triton.jit
def _attnres_fwd(V, Q, G, H, ALPHA, RSTD, M, eps,
                 N: tl.constexpr, D: tl.constexpr,
                 BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    t = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK_D)
    mask = offs < D
    w = (tl.load(Q + offs, mask=mask, other=0.0).to(tl.float32)
         * tl.load(G + offs, mask=mask, other=0.0).to(tl.float32))
    ns = tl.arange(0, BLOCK_N)
    scores = tl.zeros([BLOCK_N], tl.float32)
    rstds = tl.zeros([BLOCK_N], tl.float32)
    acc = tl.zeros([BLOCK_D], tl.float32)
    m_run = tl.sum(tl.zeros([BLOCK_N], tl.float32), 0) - float("inf")
    l_run = tl.sum(tl.zeros([BLOCK_N], tl.float32), 0)
    for i in range(N):
        v = tl.load(V + (i * M + t) * D + offs, mask=mask, other=0.0).to(tl.float32)
        r = tl.rsqrt(tl.sum(v * v, 0) / D + eps)
        s = r * tl.sum(v * w, 0)
        m_new = tl.maximum(m_run, s)
        scale = tl.exp(m_run - m_new)
        p = tl.exp(s - m_new)
        acc = acc * scale + p * v
        l_run = l_run * scale + p
        m_run = m_new
        scores = tl.where(ns == i, s, scores)
        rstds = tl.where(ns == i, r, rstds)
    tl.store(H + t * D + offs, (acc / l_run).to(H.dtype.element_ty), mask=mask)
    alpha = tl.exp(scores - m_run) / l_run
    tl.store(ALPHA + t * N + ns, alpha, mask=ns < N)
    tl.store(RSTD + t * N + ns, rstds, mask=ns < N)


def _bwd_configs():
    return [triton.Config({"TOKENS": 16}, num_warps=w) for w in (4, 8, 16)]


@triton.autotune(configs=_bwd_configs(), key=["N", "D", "BLOCK_D"],
                 prune_configs_by={"early_config_prune": _warps_for_width})
@triton.jit
def _attnres_bwd(DH, V, Q, G, ALPHA, RSTD, DV, CPART, M,
                 N: tl.constexpr, D: tl.constexpr,
                 BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
                 TOKENS: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK_D)
    mask = offs < D
    w = (tl.load(Q + offs, mask=mask, other=0.0).to(tl.float32)
         * tl.load(G + offs, mask=mask, other=0.0).to(tl.float32))
    ns = tl.arange(0, BLOCK_N)
    nmask = ns < N
    c = tl.zeros([BLOCK_D], tl.float32)
    for k in range(TOKENS):
        t = pid * TOKENS + k
        if t < M:
            dh = tl.load(DH + t * D + offs, mask=mask, other=0.0).to(tl.float32)
            alpha = tl.load(ALPHA + t * N + ns, mask=nmask, other=0.0)
            rstd = tl.load(RSTD + t * N + ns, mask=nmask, other=0.0)
            dalpha = tl.zeros([BLOCK_N], tl.float32)
            u = tl.zeros([BLOCK_N], tl.float32)
            for i in range(N):
                v = tl.load(V + (i * M + t) * D + offs, mask=mask, other=0.0).to(tl.float32)
                dalpha = tl.where(ns == i, tl.sum(dh * v, 0), dalpha)
                u = tl.where(ns == i, tl.sum(w * v, 0), u)
            s = rstd * u
            ds = alpha * (dalpha - tl.sum(alpha * dalpha, 0))
            for i in range(N):
                v = tl.load(V + (i * M + t) * D + offs, mask=mask, other=0.0).to(tl.float32)
                a_i = tl.sum(tl.where(ns == i, alpha, 0.0), 0)
                ds_i = tl.sum(tl.where(ns == i, ds, 0.0), 0)
                r_i = tl.sum(tl.where(ns == i, rstd, 0.0), 0)
                s_i = tl.sum(tl.where(ns == i, s, 0.0), 0)
                dv = a_i * dh + ds_i * (r_i * w - s_i * r_i * r_i * v / D)
                tl.store(DV + (i * M + t) * D + offs, dv.to(DV.dtype.element_ty), mask=mask)
                c += ds_i * r_i * v
    tl.store(CPART + pid * D + offs, c, mask=mask)


def _check(V, w_query, w_norm):
    if V.dim() != 4 or not V.is_cuda or not V.is_contiguous():
        raise ValueError("V must be a contiguous CUDA tensor [N, B, T, D]")
    if w_query.shape != (V.shape[-1],) or w_norm.shape != (V.shape[-1],):
        raise ValueError("w_query and w_norm must be [D]")


class TritonAttnResFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, V, w_query, w_norm, eps):
        _check(V, w_query, w_norm)
        n, b, t, d = V.shape
        m = b * t
        h = torch.empty((b, t, d), dtype=V.dtype, device=V.device)
        alpha = torch.empty((m, n), dtype=torch.float32, device=V.device)
        rstd = torch.empty((m, n), dtype=torch.float32, device=V.device)
        _attnres_fwd[(m,)](V, w_query, w_norm, h, alpha, rstd, m, eps,
                           N=n, D=d, BLOCK_N=triton.next_power_of_2(n),
                           BLOCK_D=triton.next_power_of_2(d))
        ctx.save_for_backward(V, w_query, w_norm, alpha, rstd)
        return h

    @staticmethod
    def backward(ctx, dh):
        V, w_query, w_norm, alpha, rstd = ctx.saved_tensors
        n, b, t, d = V.shape
        m = b * t
        dh = dh.contiguous()
        dv = torch.empty_like(V)
        # One partial row per program (TOKENS tokens each); only the rows of
        # the config the autotuner ran are summed.
        cpart = torch.empty((triton.cdiv(m, 16), d), dtype=torch.float32, device=V.device)
        grid = lambda meta: (triton.cdiv(m, meta["TOKENS"]),)
        _attnres_bwd[grid](dh, V, w_query, w_norm, alpha, rstd, dv, cpart, m,
                           N=n, D=d, BLOCK_N=triton.next_power_of_2(n),
                           BLOCK_D=triton.next_power_of_2(d))
        programs = triton.cdiv(m, _attnres_bwd.best_config.kwargs["TOKENS"])
        c = cpart[:programs].sum(0)
        dq = (w_norm.float() * c).to(w_query.dtype)
        dg = (w_query.float() * c).to(w_norm.dtype)
        return dv, dq, dg, None
