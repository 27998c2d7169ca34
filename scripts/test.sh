#!/usr/bin/env bash
# The podpy test command (README and CI): run as root, e.g. `sudo bash scripts/test.sh`.
#
# 1. sets up the test environment (tests/env/setup.sh: packages, user podpytest, registries, images);
# 2. ruff check + lint-imports (the layer contract) from the test venv;
# 3. unit tests (python -m pytest tests/unit);
# 4. integration + system tests AS THE UNPRIVILEGED USER with PODPY_REQUIRE_TESTENV=1, so a rootless test
#    that cannot run fails instead of skipping.
# Every step runs; the exit status is non-zero when any failed. pytest's "no tests collected" (5) counts as
# success for a directory with no tests yet. Extra arguments go to pytest: options (-x, -k EXPR) to both
# runs; test paths (tests/unit/..., tests/integration/..., tests/system/...) select which run gets them.
set -uo pipefail

TREE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TESTROOT=/opt/podpy-test
VENV=$TESTROOT/venv
TUSER=podpytest

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    echo "scripts/test.sh sets up the test environment (packages, test user, registries) and must run as root: sudo bash scripts/test.sh${*:+ $*}" >&2
  else
    echo "scripts/test.sh sets up the test environment (packages, test user, registries) and must run as root: su -c 'bash $TREE/scripts/test.sh${*:+ $*}'" >&2
  fi
  exit 2
fi

t_start=$SECONDS
failed=()
summary=()

# Run one named step; record its status and duration. Pytest's 5 (no tests collected) is success.
step() {
  local name=$1 t0=$SECONDS rc; shift
  echo "==> $name"
  "$@"
  rc=$?
  [[ $rc -eq 5 && $name == *tests* ]] && { echo "    (no tests collected: ok)"; rc=0; }
  summary+=("$(printf '%-44s %s %4ss' "$name" "$([[ $rc -eq 0 ]] && echo ok || echo "FAILED($rc)")" $((SECONDS - t0)))")
  [[ $rc -eq 0 ]] || failed+=("$name")
  return "$rc"
}

# The unprivileged user must be able to read the tree (a clone under /root is not): test a copy then.
SRC=$TREE
if ! setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$TREE/pyproject.toml" 2>/dev/null ||
  ! setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$TREE/tests" 2>/dev/null; then
  SRC=$TESTROOT/src
  echo "==> $TREE is not readable by an unprivileged user: testing a copy in $SRC"
  rm -rf "$SRC" && mkdir -p "$TESTROOT" && cp -a "$TREE" "$SRC" || exit 1
  chmod -R a+rX "$SRC"
fi
export PODPY_SRC=$SRC

step "setup (tests/env/setup.sh)" bash "$SRC/tests/env/setup.sh" || {
  echo "test environment setup failed: nothing else can run" >&2
  exit 1
}
[[ $SRC == "$TESTROOT/src" ]] && chown -R "$TUSER:$TUSER" "$SRC"
cd "$SRC" || exit 1

# Split pytest arguments: options go to both runs, paths to the run they belong to.
opts=() unit_paths=() user_paths=()
for a in "$@"; do
  case $a in
    tests/unit | tests/unit/*) unit_paths+=("$a") ;;
    tests/integration | tests/integration/* | tests/system | tests/system/*) user_paths+=("$a") ;;
    *) opts+=("$a") ;;
  esac
done
run_unit=1 run_user=1
if ((${#unit_paths[@]} + ${#user_paths[@]})); then
  ((${#unit_paths[@]})) || run_unit=0
  ((${#user_paths[@]})) || run_user=0
fi
((${#unit_paths[@]})) || unit_paths=(tests/unit)
((${#user_paths[@]})) || user_paths=(tests/integration tests/system)

step "ruff check" "$VENV/bin/ruff" check --no-cache .
step "lint-imports (layers)" "$VENV/bin/lint-imports" --no-cache
if ((run_unit)); then
  step "unit tests (root)" env -u PODPY_TESTENV -u PODPY_REQUIRE_TESTENV "$VENV/bin/python" -m pytest \
    "${unit_paths[@]}" "${opts[@]}"
fi
if ((run_user)); then
  step "integration + system tests (as $TUSER)" env PODPY_REQUIRE_TESTENV=1 bash "$SRC/tests/env/as-user.sh" \
    python -m pytest "${user_paths[@]}" "${opts[@]}"
fi

echo
echo "==> summary ($((SECONDS - t_start))s in all)"
printf '    %s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all steps passed"
