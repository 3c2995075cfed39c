"""float64 references and error measures shared by the Python tests."""

import numpy as np


def rel_l2(x, ref):
    x = np.asarray(x, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    return float(np.linalg.norm(x - ref) / max(np.linalg.norm(ref), 1e-300))


def random_inputs(rng, n, tokens, width, query_scale=0.5):
    """Fresh random V [N, M, D], q, g (never zeros: a zero q would hide the
    score path)."""
    values = rng.standard_normal((n, tokens, width))
    query = query_scale * rng.standard_normal(width)
    norm_weight = 1.0 + 0.25 * rng.standard_normal(width)
    return values, query, norm_weight


def forward64(values, query, norm_weight, eps):
    """h [M, D], alpha [M, N], rstd [M, N], scores [N, M] in float64."""
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(query, dtype=np.float64) * np.asarray(norm_weight, dtype=np.float64)
    rstd = 1.0 / np.sqrt((v * v).mean(axis=-1) + eps)            # [N, M]
    scores = rstd * np.einsum("nmd,d->nm", v, w)
    e = np.exp(scores - scores.max(axis=0))
    alpha = e / e.sum(axis=0)                                      # [N, M]
    h = np.einsum("nm,nmd->md", alpha, v)
    return h, alpha.T, rstd.T, scores


def backward64(grad_h, values, query, norm_weight, eps):
    """dV [N, M, D], dq, dg [D], and the magnitude of the terms summed into
    dq and dg (their float32 error scales with it, not with the result)."""
    v = np.asarray(values, dtype=np.float64)
    dh = np.asarray(grad_h, dtype=np.float64)
    q = np.asarray(query, dtype=np.float64)
    g = np.asarray(norm_weight, dtype=np.float64)
    _, alpha_t, rstd_t, s = forward64(v, q, g, eps)
    a, r = alpha_t.T, rstd_t.T                                     # [N, M]
    width = v.shape[-1]
    dalpha = np.einsum("md,nmd->nm", dh, v)
    ds = a * (dalpha - (a * dalpha).sum(axis=0))
    dv = (a[..., None] * dh[None] +
          ds[..., None] * (r[..., None] * (q * g) - (s * r * r)[..., None] * v / width))
    c = np.einsum("nm,nmd->d", ds * r, v)
    terms = np.einsum("nm,nmd->d", np.abs(ds * r), np.abs(v))
    return dv, g * c, q * c, np.abs(g) * terms, np.abs(q) * terms
