# tests/lib.sh — what the shell test scripts share (sourced, not run):
#   check DESC COMMAND...        COMMAND must succeed
#   same DESC WANT_FILE COMMAND...  COMMAND's stdout and stderr must equal the file
# Each counts into $passed / $failed and prints "FAIL DESC" (and a diff).
passed=0
failed=0
check() {
  local what=$1
  shift
  if "$@"; then passed=$((passed + 1)); else
    failed=$((failed + 1))
    echo "FAIL $what"
  fi
}
same() {
  local what=$1 want=$2 got
  shift 2
  got=$("$@" 2>&1)
  if [ "$got" = "$(cat "$want")" ]; then passed=$((passed + 1)); else
    failed=$((failed + 1))
    echo "FAIL $what"
    diff <(echo "$got") "$want" | head -20
  fi
}
