#!/usr/bin/env bash
# A Docker engine that is, to flatlab, on another machine: a dockerd in network, PID,
# mount and UTS namespaces of its own (its own hostname), with its own /run, /tmp, /dev/shm and /proc (so nothing of
# this machine's runtime directory, its /run/netns or its processes is visible to it or to
# its containers), reachable only over tcp:// with TLS across an underlay link:
#
#   flatlab-remote-N-ul (netns)            flatlab-remote-N (netns, "machine R")
#     ul 10.251.0.1/24  ===== veth =====  ul 10.251.0.2/24   dockerd (own PID and mount namespaces)
#     (where flatlab runs to reach R,      tcp://10.251.0.2:2376 --tlsverify
#      and where its VXLAN meets R's)
#
# Nothing is added to the machine's root namespace. Run flatlab in the underlay namespace
# (nsenter --net=/run/netns/flatlab-remote-N-ul) with DOCKER_TLS_VERIFY=1 and
# DOCKER_CERT_PATH=$(scripts/remote-engine.sh certs), as on a machine whose network reaches R.
#
#   scripts/remote-engine.sh start [--name N] [--mtu M]   prints the engine's URL once it answers
#   scripts/remote-engine.sh stop [--name N]              stops it and removes all of it
#   scripts/remote-engine.sh url [--name N]               prints the URL when it runs (exit 1 otherwise)
#   scripts/remote-engine.sh certs [--name N]             prints the client certificates' folder
#   scripts/remote-engine.sh underlay [--name N]          prints the underlay namespace
#   scripts/remote-engine.sh ssh-url [--name N]           prints ssh://root@ADDRESS when R runs an sshd (exit 1 otherwise)
#   scripts/remote-engine.sh ssh-home [--name N]          prints a HOME whose .ssh holds a key R accepts and R's host key
#
# When openssh-server is installed, R also runs an sshd (its own host key; only the key in
# ssh-home's .ssh/id_ed25519 may log in), so the same engine is reachable as ssh://root@ADDRESS
# the way the docker CLI reaches one: `docker system dial-stdio` run there over ssh. Run
# flatlab with HOME=$(scripts/remote-engine.sh ssh-home) for its known_hosts and identity.
#
# --mtu: the underlay link's MTU (default 1550: the fabric keeps 1500 bytes over VXLAN's 50;
# a smaller one is the "underlay MTU too small" case). Instances are named by their caller
# (--name, a lowercase letter then up to 7 letters or digits; default r); `stop` removes
# only its own.
set -euo pipefail

cmd=${1:-}
shift || true
NAME=r
MTU=1550
while [ $# -gt 0 ]; do
  case "$1" in
    --name) NAME=${2:-}; shift 2 || { echo "remote-engine: --name needs a value" >&2; exit 2; } ;;
    --name=*) NAME=${1#--name=}; shift ;;
    --mtu) MTU=${2:-}; shift 2 || { echo "remote-engine: --mtu needs a value" >&2; exit 2; } ;;
    --mtu=*) MTU=${1#--mtu=}; shift ;;
    *) echo "remote-engine: unknown argument \"$1\" (usage: $0 start|stop|url|certs|underlay|ssh-url|ssh-home [--name N] [--mtu M])" >&2; exit 2 ;;
  esac
done
[[ "$NAME" =~ ^[a-z][a-z0-9]{0,7}$ ]] || { echo "remote-engine: --name \"$NAME\": a lowercase letter then up to 7 lowercase letters or digits" >&2; exit 2; }
[[ "$MTU" =~ ^[0-9]+$ ]] && [ "$MTU" -ge 1280 ] && [ "$MTU" -le 9000 ] || { echo "remote-engine: --mtu \"$MTU\": a number from 1280 to 9000" >&2; exit 2; }

NS_R=flatlab-remote-$NAME
NS_U=flatlab-remote-$NAME-ul
# the host's side of the remote machine: its disk (data root) and the certificates; its
# /run, /tmp and /dev/shm are tmpfs of its own mount namespace
DATA=/var/lib/flatlab-remote-$NAME
TLS=$DATA-tls
PIDFILE=$DATA-tls/unshare.pid
ADDR=10.251.0.2
URL=tcp://$ADDR:2376

have_ns() { [ -e "/run/netns/$1" ]; }

answers() {
  nsenter --net="/run/netns/$NS_U" docker -H "$URL" --tlsverify --tlscacert "$TLS/ca.pem" --tlscert "$TLS/cert.pem" --tlskey "$TLS/key.pem" \
    version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# the host PID of `unshare`, whose child is the remote machine's PID 1 (dockerd)
running_pid() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = unshare ] && echo "$pid"
}

make_certs() {
  mkdir -p "$TLS"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$NS_R-ca" -keyout "$TLS/ca-key.pem" -out "$TLS/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$NS_R" -keyout "$TLS/server-key.pem" -out "$TLS/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$ADDR" >"$TLS/server.ext"
  openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca-key.pem" -CAcreateserial -days 2 -extfile "$TLS/server.ext" -out "$TLS/server-cert.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=flatlab -keyout "$TLS/key.pem" -out "$TLS/client.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >"$TLS/client.ext"
  openssl x509 -req -in "$TLS/client.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca-key.pem" -CAcreateserial -days 2 -extfile "$TLS/client.ext" -out "$TLS/cert.pem" 2>/dev/null
  chmod 0600 "$TLS"/*key.pem
}

# R's PID 1 (dockerd), the child of `unshare`
r_init() {
  local pid
  pid=$(running_pid) || return 1
  awk '{print $1}' "/proc/$pid/task/$pid/children" 2>/dev/null
}

ssh_listens() { nsenter --net="/run/netns/$NS_R" ss -Hltn "sport = :22" 2>/dev/null | grep -q .; }

# an sshd in all of R's namespaces (its /run, its PIDs: it ends with R), only for the key made here
start_sshd() {
  [ -x /usr/sbin/sshd ] || return 0
  ssh_listens && return 0
  local S=$TLS/ssh init
  mkdir -p "$S" "$S/home/.ssh"
  [ -s "$S/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$S/host_ed25519"
  [ -s "$S/home/.ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C flatlab-test -f "$S/home/.ssh/id_ed25519"
  cp "$S/home/.ssh/id_ed25519.pub" "$S/authorized_keys"
  printf '%s %s\n' "$ADDR" "$(cut -d' ' -f1,2 "$S/host_ed25519.pub")" >"$S/home/.ssh/known_hosts"
  chmod 0700 "$S/home/.ssh"
  printf '%s\n' "ListenAddress $ADDR" 'Port 22' "HostKey $S/host_ed25519" "AuthorizedKeysFile $S/authorized_keys" \
    'PermitRootLogin prohibit-password' 'PasswordAuthentication no' 'KbdInteractiveAuthentication no' 'UsePAM no' \
    'StrictModes no' 'PidFile /run/sshd.pid' >"$S/sshd_config"
  init=$(r_init) || return 1
  setsid nsenter -t "$init" --net --mount --pid --uts -- sh -c 'mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e -f "$0"' "$S/sshd_config" \
    >"$S/sshd.log" 2>&1 </dev/null &
  # its own readiness (the port listening in R), not a fixed time; 10 s at most
  for _ in $(seq 1 100); do ssh_listens && return 0; sleep 0.1; done
  echo "remote-engine: sshd did not listen in $NS_R within 10 s; its log: $S/sshd.log" >&2
  tail -5 "$S/sshd.log" >&2 || true
  return 1
}

start() {
  if running_pid >/dev/null && answers; then start_sshd || echo "remote-engine: R runs, but without its sshd (see above)" >&2; echo "$URL"; return 0; fi
  command -v dockerd >/dev/null || { echo "remote-engine: dockerd is not installed (apt-get install docker.io)" >&2; exit 2; }
  mkdir -p "$DATA"
  have_ns "$NS_U" || ip netns add "$NS_U"
  have_ns "$NS_R" || ip netns add "$NS_R"
  if ! ip -n "$NS_U" link show ul >/dev/null 2>&1; then
    # the veth is created inside the underlay namespace with its peer in R's: never in the root namespace
    ip -n "$NS_U" link add name ul mtu "$MTU" type veth peer name ul mtu "$MTU" netns "$NS_R"
    ip -n "$NS_U" addr add 10.251.0.1/24 dev ul
    ip -n "$NS_R" addr add "$ADDR/24" dev ul
  fi
  for ns in "$NS_U" "$NS_R"; do ip -n "$ns" link set dev lo up; ip -n "$ns" link set dev ul up; done
  [ -s "$TLS/cert.pem" ] || make_certs
  # R's PID 1 is an init that reaps (docker.io's docker-init, tini) with dockerd its child:
  # what ends in R (containers' shims, ssh sessions' processes) is reparented to PID 1,
  # and dockerd reaps none of it (hundreds of zombies in an hour of tests)
  local init=
  command -v docker-init >/dev/null && init='docker-init --'
  # R's own mounts (private: nothing propagates back), its own PID namespace with its own
  # /proc, its own hostname (the engine says it is another machine), fresh /run, /tmp and /dev/shm; then dockerd as its PID 1. Entered into its
  # network namespace with nsenter --net (`ip netns exec` remounts /sys and hides the cgroups).
  setsid nsenter --net="/run/netns/$NS_R" unshare --mount --propagation private --pid --fork --mount-proc --uts \
    sh -c 'hostname "$1"; for d in /run /tmp /dev/shm; do mount -t tmpfs -o mode=0755 tmpfs "$d"; done; shift; exec $0 dockerd "$@"' "$init" "$NS_R" \
    --data-root "$DATA" --exec-root /run/docker-exec --pidfile /run/docker.pid --host unix:///run/docker.sock \
    --host "$URL" --tlsverify --tlscacert "$TLS/ca.pem" --tlscert "$TLS/server-cert.pem" --tlskey "$TLS/server-key.pem" \
    --bridge none --iptables=false --ip6tables=false --ip-masq=false \
    >"$TLS/dockerd.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  # wait for the engine to answer (its own readiness, not a fixed time); 60 s at most
  for _ in $(seq 1 600); do
    answers && { start_sshd || echo "remote-engine: R runs, but without its sshd (see above)" >&2; echo "$URL"; return 0; }
    running_pid >/dev/null || break
    sleep 0.1
  done
  echo "remote-engine: dockerd did not answer at $URL within 60 s; its log: $TLS/dockerd.log" >&2
  tail -5 "$TLS/dockerd.log" >&2 || true
  exit 1
}

stop() {
  local pid child
  if pid=$(running_pid); then
    # R's PID 1 (dockerd) told to stop: it stops its containers; when it is gone the kernel
    # ends every process of R's PID namespace and R's mounts go with its mount namespace
    child=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null | awk '{print $1}')
    [ -n "$child" ] && kill -TERM "$child" 2>/dev/null || true
    for _ in $(seq 1 300); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    [ -d "/proc/$pid" ] && { [ -n "$child" ] && kill -KILL "$child" 2>/dev/null; kill -KILL "$pid" 2>/dev/null; } || true
  fi
  have_ns "$NS_R" && ip netns del "$NS_R"
  have_ns "$NS_U" && ip netns del "$NS_U"
  rm -rf "$DATA" "$TLS"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  url) running_pid >/dev/null && answers && echo "$URL" ;;
  certs) echo "$TLS" ;;
  underlay) echo "$NS_U" ;;
  ssh-url) running_pid >/dev/null && ssh_listens && echo "ssh://root@$ADDR" ;;
  ssh-home) echo "$TLS/ssh/home" ;;
  *) echo "usage: $0 start|stop|url|certs|underlay|ssh-url|ssh-home [--name N] [--mtu M]" >&2; exit 2 ;;
esac
