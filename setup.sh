#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for flatlab: the system tools a lab runs (iproute2,
# dnsmasq without its system service, busybox for the guests' DHCP client (the static
# build: the same busybox 1.35, without the dynamic loader's start-up a thousand guests
# pay twice each, a third of their CPU at 16x64), ping,
# iptables), a C compiler for flatlab-nsd (the helper that starts guests and sends probes
# inside namespaces), xmllint for the tests' JUnit schema check, QEMU for `guest: vm`
# (without its recommends: no GUI, no firmware beyond the PC BIOS) and what building its
# guests' kernel from Debian's kernel source takes (make, flex, bison, bc, libelf-dev), then
# the Node.js dependencies (npm ci also compiles src/ to dist/ and native/ to dist/native/),
# then the vm guests' image (its kernel compiled once, about 6 minutes on 2 cores).
# Run as root. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(iproute2 dnsmasq-base busybox-static iputils-ping procps iptables ebtables tcpdump socat gcc libc6-dev musl-tools libxml2-utils qemu-system-x86 make flex bison bc libelf-dev xz-utils)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup.sh: installing ${missing[*]} needs root" >&2
    exit 3
  fi
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "setup.sh: flatlab needs Node.js 20 or later (apt-get install nodejs npm)" >&2
  exit 3
fi

npm ci --no-audit --no-fund --loglevel=error
# the guests' image for `guest: vm` (cached: a later run of setup.sh reuses it); a machine
# without the package registry still runs every namespace guest
node bin/flatlab.js image build --guest >/dev/null || echo "setup.sh: the vm guests' image could not be built (guest: vm will try again when first used)" >&2
echo "setup.sh: ready. Try: npm run scenario flatdhcp-multihost"
