"""AttnRes speed against the memory floor, beside the alternatives.

For each shape (N sources, M tokens, width D, dtype) times the forward and
the forward + backward of
  attnres  - this project's kernels (attnres.torch.AttnResFunction),
  triton   - a straightforward fused Triton kernel (bench/triton_baseline.py),
  compile  - torch.compile of the PyTorch reference,
  eager    - the PyTorch reference,
all in the same process, with CUDA events (median of the repetitions after
warm-up). Each call is captured in a CUDA graph and the graph's replays are
timed (several calls per graph where a call is short), so the numbers are
the device's time, not the host's time to issue a call from Python; the
per-call times without a graph are recorded as <impl>_call_fwd_ms and
<impl>_call_both_ms (--no-graphs times only those). The backward is
(forward + backward) - forward. The floor is the
bytes each pass must move, (N + 1) D E per token forward and (2N + 1) D E
backward, over the device-to-device copy bandwidth measured at the start
(bytes read + written). h and dV of the first 512 tokens are compared with a
float64 reference (<impl>_h_rel_err, <impl>_dV_rel_err: relative L2 error).
Prints a table and writes everything as JSON.

    python bench/bench_ops.py --json bench/results/ops-h100.json
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}
IMPLS = ("attnres", "triton", "compile", "eager")


def parse_list(text, kind=int):
    return [kind(x) for x in text.split(",") if x]


def time_ms(fn, reps, warmup=3):
    """Median milliseconds of `fn` over `reps` runs, each between events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for s, e in zip(starts, ends):
        s.record()
        fn()
        e.record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends))


def graph_time_ms(make_fn, leaves, reps, calls):
    """Median milliseconds of one call, from the replays of a CUDA graph
    holding `calls` calls of make_fn(*fresh leaves). Warm-up and capture run
    on one side stream, and the leaves are re-made there: autograd records
    a leaf's stream when its gradient node is first made, and a node from
    the default stream makes the backward wait on that stream, which breaks
    the capture."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        fn = make_fn(*(t.detach().requires_grad_(t.requires_grad) for t in leaves))
        for _ in range(3):
            fn()
    side.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=side):
        for _ in range(calls):
            fn()
    ms = time_ms(graph.replay, reps) / calls
    del graph, fn
    return ms


def copy_bandwidth_tbps(nbytes=1 << 30, reps=20):
    src = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda").uniform_()
    dst = torch.empty_like(src)
    ms = time_ms(lambda: dst.copy_(src), reps, warmup=5)
    del src, dst
    return 2 * nbytes / (ms * 1e-3) / 1e12


def make_impls(names):
    from attnres.torch import AttnResFunction, attn_res_reference
    impls = {}
    if "attnres" in names:
        impls["attnres"] = AttnResFunction.apply
    if "triton" in names:
        from triton_baseline import TritonAttnResFunction
        impls["triton"] = TritonAttnResFunction.apply
    if "compile" in names:
        impls["compile"] = torch.compile(attn_res_reference)
    if "eager" in names:
        impls["eager"] = attn_res_reference
    return impls


def relative_error(out, ref):
    out, ref = out.double(), ref.double()
    return (torch.linalg.vector_norm(out - ref) / torch.linalg.vector_norm(ref)).item()


def bench_shape(impls, n, m, d, dtype, budget_ms, graphs):
    """Times every impl on one shape; returns the row (None where an impl
    ran out of memory or failed, with the reason)."""
    torch.manual_seed(n * 100003 + d)
    # Each shape compiles afresh: past torch.compile's recompile limit (8
    # shapes) a compiled function silently runs eagerly.
    torch._dynamo.reset()
    b, t = 1, m
    V = torch.randn(n, b, t, d, device="cuda", dtype=dtype).requires_grad_()
    q = (0.5 * torch.randn(d, device="cuda")).requires_grad_()
    g = (1.0 + 0.1 * torch.randn(d, device="cuda")).requires_grad_()
    dh = torch.randn(b, t, d, device="cuda", dtype=dtype)
    eps = 1e-6
    checked = min(t, 512)  # tokens checked against float64 (memory)
    from attnres.torch import attn_res_reference
    V64 = V.detach()[:, :, :checked].double().requires_grad_()
    ref = attn_res_reference(V64, q.detach().double(), g.detach().double(), eps)
    (dv_ref,) = torch.autograd.grad(ref, V64, dh[:, :checked].double())
    ref = ref.detach()
    del V64
    row = {}
    for name, fn in impls.items():
        try:
            def make_fwd(V, q, g, fn=fn):
                return lambda: fn(V, q, g, eps)

            def make_both(V, q, g, fn=fn):
                def both():
                    h = fn(V, q, g, eps)
                    torch.autograd.grad(h, (V, q, g), dh)
                return both

            fwd, both = make_fwd(V, q, g), make_both(V, q, g)

            first = time.perf_counter()
            h = fwd()  # compiles / autotunes outside the timed runs
            (dv,) = torch.autograd.grad(h, V, dh)
            torch.cuda.synchronize()
            err = relative_error(h.detach()[:, :checked], ref)
            dv_err = relative_error(dv[:, :, :checked], dv_ref)
            del h, dv
            once = time_ms(both, 1, warmup=1)
            reps = max(3, min(50, int(budget_ms / max(once, 1e-3))))
            f_ms = row[f"{name}_call_fwd_ms"] = time_ms(fwd, reps)
            b_ms = row[f"{name}_call_both_ms"] = time_ms(both, reps)
            if graphs:
                # Short calls: enough of them per graph that its launch is
                # a small part of a replay.
                calls = max(1, min(10, int(2.0 / max(once, 1e-3))))
                f_ms = graph_time_ms(make_fwd, (V, q, g), reps, calls)
                b_ms = graph_time_ms(make_both, (V, q, g), reps, calls)
            row[f"{name}_fwd_ms"] = f_ms
            row[f"{name}_bwd_ms"] = max(b_ms - f_ms, 0.0)
            row[f"{name}_both_ms"] = b_ms
            row[f"{name}_h_rel_err"] = err
            row[f"{name}_dV_rel_err"] = dv_err
            row[f"{name}_setup_s"] = time.perf_counter() - first
        except torch.OutOfMemoryError:
            row[f"{name}_fwd_ms"] = row[f"{name}_bwd_ms"] = None
            row[f"{name}_error"] = "out of memory"
        except Exception as exc:  # a baseline failing must not stop the table
            row[f"{name}_fwd_ms"] = row[f"{name}_bwd_ms"] = None
            row[f"{name}_error"] = f"{type(exc).__name__}: {exc}"[:300]
        torch.cuda.empty_cache()
    del V, q, g, dh, ref, dv_ref
    torch.cuda.empty_cache()
    return row


def pct(floor, ms):
    return None if ms is None else 100.0 * floor / ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", default="2,4,8,16,32")
    ap.add_argument("--widths", default="2048,4096,5120,7168,8192")
    ap.add_argument("--dtypes", default="bf16,f16")
    ap.add_argument("--tokens", type=int, default=16384)
    ap.add_argument("--max-bytes", type=float, default=4 * 2**30,
                    help="fewer tokens where V would exceed this many bytes")
    ap.add_argument("--impls", default=",".join(IMPLS))
    ap.add_argument("--budget-ms", type=float, default=300.0,
                    help="timed milliseconds per impl and shape (sets the reps)")
    ap.add_argument("--no-graphs", dest="graphs", action="store_false",
                    help="time calls from Python only (host time included)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--time-limit", type=float, default=1e9,
                    help="stop starting new shapes after this many seconds")
    args = ap.parse_args()

    if not torch.cuda.is_available():
        print("no CUDA device: nothing to benchmark", file=sys.stderr)
        return 2
    impls = make_impls(parse_list(args.impls, str))
    copy = copy_bandwidth_tbps()
    device = torch.cuda.get_device_name()
    print(f"device: {device}; copy bandwidth {copy:.3f} TB/s (read + write)")
    result = {"device": device, "copy_TBps": copy, "torch": torch.__version__,
              "impls": list(impls), "graphs": args.graphs, "rows": []}
    start = time.perf_counter()
    head = (f"{'N':>3} {'D':>5} {'M':>6} {'dtype':>5} | {'floor':>6} "
            + " ".join(f"{k + ' fwd':>14}" for k in impls) + " | {:>6} ".format("floor")
            + " ".join(f"{k + ' bwd':>14}" for k in impls))
    print(head)
    for dname in parse_list(args.dtypes, str):
        dtype = DTYPES[dname]
        esize = torch.finfo(dtype).bits // 8
        for n in parse_list(args.sources):
            for d in parse_list(args.widths):
                if time.perf_counter() - start > args.time_limit:
                    print("time limit reached; stopping")
                    break
                m = min(args.tokens, int(args.max_bytes // (n * d * esize)))
                row = {"N": n, "M": m, "D": d, "dtype": dname}
                row["floor_fwd_ms"] = (n + 1) * d * esize * m / (copy * 1e12) * 1e3
                row["floor_bwd_ms"] = (2 * n + 1) * d * esize * m / (copy * 1e12) * 1e3
                row.update(bench_shape(impls, n, m, d, dtype, args.budget_ms, args.graphs))
                for k in impls:
                    row[f"{k}_fwd_pct"] = pct(row["floor_fwd_ms"], row.get(f"{k}_fwd_ms"))
                    row[f"{k}_bwd_pct"] = pct(row["floor_bwd_ms"], row.get(f"{k}_bwd_ms"))
                    both = row.get(f"{k}_both_ms")
                    row[f"{k}_both_pct"] = pct(row["floor_fwd_ms"] + row["floor_bwd_ms"], both)
                result["rows"].append(row)

                def cell(k, which):
                    ms = row.get(f"{k}_{which}_ms")
                    if ms is None:
                        return f"{'-':>14}"
                    return f"{ms:7.3f} {row[f'{k}_{which}_pct']:5.1f}%"
                print(f"{n:>3} {d:>5} {m:>6} {dname:>5} | {row['floor_fwd_ms']:6.3f} "
                      + " ".join(cell(k, "fwd") for k in impls)
                      + f" | {row['floor_bwd_ms']:6.3f} "
                      + " ".join(cell(k, "bwd") for k in impls), flush=True)
                for k in impls:
                    if f"{k}_error" in row:
                        print(f"    {k}: {row[k + '_error']}")
                if args.json:  # rewritten after each shape: a cut-off run keeps its rows
                    with open(args.json, "w") as f:
                        json.dump(result, f, indent=1)
    summary(result)
    return 0


def summary(result):
    """Worst and median % of the floor per impl and direction."""
    print("\n% of the floor (copy bandwidth): min / median / max over shapes")
    for k in result["impls"]:
        for which in ("fwd", "bwd", "both"):
            vals = [r[f"{k}_{which}_pct"] for r in result["rows"]
                    if r.get(f"{k}_{which}_pct") is not None]
            if vals:
                print(f"  {k:>8} {which:>4}: {min(vals):5.1f} / "
                      f"{statistics.median(vals):5.1f} / {max(vals):5.1f}  ({len(vals)} shapes)")
    print("relative L2 error against float64 on the first tokens: max over shapes")
    for k in result["impls"]:
        for out in ("h", "dV"):
            errs = [r[f"{k}_{out}_rel_err"] for r in result["rows"] if f"{k}_{out}_rel_err" in r]
            if errs:
                print(f"  {k:>8} {out:>3}: {max(errs):.2e}")
    if "attnres" in result["impls"] and "triton" in result["impls"]:
        for which in ("fwd", "bwd"):
            ratios = [r[f"triton_{which}_ms"] / r[f"attnres_{which}_ms"] for r in result["rows"]
                      if r.get(f"triton_{which}_ms") and r.get(f"attnres_{which}_ms")]
            if ratios:
                slower = sum(1 for x in ratios if x < 1.0)
                print(f"  attnres vs triton {which}: speed-up min {min(ratios):.2f}x, "
                      f"median {statistics.median(ratios):.2f}x; slower on {slower} shapes")


if __name__ == "__main__":
    sys.exit(main())
