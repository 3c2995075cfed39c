"""Host time per call of the Python entry points, without CUDA graphs.

A call of a small shape costs the host more than the device: argument
checks, allocations, the weights' casts, the launch, and, through the
custom op (attn_res, torch.compile), the dispatcher. This times, per shape
(N, M, D, dtype), back-to-back calls of
  launch       - attnres._C.forward alone, on prepared pointers,
  function     - attnres.torch.AttnResFunction.apply (eager: no custom op),
  op           - attnres.torch.attn_res on a list (through the custom op),
  triton       - the Triton baseline's apply (bench/triton_baseline.py),
forward and forward + backward (sources requiring grad), as microseconds
per call: the best of several rounds of many calls, each round ended by a
synchronize. Where the kernel is longer than the host's work, the figure is
the kernel's time. Prints a table and writes JSON.

    python bench/host_overhead.py --json host.json
"""

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def per_call_us(fn, calls, rounds=5):
    for _ in range(10):
        fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sources", type=int, default=2)
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--tokens", default="256,4096,16384")
    ap.add_argument("--dtype", default="bf16", choices=("bf16", "f16", "f32"))
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    from attnres import _C
    from attnres.torch import AttnResFunction, attn_res, _stacked_sources
    from triton_baseline import TritonAttnResFunction

    dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[args.dtype]
    n, d, eps = args.sources, args.width, 1e-6
    impls = ("launch", "function", "op", "triton")
    rows = []
    print(f"{torch.cuda.get_device_name()}: microseconds per call, N = {n}, "
          f"D = {d}, {args.dtype} (best of 5 rounds of {args.calls} calls)")
    print(f"{'M':>6} | " + " ".join(f"{i + ' fwd':>12} {i + ' both':>12}" for i in impls))
    for m in (int(t) for t in args.tokens.split(",")):
        torch.manual_seed(m)
        V = torch.randn(n, 1, m, d, device="cuda", dtype=dtype).requires_grad_()
        sources = [v.detach().clone().requires_grad_() for v in V.detach()]
        q = (0.5 * torch.randn(d, device="cuda")).requires_grad_()
        g = (1 + 0.1 * torch.randn(d, device="cuda")).requires_grad_()
        dh = torch.randn(1, m, d, device="cuda", dtype=dtype)
        h = torch.empty(1, m, d, device="cuda", dtype=dtype)
        alpha = torch.empty(m, n, device="cuda")
        rstd = torch.empty_like(alpha)
        qf, gf = q.detach().clone(), g.detach().clone()
        stacked = _stacked_sources(V)
        stream = torch.cuda.current_stream().cuda_stream

        def launch():
            _C.forward(stacked, qf.data_ptr(), gf.data_ptr(), h.data_ptr(),
                       alpha.data_ptr(), rstd.data_ptr(), m, d, args.dtype, eps, stream)

        calls = {
            "function": (lambda: AttnResFunction.apply(V, q, g, eps), (V, q, g)),
            "op": (lambda: attn_res(sources, q, g, eps), (*sources, q, g)),
            "triton": (lambda: TritonAttnResFunction.apply(V, q, g, eps), (V, q, g)),
        }
        row = {"N": n, "M": m, "D": d, "dtype": args.dtype,
               "launch_fwd_us": per_call_us(launch, args.calls)}
        for name, (fwd, leaves) in calls.items():
            row[f"{name}_fwd_us"] = per_call_us(fwd, args.calls)

            def both(fwd=fwd, leaves=leaves):
                torch.autograd.grad(fwd(), leaves, dh)
            row[f"{name}_both_us"] = per_call_us(both, max(1, args.calls // 3))
        rows.append(row)
        cells = []
        for i in impls:
            for k in ("fwd", "both"):
                v = row.get(f"{i}_{k}_us")
                cells.append(f"{v:12.1f}" if v is not None else f"{'-':>12}")
        print(f"{m:>6} | " + " ".join(cells))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
