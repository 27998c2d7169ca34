#!/usr/bin/env bash
# Run a command as the unprivileged test user `podpytest`, in the test environment.
#
#   tests/env/as-user.sh python -m pytest tests/integration/store -x
#   tests/env/as-user.sh podpy pull 127.0.0.1:5000/busybox:latest --tls-verify=false
#
# Sets HOME, USER, LOGNAME, XDG_RUNTIME_DIR=/run/user/UID (created when missing), PATH with the venv's bin
# first, PODPY_TESTENV=/opt/podpy-test/env.json, PYTHONPATH=the source tree (so `podpy` runs that tree's
# code whichever tree the venv's editable install points to); keeps TERM, LANG and every PODPY_*, PYTEST_* and CI
# variable. The working directory is the source tree: $PODPY_SRC, default the tree this script is in
# (/work/main for developers).
# Run it as root (or as podpytest itself). Exit status is the command's.
set -euo pipefail

TUSER=podpytest
TESTROOT=/opt/podpy-test
SRC=${PODPY_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

if [[ $# -eq 0 ]]; then
  set -- bash -l
fi
if ! uid=$(id -u "$TUSER" 2>/dev/null); then
  echo "as-user.sh: user $TUSER does not exist: run tests/env/setup.sh as root first" >&2
  exit 2
fi
home=$(getent passwd "$TUSER" | cut -d: -f6)
rundir=/run/user/$uid

if [[ $(id -u) -eq 0 ]]; then
  if [[ ! -d $rundir ]]; then
    install -d -m 0700 -o "$TUSER" -g "$TUSER" "$rundir"
  fi
elif [[ $(id -u) -ne $uid ]]; then
  echo "as-user.sh: run as root or as $TUSER (you are $(id -un))" >&2
  exit 2
fi

vars=(
  "HOME=$home" "USER=$TUSER" "LOGNAME=$TUSER" "SHELL=/bin/bash"
  "PATH=$TESTROOT/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  "XDG_RUNTIME_DIR=$rundir" "PODPY_TESTENV=${PODPY_TESTENV:-$TESTROOT/env.json}" "PODPY_SRC=$SRC"
  "PYTHONPATH=$SRC"
  "LANG=${LANG:-C.UTF-8}"
)
while IFS='=' read -r name _; do
  case $name in
    PODPY_TESTENV | PODPY_SRC) ;;
    PODPY_* | PYTEST_* | CI | TERM | COLUMNS | NO_COLOR) vars+=("$name=${!name}") ;;
  esac
done < <(env)

cd "$SRC"
if [[ $(id -u) -eq 0 ]]; then
  exec setpriv --reuid="$uid" --regid="$(id -g "$TUSER")" --init-groups \
    env -i "${vars[@]}" "$@"
fi
exec env -i "${vars[@]}" "$@"
