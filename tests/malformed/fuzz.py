#!/usr/bin/env python3
"""Random-mutation fuzzing of attnres-opt.

Takes .mlir files (or folders of them), strips comments, splits them at
`// -----`, mutates one case at a time (truncate, delete, duplicate, swap
numbers, change dimensions and element types, flip bytes, rename ops) with a
fixed seed, and runs attnres-opt on each mutant: parse and verify only, then
with --canonicalize. A mutant may be valid or invalid; the run fails only if
attnres-opt dies by a signal or hangs. Crashing inputs are kept for replay.
"""

import argparse
import concurrent.futures
import os
import random
import re
import subprocess
import sys
import tempfile

DIMS = ["0", "1", "2", "3", "7", "8", "64", "65", "4096", "16384", "16385",
        "?", "99999999999", "9223372036854775807"]
ELEMENT_TYPES = ["f32", "f16", "bf16", "f64", "i32", "i1", "f8E4M3FN",
                 "index", "complex<f32>"]
OPS = ["forward", "backward", "rms_rstd", "score", "depth_softmax", "mix",
       "mix_grad", "depth_softmax_grad", "score_grad", "rms_rstd_grad"]
ATTRS = ["{eps = 0.0 : f32}", "{eps = -1.0 : f32}", "{eps = 0x7FC00000 : f32}",
         "{num_valid = 0}", "{num_valid = 99}", "{num_valid = -5}",
         "{normalizer = #attnres.normalizer<sigmoid>}",
         "{norm_target = #attnres.norm_target<values>}", "{eps = 1.0 : f64}"]
NUMBER = re.compile(r"(?<![\w.])\d+(?![\w.])")
DIM = re.compile(r"(?<=[<x])(\?|\d+)(?=x)")
TYPE = re.compile(r"\b(bf16|f16|f32)\b")
OP = re.compile(r"attnres\.(" + "|".join(sorted(OPS, key=len, reverse=True)) + r")\b")


def load_cases(paths):
    """Every `// -----` case of every input, with its comment lines removed."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            files += sorted(os.path.join(path, f) for f in os.listdir(path)
                            if f.endswith(".mlir"))
        else:
            files.append(path)
    valid, invalid = [], []
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for case in re.split(r"^// -----$", text, flags=re.M):
            lines = [l for l in case.splitlines() if not l.lstrip().startswith("//")]
            body = "\n".join(lines).strip()
            if body:
                bucket = invalid if "expected-error" in case else valid
                bucket.append((os.path.basename(path), body + "\n"))
    return valid, invalid


def replace_match(rng, pattern, text, choices):
    matches = list(pattern.finditer(text))
    if not matches:
        return None
    m = rng.choice(matches)
    return text[:m.start()] + rng.choice(choices) + text[m.end():]


def mutate(rng, text):
    """One to three random edits of `text`; returns (text, names of edits)."""
    names = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        kind = rng.choice(["truncate", "delete", "duplicate", "swap-numbers",
                           "dim", "dim", "element-type", "flip-byte",
                           "swap-lines", "rename-op", "attribute"])
        n = len(text)
        new = None
        if kind == "truncate" and n > 1:
            new = text[:rng.randrange(1, n)]
        elif kind == "delete" and n > 1:
            start = rng.randrange(n)
            new = text[:start] + text[start + rng.randint(1, 24):]
        elif kind == "duplicate" and n > 1:
            start = rng.randrange(n)
            span = text[start:start + rng.randint(1, 80)]
            at = rng.randrange(n)
            new = text[:at] + span + text[at:]
        elif kind == "swap-numbers":
            numbers = list(NUMBER.finditer(text))
            if len(numbers) >= 2:
                a, b = sorted(rng.sample(numbers, 2), key=lambda m: m.start())
                new = (text[:a.start()] + b.group() + text[a.end():b.start()] +
                       a.group() + text[b.end():])
        elif kind == "dim":
            new = replace_match(rng, DIM, text, DIMS)
        elif kind == "element-type":
            new = replace_match(rng, TYPE, text, ELEMENT_TYPES)
        elif kind == "flip-byte" and n > 0:
            at = rng.randrange(n)
            new = text[:at] + chr(rng.randrange(32, 127)) + text[at + 1:]
        elif kind == "swap-lines":
            lines = text.split("\n")
            if len(lines) >= 2:
                i, j = rng.sample(range(len(lines)), 2)
                lines[i], lines[j] = lines[j], lines[i]
                new = "\n".join(lines)
        elif kind == "rename-op":
            new = replace_match(rng, OP, text, ["attnres." + op for op in OPS])
        elif kind == "attribute":
            # Insert an attribute dictionary right after an op's operands.
            m = [m for m in re.finditer(r"attnres\.\w+ [^:{\n]+", text)]
            if m:
                m = rng.choice(m)
                new = text[:m.end()] + rng.choice(ATTRS) + " " + text[m.end():]
        if new is not None:
            text = new
            names.append(kind)
    return text, names


def run_one(opt, path, args, timeout):
    """Returns (exit status, None) when attnres-opt exited normally, else
    (None, a failure text)."""
    try:
        proc = subprocess.run([opt, path, "-o", os.devnull] + args,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timed out after %d s" % timeout
    except OSError as error:
        return None, "could not run: %s" % error
    if proc.returncode < 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-8:]
        return None, ("killed by signal %d\n    " % -proc.returncode +
                      "\n    ".join(tail))
    return proc.returncode, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", help=".mlir files or folders")
    parser.add_argument("--opt", required=True, help="attnres-opt binary")
    parser.add_argument("--count", type=int, default=300, help="mutants")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=20, help="per run, s")
    parser.add_argument("--pass", dest="passes", action="append", default=[],
                        help="also run each mutant with this option "
                        "(repeatable), e.g. --pass=--attnres-decompose")
    parser.add_argument("--keep", help="folder for crashing inputs "
                        "(default: a fresh temporary folder)")
    args = parser.parse_args()

    valid, invalid = load_cases(args.inputs)
    if not valid and not invalid:
        sys.exit("fuzz: no input cases")
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="attnres-fuzz-")
    keep = args.keep or work
    os.makedirs(keep, exist_ok=True)

    mutants = []
    for i in range(args.count):
        # Mostly valid cases: their mutants get past the parser more often
        # and reach the verifiers and the canonicalizer.
        pool = valid if valid and (not invalid or rng.random() < 0.8) else invalid
        source, text = rng.choice(pool)
        text, edits = mutate(rng, text)
        path = os.path.join(work, "mutant-%04d.mlir" % i)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        mutants.append((path, source, edits))

    pipelines = [[], ["--canonicalize"]] + [[p] for p in args.passes]
    jobs = [(m, p) for m in mutants for p in pipelines]
    failures = []
    accepted = 0
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        results = pool.map(lambda job: run_one(args.opt, job[0][0], job[1],
                                               args.timeout), jobs)
        for ((path, source, edits), pipeline), (status, failure) in zip(
                jobs, results):
            if failure is None:
                accepted += status == 0
                continue
            kept = os.path.join(keep, os.path.basename(path))
            if kept != path:
                with open(path, encoding="utf-8") as src, \
                        open(kept, "w", encoding="utf-8") as dst:
                    dst.write(src.read())
            failures.append("%s (from %s, %s) %s: %s" % (
                kept, source, "+".join(edits), " ".join(pipeline) or "parse",
                failure))

    for failure in failures[:20]:
        print("FAIL", failure)
    if len(failures) > 20:
        print("... and %d more" % (len(failures) - 20))
    print("fuzz: %d mutants of %d cases, %d runs (%d accepted), "
          "%d crashes, hangs or failed starts"
          % (len(mutants), len(valid) + len(invalid), len(jobs), accepted,
             len(failures)))
    if not failures and not args.keep:
        for path, _, _ in mutants:
            os.remove(path)
        os.rmdir(work)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
