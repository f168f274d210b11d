# The compute-node image of flatlab's Docker backend: Debian bookworm with what a
# nova-network compute node ran for a flat network (iproute2, iptables/ebtables,
# dnsmasq), what its guests run (busybox udhcpc), and the tools the checks and the
# diagnosis use (ping, socat, tcpdump). No registry is reachable here, so
# `flatlab image build` first tries the normal base and otherwise bootstraps an
# equivalent one (debootstrap --variant=minbase + docker import) and passes it as BASE.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      iproute2 iptables ebtables dnsmasq-base busybox iputils-ping tcpdump socat procps \
 && rm -rf /var/lib/apt/lists/*
LABEL org.flatlab.image="compute-node"
CMD ["sleep", "infinity"]
