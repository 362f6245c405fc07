#!/usr/bin/env bash
# CPU test of e2e/gpu/tools/exptrace.c against a stand-in libcuda (no GPU needed):
#   e2e/gpu/tools/exptrace_test/test.sh LIBEXPTRACE.so
set -euo pipefail
lib=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
cc=${CC:-cc}
"$cc" -shared -fPIC -o "$w/libcuda.so.1" "$here/fakecuda.c"
"$cc" -o "$w/client" "$here/client.c" -ldl
want="size 32 slot1 rc 0 out 1236 slot3 21 slot2 0"
fails=0
check() {  # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then echo "PASS exptrace: $name"; else echo "FAIL exptrace: $name"; fails=$((fails + 1)); fi
}
for mode in plain symbolic; do
  [ $mode = symbolic ] && "$cc" -shared -fPIC -Wl,-Bsymbolic -o "$w/libcuda.so.1" "$here/fakecuda.c"
  LD_LIBRARY_PATH="$w" LD_PRELOAD="$lib" EXPTRACE_UUIDS=21318c60,c693 "$w/client" >"$w/out" 2>"$w/err" || true
  check "$mode: program output unchanged" grep -qx "$want" "$w/out"
  check "$mode: 6 arguments forwarded, return value logged" grep -q '^exptrace 21318c60 slot 3 args 1 2 3 4 5 6 -> 15 caller client$' "$w/err"
  check "$mode: pointer argument bytes after the call" grep -q '^exptrace 21318c60 slot 1 args .* -> 0 \[a0: 36 12 00 00 ' "$w/err"
  check "$mode: table without a size word" grep -q '^exptrace c693336e slot 2 args .* 0 55 .* -> 0 \[a0: 55 00' "$w/err"
  check "$mode: NULL slot left alone" grep -q 'slot2 0$' "$w/out"
done
LD_LIBRARY_PATH="$w" LD_PRELOAD="$lib" "$w/client" >"$w/out" 2>"$w/err" || true
check "default selection traces 21318c60 only" bash -c "grep -q '^exptrace 21318c60 slot 3' '$w/err' && ! grep -q '^exptrace c693336e slot' '$w/err'"
LD_LIBRARY_PATH="$w" LD_PRELOAD="$lib" EXPTRACE_UUIDS=6e163fbe EXPTRACE_CALLBACKS=1 EXPTRACE_FUNCS=cuMemAlloc,cuFuncGetName \
  "$w/client" >"$w/out" 2>"$w/err" || true
check "callbacks: program output unchanged" grep -qx "iter 1 got 0x77 name k42" "$w/out"
check "callbacks: the slot's callback is logged with its arguments" grep -q '^exptrace callback 0 args [0-9a-f]* 77 ' "$w/err"
check "callbacks: the slot's call logged after the callback" grep -q '^exptrace 6e163fbe slot 0 args .* -> 1 .*caller client$' "$w/err"
check "named functions: arguments, result and bytes logged" grep -q '^exptrace fn cuFuncGetName args [0-9a-f]* 42 .* -> 0 \[a0: ' "$w/err"
[ $fails = 0 ] || { echo "-- stderr:"; cat "$w/err"; exit 1; }
