/*
 * flatlab-udhcpc-script: the guests' DHCP client script (assets/udhcpc.script) compiled,
 * statically linked. busybox udhcpc runs its script twice per guest (deconfig, bound);
 * as a shell script each run is two dynamically linked programs (dash, then iproute2's
 * `ip`, whose start-up maps nine libraries), and at a thousand guests booting on two
 * cores that start-up was most of the DHCP phase (measured with perf: `ip` and the
 * script's shell 40% of all CPU, almost all of it the dynamic loader and page faults).
 * This does the same work with no loader and no child: netlink in the guest's own
 * namespace (udhcpc runs it there), the same record files, the same exit codes.
 *
 * Events, as udhcpc calls its script (environment: interface, ip, mask, router,
 * broadcast, dns, lease, serverid, hostname, domain; FLATLAB_VM_DIR from the guest):
 *   deconfig       lo and the NIC up, the NIC's IPv4 addresses flushed
 *   bound|renew    the offer appended to $FLATLAB_VM_DIR/dhcp.env (one write), the NIC's
 *                  addresses flushed, ip/mask (brd if given) added, the first router
 *                  the default route (replace)
 *   leasefail|nak  "<event> <unix time>" appended to $FLATLAB_VM_DIR/dhcp.events
 * test/harness udhcpc-script.test.ts holds the two implementations to the same state.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

static int nl = -1;
static unsigned seq = 1;

struct req {
  struct nlmsghdr h;
  char body[512];
};

static void fail(const char *what, int err) {
  fprintf(stderr, "udhcpc-script: %s: %s\n", what, strerror(err));
  exit(1);
}

static void attr(struct req *r, unsigned short type, const void *data, unsigned short len) {
  struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->h.nlmsg_len));
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  memcpy(RTA_DATA(a), data, len);
  r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Sends one request and waits for its acknowledgement; returns 0 or the kernel's errno. */
static int talk(struct req *r) {
  r->h.nlmsg_seq = ++seq;
  r->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  if (send(nl, r, r->h.nlmsg_len, 0) < 0) return errno;
  char buf[8192];
  for (;;) {
    ssize_t got = recv(nl, buf, sizeof buf, 0);
    if (got < 0) return errno;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)got); h = NLMSG_NEXT(h, got)) {
      if (h->nlmsg_seq != r->h.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR) continue;
      return -((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
  }
}

static int index_of(const char *name) {
  unsigned i = if_nametoindex(name);
  if (!i) fail(name, errno);
  return (int)i;
}

/* ip link set dev NAME up */
static void link_up(const char *name) {
  struct req r = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)), .nlmsg_type = RTM_NEWLINK}};
  struct ifinfomsg *i = NLMSG_DATA(&r.h);
  i->ifi_family = AF_UNSPEC;
  i->ifi_index = index_of(name);
  i->ifi_flags = IFF_UP;
  i->ifi_change = IFF_UP;
  int e = talk(&r);
  if (e) fail("link up", e);
}

/* ip -4 addr flush dev NAME: a dump of the IPv4 addresses, then a delete of each of NAME's */
static void flush(int index) {
  struct req r = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg)), .nlmsg_type = RTM_GETADDR, .nlmsg_flags = NLM_F_DUMP}};
  ((struct ifaddrmsg *)NLMSG_DATA(&r.h))->ifa_family = AF_INET;
  r.h.nlmsg_seq = ++seq;
  r.h.nlmsg_flags |= NLM_F_REQUEST;
  if (send(nl, &r, r.h.nlmsg_len, 0) < 0) fail("address dump", errno);
  /* collected first: deleting while the dump runs would disturb it */
  struct req dels[64];
  int n = 0, done = 0;
  char buf[16384];
  while (!done) {
    ssize_t got = recv(nl, buf, sizeof buf, 0);
    if (got < 0) fail("address dump", errno);
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)got); h = NLMSG_NEXT(h, got)) {
      if (h->nlmsg_type == NLMSG_DONE) done = 1;
      if (h->nlmsg_type == NLMSG_ERROR) fail("address dump", -((struct nlmsgerr *)NLMSG_DATA(h))->error);
      if (h->nlmsg_type != RTM_NEWADDR) continue;
      struct ifaddrmsg *a = NLMSG_DATA(h);
      if ((int)a->ifa_index != index || n == 64) continue;
      /* the delete names the address as the dump gave it (its local and prefix) */
      struct req *d = &dels[n++];
      memset(d, 0, sizeof *d);
      d->h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
      d->h.nlmsg_type = RTM_DELADDR;
      memcpy(NLMSG_DATA(&d->h), a, sizeof *a);
      int len = IFA_PAYLOAD(h);
      for (struct rtattr *at = IFA_RTA(a); RTA_OK(at, len); at = RTA_NEXT(at, len))
        if (at->rta_type == IFA_LOCAL || at->rta_type == IFA_ADDRESS) attr(d, at->rta_type, RTA_DATA(at), RTA_PAYLOAD(at));
    }
  }
  for (int i = 0; i < n; i++) {
    int e = talk(&dels[i]);
    /* a secondary goes with its primary: already gone is flushed */
    if (e && e != EADDRNOTAVAIL) fail("address flush", e);
  }
}

static struct in_addr ipv4(const char *what, const char *text) {
  struct in_addr a;
  if (!text || inet_pton(AF_INET, text, &a) != 1) {
    fprintf(stderr, "udhcpc-script: %s is not an IPv4 address: %s\n", what, text ? text : "(unset)");
    exit(1);
  }
  return a;
}

/* ip -4 addr add IP/MASK [brd B] dev NAME */
static void add_address(int index, const char *ip, const char *mask, const char *brd) {
  struct req r = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg)), .nlmsg_type = RTM_NEWADDR, .nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL}};
  struct ifaddrmsg *a = NLMSG_DATA(&r.h);
  a->ifa_family = AF_INET;
  a->ifa_index = index;
  int prefix = mask && *mask ? atoi(mask) : 24;
  if (prefix < 0 || prefix > 32) prefix = 24;
  a->ifa_prefixlen = prefix;
  a->ifa_scope = RT_SCOPE_UNIVERSE;
  struct in_addr local = ipv4("ip", ip);
  attr(&r, IFA_LOCAL, &local, 4);
  attr(&r, IFA_ADDRESS, &local, 4);
  if (brd && *brd) {
    struct in_addr b = ipv4("broadcast", brd);
    attr(&r, IFA_BROADCAST, &b, 4);
  }
  int e = talk(&r);
  if (e) fail("address add", e);
}

/* ip -4 route replace default via GW dev NAME */
static void default_route(int index, const char *gw) {
  struct req r = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg)), .nlmsg_type = RTM_NEWROUTE, .nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE}};
  struct rtmsg *m = NLMSG_DATA(&r.h);
  m->rtm_family = AF_INET;
  m->rtm_table = RT_TABLE_MAIN;
  m->rtm_protocol = RTPROT_BOOT;
  m->rtm_scope = RT_SCOPE_UNIVERSE;
  m->rtm_type = RTN_UNICAST;
  struct in_addr g = ipv4("router", gw);
  attr(&r, RTA_GATEWAY, &g, 4);
  attr(&r, RTA_OIF, &index, 4);
  int e = talk(&r);
  if (e) fail("default route", e);
}

static const char *env(const char *k) {
  const char *v = getenv(k);
  return v ? v : "";
}

/* Appends text to DIR/NAME in one write(2): a reader never sees half of it. */
static void append(const char *dir, const char *name, const char *text) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, errno);
  size_t len = strlen(text);
  if (write(fd, text, len) != (ssize_t)len) fail(path, errno);
  close(fd);
}

int main(int argc, char **argv) {
  const char *dir = getenv("FLATLAB_VM_DIR");
  if (!dir || !*dir) {
    fputs("udhcpc-script: FLATLAB_VM_DIR is not set\n", stderr);
    return 2;
  }
  const char *event = argc > 1 ? argv[1] : "";
  int configures = !strcmp(event, "deconfig") || !strcmp(event, "bound") || !strcmp(event, "renew");
  if (!strcmp(event, "leasefail") || !strcmp(event, "nak")) {
    char line[64];
    snprintf(line, sizeof line, "%s %lld\n", event, (long long)time(NULL));
    append(dir, "dhcp.events", line);
  }
  if (!configures) return 0;
  const char *nic = env("interface");
  if (strcmp(event, "deconfig")) {
    /* the record before the address: once the address is up, the record is there */
    char rec[2048];
    snprintf(rec, sizeof rec, "event=%s\nip=%s\nmask=%s\nrouter=%s\ndns=%s\nlease=%s\nserverid=%s\nhostname=%s\ndomain=%s\n", event,
             env("ip"), env("mask"), env("router"), env("dns"), env("lease"), env("serverid"), env("hostname"), env("domain"));
    append(dir, "dhcp.env", rec);
  }
  nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (nl < 0) fail("netlink", errno);
  if (!strcmp(event, "deconfig")) {
    link_up("lo");
    link_up(nic);
    flush(index_of(nic));
    return 0;
  }
  int index = index_of(nic);
  flush(index);
  add_address(index, getenv("ip"), getenv("mask"), getenv("broadcast"));
  /* the first router the server offered (udhcpc lists them space-separated) */
  char routers[1024];
  snprintf(routers, sizeof routers, "%s", env("router"));
  char *first = strtok(routers, " ");
  if (first) default_route(index, first);
  return 0;
}
