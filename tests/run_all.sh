#!/usr/bin/env bash
# Runs every part of the test suite and ends with one line "N passed, N failed"
# (exit 1 on any failure). Each part prints its own "part: N passed, N failed"
# line; a part that crashes or prints no such line counts as one failure.
#   RUNNER, STATIC, RACE  binaries to use (make asan swaps in sanitized ones)
#   MATRIX=dir            also run sql, static, race, crash with dir/'s
#                         binaries (built on the newest SQLite amalgamation)
#   EXAMPLES=1            also run the examples and the browser test
#   SKIP_PY=1             skip the parts that load the .so into another program
#   VALGRIND="valgrind …"  run the C parts under it (make valgrind)
#   FAULTS, FAULTS_MAX    the fault-injection binary, and how many fault points
#                         of each call it tries (make faults tries them all)
#   MODEL_EXAMPLES, MODEL_STEPS  the fixed-seed model run's size
set -u
cd "$(dirname "$0")/.."
RUNNER=${RUNNER:-dist/runner}
STATIC=${STATIC:-dist/test_static}
RACE=${RACE:-dist/race}
CRASH=${CRASH:-dist/crash}
FAULTS=${FAULTS:-dist/faults}
EXT_ARGS=()
[ "$RUNNER" = dist/runner ] && EXT_ARGS=(--ext dist/entitlements.so)
mkdir -p dist/test-tmp
passed=0
failed=0

part() { # name, command...
  local name=$1 out rc line p f
  shift
  out=$("$@" 2>&1)
  rc=$?
  line=$(printf '%s\n' "$out" | grep -E '^[a-z_]+: [0-9]+ passed, [0-9]+ failed$' | tail -n 1)
  printf '%s\n' "$out" | grep -v -E '^[a-z_]+: [0-9]+ passed, [0-9]+ failed$'
  if [ -z "$line" ]; then
    echo "FAIL $name: exited $rc without a summary line"
    failed=$((failed + 1))
    return
  fi
  echo "$line"
  p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
  f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $name: exited $rc"
    f=1
  fi
  passed=$((passed + p))
  failed=$((failed + f))
}

V=${VALGRIND:-}
part sql $V "$RUNNER" "${EXT_ARGS[@]}" tests/sql/*.test
# The same cases with the memo off (memo.c): both ways give the same answers.
ENT_TEST_MEMO=0 part sql_nomemo $V "$RUNNER" "${EXT_ARGS[@]}" tests/sql/*.test
part static $V "$STATIC"
part race $V "$RACE" "${EXT_ARGS[@]}"
[ -z "$V" ] && part crash "$CRASH" "${EXT_ARGS[@]}" # SIGKILLs; not under valgrind
# Out-of-memory and I/O-error sweeps (bounded here; make faults runs them all).
# Under valgrind they would take hours: skipped there.
[ -z "$V" ] && part faults "$FAULTS" --oom --io --max "${FAULTS_MAX:-400}"
# The version matrix (make test): the same parts on the newest SQLite.
if [ -n "${MATRIX:-}" ]; then
  M=$MATRIX
  part sql "$M/runner" --ext dist/entitlements.so tests/sql/*.test
  part static "$M/test_static"
  part race "$M/race" --ext dist/entitlements.so
  part crash "$M/crash" --ext dist/entitlements.so
  part old_sqlite "$M/old_sqlite" --ext dist/entitlements.so
fi
if [ -z "${SKIP_PY:-}" ]; then
  # The reference model on a fixed set of random sequences.
  part model /usr/bin/python3 tests/model/test_model.py --examples "${MODEL_EXAMPLES:-60}" \
    --steps "${MODEL_STEPS:-30}"
  MODEL_MEMO=0 part model_nomemo /usr/bin/python3 tests/model/test_model.py --examples 20 --steps 30
  part python /usr/bin/python3 tests/test_python.py
  part readme /usr/bin/python3 tests/test_readme.py
  part plansets /usr/bin/python3 tests/test_plansets.py
  part shell bash tests/test_shell.sh
fi
# Every other way users load it (make test): Node, Tcl, the embedded C
# program, make install, and the web app in headless Chromium.
if [ -n "${EXAMPLES:-}" ]; then
  part examples bash tests/test_examples.sh
  part wheel bash tests/test_wheel.sh
  part npm bash tests/test_npm.sh
  part webapp node tests/e2e/webapp.test.mjs
  part browser node tests/e2e/browser.test.mjs
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
