#!/usr/bin/env python3
"""Markdown tables of bench_ops.py results: per dtype and direction, an
N x D grid of attnres' % of the copy bandwidth with a second implementation's
in parentheses, then min / median per dtype and direction.

    python3 bench/results_table.py bench/results/ops-h200-v9-bf16.json [more.json]
        [--versus triton] [--impl attnres]

Rows of later files replace those of earlier ones with the same N, D and
dtype (a rerun of some shapes on top of a whole run); each table names the
copy bandwidths of the runs its rows come from. Needs no torch: it reads the
JSON only.
"""

import argparse
import json
import statistics


def load(paths):
    rows, copy = {}, {}
    for path in paths:
        with open(path) as f:
            result = json.load(f)
        for row in result["rows"]:
            key = (row["dtype"], row["N"], row["D"])
            rows[key] = row
            copy[key] = result["copy_TBps"]
    return rows, copy


def pct(row, impl, direction):
    ms = row.get(f"{impl}_{direction}_ms")
    # bench_ops.py records a backward it could not time apart as 0.
    return None if not ms or ms <= 0 else 100.0 * row[f"floor_{direction}_ms"] / ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="+")
    ap.add_argument("--impl", default="attnres")
    ap.add_argument("--versus", default="triton")
    args = ap.parse_args()
    rows, copy = load(args.results)
    summary = []
    for dtype in sorted({k[0] for k in rows}):
        ns = sorted({k[1] for k in rows if k[0] == dtype})
        ds = sorted({k[2] for k in rows if k[0] == dtype})
        for direction in ("fwd", "bwd"):
            bandwidths = sorted({round(copy[k], 2) for k in rows
                                 if k[0] == dtype})
            print(f"{dtype} {direction} (copy "
                  + ", ".join(f"{b:.2f}" for b in bandwidths)
                  + f" TB/s): {args.impl} ({args.versus})\n")
            print("| N \\ D | " + " | ".join(str(d) for d in ds) + " |")
            print("| --- " * (len(ds) + 1) + "|")
            mine = []
            for n in ns:
                cells = []
                for d in ds:
                    row = rows.get((dtype, n, d))
                    a = pct(row, args.impl, direction) if row else None
                    b = pct(row, args.versus, direction) if row else None
                    if a is not None:
                        mine.append(a)
                    cells.append("" if a is None else f"{a:.0f}" + (
                        "" if b is None else f" ({b:.0f})"))
                print(f"| {n} | " + " | ".join(cells) + " |")
            print()
            if mine:
                summary.append((dtype, direction, min(mine),
                                statistics.median(mine), len(mine)))
    print("| dtype | direction | min | median | shapes |")
    print("| --- | --- | --- | --- | --- |")
    for dtype, direction, low, mid, count in summary:
        print(f"| {dtype} | {direction} | {low:.1f} | {mid:.1f} | {count} |")


if __name__ == "__main__":
    main()
