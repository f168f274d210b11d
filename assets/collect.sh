#!/bin/sh
# flatlab collect: what a nova-network flat node's networking looks like, for
# `flatlab compare NODE OUTDIR`.
#
#   sh collect.sh OUTDIR          (a folder; OUTDIR.tar.gz: one tarball)
#   NOVA_CONF=/etc/nova/nova.conf sh collect.sh OUTDIR
#
# Read-only: it runs only commands that print (ip, bridge, iptables-save, ebtables -L,
# cat) and writes nothing outside OUTDIR. POSIX sh (dash, busybox sh); needs iproute2,
# iptables and coreutils; ebtables and brctl are used when present, tar for a tarball. Run it as root to
# see the firewall and other processes' dnsmasq command lines. Passwords and tokens in
# nova.conf are masked before they are written.
set -u
FORMAT=1

usage() { echo "usage: sh collect.sh OUTDIR   (or OUTDIR.tar.gz)" >&2; exit 2; }
[ $# -eq 1 ] || usage
case "$1" in -*) usage ;; esac

target=$1
tarball=
case "$target" in
  *.tar.gz) tarball=$target; target=${target%.tar.gz} ;;
esac
if [ -e "$target" ] && [ -n "$(ls -A "$target" 2>/dev/null)" ]; then
  echo "collect.sh: $target exists and is not empty; give a new folder" >&2
  exit 2
fi
if [ -n "$tarball" ] && [ -e "$tarball" ]; then
  echo "collect.sh: $tarball exists; give a new name" >&2
  exit 2
fi
mkdir -p "$target" || exit 2
out=$target

note() { echo "$*" >> "$out/errors.txt"; }

# tool NAME: the file on PATH that NAME runs, found by walking PATH. `command -v` is not
# asked: a shell that prefers its own applets (busybox built standalone, as Debian's
# busybox-static is) answers "ip" for its applet, which knows no -d and prints what
# compare does not read; a command given by its path runs that file in every shell.
tool() {
  case "$1" in */*) [ -x "$1" ] && echo "$1"; return ;; esac
  saved_ifs=$IFS; IFS=:
  for d in $PATH; do
    if [ -n "$d" ] && [ -f "$d/$1" ] && [ -x "$d/$1" ]; then IFS=$saved_ifs; echo "$d/$1"; return 0; fi
  done
  IFS=$saved_ifs
  return 1
}
have() { tool "$1" >/dev/null; }

# run NAME CMD...: CMD's output into NAME; a missing tool or a failure is noted, not fatal
run() {
  name=$1; shift
  if ! exe=$(tool "$1"); then note "$name: $1 not found"; return; fi
  shift
  # a failed reading leaves no file: compare then says "not collected", never "empty"
  if ! "$exe" "$@" > "$out/$name" 2>> "$out/errors.txt"; then note "$name: $exe $* failed"; rm -f "$out/$name"; fi
}

{
  echo "format $FORMAT"
  echo "hostname $(uname -n)"
  echo "kernel $(uname -r)"
  echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "uid $(id -u)"
} > "$out/meta.txt"

run links.txt ip -d -o link show
run addrs.txt ip -o addr show
run routes.txt ip route show
run neigh.txt ip neigh show
run bridge-links.txt bridge link show
have brctl && run brctl.txt brctl show
run iptables-save.txt iptables-save -c

# ebtables: the nf_tables variant only reads; the legacy one loads a table's module
# when it is listed, so there only tables whose module is already loaded are listed
loaded() {
  while read -r m _; do [ "$m" = "$1" ] && return 0; done < /proc/modules
  return 1
}
if have ebtables; then
  legacy=no
  ebtables=$(tool ebtables)
  case "$("$ebtables" --version 2>/dev/null)" in *legacy*) legacy=yes ;; esac
  eb_ok=yes
  for t in filter nat; do
    if [ "$legacy" = yes ] && ! loaded "ebtable_$t" 2>/dev/null; then continue; fi
    echo "# table $t" >> "$out/ebtables.txt"
    "$ebtables" -t "$t" -L >> "$out/ebtables.txt" 2>> "$out/errors.txt" || { note "ebtables.txt: ebtables -t $t -L failed"; eb_ok=no; }
  done
  [ "$eb_ok" = yes ] || rm -f "$out/ebtables.txt"
fi

# sysctls that decide forwarding and bridge filtering; "absent" when the file is not
# there (no br_netfilter: bridged frames never reach iptables)
sysctl_line() {
  f=/proc/sys/$(echo "$1" | tr . /)
  if [ -r "$f" ]; then echo "$1 = $(cat "$f")"; else echo "$1 = absent"; fi
}
{
  for k in net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-arptables \
           net.ipv4.conf.all.rp_filter net.ipv4.conf.default.rp_filter net.ipv4.conf.all.proxy_arp; do
    sysctl_line "$k"
  done
  for d in /proc/sys/net/ipv4/conf/*; do
    i=${d##*/}
    case "$i" in all|default|lo) continue ;; esac
    for p in forwarding rp_filter proxy_arp; do
      [ -r "$d/$p" ] && echo "net.ipv4.conf.$i.$p = $(cat "$d/$p")"
    done
  done
} > "$out/sysctl.txt"

# dnsmasq: every one in this network namespace, its argv one per line and the files it
# was told to read (nova's hosts file: MAC,hostname,IP per instance it answers)
self_ns=$(readlink /proc/self/ns/net 2>/dev/null)
n=0
for p in /proc/[0-9]*; do
  [ -r "$p/comm" ] || continue
  [ "$(cat "$p/comm" 2>/dev/null)" = dnsmasq ] || continue
  ns=$(readlink "$p/ns/net" 2>/dev/null)
  # dnsmasq forks a helper for its --dhcp-script: keep the parent only
  # (/proc/PID/stat: "pid (comm) state ppid ...")
  st=$(cat "$p/stat" 2>/dev/null) || continue
  set -- ${st##*) }
  [ "$(cat "/proc/${2:-0}/comm" 2>/dev/null)" = dnsmasq ] && continue
  [ -z "$ns" ] || [ "$ns" = "$self_ns" ] || continue
  pid=${p#/proc/}
  n=$((n + 1))
  d="$out/dnsmasq-$pid"
  mkdir -p "$d"
  tr '\000' '\n' < "$p/cmdline" > "$d/argv.txt" 2>/dev/null || note "dnsmasq $pid: cmdline unreadable"
  while IFS= read -r a; do
    case "$a" in
      --dhcp-hostsfile=*) f=${a#*=}; [ -r "$f" ] && cat "$f" > "$d/dhcp-hostsfile" ;;
      --addn-hosts=*) f=${a#*=}; [ -r "$f" ] && cat "$f" > "$d/addn-hosts" ;;
      --conf-file=?*) f=${a#*=}; [ -r "$f" ] && cat "$f" > "$d/conf-file" ;;
    esac
  done < "$d/argv.txt"
done
echo "dnsmasq $n" >> "$out/meta.txt"

# nova.conf, secrets masked: the value of an option whose name holds password, passwd,
# secret, token, credential or ends in _key, and the password of a URL
# (sql_connection=mysql://nova:***@host/nova)
mask() {
  line=$1
  key=${line%%[=:]*}
  if [ "$key" != "$line" ]; then
    case "$key" in
      *password*|*passwd*|*secret*|*token*|*credential*|*_key|*_key[[:space:]]*)
        sep=${line#"$key"}
        sep=${sep%"${sep#?}"}
        printf '%s%s***\n' "$key" "$sep"
        return ;;
    esac
  fi
  case "$line" in
    *://*:*@*)
      head=${line%%://*}
      rest=${line#*://}
      userinfo=${rest%%@*}
      case "$userinfo" in
        *:*) line="$head://${userinfo%%:*}:***@${rest#*@}" ;;
      esac ;;
  esac
  printf '%s\n' "$line"
}
conf=${NOVA_CONF:-/etc/nova/nova.conf}
if [ -r "$conf" ]; then
  echo "nova.conf $conf" >> "$out/meta.txt"
  while IFS= read -r l || [ -n "$l" ]; do mask "$l"; done < "$conf" > "$out/nova.conf"
else
  note "nova.conf: $conf not readable (set NOVA_CONF=PATH)"
fi

if [ -n "$tarball" ]; then
  parent=$(dirname "$target")
  base=$(basename "$target")
  if tar -czf "$tarball" -C "$parent" "$base"; then
    rm -r "$target"
    echo "collected into $tarball" >&2
  else
    echo "collect.sh: tar failed; the files are in $target" >&2
  fi
else
  echo "collected into $out" >&2
fi
