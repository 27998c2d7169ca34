#!/usr/bin/env bash
# podpy in one command: set up a rootless machine, then pull and run an image as an unprivileged user.
#
# Run as root, or as a user who has sudo:   bash scripts/demo.sh
# What it does (every step says so as it goes):
#   1. installs what rootless containers need (uidmap, slirp4netns/passt, fuse-overlayfs, ...), creates the
#      unprivileged user `podpytest` with subuid/subgid ranges, makes /dev/net/tun usable, builds the venv
#      /opt/podpy-test/venv with podpy in it                                  (tests/env/setup.sh)
#   2. starts a local registry on 127.0.0.1:5000 (this machine has no internet) and pushes a small busybox
#      image into it, built offline from busybox-static                         (tests/env/setup.sh)
#   3. as `podpytest`: podpy pull, podpy images, podpy run --rm ... echo hello from podpy
set -euo pipefail

TREE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=127.0.0.1:5000/busybox:latest

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    echo "demo: setting up needs root; re-running through sudo: sudo bash $0"
    exec sudo bash "$0" "$@"
  fi
  echo "demo: setting up needs root: run it as root (su -c 'bash $TREE/scripts/demo.sh')" >&2
  exit 2
fi

say() { if [[ -t 1 ]]; then printf '\n\033[1m==> %s\033[0m\n' "$*"; else printf '\n==> %s\n' "$*"; fi; }

say "1-2/3 prerequisites, unprivileged user 'podpytest', local registry 127.0.0.1:5000, busybox image (as root)"
PODPY_SRC=$TREE bash "$TREE/tests/env/setup.sh"

as_user() { PODPY_SRC=$TREE bash "$TREE/tests/env/as-user.sh" "$@"; }

say "3/3 podpy as the unprivileged user 'podpytest' (uid $(id -u podpytest)): no root, no daemon"
status=0
demo() {
  echo "+ podpy $*"
  as_user podpy "$@" || { echo "demo: 'podpy $*' failed (exit $?)" >&2; status=1; }
}
demo pull --tls-verify=false "$IMAGE"
demo images
demo run --rm "$IMAGE" echo hello from podpy

if ((status)); then
  say "demo finished with errors (see above)"
else
  say "demo finished: try it yourself with  bash $TREE/tests/env/as-user.sh podpy images"
fi
exit "$status"
