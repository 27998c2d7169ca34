#!/usr/bin/env bash
# Set up the podpy test environment on this machine. Run as root.
#
# Idempotent and fast when already done: every step checks before it acts, so CI and developers
# simply rerun it. It installs the Debian packages, creates the unprivileged user `podpytest` with
# subuid/subgid ranges, makes /dev/net/tun usable, builds the venv /opt/podpy-test/venv with podpy
# installed editable (a plain .pth path entry, no import hook) from the source tree, starts the loopback registries and the token issuer,
# builds + pushes the test images and writes /opt/podpy-test/env.json (see tests/env/README.md).
#
# Usage: tests/env/setup.sh [--base | --no-images]
#        --base: packages, user, tun, venv only; --no-images: also the registries, but no image build/push
# Env:   PODPY_SRC  source tree to install (default: the tree this script is in)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=${PODPY_SRC:-$(cd "$HERE/../.." && pwd)}
TESTROOT=/opt/podpy-test
VENV=$TESTROOT/venv
TUSER=podpytest
REGDIR=$TESTROOT/registries
# With their recommends, as on the development machines (e.g. podman's dbus-user-session).
PACKAGES=(uidmap slirp4netns passt fuse-overlayfs docker-registry busybox-static apache2-utils podman skopeo
  runc crun conmon catatonit buildah containernetworking-plugins python3-venv python3-pip iproute2 curl
  ca-certificates util-linux systemd iptables zsh fish)

log() { echo "[setup] $*" >&2; }
die() { echo "[setup] ERROR: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (e.g. sudo $0)"

step_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # On a machine run by systemd the package's own registry service takes port 5000: ours needs it.
  if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
    log "stopping the system docker-registry service (it holds port 5000)"
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
}

# Print "START COUNT" of the first free 65536-wide range after every range in /etc/sub{u,g}id.
next_free_range() {
  awk -F: 'BEGIN { end = 100000 } NF == 3 && $2 + $3 > end { end = $2 + $3 } END { print end, 65536 }' "$1"
}

step_user() {
  if ! id "$TUSER" >/dev/null 2>&1; then
    log "creating user $TUSER"
    useradd -m -s /bin/bash "$TUSER"
  fi
  local f flag start count
  for f in /etc/subuid /etc/subgid; do
    touch "$f"
    if ! grep -q "^$TUSER:[0-9]*:[0-9]*$" "$f"; then
      read -r start count < <(next_free_range "$f")
      flag=--add-subuids; [[ $f == /etc/subgid ]] && flag=--add-subgids
      log "adding $f range $start-$((start + count - 1)) for $TUSER"
      usermod "$flag" "$start-$((start + count - 1))" "$TUSER"
    fi
  done
  local uid
  uid=$(id -u "$TUSER")
  install -d -m 0700 -o "$TUSER" -g "$TUSER" "/run/user/$uid"
  chmod 0700 "/run/user/$uid"
}

# Podman (the reference peer of the interop tests) as podpytest: native overlay like the benchmark figures,
# and runc, because crun refuses this machine's hybrid cgroups. Written once; a user's edits are kept.
step_podman_config() {
  local home cfg
  home=$(getent passwd "$TUSER" | cut -d: -f6)
  cfg=$home/.config/containers
  install -d -m 0755 -o "$TUSER" -g "$TUSER" "$home/.config" "$cfg"
  if [[ ! -e $cfg/storage.conf ]]; then
    printf '# written by podpy tests/env/setup.sh\n[storage]\ndriver = "overlay"\n' >"$cfg/storage.conf"
    chown "$TUSER:$TUSER" "$cfg/storage.conf"
    # Storage made with another driver must go before podman can use overlay.
    if [[ -d $home/.local/share/containers/storage/vfs ]]; then
      (cd / && setpriv --reuid="$TUSER" --regid="$TUSER" --init-groups env -i HOME="$home" \
        XDG_RUNTIME_DIR="/run/user/$(id -u "$TUSER")" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        podman system reset -f >/dev/null 2>&1) || true
    fi
  fi
  if [[ ! -e $cfg/containers.conf ]]; then
    printf '# written by podpy tests/env/setup.sh\n[engine]\nruntime = "runc"\n' >"$cfg/containers.conf"
    chown "$TUSER:$TUSER" "$cfg/containers.conf"
  fi
}

step_tun() {
  if [[ ! -e /dev/net/tun ]]; then
    mkdir -p /dev/net && mknod /dev/net/tun c 10 200
  fi
  chmod 666 /dev/net/tun
  # fuse-overlayfs (the rootfs fallback when kernel overlay is not usable) needs /dev/fuse for users.
  if [[ -e /dev/fuse ]]; then chmod 666 /dev/fuse; fi
}

step_venv() {
  install -d -m 0755 "$TESTROOT"
  [[ -r $SRC/pyproject.toml ]] || die "no pyproject.toml in $SRC"
  if ! runuser -u "$TUSER" -- test -r "$SRC/pyproject.toml"; then
    die "$SRC is not readable by $TUSER: copy it somewhere readable (scripts/test.sh does) and set PODPY_SRC"
  fi
  if [[ ! -x $VENV/bin/python ]]; then
    log "creating venv $VENV"
    /usr/bin/python3 -m venv "$VENV"
  fi
  local stamp want
  stamp=$VENV/.podpy-install
  want="$SRC $(sha256sum "$SRC/pyproject.toml" | cut -d' ' -f1) compat"
  if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]] || ! "$VENV/bin/python" -c 'import podpy' 2>/dev/null; then
    log "installing podpy (editable) and test deps from $SRC into $VENV"
    local had_egg=0
    [[ -e $SRC/podpy.egg-info ]] && had_egg=1
    # editable_mode=compat: a .pth line with the tree's path. The default (strict) mode installs an
    # import-hook finder that every podpy start pays for (~7 ms of `site`, see issue 3's benchmark).
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$SRC[test]" \
      --config-settings editable_mode=compat \
      2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
    # The build metadata pip leaves in the tree is not needed by the editable install.
    ((had_egg)) || rm -rf "$SRC/podpy.egg-info"
    echo "$want" >"$stamp"
    chmod -R a+rX "$VENV"
  fi
  # Byte-compile the tree: the test user cannot write __pycache__ in a root-owned tree, and without cached
  # bytecode every podpy invocation recompiles what it imports (start-up time and benchmarks suffer).
  "$VENV/bin/python" -m compileall -q "$SRC/podpy" >/dev/null || true
  chmod -R a+rX "$SRC/podpy" 2>/dev/null || true
}

# --- registries -----------------------------------------------------------------------------------

http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true; }

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Start CMD... as $TUSER in the background unless PIDFILE names a live process; wait until URL answers.
start_daemon() {
  local name=$1 pidfile=$2 url=$3; shift 3
  if pid_alive "$pidfile" && [[ $(http_code "$url") != 000 ]]; then
    return 0
  fi
  if pid_alive "$pidfile"; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    sleep 0.3
  elif [[ $(http_code "$url") != 000 ]]; then
    die "$name: something else already answers on $url (find it with: ss -ltnp); stop it and rerun"
  fi
  log "starting $name"
  (cd / && exec 9>&- && exec setsid setpriv --reuid="$TUSER" --regid="$TUSER" --init-groups \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/nonexistent "$@" >>"$REGDIR/$name.log" 2>&1 </dev/null) &
  echo $! >"$pidfile"
  local i
  for i in $(seq 1 100); do
    [[ $(http_code "$url") != 000 ]] && return 0
    pid_alive "$pidfile" || break
    sleep 0.1
  done
  tail -n 20 "$REGDIR/$name.log" >&2 || true
  die "$name did not come up on $url (log: $REGDIR/$name.log)"
}

write_registry_config() {
  local name=$1 port=$2 auth=$3
  install -d -m 0755 -o "$TUSER" -g "$TUSER" "$REGDIR/$name" "$REGDIR/$name/data"
  cat >"$REGDIR/$name/config.yml.new" <<YML
version: 0.1
log:
  level: info
  fields:
    service: podpy-test-$name
storage:
  filesystem:
    rootdirectory: $REGDIR/$name/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$port
  secret: podpy-test-secret-$name
  headers:
    X-Content-Type-Options: [nosniff]
$auth
YML
  # A changed config means a restart.
  if ! cmp -s "$REGDIR/$name/config.yml.new" "$REGDIR/$name/config.yml"; then
    mv "$REGDIR/$name/config.yml.new" "$REGDIR/$name/config.yml"
    if pid_alive "$REGDIR/$name.pid"; then kill "$(cat "$REGDIR/$name.pid")"; sleep 0.3; fi
  else
    rm -f "$REGDIR/$name/config.yml.new"
  fi
}

step_token_keys() {
  local d=$REGDIR/token
  install -d -m 0755 "$d"
  if [[ ! -s $d/key.pem || ! -s $d/cert.pem ]]; then
    log "generating the token signing key and certificate"
    "$VENV/bin/python" "$HERE/token_issuer.py" --generate-key "$d/key.pem" --cert "$d/cert.pem"
  fi
  chmod 0644 "$d/key.pem" "$d/cert.pem"
}

step_registries() {
  install -d -m 0755 "$REGDIR"
  local htp=$REGDIR/basic/htpasswd
  write_registry_config open 5000 ""
  write_registry_config basic 5001 "auth:
  htpasswd:
    realm: podpy-test
    path: $htp"
  if [[ ! -s $htp ]] || ! htpasswd -vb "$htp" testuser testpass >/dev/null 2>&1; then
    htpasswd -Bbn testuser testpass >"$htp"
    chmod 0644 "$htp"
  fi
  step_token_keys
  write_registry_config token 5002 "auth:
  token:
    realm: http://127.0.0.1:5003/token
    service: podpy-test-registry
    issuer: podpy-test-issuer
    rootcertbundle: $REGDIR/token/cert.pem"
  local name
  for name in open basic token; do
    start_daemon "$name" "$REGDIR/$name.pid" "http://127.0.0.1:$(awk '/addr:/ {split($2, a, ":"); print a[2]}' \
      "$REGDIR/$name/config.yml")/v2/" docker-registry serve "$REGDIR/$name/config.yml"
  done
  # The tests start their own issuer (tests/conftest.py) and reuse this one when it is running.
  start_daemon token-issuer "$REGDIR/token-issuer.pid" http://127.0.0.1:5003/stats \
    "$VENV/bin/python" "$HERE/token_issuer.py" --port 5003 --key "$REGDIR/token/key.pem" \
    --cert "$REGDIR/token/cert.pem"
}

step_images() {
  "$VENV/bin/python" "$HERE/build_images.py" --out "$TESTROOT"
  chmod -R a+rX "$TESTROOT/images"
}

main() {
  local t0=$SECONDS
  # One setup at a time (several developers or test runs may call it at once).
  install -d -m 0755 "$TESTROOT"
  exec 9>"$TESTROOT/.setup.lock"
  flock 9
  step_packages
  step_user
  step_podman_config
  step_tun
  step_venv
  if [[ ${1:-} != --base ]]; then
    step_registries
    [[ ${1:-} == --no-images ]] || step_images
  fi
  log "ready in $((SECONDS - t0))s: env $TESTROOT/env.json, user $TUSER, venv $VENV"
}

main "$@"
