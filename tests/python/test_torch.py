"""attnres.torch on a GPU: kernels against the float64 PyTorch reference,
autograd, the list form, torch.compile, bad input and BlockAttnRes."""

import pytest

torch = pytest.importorskip("torch")

import attnres  # noqa: E402
from attnres.torch import (AttnResFunction, BlockAttnRes, attn_res,  # noqa: E402
                           attn_res_reference)

if not torch.cuda.is_available() or not attnres.available():
    pytest.skip("needs a CUDA device usable by torch and attnres", allow_module_level=True)

DEVICE = torch.device("cuda")
EPS = 1e-6


def rel_l2(x, ref):
    x, ref = x.double(), ref.double()
    return ((x - ref).norm() / ref.norm().clamp_min(1e-300)).item()


# The largest error seen per (quantity, dtype), printed after the module.
WORST = {}


def record(what, err):
    WORST[what] = max(WORST.get(what, 0.0), err)
    return err


@pytest.fixture(scope="module", autouse=True)
def print_worst_errors():
    yield
    for what in sorted(WORST):
        print(f"max error {what}: {WORST[what]:.4g}")


def inputs(n, shape, dtype, seed, weight_dtype=torch.float32, query_scale=0.5):
    """Fresh random sources and weights (never zeros: a zero query hides the
    score path)."""
    gen = torch.Generator(device=DEVICE).manual_seed(seed)
    V = torch.randn((n,) + shape, generator=gen, device=DEVICE).to(dtype)
    width = shape[-1]
    q = (query_scale * torch.randn(width, generator=gen, device=DEVICE)).to(weight_dtype)
    g = (1 + 0.25 * torch.randn(width, generator=gen, device=DEVICE)).to(weight_dtype)
    dh = torch.randn(shape, generator=gen, device=DEVICE).to(dtype)
    return V, q, g, dh


def reference64(V, q, g, dh):
    """Forward (h, alpha, rstd) and gradients (dV, dq, dg) in float64 through
    PyTorch autograd of the reference, on exactly the inputs the kernel sees;
    also the magnitude of the terms summed into dq and dg."""
    V64 = V.detach().double().requires_grad_()
    q64 = q.detach().double().requires_grad_()
    g64 = g.detach().double().requires_grad_()
    h, alpha, rstd = attn_res_reference(V64, q64, g64, EPS, return_stats=True)
    dV, dq, dg = torch.autograd.grad(h, (V64, q64, g64), dh.double())
    with torch.no_grad():
        n, width = V.shape[0], V.shape[-1]
        v = V64.detach().reshape(n, -1, width)
        a, r = alpha.t(), rstd.t()                                  # [N, M]
        s = torch.einsum("nmd,d->nm", v, q64.detach() * g64.detach()) * r
        dalpha = torch.einsum("md,nmd->nm", dh.double().reshape(-1, width), v)
        ds = a * (dalpha - (a * dalpha).sum(0))
        terms = torch.einsum("nm,nmd->d", (ds * r).abs(), v.abs())
    return (h.detach(), alpha.detach(), rstd.detach(), dV, dq, dg,
            g64.detach().abs() * terms, q64.detach().abs() * terms)


def rounding_error(ref, dtype):
    return rel_l2(ref.to(dtype), ref)


def check_weight_grad(got, ref, magnitude, what):
    # Sums over every token and source with cancellation: the fp32 error
    # scales with the magnitude of the summed terms, not with the result.
    err = (got.double() - ref).norm().item()
    scale = magnitude.norm().item()
    if scale == 0:  # N = 1: ds = 0, so every term and the result are 0
        assert err == 0, f"{what}: expected exact zeros, L2 error {err:.3g}"
        return
    record(f"{what} (L2 error / L2 of summed terms) {got.dtype}", err / scale)
    assert err <= 2e-5 * scale, f"{what}: L2 error {err:.3g}, terms {scale:.3g}"


def run_kernel(V_or_list, q, g, dh):
    leaves = list(V_or_list) if isinstance(V_or_list, list) else [V_or_list]
    leaves = [x.detach().requires_grad_() for x in leaves]
    qq = q.detach().requires_grad_()
    gg = g.detach().requires_grad_()
    sources = leaves if isinstance(V_or_list, list) else leaves[0]
    h = attn_res(sources, qq, gg, EPS)
    h.backward(dh)
    dV = torch.stack([x.grad for x in leaves]) if isinstance(V_or_list, list) else leaves[0].grad
    return h.detach(), dV, qq.grad, gg.grad


# --- fp32 against float64 (gradcheck-style, small shapes) ----------------------

@pytest.mark.parametrize("n,shape", [(1, (2, 3, 64)), (2, (3, 5, 100)), (3, (2, 7, 96)),
                                     (8, (1, 9, 256)), (17, (2, 3, 896)), (33, (1, 4, 128))])
def test_fp32_forward_and_grads_vs_float64(n, shape):
    V, q, g, dh = inputs(n, shape, torch.float32, seed=n * 1000 + shape[-1])
    h_ref, a_ref, r_ref, dV_ref, dq_ref, dg_ref, dq_mag, dg_mag = reference64(V, q, g, dh)
    out, alpha, rstd = torch.ops.attnres.forward(V, q, g, EPS)
    assert out.dtype == torch.float32 and out.shape == shape
    assert alpha.shape == (out.numel() // shape[-1], n) and alpha.dtype == torch.float32
    assert record("h rel L2 fp32", rel_l2(out, h_ref)) < 1e-5
    assert record("alpha rel L2 (fp32 sources)", rel_l2(alpha, a_ref)) < 1e-5
    assert record("rstd rel L2 (fp32 sources)", rel_l2(rstd, r_ref)) < 1e-5
    h, dV, dq, dg = run_kernel(V, q, g, dh)
    assert torch.equal(h, out)
    assert record("dV rel L2 fp32", rel_l2(dV, dV_ref)) < 1e-5
    check_weight_grad(dq, dq_ref, dq_mag, "dq")
    check_weight_grad(dg, dg_ref, dg_mag, "dg")


def test_edge_cases():
    V, q, g, _ = inputs(1, (2, 5, 64), torch.float32, seed=11)
    h, alpha, _ = torch.ops.attnres.forward(V, q, g, EPS)
    assert torch.equal(alpha, torch.ones_like(alpha))
    torch.testing.assert_close(h, V[0], rtol=1e-6, atol=1e-7)
    # A zero-initialized pseudo-query is the plain average of the sources.
    V, q, g, _ = inputs(5, (2, 5, 64), torch.float32, seed=12)
    h, alpha, _ = torch.ops.attnres.forward(V, torch.zeros_like(q), g, EPS)
    torch.testing.assert_close(alpha, torch.full_like(alpha, 0.2))
    torch.testing.assert_close(h, V.mean(0), rtol=1e-5, atol=1e-6)


# --- bf16 / fp16 on large shapes -----------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("n,shape", [(8, (2, 1024, 4096)), (4, (1, 2048, 7168)),
                                     (32, (1, 512, 2048))])
def test_half_large_vs_float64(dtype, n, shape):
    V, q, g, dh = inputs(n, shape, dtype, seed=n + shape[-1])
    h_ref, a_ref, r_ref, dV_ref, dq_ref, dg_ref, dq_mag, dg_mag = reference64(V, q, g, dh)
    h, dV, dq, dg = run_kernel(V, q, g, dh)
    assert h.dtype == dtype and dV.dtype == dtype
    # No worse than twice the error of rounding the float64 result to dtype.
    for got, ref, what in ((h, h_ref, "h"), (dV, dV_ref, "dV")):
        err, bound = rel_l2(got, ref), 2 * rounding_error(ref, dtype) + 1e-5
        record(f"{what} rel L2 / rounding error {dtype}", err / rounding_error(ref, dtype))
        print(f"{what} {dtype} n={n} {shape}: rel L2 {err:.3g} (rounding {bound / 2:.3g})")
        assert err <= bound, f"{what}: {err:.3g} > {bound:.3g}"
    _, alpha, rstd = torch.ops.attnres.forward(V, q, g, EPS)
    assert record(f"alpha rel L2 ({dtype} sources)", rel_l2(alpha, a_ref)) < 1e-5
    assert record(f"rstd rel L2 ({dtype} sources)", rel_l2(rstd, r_ref)) < 1e-5
    check_weight_grad(dq, dq_ref, dq_mag, "dq")
    check_weight_grad(dg, dg_ref, dg_mag, "dg")


def test_bf16_weights_get_bf16_grads():
    V, q, g, dh = inputs(4, (2, 8, 256), torch.bfloat16, seed=5, weight_dtype=torch.bfloat16)
    _, _, _, _, dq_ref, dg_ref, _, _ = reference64(V, q, g, dh)
    _, _, dq, dg = run_kernel(V, q, g, dh)
    assert dq.dtype == torch.bfloat16 and dg.dtype == torch.bfloat16
    # fp32 sums, one rounding to bf16 at the end.
    assert rel_l2(dq, dq_ref) <= 2 * rounding_error(dq_ref, torch.bfloat16) + 1e-4
    assert rel_l2(dg, dg_ref) <= 2 * rounding_error(dg_ref, torch.bfloat16) + 1e-4


# --- Interfaces -------------------------------------------------------------------------

def test_attnres_function_matches_liger_interface():
    V, q, g, dh = inputs(6, (2, 16, 512), torch.bfloat16, seed=21)
    Vf = V.detach().requires_grad_()
    qf, gf = q.detach().requires_grad_(), g.detach().requires_grad_()
    h = AttnResFunction.apply(Vf, qf, gf, EPS)
    assert h.shape == V.shape[1:] and h.dtype == V.dtype
    h.backward(dh)
    h2, dV, dq, dg = run_kernel(V, q, g, dh)
    assert torch.equal(h.detach(), h2)
    assert torch.equal(Vf.grad, dV) and torch.equal(qf.grad, dq) and torch.equal(gf.grad, dg)


@pytest.mark.parametrize("n,dtype", [(9, torch.bfloat16), (40, torch.float32)])
def test_list_form_vs_float64_and_stacked(n, dtype):
    V, q, g, dh = inputs(n, (2, 32, 1024), dtype, seed=31 + n)
    h_ref, _, _, dV_ref, dq_ref, dg_ref, dq_mag, dg_mag = reference64(V, q, g, dh)
    # Separate allocations, as a model's block sums are.
    sources = [V[i].clone() for i in range(n)]
    h, dV, dq, dg = run_kernel(sources, q, g, dh)
    for got, ref in ((h, h_ref), (dV, dV_ref)):
        assert rel_l2(got, ref) <= 2 * rounding_error(ref, dtype) + 1e-5
    check_weight_grad(dq, dq_ref, dq_mag, "dq")
    check_weight_grad(dg, dg_ref, dg_mag, "dg")
    h_s, dV_s, _, _ = run_kernel(V, q, g, dh)
    torch.testing.assert_close(h, h_s)
    torch.testing.assert_close(dV, dV_s)


def test_non_default_stream():
    V, q, g, _ = inputs(4, (2, 64, 512), torch.float32, seed=41)
    expected = torch.ops.attnres.forward(V, q, g, EPS)[0]
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        h = attn_res(V, q, g, EPS)
    torch.cuda.current_stream().wait_stream(stream)
    assert torch.equal(h, expected)


def test_outputs_fully_written_poisoned_buffers():
    # Pointer-level calls into NaN-filled buffers with guard regions after
    # them: every output element is written, nothing past the end.
    n, tokens, width = 5, 37, 384
    V, q, g, dh = inputs(n, (tokens, width), torch.bfloat16, seed=51)
    guard = 64
    h = torch.full((tokens * width + guard,), float("nan"), dtype=torch.bfloat16, device=DEVICE)
    alpha = torch.full((tokens * n + guard,), float("nan"), device=DEVICE)
    rstd = torch.full((tokens * n + guard,), float("nan"), device=DEVICE)
    stream = torch.cuda.current_stream().cuda_stream
    attnres.forward(attnres.Sources.stacked(V.data_ptr(), n), q.data_ptr(), g.data_ptr(),
                    h.data_ptr(), alpha.data_ptr(), rstd.data_ptr(), tokens, width, "bf16",
                    EPS, stream)
    for buf, size in ((h, tokens * width), (alpha, tokens * n), (rstd, tokens * n)):
        assert bool(torch.isfinite(buf[:size]).all())
        assert bool(torch.isnan(buf[size:]).all())
    ref = torch.ops.attnres.forward(V, q, g, EPS)
    assert torch.equal(h[:tokens * width].view(tokens, width), ref[0])

    dV = torch.full((n * tokens * width + guard,), float("nan"), dtype=torch.bfloat16,
                    device=DEVICE)
    dq = torch.full((width + guard,), float("nan"), device=DEVICE)
    dg = torch.full((width + guard,), float("nan"), device=DEVICE)
    attnres.backward(dh.data_ptr(), attnres.Sources.stacked(V.data_ptr(), n), q.data_ptr(),
                     g.data_ptr(), alpha.data_ptr(), rstd.data_ptr(),
                     attnres.Sources.stacked(dV.data_ptr(), n), dq.data_ptr(), dg.data_ptr(),
                     tokens, width, "bf16", EPS, stream)
    for buf, size in ((dV, n * tokens * width), (dq, width), (dg, width)):
        assert bool(torch.isfinite(buf[:size]).all())
        assert bool(torch.isnan(buf[size:]).all())


# --- torch.compile ------------------------------------------------------------------------

def test_torch_compile_fullgraph_no_graph_breaks():
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    dim = 256
    mix = BlockAttnRes(dim).to(DEVICE)
    with torch.no_grad():
        mix.w_query.normal_(0, 0.5)
    proj = torch.nn.Linear(dim, dim, device=DEVICE, dtype=torch.bfloat16)

    def step(embedding, blocks):
        partial = proj(embedding)
        h = mix([embedding, *blocks, partial])                      # list form
        stacked = torch.stack([embedding, partial])
        h2 = attn_res(stacked, mix.w_query, mix.w_norm, 1e-6)       # stacked form
        return (h.float() * h2.float()).sum()

    V, _, _, _ = inputs(4, (2, 64, dim), torch.bfloat16, seed=61)
    embedding = V[0].clone().requires_grad_()
    blocks = [V[i].clone() for i in (1, 2, 3)]

    loss_eager = step(embedding, blocks)
    grads_eager = torch.autograd.grad(loss_eager, (embedding, mix.w_query, mix.w_norm))
    compiled = torch.compile(step, fullgraph=True)
    loss = compiled(embedding, blocks)
    grads = torch.autograd.grad(loss, (embedding, mix.w_query, mix.w_norm))
    assert dict(counters["graph_break"]) == {}
    torch.testing.assert_close(loss, loss_eager, rtol=1e-5, atol=1e-5)
    # The bf16 embedding gradient sums three paths; Inductor rounds that sum
    # once where eager rounds each add, so compare in norm, not elementwise.
    for got, ref in zip(grads, grads_eager):
        assert rel_l2(got, ref) < 1e-2
    explained = torch._dynamo.explain(step)(embedding, blocks)
    print(f"torch.compile: {explained.graph_count} graph(s), "
          f"{explained.graph_break_count} graph break(s)")
    assert explained.graph_break_count == 0 and explained.graph_count == 1


def test_custom_ops_opcheck():
    V, q, g, dh = inputs(3, (2, 4, 128), torch.float32, seed=71)
    sources = [V[i].clone() for i in range(3)]
    for op, args in ((torch.ops.attnres.forward.default, (V, q, g, EPS)),
                     (torch.ops.attnres.forward_list.default, (sources, q, g, EPS))):
        torch.library.opcheck(op, args)
    _, alpha, rstd = torch.ops.attnres.forward(V, q, g, EPS)
    torch.library.opcheck(torch.ops.attnres.backward.default,
                          (dh, V, q, g, alpha, rstd, EPS))


# --- Bad input -----------------------------------------------------------------------------

def test_bad_input_raises_clear_errors():
    V, q, g, _ = inputs(3, (2, 4, 64), torch.float32, seed=81)
    with pytest.raises(ValueError, match="is on cpu.*need CUDA tensors"):
        attn_res(V.cpu(), q.cpu(), g.cpu())
    with pytest.raises(TypeError, match="dtype torch.float64"):
        attn_res(V.double(), q, g)
    with pytest.raises(TypeError, match="dtype torch.int32"):
        attn_res(V.int(), q, g)
    with pytest.raises(ValueError, match="must be contiguous"):
        attn_res(V.transpose(1, 2), q, g)
    with pytest.raises(ValueError, match=r"w_query must have shape \[64\]"):
        attn_res(V, q[:32], g)
    with pytest.raises(ValueError, match=r"N \(number of sources\) must be in \[1, 64\]"):
        attn_res(V[:1].expand(65, 2, 4, 64).contiguous(), q, g)
    with pytest.raises(ValueError, match=r"D \(last dimension\) must be in \[1, 16384\]"):
        wide = torch.zeros(16385, device=DEVICE)
        attn_res(torch.randn(2, 1, 1, 16385, device=DEVICE), wide, wide)
    with pytest.raises(ValueError, match="w_norm is on cpu but the sources are on cuda"):
        attn_res(V, q, g.cpu())
    with pytest.raises(ValueError, match=r"sources\[1\] has shape"):
        attn_res([V[0], V[1, :, :2]], q, g)
    with pytest.raises(TypeError, match=r"sources\[1\] is torch.float16"):
        attn_res([V[0], V[1].half()], q, g)
    with pytest.raises(ValueError, match="list of sources is empty"):
        attn_res([], q, g)
    with pytest.raises(ValueError, match="eps must be positive"):
        attn_res(V, q, g, -1.0)
    with pytest.raises(TypeError, match="sources must be a tensor"):
        attn_res("V", q, g)
    with pytest.raises(ValueError, match="impl must be"):
        BlockAttnRes(64, impl="triton")
    if torch.cuda.device_count() > 1:
        with pytest.raises(ValueError, match="is on cuda:1"):
            attn_res([V[0], V[1].to("cuda:1")], q, g)


def test_runtime_errors_are_attnres_errors():
    V, q, g, _ = inputs(2, (4, 64), torch.bfloat16, seed=91)
    h = torch.empty(4, 64, dtype=torch.bfloat16, device=DEVICE)
    alpha = torch.empty(4, 2, device=DEVICE)
    # A misaligned source pointer is refused, not launched.
    with pytest.raises(attnres.Error, match="align") as info:
        attnres.forward(attnres.Sources.stacked(V.data_ptr() + 1, 2), q.data_ptr(),
                        g.data_ptr(), h.data_ptr(), alpha.data_ptr(), alpha.data_ptr(),
                        4, 64, "bf16", EPS, torch.cuda.current_stream().cuda_stream)
    assert info.value.kind == "invalid argument"
    assert isinstance(info.value, RuntimeError)


# --- BlockAttnRes -------------------------------------------------------------------------

def test_block_attnres_module():
    dim = 512
    mix = BlockAttnRes(dim).to(DEVICE)
    assert bool((mix.w_query == 0).all()) and bool((mix.w_norm == 1).all())
    V, _, _, _ = inputs(3, (2, 16, dim), torch.bfloat16, seed=101)
    sources = [V[i] for i in range(3)]
    # Zero pseudo-query: the plain average of the sources.
    torch.testing.assert_close(mix(sources).float(), V.float().mean(0), rtol=1e-2, atol=1e-2)
    with torch.no_grad():
        mix.w_query.normal_(0, 0.5)
        mix.w_norm.uniform_(0.5, 1.5)
    reference = BlockAttnRes(dim, impl="torch").to(DEVICE)
    reference.load_state_dict(mix.state_dict())
    out, ref = mix(V), reference(V)
    with torch.no_grad():
        ref64 = attn_res_reference(V.double(), mix.w_query.double(), mix.w_norm.double())
    assert rel_l2(out, ref64) <= 2 * rounding_error(ref64, torch.bfloat16) + 1e-5
    out.float().square().mean().backward()
    ref.float().square().mean().backward()
    for p, r in ((mix.w_query, reference.w_query), (mix.w_norm, reference.w_norm)):
        assert p.grad is not None and bool(torch.isfinite(p.grad).all())
        assert rel_l2(p.grad, r.grad) < 5e-2


def test_block_attnres_in_a_layer_loop():
    # The loop of a model with Block AttnRes: each layer mixes the embedding,
    # the completed block sums and the running partial; N grows with depth.
    dim, layers, block = 256, 6, 2
    torch.manual_seed(0)
    mixes = torch.nn.ModuleList(BlockAttnRes(dim) for _ in range(layers)).to(DEVICE)
    mlps = torch.nn.ModuleList(torch.nn.Linear(dim, dim) for _ in range(layers)).to(DEVICE)
    x = torch.randn(2, 32, dim, device=DEVICE, requires_grad=True)

    def model(impl):
        for m in mixes:
            m.impl = impl
        blocks, partial = [x], None
        for i in range(layers):
            h = mixes[i](blocks + ([partial] if partial is not None else []))
            out = torch.tanh(mlps[i](h))
            partial = out if partial is None else partial + out
            if (i + 1) % block == 0:
                blocks, partial = blocks + [partial], None
        return blocks[-1].square().mean()

    loss = model("attnres")
    grads = torch.autograd.grad(loss, [x, *mixes.parameters()])
    loss_ref = model("torch")
    grads_ref = torch.autograd.grad(loss_ref, [x, *mixes.parameters()])
    torch.testing.assert_close(loss, loss_ref, rtol=1e-5, atol=1e-6)
    for got, ref in zip(grads, grads_ref):
        assert rel_l2(got, ref) < 1e-4
