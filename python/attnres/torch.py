"""PyTorch integration of the attnres kernels.

    from attnres.torch import AttnResFunction, attn_res, BlockAttnRes

    h = AttnResFunction.apply(V, w_query, w_norm, eps)   # LigerAttnResFunction's
    h = attn_res(V, w_query, w_norm)                     # V [N, B, T, D] ...
    h = attn_res([emb, b1, b2, partial], w_query, w_norm)  # ... or N x [B, T, D]

Semantics (those of the Triton op people use today): V in fp32, fp16 or
bf16; h in V's dtype; Alpha and RSTD saved as fp32 [B*T, N]; gradients for
V (or each listed source), w_query and w_norm, the weight gradients reduced
in fp32 and returned in the weights' dtype (fp32 or bf16 parameters). The
kernels take fp32 q and g, so the weights are cast on the way in.

The operator is registered as torch.library custom ops (attnres::forward,
attnres::forward_list, attnres::backward, attnres::backward_list) with
register_autograd and register_fake, so torch.compile(fullgraph=True)
traces through it without graph breaks; eager calls of AttnResFunction
launch without the op's dispatch (25-35 us less host time a forward call).
Launches go on the current stream of the tensors' device; the backward
workspace comes from PyTorch's caching allocator.

``attn_res_reference`` is the same operator in plain PyTorch ops (the eager
baseline, and what runs on the CPU).
"""

import contextlib
import math
from typing import List, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from . import _C

__all__ = ["AttnResFunction", "BlockAttnRes", "attn_res", "attn_res_reference"]

_DTYPE_NAMES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
_WEIGHT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)

SourcesArg = Union[Tensor, Sequence[Tensor]]


# --- Argument checks (plain tensor properties: they run on fake tensors too) -

def _check_eps(eps):
    if not isinstance(eps, (float, int)) or isinstance(eps, bool):
        raise TypeError(f"attnres: eps must be a float, got {type(eps).__name__}")
    if not (eps > 0 and math.isfinite(eps)):
        raise ValueError(f"attnres: eps must be positive and finite, got {eps}")


def _check_storage(t, what):
    if not isinstance(t, Tensor):
        raise TypeError(f"attnres: {what} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in _DTYPE_NAMES:
        raise TypeError(f"attnres: {what} has dtype {t.dtype}; the kernels take "
                        "float32, float16 or bfloat16")
    if t.device.type != "cuda":
        raise ValueError(f"attnres: {what} is on {t.device}, but the attnres kernels "
                         "need CUDA tensors (attn_res_reference runs anywhere)")


def _check_weights(w_query, w_norm, width, device):
    for w, what in ((w_query, "w_query"), (w_norm, "w_norm")):
        if not isinstance(w, Tensor):
            raise TypeError(f"attnres: {what} must be a torch.Tensor, got {type(w).__name__}")
        if w.dtype not in _WEIGHT_DTYPES:
            raise TypeError(f"attnres: {what} has dtype {w.dtype}; expected float32, "
                            "bfloat16 or float16")
        if tuple(w.shape) != (width,):
            raise ValueError(f"attnres: {what} must have shape [{width}] (D of the "
                             f"sources), got {list(w.shape)}")
        if w.device != device:
            raise ValueError(f"attnres: {what} is on {w.device} but the sources are on "
                             f"{device}")


def _check_shape(n, shape):
    if len(shape) < 1:
        raise ValueError("attnres: each source must have at least one dimension (D)")
    width = shape[-1]
    if not 1 <= n <= _C.max_sources:
        raise ValueError(f"attnres: N (number of sources) must be in [1, "
                         f"{_C.max_sources}], got {n}")
    if not 1 <= width <= _C.max_width:
        raise ValueError(f"attnres: D (last dimension) must be in [1, {_C.max_width}], "
                         f"got {width}")


def _check_stacked(V, w_query, w_norm, eps):
    _check_storage(V, "V")
    if V.dim() < 2:
        raise ValueError(f"attnres: V must be [N, B, T, D] (or [N, ..., D]), got "
                         f"shape {list(V.shape)}")
    if not V.is_contiguous():
        raise ValueError("attnres: V must be contiguous (call .contiguous(), or pass "
                         "the sources as a list)")
    _check_shape(V.shape[0], tuple(V.shape[1:]))
    _check_weights(w_query, w_norm, V.shape[-1], V.device)
    _check_eps(eps)


def _check_list(sources, w_query, w_norm, eps):
    if len(sources) == 0:
        raise ValueError("attnres: the list of sources is empty")
    first = sources[0]
    for i, s in enumerate(sources):
        _check_storage(s, f"sources[{i}]")
        if s.shape != first.shape:
            raise ValueError(f"attnres: sources[{i}] has shape {list(s.shape)} but "
                             f"sources[0] has {list(first.shape)}")
        if s.dtype != first.dtype:
            raise TypeError(f"attnres: sources[{i}] is {s.dtype} but sources[0] is "
                            f"{first.dtype}")
        if s.device != first.device:
            raise ValueError(f"attnres: sources[{i}] is on {s.device} but sources[0] "
                             f"is on {first.device}")
        if not s.is_contiguous():
            raise ValueError(f"attnres: sources[{i}] must be contiguous")
    _check_shape(len(sources), tuple(first.shape))
    _check_weights(w_query, w_norm, first.shape[-1], first.device)
    _check_eps(eps)


# --- Launches -----------------------------------------------------------------

def _f32(w):
    return w.detach().to(torch.float32).contiguous()


def _stream(device):
    return torch.cuda.current_stream(device).cuda_stream


def _current(device):
    """Makes `device` current for a launch; nothing to do where it is."""
    if device.index == torch.cuda.current_device():
        return contextlib.nullcontext()
    return torch.cuda.device(device)


def _launch_forward(sources, like, n, w_query, w_norm, eps):
    """sources: an _C.Sources over tensors shaped like `like` ([..., D])."""
    width = like.shape[-1]
    tokens = like.numel() // width
    h = torch.empty(like.shape, dtype=like.dtype, device=like.device)
    alpha = torch.empty((tokens, n), dtype=torch.float32, device=like.device)
    rstd = torch.empty((tokens, n), dtype=torch.float32, device=like.device)
    if tokens == 0:
        return h, alpha, rstd
    q, g = _f32(w_query), _f32(w_norm)
    with _current(like.device):
        _C.forward(sources, q.data_ptr(), g.data_ptr(), h.data_ptr(),
                   alpha.data_ptr(), rstd.data_ptr(), tokens, width,
                   _DTYPE_NAMES[like.dtype], float(eps), _stream(like.device))
    return h, alpha, rstd


def _launch_backward(grad_h, sources, like, n, w_query, w_norm, alpha, rstd, eps):
    """Gradients into one stacked [N, ..., D] buffer (a list's gradients are
    its views), and fp32 dq, dg."""
    width = like.shape[-1]
    tokens = like.numel() // width
    device = like.device
    grad_v = torch.empty((n,) + tuple(like.shape), dtype=like.dtype, device=device)
    if tokens == 0:
        dq = torch.zeros(width, dtype=torch.float32, device=device)
        return grad_v, dq, torch.zeros_like(dq)
    # The reduce kernel writes every element of dq and dg: no memset.
    dq = torch.empty(width, dtype=torch.float32, device=device)
    dg = torch.empty(width, dtype=torch.float32, device=device)
    _check_stats(alpha, rstd, tokens, n, device)
    if not isinstance(grad_h, Tensor) or grad_h.device != device:
        where = grad_h.device if isinstance(grad_h, Tensor) else type(grad_h).__name__
        raise ValueError(f"attnres: grad_h is on {where} but the sources are on {device}")
    grad_h = grad_h.to(like.dtype).contiguous()
    if tuple(grad_h.shape) != tuple(like.shape):
        raise ValueError(f"attnres: grad_h has shape {list(grad_h.shape)}, expected "
                         f"{list(like.shape)}")
    q, g = _f32(w_query), _f32(w_norm)
    dtype = _DTYPE_NAMES[like.dtype]
    with _current(device):
        # The per-CTA partial sums live in a buffer of the caching allocator.
        nbytes = _C.backward_workspace_bytes(n, tokens, width, dtype, float(eps))
        workspace = torch.empty(max(nbytes, 1), dtype=torch.uint8, device=device)
        _C.backward(grad_h.data_ptr(), sources, q.data_ptr(), g.data_ptr(),
                    alpha.data_ptr(), rstd.data_ptr(),
                    _C.Sources.stacked(grad_v.data_ptr(), n), dq.data_ptr(),
                    dg.data_ptr(), tokens, width, dtype, float(eps),
                    _stream(device), workspace.data_ptr(), nbytes)
    return grad_v, dq, dg


def _check_stats(alpha, rstd, tokens, n, device):
    for t, what in ((alpha, "alpha"), (rstd, "rstd")):
        if t.dtype != torch.float32 or tuple(t.shape) != (tokens, n):
            raise ValueError(f"attnres: {what} must be float32 [{tokens}, {n}], got "
                             f"{t.dtype} {list(t.shape)}")
        if t.device != device or not t.is_contiguous():
            raise ValueError(f"attnres: {what} must be contiguous on {device}")


def _stacked_sources(V):
    return _C.Sources.stacked(V.data_ptr(), V.shape[0])


def _list_sources(sources):
    return _C.Sources.list([s.data_ptr() for s in sources])


def _forward_stacked(V, w_query, w_norm, eps):
    _check_stacked(V, w_query, w_norm, eps)
    return _launch_forward(_stacked_sources(V), V[0], V.shape[0], w_query, w_norm, eps)


def _backward_stacked(grad_h, V, w_query, w_norm, alpha, rstd, eps):
    _check_stacked(V, w_query, w_norm, eps)
    return _launch_backward(grad_h, _stacked_sources(V), V[0], V.shape[0], w_query,
                            w_norm, alpha, rstd, eps)


# --- Custom ops -----------------------------------------------------------------

@torch.library.custom_op("attnres::forward", mutates_args=())
def _forward_op(V: Tensor, w_query: Tensor, w_norm: Tensor,
                eps: float) -> Tuple[Tensor, Tensor, Tensor]:
    return _forward_stacked(V, w_query, w_norm, eps)


@torch.library.custom_op("attnres::forward_list", mutates_args=())
def _forward_list_op(sources: List[Tensor], w_query: Tensor, w_norm: Tensor,
                     eps: float) -> Tuple[Tensor, Tensor, Tensor]:
    _check_list(sources, w_query, w_norm, eps)
    return _launch_forward(_list_sources(sources), sources[0], len(sources),
                           w_query, w_norm, eps)


@torch.library.custom_op("attnres::backward", mutates_args=())
def _backward_op(grad_h: Tensor, V: Tensor, w_query: Tensor, w_norm: Tensor,
                 alpha: Tensor, rstd: Tensor, eps: float) -> Tuple[Tensor, Tensor, Tensor]:
    return _backward_stacked(grad_h, V, w_query, w_norm, alpha, rstd, eps)


@torch.library.custom_op("attnres::backward_list", mutates_args=())
def _backward_list_op(grad_h: Tensor, sources: List[Tensor], w_query: Tensor,
                      w_norm: Tensor, alpha: Tensor, rstd: Tensor,
                      eps: float) -> Tuple[Tensor, Tensor, Tensor]:
    _check_list(sources, w_query, w_norm, eps)
    return _launch_backward(grad_h, _list_sources(sources), sources[0], len(sources),
                            w_query, w_norm, alpha, rstd, eps)


def _fake_forward(like, n):
    width = like.shape[-1]
    tokens = like.numel() // width
    stats = like.new_empty((tokens, n), dtype=torch.float32)
    return like.new_empty(like.shape), stats, torch.empty_like(stats)


def _fake_backward(like, n):
    width = like.shape[-1]
    grad_v = like.new_empty((n,) + tuple(like.shape))
    dq = like.new_empty((width,), dtype=torch.float32)
    return grad_v, dq, torch.empty_like(dq)


@_forward_op.register_fake
def _(V, w_query, w_norm, eps):
    _check_stacked(V, w_query, w_norm, eps)
    return _fake_forward(V[0], V.shape[0])


@_forward_list_op.register_fake
def _(sources, w_query, w_norm, eps):
    _check_list(sources, w_query, w_norm, eps)
    return _fake_forward(sources[0], len(sources))


@_backward_op.register_fake
def _(grad_h, V, w_query, w_norm, alpha, rstd, eps):
    return _fake_backward(V[0], V.shape[0])


@_backward_list_op.register_fake
def _(grad_h, sources, w_query, w_norm, alpha, rstd, eps):
    return _fake_backward(sources[0], len(sources))


def _weight_grads(dq, dg, w_query, w_norm):
    # Reduced in fp32 by the kernel; returned in the parameters' dtype.
    return dq.to(w_query.dtype), dg.to(w_norm.dtype)


def _setup_forward(ctx, inputs, output):
    V, w_query, w_norm, eps = inputs
    _, alpha, rstd = output
    ctx.save_for_backward(V, w_query, w_norm, alpha, rstd)
    ctx.eps = eps
    ctx.mark_non_differentiable(alpha, rstd)


def _backward_forward(ctx, grad_h, grad_alpha, grad_rstd):
    V, w_query, w_norm, alpha, rstd = ctx.saved_tensors
    dv, dq, dg = torch.ops.attnres.backward(grad_h, V, w_query, w_norm, alpha, rstd,
                                            ctx.eps)
    dq, dg = _weight_grads(dq, dg, w_query, w_norm)
    return dv, dq, dg, None


def _setup_forward_list(ctx, inputs, output):
    sources, w_query, w_norm, eps = inputs
    _, alpha, rstd = output
    ctx.save_for_backward(w_query, w_norm, alpha, rstd, *sources)
    ctx.eps = eps
    ctx.mark_non_differentiable(alpha, rstd)


def _backward_forward_list(ctx, grad_h, grad_alpha, grad_rstd):
    w_query, w_norm, alpha, rstd, *sources = ctx.saved_tensors
    dv, dq, dg = torch.ops.attnres.backward_list(grad_h, sources, w_query, w_norm,
                                                 alpha, rstd, ctx.eps)
    dq, dg = _weight_grads(dq, dg, w_query, w_norm)
    return list(dv.unbind(0)), dq, dg, None


torch.library.register_autograd("attnres::forward", _backward_forward,
                                setup_context=_setup_forward)
torch.library.register_autograd("attnres::forward_list", _backward_forward_list,
                                setup_context=_setup_forward_list)


# --- Public API ---------------------------------------------------------------------

class AttnResFunction(torch.autograd.Function):
    """``AttnResFunction.apply(V, w_query, w_norm, eps)``: the signature and
    semantics of LigerAttnResFunction. V [N, B, T, D] -> h [B, T, D]; Alpha
    and RSTD [B*T, N] fp32 are saved for the backward."""

    # Eager calls launch directly: the custom op's dispatch cost 25-35 us of
    # host time a forward call, more than a small call's kernel. Traced
    # calls go through the ops, which torch.compile sees.

    @staticmethod
    def forward(ctx, V, w_query, w_norm, eps=1e-6):
        run = torch.ops.attnres.forward if torch.compiler.is_compiling() else _forward_stacked
        h, alpha, rstd = run(V, w_query, w_norm, eps)
        ctx.save_for_backward(V, w_query, w_norm, alpha, rstd)
        ctx.eps = eps
        return h

    @staticmethod
    def backward(ctx, grad_h):
        V, w_query, w_norm, alpha, rstd = ctx.saved_tensors
        run = (torch.ops.attnres.backward if torch.compiler.is_compiling()
               else _backward_stacked)
        dv, dq, dg = run(grad_h, V, w_query, w_norm, alpha, rstd, ctx.eps)
        dq, dg = _weight_grads(dq, dg, w_query, w_norm)
        return dv, dq, dg, None


def attn_res(sources: SourcesArg, w_query: Tensor, w_norm: Tensor,
             eps: float = 1e-6) -> Tensor:
    """h = AttnRes(sources): sources is a stacked V [N, B, T, D] or a list of N
    tensors [B, T, D] (read in place: no stacking copy). Differentiable and
    safe under torch.compile(fullgraph=True)."""
    if isinstance(sources, Tensor):
        return torch.ops.attnres.forward(sources, w_query, w_norm, eps)[0]
    if isinstance(sources, (list, tuple)):
        return torch.ops.attnres.forward_list(list(sources), w_query, w_norm, eps)[0]
    raise TypeError("attnres: sources must be a tensor [N, B, T, D] or a list of "
                    f"tensors [B, T, D], got {type(sources).__name__}")


def attn_res_reference(sources: SourcesArg, w_query: Tensor, w_norm: Tensor,
                       eps: float = 1e-6, *, return_stats: bool = False):
    """The operator in plain PyTorch ops (any device; float64 stays float64,
    other dtypes compute in fp32). With return_stats, also alpha and rstd as
    [M, N] in the compute dtype."""
    V = torch.stack(list(sources)) if isinstance(sources, (list, tuple)) else sources
    compute = torch.promote_types(V.dtype, torch.float32)
    v = V.to(compute)
    q, g = w_query.to(compute), w_norm.to(compute)
    rstd = torch.rsqrt(v.pow(2).mean(dim=-1, keepdim=True) + eps)   # [N, ..., 1]
    scores = (v * rstd * (q * g)).sum(dim=-1)                       # [N, ...]
    alpha = torch.softmax(scores, dim=0)
    h = (alpha.unsqueeze(-1) * v).sum(dim=0).to(V.dtype)
    if not return_stats:
        return h
    n = V.shape[0]
    return h, alpha.reshape(n, -1).t(), rstd.reshape(n, -1).t()


class BlockAttnRes(nn.Module):
    """Block Attention Residuals for one layer: a learned pseudo-query
    (zero-initialized, so training starts from the plain average of the
    sources) and an RMSNorm weight (ones) over the depth sources.

        mix = BlockAttnRes(dim)
        h = mix([embedding, *completed_blocks, partial])   # or a stacked V

    impl="attnres" runs the attnres kernels (CUDA tensors); impl="torch" the
    PyTorch reference (any device).
    """

    def __init__(self, dim: int, eps: float = 1e-6, impl: str = "attnres",
                 device=None, dtype=None):
        super().__init__()
        if impl not in ("attnres", "torch"):
            raise ValueError(f"BlockAttnRes: impl must be 'attnres' or 'torch', got {impl!r}")
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"BlockAttnRes: dim must be a positive int, got {dim!r}")
        _check_eps(eps)
        self.dim, self.eps, self.impl = dim, eps, impl
        factory = {"device": device, "dtype": dtype}
        self.w_query = nn.Parameter(torch.zeros(dim, **factory))
        self.w_norm = nn.Parameter(torch.ones(dim, **factory))

    def reset_parameters(self):
        nn.init.zeros_(self.w_query)
        nn.init.ones_(self.w_norm)

    def forward(self, sources: SourcesArg) -> Tensor:
        if self.impl == "torch":
            return attn_res_reference(sources, self.w_query, self.w_norm, self.eps)
        return attn_res(sources, self.w_query, self.w_norm, self.eps)

    def extra_repr(self):
        return f"dim={self.dim}, eps={self.eps}, impl={self.impl!r}"
