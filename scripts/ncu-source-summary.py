#!/usr/bin/env python3
"""Summarizes Nsight Compute's per-instruction (SASS) view of one kernel.

    ncu --set full -k regex:'attnres_bwd_n8_d4096_bf16$' -s 5 -c 1 -o rep \\
        .bundle/attnres-gpu-check DIR --tokens 64 --time
    ncu -i rep.ncu-rep --page source --print-source sass --csv > rep.csv
    scripts/ncu-source-summary.py rep.csv [other.csv ...]

Prints, per file: the warp-stall reasons over all samples, the global
memory instructions with the L2 sectors they asked for and how many of
those were excessive (more sectors than the accessed bytes need: a
misaligned or strided access), and the instructions with the most stall
samples. Comparing two kernels this way found the misaligned shared tile of
docs/PERFORMANCE.md v7.
"""

import argparse
import collections
import csv
import sys

SAMPLES = "Warp Stall Sampling (All Samples)"
SECTORS = "L2 Theoretical Sectors Global"
EXCESSIVE = "L2 Theoretical Sectors Global Excessive"


def number(text):
    try:
        return float(text.replace(",", ""))
    except (AttributeError, ValueError):
        return 0.0


def read(path):
    """The kernel name and one dict per SASS instruction, with its offset
    from the kernel's first instruction."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header_at = next((i for i, r in enumerate(rows) if r and r[0] == "Address"), None)
    if header_at is None:
        sys.exit(f"{path}: no 'Address' header; expected ncu --page source --csv output")
    name = rows[0][1] if header_at > 0 and len(rows[0]) > 1 else "?"
    header = rows[header_at]
    instructions = [dict(zip(header, r)) for r in rows[header_at + 1:]
                    if len(r) >= len(header) - 1]
    if not instructions:
        sys.exit(f"{path}: no instructions")
    base = int(instructions[0]["Address"], 16)
    for i in instructions:
        i["offset"] = int(i["Address"], 16) - base
    return name, header, instructions


def summarize(path, top):
    name, header, instructions = read(path)
    stalls = [h for h in header if h.startswith("stall_") and "Not Issued" not in h]
    totals = collections.Counter()
    for i in instructions:
        for s in stalls:
            totals[s] += number(i.get(s))
    samples = sum(totals.values()) or 1.0
    print(f"== {path}: {name}, {len(instructions)} instructions")
    print("stalls (% of samples): " + ", ".join(
        f"{s[len('stall_'):]} {100 * n / samples:.1f}" for s, n in totals.most_common(8)))

    memory = [i for i in instructions if number(i.get(SECTORS)) > 0]
    sectors = sum(number(i[SECTORS]) for i in memory)
    excessive = sum(number(i.get(EXCESSIVE)) for i in memory)
    print(f"L2 sectors (global): {sectors:,.0f}, excessive {excessive:,.0f} "
          f"({100 * excessive / (sectors or 1):.1f}%)")
    for i in memory:
        executed = number(i.get("Instructions Executed")) or 1.0
        print(f"  {i['offset']:#07x} {i['Source'].strip()[:58]:58s} "
              f"{number(i[SECTORS]) / executed:5.1f} sectors/instr, "
              f"excessive {number(i.get(EXCESSIVE)):,.0f}")

    print(f"top {top} by stall samples:")
    busiest = sorted(instructions, key=lambda i: -number(i.get(SAMPLES)))[:top]
    for i in sorted(busiest, key=lambda i: i["offset"]):
        reasons = sorted(((number(i.get(s)), s[len("stall_"):]) for s in stalls),
                         reverse=True)[:2]
        print(f"  {i['offset']:#07x} {number(i.get(SAMPLES)):7.0f} "
              f"{i['Source'].strip()[:58]:58s} "
              + ", ".join(f"{r} {n:.0f}" for n, r in reasons if n))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", nargs="+", help="ncu --page source --print-source sass --csv output")
    ap.add_argument("--top", type=int, default=20, help="instructions to list by stalls")
    args = ap.parse_args()
    for path in args.csv:
        summarize(path, args.top)


if __name__ == "__main__":
    main()
