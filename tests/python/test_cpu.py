"""The host JIT through Python against the float64 reference (normal build)."""

import numpy as np
import pytest

import attnres
from attnres_testlib import backward64, forward64, random_inputs, rel_l2

needs_cpu = pytest.mark.skipif(not attnres.has_cpu,
                                reason="module built without the host JIT")

EPS = 1e-6

# Storage: numpy dtype, how to round float64 to it and back, unit roundoff.
STORAGE = {
    "f32": (lambda x: x.astype(np.float32), lambda x: x.astype(np.float64)),
    "f16": (lambda x: x.astype(np.float16), lambda x: x.astype(np.float64)),
    "bf16": (attnres.bf16_bits, lambda b: attnres.from_bf16_bits(b).astype(np.float64)),
}


def rounding_error(ref, dtype):
    to, back = STORAGE[dtype]
    return rel_l2(back(to(ref)), ref)


def check_storage(got, ref, dtype, what):
    # Results in the storage dtype: no worse than twice the error of rounding
    # the float64 result to that dtype (f32: plus float32 arithmetic).
    bound = 2 * rounding_error(ref, dtype) + (2e-6 if dtype == "f32" else 0)
    err = rel_l2(STORAGE[dtype][1](got), ref)
    assert err <= bound, f"{what}: relative L2 error {err:.3g} > {bound:.3g}"


@needs_cpu
@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@pytest.mark.parametrize("n,batch,width", [(1, (7,), 64), (3, (2, 5), 100),
                                           (8, (4, 3), 256), (33, (6,), 96)])
def test_forward_backward_vs_float64(dtype, n, batch, width):
    rng = np.random.default_rng([n, width, len(dtype)])
    tokens = int(np.prod(batch))
    v64, q64, g64 = random_inputs(rng, n, tokens, width)
    to, back = STORAGE[dtype]
    values = to(v64).reshape((n,) + batch + (width,))
    q, g = q64.astype(np.float32), g64.astype(np.float32)
    # The reference sees exactly the rounded inputs the kernel sees.
    v = back(values).reshape(n, tokens, width)
    h_ref, a_ref, r_ref, _ = forward64(v, q, g, EPS)

    h, alpha, rstd = attnres.cpu_forward(values, q, g, EPS, dtype=dtype)
    assert h.shape == batch + (width,) and h.dtype == values.dtype
    assert alpha.shape == (tokens, n) and rstd.shape == (tokens, n)
    check_storage(h.reshape(tokens, width), h_ref, dtype, "h")
    assert rel_l2(alpha, a_ref) < 1e-5
    assert rel_l2(rstd, r_ref) < 1e-6

    dh64 = rng.standard_normal((tokens, width))
    grad_h = to(dh64).reshape(batch + (width,))
    dh = back(grad_h).reshape(tokens, width)
    dv_ref, dq_ref, dg_ref, dq_mag, dg_mag = backward64(dh, v, q, g, EPS)
    dv, dq, dg = attnres.cpu_backward(grad_h, values, q, g, alpha, rstd, EPS, dtype=dtype)
    assert dv.shape == values.shape and dv.dtype == values.dtype
    assert dq.dtype == np.float32 and dg.dtype == np.float32
    check_storage(dv.reshape(n, tokens, width), dv_ref, dtype, "dV")
    # dq, dg: sums over tokens and sources with cancellation; float32 error
    # scales with the magnitude of the summed terms.
    assert np.all(np.abs(dq - dq_ref) <= 1e-5 * dq_mag + 1e-30)
    assert np.all(np.abs(dg - dg_ref) <= 1e-5 * dg_mag + 1e-30)


@needs_cpu
def test_edge_cases_exact():
    rng = np.random.default_rng(7)
    v64, q64, g64 = random_inputs(rng, 4, 6, 64)
    v = v64.astype(np.float32)
    g = g64.astype(np.float32)
    # N = 1: alpha = 1 and h = v.
    h, alpha, _ = attnres.cpu_forward(v[:1].copy(), q64.astype(np.float32), g)
    assert np.array_equal(alpha, np.ones((6, 1), np.float32))
    np.testing.assert_allclose(h, v[0], rtol=1e-6, atol=1e-7)
    # q = 0: uniform alpha, h the plain average of the sources.
    h, alpha, _ = attnres.cpu_forward(v, np.zeros(64, np.float32), g)
    np.testing.assert_allclose(alpha, 0.25, rtol=1e-6)
    np.testing.assert_allclose(h, v.mean(axis=0), rtol=1e-5, atol=1e-6)
    # A row of zeros: rstd = 1/sqrt(eps), finite.
    v[2, 3] = 0
    _, alpha, rstd = attnres.cpu_forward(v, q64.astype(np.float32), g, 1e-6)
    np.testing.assert_allclose(rstd[3, 2], 1e3, rtol=1e-6)
    assert np.all(np.isfinite(alpha))


@needs_cpu
def test_cpu_errors_are_clear():
    v = np.ones((2, 3, 8), np.float32)
    q = np.ones(8, np.float32)
    with pytest.raises(TypeError, match="float32, float16 or bf16"):
        attnres.cpu_forward(v.astype(np.float64), q, q)
    with pytest.raises(ValueError, match=r"query must have shape \[8\]"):
        attnres.cpu_forward(v, np.ones(7, np.float32), q)
    with pytest.raises(TypeError, match="norm_weight must be float32"):
        attnres.cpu_forward(v, q, q.astype(np.float64))
    with pytest.raises(ValueError, match="C-contiguous"):
        attnres.cpu_forward(v.transpose(0, 2, 1), np.ones(3, np.float32),
                            np.ones(3, np.float32))
    with pytest.raises(ValueError, match="N .number of sources."):
        attnres.cpu_forward(np.ones((65, 1, 8), np.float32), q, q)
    with pytest.raises(TypeError, match="does not hold bf16"):
        attnres.cpu_forward(v, q, q, dtype="bf16")
    with pytest.raises(ValueError, match="grad_h must have the shape"):
        h, a, r = attnres.cpu_forward(v, q, q)
        attnres.cpu_backward(np.ones((3, 7), np.float32), v, q, q, a, r)


@pytest.mark.skipif(attnres.has_cpu, reason="module built with the host JIT")
def test_without_host_jit_cpu_calls_raise_clearly():
    values = np.ones((2, 3, 8), np.float32)
    with pytest.raises(attnres.Error, match="without the host JIT") as info:
        attnres.cpu_forward(values, np.ones(8, np.float32), np.ones(8, np.float32))
    assert info.value.kind == "unsupported"
