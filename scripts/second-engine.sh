#!/usr/bin/env bash
# A second Docker engine on this machine, as if on another machine, for labs that span
# engines (flatlab run --engine A=... --engine B=... --underlay flatlab-underlay-a):
#
#   flatlab-underlay-a (netns)          flatlab-engine-b (netns: "machine B")
#     ul-a 10.250.0.1/24  ==== veth ====  ul-b 10.250.0.2/24     dockerd (B)
#     (machine A's underlay: the         (its own data-root, exec-root, pidfile
#      home fabric's VXLAN lives here)     and socket; no bridge, no iptables)
#
# Everything is in network namespaces of its own: nothing is added to the machine's root
# namespace. The underlay's MTU is 1550, as operators give a VXLAN underlay jumbo frames,
# so the fabric keeps 1500 bytes across it (VXLAN over IPv4 costs 50).
#
# dockerd is entered into its namespace with nsenter --net, not `ip netns exec`: the latter
# remounts /sys, which hides the cgroup mounts ("Devices cgroup isn't mounted").
#
# It also listens on tcp://10.250.0.2:2376 with TLS (--tlsverify, a CA, server and client
# certificates made here with openssl, in $ROOT/tls): reachable from the underlay only, as
# an engine on another machine is reached over its network.
#
#   scripts/second-engine.sh start [--name N]     prints the engine's URL once it answers
#   scripts/second-engine.sh stop [--name N]      stops it (by its pidfile's PID) and removes all of it
#   scripts/second-engine.sh url [--name N]       prints the URL when it runs (exit 1 otherwise)
#   scripts/second-engine.sh tls-url [--name N]   prints its TLS URL; DOCKER_CERT_PATH is $ROOT/tls
#   scripts/second-engine.sh underlay [--name N]  prints the underlay namespace to give flatlab
#
# Instances are named by their caller (--name, a lowercase letter then up to 7 letters or
# digits; default b): each has its own namespaces, directories, socket and pidfile, and a
# `stop` removes only its own, so two jobs on one machine do not stop each other's engine.
# Instance b keeps the historical names (flatlab-engine-b, flatlab-underlay-a); instance N
# is flatlab-engine-N with flatlab-underlay-N-a. The underlay addresses are the same in
# every instance: they live in that instance's own pair of namespaces.
set -euo pipefail

cmd=${1:-}
shift || true
NAME=b
while [ $# -gt 0 ]; do
  case "$1" in
    --name) NAME=${2:-}; shift 2 || { echo "second-engine: --name needs a value" >&2; exit 2; } ;;
    --name=*) NAME=${1#--name=}; shift ;;
    *) echo "second-engine: unknown argument \"$1\" (usage: $0 start|stop|url|tls-url|underlay [--name N])" >&2; exit 2 ;;
  esac
done
[[ "$NAME" =~ ^[a-z][a-z0-9]{0,7}$ ]] || { echo "second-engine: --name \"$NAME\": a lowercase letter then up to 7 lowercase letters or digits" >&2; exit 2; }

NS_B=flatlab-engine-$NAME
if [ "$NAME" = b ]; then NS_A=flatlab-underlay-a; else NS_A=flatlab-underlay-$NAME-a; fi
ROOT=/run/flatlab-engine-$NAME
DATA=/var/lib/flatlab-engine-$NAME
SOCK=$ROOT/docker.sock
PIDFILE=$ROOT/docker.pid
URL=unix://$SOCK
TLS_URL=tcp://10.250.0.2:2376
TLS=$ROOT/tls
MTU=1550

have_ns() { [ -e "/run/netns/$1" ]; }

answers() { docker -H "$URL" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

running_pid() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] && echo "$pid"
}

# A CA, the engine's certificate (for 10.250.0.2) and a client's, as Docker's TLS guide makes them.
make_certs() {
  mkdir -p "$TLS"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=flatlab-engine-$NAME-ca -keyout "$TLS/ca-key.pem" -out "$TLS/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=flatlab-engine-$NAME -keyout "$TLS/server-key.pem" -out "$TLS/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:10.250.0.2\nextendedKeyUsage=serverAuth\n' >"$TLS/server.ext"
  openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca-key.pem" -CAcreateserial -days 2 -extfile "$TLS/server.ext" -out "$TLS/server-cert.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=flatlab -keyout "$TLS/key.pem" -out "$TLS/client.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >"$TLS/client.ext"
  openssl x509 -req -in "$TLS/client.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca-key.pem" -CAcreateserial -days 2 -extfile "$TLS/client.ext" -out "$TLS/cert.pem" 2>/dev/null
  chmod 0600 "$TLS"/*key.pem
}

start() {
  if running_pid >/dev/null && answers; then echo "$URL"; return 0; fi
  command -v dockerd >/dev/null || { echo "second-engine: dockerd is not installed (apt-get install docker.io)" >&2; exit 2; }
  mkdir -p "$ROOT" "$DATA"
  have_ns "$NS_A" || ip netns add "$NS_A"
  have_ns "$NS_B" || ip netns add "$NS_B"
  if ! ip -n "$NS_A" link show ul-a >/dev/null 2>&1; then
    # the veth is created inside NS_A with its peer in NS_B: never in the root namespace
    ip -n "$NS_A" link add name ul-a mtu $MTU type veth peer name ul-b mtu $MTU netns "$NS_B"
    ip -n "$NS_A" addr add 10.250.0.1/24 dev ul-a
    ip -n "$NS_B" addr add 10.250.0.2/24 dev ul-b
  fi
  ip -n "$NS_A" link set dev lo up
  ip -n "$NS_A" link set dev ul-a up
  ip -n "$NS_B" link set dev lo up
  ip -n "$NS_B" link set dev ul-b up
  [ -s "$TLS/cert.pem" ] || make_certs
  # setsid and a log file: it outlives this script, and its output does not hold a pipe open
  setsid nsenter --net="/run/netns/$NS_B" dockerd \
    --data-root "$DATA" --exec-root "$ROOT/exec" --pidfile "$PIDFILE" --host "$URL" \
    --host "$TLS_URL" --tlsverify --tlscacert "$TLS/ca.pem" --tlscert "$TLS/server-cert.pem" --tlskey "$TLS/server-key.pem" \
    --bridge none --iptables=false --ip6tables=false --ip-masq=false \
    >"$ROOT/dockerd.log" 2>&1 </dev/null &
  # wait for the engine to answer (its own readiness, not a fixed time); 60 s at most
  for _ in $(seq 1 600); do
    answers && { echo "$URL"; return 0; }
    sleep 0.1
  done
  echo "second-engine: dockerd did not answer at $URL within 60 s; its log: $ROOT/dockerd.log" >&2
  tail -5 "$ROOT/dockerd.log" >&2 || true
  exit 1
}

# A process named by a pidfile, when it still runs (TERM, then KILL after 3 s)
kill_pidfile() {
  local p
  p=$(cat "$1" 2>/dev/null) || return 0
  [ -n "$p" ] && [ -d "/proc/$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 1 30); do [ -d "/proc/$p" ] || return 0; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
}

stop() {
  local pid p shim procs
  if pid=$(running_pid); then
    # containers first (labs normally remove theirs), then the engine by its PID
    # Each step bounded: an engine stuck on a container it cannot remove once held a CI
    # run here until its 90 minutes were up (the bounds are on failure; a healthy engine
    # removes a lab's containers in seconds)
    if answers; then
      ids=$(timeout 30 docker -H "$URL" ps -aq || true)
      # one at a time: this engine (Debian's 20.10.24) can deadlock on two removals at once
      # (src/backend/docker/removal-lock.ts), and `docker rm` of several works in parallel
      for id in $ids; do timeout 30 docker -H "$URL" rm -f "$id" >/dev/null 2>&1 || true; done
    fi
    kill -TERM "$pid"
    for _ in $(seq 1 300); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    [ -d "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  fi
  # what a stuck or killed engine left running: its containerd (by its pidfile), each of
  # its containers' processes (by the container's own cgroup, named by the ids in its data
  # root: never another engine's) and their shims (by the PIDs their cgroup does not hold,
  # found as the parents of those processes)
  kill_pidfile "$ROOT/exec/containerd/containerd.pid"
  for d in "$DATA"/containers/*/; do
    [ -d "$d" ] || continue
    procs=/sys/fs/cgroup/pids/docker/$(basename "$d")/cgroup.procs
    [ -r "$procs" ] || procs=/sys/fs/cgroup/docker/$(basename "$d")/cgroup.procs
    [ -r "$procs" ] || continue
    while read -r p; do
      shim=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null || true)
      kill -KILL "$p" 2>/dev/null || true
      [ -n "$shim" ] && grep -qa -- "$ROOT/exec/containerd" "/proc/$shim/cmdline" 2>/dev/null && kill -KILL "$shim" 2>/dev/null || true
    done <"$procs"
  done
  # whatever its containerd left mounted under its directories
  # (its own directories only: flatlab-engine-b is not flatlab-engine-b2)
  awk '{print $2}' /proc/mounts | { grep -E "^($DATA|$ROOT)(/|\$)" || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  have_ns "$NS_B" && ip netns del "$NS_B"
  have_ns "$NS_A" && ip netns del "$NS_A"
  rm -rf "$DATA" "$ROOT"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  url) running_pid >/dev/null && answers && echo "$URL" ;;
  tls-url) running_pid >/dev/null && answers && echo "$TLS_URL" ;;
  underlay) echo "$NS_A" ;;
  *) echo "usage: $0 start|stop|url|tls-url|underlay [--name N]" >&2; exit 2 ;;
esac
