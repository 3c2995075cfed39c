#!/bin/sh
# attnres-tune without timing anything: --help, --list, argument errors, a
# malformed --db (refused before any GPU work) and, where no GPU exists, the
# no-GPU exit code. Usage: tune_cli_test.sh path/to/attnres-tune
set -u
tune=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; cat "$tmp/out" "$tmp/err" 2>/dev/null; exit 1; }
run() { "$tune" "$@" >"$tmp/out" 2>"$tmp/err"; echo $?; }
# refused MESSAGE ARGS...: exit code 2 (bad arguments) with MESSAGE (a grep
# pattern) in the error.
refused() {
  msg=$1; shift
  [ "$(run "$@")" = 2 ] || fail "$*: expected exit code 2"
  grep -q -- "$msg" "$tmp/err" || fail "$*: no '$msg' in the error"
}

[ "$(run --help)" = 0 ] || fail "--help"
for word in --db --json --plot --set --tokens "Exit codes"; do
  grep -q -- "$word" "$tmp/out" || fail "--help does not mention $word"
done

[ "$(run --sources 2,8 --width 4096 --direction all --list)" = 0 ] || fail "--list"
[ "$(grep -c ' configs$' "$tmp/out")" = 4 ] || fail "--list: expected 4 specs"
grep -q '^  0 heuristic (threads=0 vector_bytes=16 resident=auto form=auto rows=0 stages=0 cluster=0 ctas_per_sm=0 grid=auto)$' "$tmp/out" \
  || fail "--list: the heuristic is not config 0"

refused "unknown dtype 'fp8'" --sources 8 --width 4096 --dtype fp8
refused "N (number of sources)" --sources 0 --width 4096
[ "$(run --width 4096)" = 2 ] || fail "missing --sources"
[ "$(run --sources 8 --width 4096 --set nothing=1)" = 2 ] || fail "bad --set"
[ "$(run --sources 8 --width 4096 --set threads=x)" = 2 ] || fail "bad --set value"
# Values the spec refuses leave nothing to time: an error naming why.
refused "attnres_bwd_n8_d4096_bf16: --set leaves no config to time (grid = tokens is a forward option" \
  --sources 8 --width 4096 --direction bwd --set grid=tokens
refused "ctas_per_sm must be 0 (one CTA's registers) or in \[1, 32\], got 33" \
  --sources 8 --width 4096 --set ctas_per_sm=33
[ "$(run --sources 8 --width 4096 --direction fwd --set grid=tokens --set ctas_per_sm=0,4 --list)" = 0 ] || fail "--set grid, ctas_per_sm"
grep -q "grid=tokens" "$tmp/out" || fail "--set grid=tokens: not in the sweep"

printf '{"format": "attnres-tuning-db", "version": 1, "entries": [' >"$tmp/bad.json"
[ "$(run --sources 8 --width 4096 --db "$tmp/bad.json")" = 1 ] || fail "malformed --db"
grep -q "$tmp/bad.json" "$tmp/err" || fail "malformed --db: file not named"
grep -q "not overwritten" "$tmp/err" || fail "malformed --db: message"

if ! ls /dev/nvidia0 >/dev/null 2>&1; then
  [ "$(run --sources 8 --width 4096 --tokens 64 --db "$tmp/new.json")" = 3 ] \
    || fail "no GPU: expected exit code 3"
  grep -q "no GPU" "$tmp/err" || fail "no GPU: message"
  [ ! -e "$tmp/new.json" ] || fail "no GPU: a database was written"
fi
echo "attnres-tune CLI: ok"
