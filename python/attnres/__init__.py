"""attnres: the Attention Residuals compiler and CUDA runtime, from Python.

    import attnres
    r = attnres.compile(8, 4096, "bf16")          # PTX, registers, cache entry
    for name, ir in attnres.ir_stages(8, 4096):   # the IR after every pass
        ...
    attnres.available()                           # a CUDA driver and device?

PyTorch integration (custom ops, autograd, torch.compile, BlockAttnRes):
``attnres.torch``. The host JIT on numpy arrays (``cpu_forward``,
``cpu_backward``) exists where the module was built with it (``has_cpu``;
the static core of a GPU machine has none).

Pointer-level calls (``forward``, ``backward``) take device addresses and
streams as ints; every bad argument raises ``attnres.Error`` (a RuntimeError
with ``kind``), ValueError or TypeError before anything is launched.
"""

import numpy as _np

from . import _C
from ._C import (CompileResult, Error, KernelSpec, Sources, Tuning,
                 backward, backward_workspace_bytes, cache_dir,
                 clear_memory_cache, find_ptxas, forward, has_cpu,
                 max_sources, max_width, set_cache_dir)

__all__ = [
    "CompileResult", "Error", "KernelSpec", "Sources", "Tuning", "available",
    "backward", "backward_workspace_bytes", "bf16_bits", "cache_dir",
    "clear_memory_cache", "compile", "cpu_backward", "cpu_forward",
    "device_arch", "find_ptxas", "forward", "from_bf16_bits", "has_cpu",
    "ir_stages", "max_sources", "max_width", "set_cache_dir",
    "unavailable_reason",
]


def available():
    """True if a CUDA driver and at least one device are usable."""
    return _C.available()


def unavailable_reason():
    """Why ``available()`` is False; '' when it is True."""
    return _C.unavailable_reason()


def device_arch():
    """The arch kernels are built for on the current device (e.g. sm_90a)."""
    return _C.device_arch()


def _spec(n, d, dtype, direction, arch, eps, tuning):
    return KernelSpec(n, d, dtype=dtype, direction=direction, arch=arch or "",
                      eps=eps, tuning=tuning if tuning is not None else Tuning())


def compile(n, d, dtype="bf16", direction="forward", arch=None, eps=1e-6,
            tuning=None, ptxas=True):
    """Compiles (or finds in the kernel cache) one specialization.

    arch defaults to the current device's, or sm_90a without a GPU. The
    result has ``ptx``, ``kernel_ir`` (the gpu.module before NVVM),
    ``entries``, ``resources`` (ptxas registers and spills per entry, when
    ptxas is found; else ``ptxas_error`` says why), ``cache_dir``,
    ``cache_key`` and ``origin`` ('compiler', 'disk' or 'memory').
    """
    return _C.compile(_spec(n, d, dtype, direction, arch, eps, tuning), ptxas)


def ir_stages(n, d, dtype="bf16", direction="forward", arch=None, eps=1e-6,
              tuning=None):
    """The pipeline of one spec, stage by stage: a list of (pass, ir) with
    the attnres program first ("input") and the whole module after every
    pass, down to gpu-module-to-binary (which holds the PTX)."""
    return _C.compile_stages(_spec(n, d, dtype, direction, arch, eps, tuning))


# --- The host JIT (numpy) ---------------------------------------------------

def _require_cpu():
    if not has_cpu:
        error = Error("this attnres module was built without the host JIT "
                      "(the static core has no CPU path); use a CUDA device "
                      "or the normal build")
        error.kind = "unsupported"
        raise error


def cpu_forward(values, query, norm_weight, eps=1e-6, dtype=None):
    """(h, alpha, rstd) of values [N, ..., D] through the host JIT.

    values: float32, float16, or bf16 bits as uint16 with dtype='bf16';
    query, norm_weight: float32 [D]. h has the shape of values without N and
    its dtype; alpha and rstd are float32 [M, N] (M = tokens).
    """
    _require_cpu()
    return _C.cpu_forward(values, query, norm_weight, float(eps), dtype or "")


def cpu_backward(grad_h, values, query, norm_weight, alpha, rstd, eps=1e-6,
                 dtype=None):
    """(grad_values, grad_query, grad_norm_weight) through the host JIT."""
    _require_cpu()
    return _C.cpu_backward(grad_h, values, query, norm_weight, alpha, rstd,
                           float(eps), dtype or "")


def bf16_bits(array):
    """float32 -> bf16 bit patterns (uint16), rounded to nearest even."""
    bits = _np.ascontiguousarray(array, dtype=_np.float32).view(_np.uint32)
    rounding = ((bits >> 16) & 1) + 0x7FFF
    return ((bits + rounding) >> 16).astype(_np.uint16)


def from_bf16_bits(bits):
    """bf16 bit patterns (uint16) -> float32."""
    return (_np.asarray(bits, dtype=_np.uint16).astype(_np.uint32) << 16).view(_np.float32)
