/*
 * flatlab-nsd: one long-lived process that works inside many network namespaces, so
 * that flatlab does not spawn a process per guest and per probe (issue #9: process
 * start-up, not the kernel, is the cost at 1000 VMs).
 *
 * A socket belongs to the namespace it was created in, whatever the creator does next:
 * the helper enters a guest's namespace (setns), opens the probe's socket there and
 * returns to its own. Probes are then sent and answered from all guests at once in one
 * poll() loop. Guests' first processes (busybox udhcpc) are started from here the same
 * way, born in their namespace (spawn below); the helper is their parent and child
 * subreaper, so it reaps them and reports every exit.
 *
 * Protocol: one request per line on stdin, fields separated by TAB (flatlab validates
 * names, so no field holds a TAB or a newline). Answers on stdout, one line each,
 * starting with the request's id:
 *   S id nspath logfile nenv K=V... argv...   spawn  -> id ok PID | id err MSG
 *   P id nspath proto dst port timeout_ms payload   probe (proto icmp|tcp|udp)
 *                                             -> id reachable|refused|unreachable USEC DETAIL
 *   M id nspath iface                         MAC    -> id ok MAC | id err MSG
 *   C id nspath key=value...                  sysctls (net.*, written under the
 *                                             namespace's /proc/sys/net) -> id ok | id err MSG
 *   N id nspath                               release the namespace's IPv4 neighbour entries
 *                                             (all but NOARP ones), saying what they were
 *                                             -> id ok IFINDEX,IP,MAC,STATE ... | id err MSG
 * and, unasked:  ! exit PID STATUS              a child of the helper ended
 * On end of input the helper stops taking requests and exits once its children are gone.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FIELDS 512
#define MAX_PENDING 4096

enum kind { K_FREE, K_ICMP, K_TCP, K_UDP };

struct pending {
  enum kind kind;
  int fd;
  char id[64];
  uint16_t ident; /* icmp echo identifier */
  struct in_addr dst;
  char payload[128];
  double start, deadline;
};

static struct pending pend[MAX_PENDING];
static int home_ns = -1;
static int input_open = 1;
static int no_children = 1; /* waitpid said ECHILD: nobody left to reap */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void reply(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

static struct pending *slot(void) {
  for (int i = 0; i < MAX_PENDING; i++)
    if (pend[i].kind == K_FREE) return &pend[i];
  return NULL;
}

static void finish(struct pending *p, const char *result, const char *detail) {
  reply("%s\t%s\t%ld\t%s", p->id, result, (long)((now() - p->start) * 1e6), detail);
  if (p->fd >= 0) close(p->fd);
  p->kind = K_FREE;
  p->fd = -1;
}

/* A socket created inside the namespace at nspath; the helper stays in its own. */
static int socket_in(const char *nspath, int domain, int type, int proto, char *err, size_t errlen) {
  int ns = open(nspath, O_RDONLY | O_CLOEXEC);
  if (ns < 0) {
    snprintf(err, errlen, "open %s: %s", nspath, strerror(errno));
    return -1;
  }
  if (setns(ns, CLONE_NEWNET) < 0) {
    snprintf(err, errlen, "setns %s: %s", nspath, strerror(errno));
    close(ns);
    return -1;
  }
  close(ns);
  int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  int saved = errno;
  if (setns(home_ns, CLONE_NEWNET) < 0) {
    perror("flatlab-nsd: cannot return to its own namespace");
    exit(3);
  }
  if (fd < 0) snprintf(err, errlen, "socket: %s", strerror(saved));
  return fd;
}

/*
 * A random echo identifier, not one in flight. Not a counter: conntrack keys ICMP echo
 * on (source, destination, identifier), so a counter restarting at 1 in the next helper
 * would match the previous run's entries (30 s) and pass as ESTABLISHED a probe that a
 * changed firewall must now judge as NEW. ping itself uses its PID.
 */
static uint16_t fresh_ident(void) {
  for (;;) {
    uint16_t id;
    if (getrandom(&id, sizeof id, 0) != sizeof id) id = (uint16_t)(rand() ^ getpid());
    if (id == 0) continue;
    int used = 0;
    for (int i = 0; i < MAX_PENDING && !used; i++) used = pend[i].kind == K_ICMP && pend[i].ident == id;
    if (!used) return id;
  }
}

static uint16_t checksum(const void *data, size_t len) {
  const uint16_t *w = data;
  uint32_t sum = 0;
  for (; len > 1; len -= 2) sum += *w++;
  if (len) sum += *(const uint8_t *)w;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static void probe(char **f, int n) {
  /* P id nspath proto dst port timeout payload */
  if (n < 8) {
    reply("%s\terr\t0\tprobe needs 8 fields", n > 1 ? f[1] : "?");
    return;
  }
  struct pending *p = slot();
  if (!p) {
    reply("%s\terr\t0\ttoo many probes in flight", f[1]);
    return;
  }
  memset(p, 0, sizeof *p);
  p->fd = -1;
  snprintf(p->id, sizeof p->id, "%s", f[1]);
  snprintf(p->payload, sizeof p->payload, "%s", f[7]);
  p->start = now();
  p->deadline = p->start + atoi(f[6]) / 1000.0;
  if (inet_pton(AF_INET, f[4], &p->dst) != 1) {
    reply("%s\terr\t0\tnot an IPv4 address: %s", p->id, f[4]);
    return;
  }
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = p->dst, .sin_port = htons(atoi(f[5]))};
  char err[256];
  const char *proto = f[3];
  if (strcmp(proto, "icmp") == 0) {
    p->fd = socket_in(f[2], AF_INET, SOCK_RAW, IPPROTO_ICMP, err, sizeof err);
    if (p->fd < 0) goto fail;
    p->kind = K_ICMP;
    p->ident = fresh_ident();
    unsigned char pkt[sizeof(struct icmphdr) + 64] = {0};
    struct icmphdr *h = (struct icmphdr *)pkt;
    h->type = ICMP_ECHO;
    h->un.echo.id = htons(p->ident);
    h->un.echo.sequence = htons(1);
    size_t plen = strlen(p->payload);
    if (plen > 64) plen = 64;
    memcpy(pkt + sizeof *h, p->payload, plen);
    size_t len = sizeof *h + plen;
    h->checksum = checksum(pkt, len);
    sa.sin_port = 0;
    if (sendto(p->fd, pkt, len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) {
      snprintf(err, sizeof err, "sendto: %s", strerror(errno));
      finish(p, "unreachable", err);
    }
    return;
  }
  int tcp = strcmp(proto, "tcp") == 0;
  if (!tcp && strcmp(proto, "udp") != 0) {
    reply("%s\terr\t0\tunknown protocol %s", p->id, proto);
    return;
  }
  p->fd = socket_in(f[2], AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0, err, sizeof err);
  if (p->fd < 0) goto fail;
  p->kind = tcp ? K_TCP : K_UDP;
  if (connect(p->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
    snprintf(err, sizeof err, "connect: %s", strerror(errno));
    finish(p, errno == ECONNREFUSED ? "refused" : "unreachable", err);
    return;
  }
  if (!tcp && send(p->fd, p->payload, strlen(p->payload), 0) < 0) {
    snprintf(err, sizeof err, "send: %s", strerror(errno));
    finish(p, errno == ECONNREFUSED ? "refused" : "unreachable", err);
  }
  return;
fail:
  finish(p, "error", err);
}

/* An ICMP packet arrived on a raw socket: the echo reply or error that answers p? */
static void icmp_input(struct pending *p) {
  unsigned char buf[1500];
  struct sockaddr_in from;
  socklen_t fl = sizeof from;
  ssize_t n;
  while ((n = recvfrom(p->fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl)) > 0) {
    struct iphdr *ip = (struct iphdr *)buf;
    size_t hl = ip->ihl * 4;
    if ((size_t)n < hl + sizeof(struct icmphdr)) continue;
    struct icmphdr *h = (struct icmphdr *)(buf + hl);
    char src[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &from.sin_addr, src, sizeof src);
    if (h->type == ICMP_ECHOREPLY && ntohs(h->un.echo.id) == p->ident && from.sin_addr.s_addr == p->dst.s_addr) {
      char d[128];
      snprintf(d, sizeof d, "echo reply from %s", src);
      finish(p, "reachable", d);
      return;
    }
    if (h->type == ICMP_DEST_UNREACH || h->type == ICMP_TIME_EXCEEDED) {
      /* the error quotes our IP header and the first 8 bytes of our echo request */
      size_t off = hl + sizeof(struct icmphdr);
      if ((size_t)n < off + sizeof(struct iphdr)) continue;
      struct iphdr *inner = (struct iphdr *)(buf + off);
      size_t ihl = inner->ihl * 4;
      if ((size_t)n < off + ihl + sizeof(struct icmphdr)) continue;
      struct icmphdr *ih = (struct icmphdr *)(buf + off + ihl);
      if (ih->type != ICMP_ECHO || ntohs(ih->un.echo.id) != p->ident) continue;
      char d[160];
      snprintf(d, sizeof d, "icmp %s (type %d code %d) from %s",
               h->type == ICMP_TIME_EXCEEDED ? "time exceeded" : h->code == ICMP_HOST_UNREACH ? "destination host unreachable" : h->code == ICMP_NET_UNREACH ? "destination net unreachable" : h->code == ICMP_PKT_FILTERED ? "communication administratively prohibited" : "destination unreachable",
               h->type, h->code, src);
      finish(p, "unreachable", d);
      return;
    }
  }
}

static void stream_input(struct pending *p, short revents) {
  char d[200];
  char target[64];
  inet_ntop(AF_INET, &p->dst, target, sizeof target);
  if (p->kind == K_TCP) {
    int e = 0;
    socklen_t el = sizeof e;
    getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &e, &el);
    if (e == 0 && (revents & POLLOUT)) {
      finish(p, "reachable", "tcp connection established");
    } else if (e == ECONNREFUSED) {
      finish(p, "refused", "tcp connection refused (reset)");
    } else if (e != 0) {
      snprintf(d, sizeof d, "tcp connect: %s", strerror(e));
      finish(p, "unreachable", d);
    }
    return;
  }
  char buf[512];
  ssize_t n = recv(p->fd, buf, sizeof buf - 1, 0);
  if (n >= 0) {
    buf[n] = 0;
    if (strstr(buf, p->payload)) finish(p, "reachable", "udp datagram echoed");
    return;
  }
  if (errno == ECONNREFUSED) {
    finish(p, "refused", "icmp port unreachable");
  } else if (errno != EAGAIN) {
    snprintf(d, sizeof d, "udp recv: %s", strerror(errno));
    finish(p, "unreachable", d);
  }
}

/*
 * The environment a child gets: ours, with the request's K=V variables added or replacing
 * ours. Built here, in the helper, because the child shares the helper's memory until
 * its exec (below) and must not touch environ.
 */
static char **child_env(char **given, int nenv) {
  size_t have = 0;
  while (environ[have]) have++;
  char **env = malloc((have + nenv + 1) * sizeof *env);
  if (!env) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < have; i++) {
    const char *eq = strchr(environ[i], '=');
    size_t klen = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
    int replaced = 0;
    for (int j = 0; j < nenv && !replaced; j++) replaced = !strncmp(given[j], environ[i], klen) && given[j][klen] == '=';
    if (!replaced) env[k++] = environ[i];
  }
  for (int j = 0; j < nenv; j++) env[k++] = given[j];
  env[k] = NULL;
  return env;
}

/*
 * Starts argv inside the namespace at nspath: the helper enters it, posix_spawn()s and
 * returns to its own (a child is born in its parent's namespace, as socket_in's sockets
 * are). posix_spawn, not fork: glibc starts the child with clone(CLONE_VM|CLONE_VFORK),
 * so no copy of the helper's page tables is made and torn down again at exec. At a
 * thousand guests that copy was a tenth of the DHCP phase's CPU on this project's VMs
 * (perf, 16x64: flatlab-nsd 10.6 % of all samples, mostly page-table work). The answer
 * is known at once: posix_spawn reports a failed exec itself. The child: its own session
 * (a Ctrl-C in the terminal reaches only flatlab), no blocked signals, SIGPIPE, SIGINT
 * and SIGHUP at their defaults, /dev/null on stdin, the log on stdout and stderr, no
 * other descriptor of the helper's.
 */
static void spawn(char **f, int n) {
  /* S id nspath logfile nenv env... argv... */
  if (n < 6) {
    reply("%s\terr\tspawn needs an id, a namespace, a log file, a count of variables and a command", n > 1 ? f[1] : "?");
    return;
  }
  int nenv = atoi(f[4]);
  int argv0 = 5 + nenv;
  if (nenv < 0 || argv0 >= n) {
    reply("%s\terr\tno command to run", f[1]);
    return;
  }
  int ns = open(f[2], O_RDONLY | O_CLOEXEC);
  if (ns < 0) {
    reply("%s\terr\topen %s: %s", f[1], f[2], strerror(errno));
    return;
  }
  int log = open(f[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) {
    reply("%s\terr\topen %s: %s", f[1], f[3], strerror(errno));
    close(ns);
    return;
  }
  char **env = child_env(&f[5], nenv);
  char *argv[MAX_FIELDS];
  int k = 0;
  for (int i = argv0; i < n; i++) argv[k++] = f[i];
  argv[k] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, log, 1);
  posix_spawn_file_actions_adddup2(&fa, log, 2);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGHUP);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &defaults);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int e = ENOMEM;
  const char *why = "spawn";
  if (!env) {
    why = "environment";
  } else if (setns(ns, CLONE_NEWNET) < 0) {
    e = errno;
    why = "setns";
  } else {
    e = posix_spawnp(&pid, argv[0], &fa, &at, argv, env);
    if (setns(home_ns, CLONE_NEWNET) < 0) {
      perror("flatlab-nsd: cannot return to its own namespace");
      exit(3);
    }
  }
  close(ns);
  close(log);
  free(env);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (!env || e) {
    reply("%s\terr\t%s %s: %s", f[1], why, why[0] == 's' && why[1] == 'e' ? f[2] : argv[0], strerror(e));
    return;
  }
  no_children = 0;
  reply("%s\tok\t%d", f[1], (int)pid);
}

static void mac(char **f, int n) {
  if (n < 4) {
    reply("%s\terr\tmac needs a namespace and an interface", n > 1 ? f[1] : "?");
    return;
  }
  char err[256];
  int fd = socket_in(f[2], AF_INET, SOCK_DGRAM, 0, err, sizeof err);
  if (fd < 0) {
    reply("%s\terr\t%s", f[1], err);
    return;
  }
  struct ifreq ifr = {0};
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", f[3]);
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
    reply("%s\terr\t%s: %s", f[1], f[3], strerror(errno));
  } else {
    unsigned char *m = (unsigned char *)ifr.ifr_hwaddr.sa_data;
    reply("%s\tok\t%02x:%02x:%02x:%02x:%02x:%02x", f[1], m[0], m[1], m[2], m[3], m[4], m[5]);
  }
  close(fd);
}

/*
 * /proc/sys/net shows the network namespace of whoever opens it: the helper enters the
 * target, writes each file there and returns to its own namespace.
 */
static void sysctls(char **f, int n) {
  if (n < 3) {
    reply("%s\terr\tsysctl needs a namespace", n > 1 ? f[1] : "?");
    return;
  }
  int ns = open(f[2], O_RDONLY | O_CLOEXEC);
  if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
    reply("%s\terr\tenter %s: %s", f[1], f[2], strerror(errno));
    if (ns >= 0) close(ns);
    return;
  }
  close(ns);
  char err[300] = "";
  for (int i = 3; i < n && !err[0]; i++) {
    char *eq = strchr(f[i], '=');
    if (!eq || strncmp(f[i], "net.", 4) != 0 || strstr(f[i], "..") || strchr(f[i], '/')) {
      snprintf(err, sizeof err, "not a net.* key=value: %s", f[i]);
      break;
    }
    char path[256] = "/proc/sys/";
    size_t k = strlen(path);
    for (char *c = f[i]; c < eq && k < sizeof path - 1; c++) path[k++] = *c == '.' ? '/' : *c;
    path[k] = 0;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, eq + 1, strlen(eq + 1)) < 0) snprintf(err, sizeof err, "%s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
  }
  if (setns(home_ns, CLONE_NEWNET) < 0) {
    perror("flatlab-nsd: cannot return to its own namespace");
    exit(3);
  }
  if (err[0]) reply("%s\terr\t%s", f[1], err);
  else reply("%s\tok", f[1]);
}

/*
 * The kernel keeps one neighbour table for every namespace of the machine and cannot
 * reclaim an entry a timer holds; deleting one frees its slot at once. A large lab's
 * checks release each guest's entries once its probes are done (what they held is the
 * observation, returned here), and the nodes' after DHCP (dnsmasq's, one per client).
 * Netlink, in the namespace: a dump of AF_INET neighbours, then one delete each.
 */
static void neighbours(char **f, int n) {
  if (n < 3) {
    reply("%s\terr\tneighbours needs a namespace", n > 1 ? f[1] : "?");
    return;
  }
  char err[256];
  int fd = socket_in(f[2], AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, err, sizeof err);
  if (fd < 0) {
    reply("%s\terr\t%s", f[1], err);
    return;
  }
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  struct {
    struct nlmsghdr h;
    struct ndmsg m;
  } req = {.h = {.nlmsg_len = sizeof req, .nlmsg_type = RTM_GETNEIGH, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1}, .m = {.ndm_family = AF_INET}};
  static char out[65536];
  size_t used = 0;
  struct del {
    int ifindex;
    struct in_addr dst;
  } *dels = NULL;
  size_t ndel = 0, cap = 0;
  if (send(fd, &req, sizeof req, 0) < 0) {
    reply("%s\terr\tnetlink: %s", f[1], strerror(errno));
    close(fd);
    return;
  }
  char buf[32768];
  int done = 0;
  while (!done) {
    ssize_t len = recv(fd, buf, sizeof buf, 0);
    if (len <= 0) break;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
        done = 1;
        break;
      }
      if (h->nlmsg_type != RTM_NEWNEIGH) continue;
      struct ndmsg *m = NLMSG_DATA(h);
      if (m->ndm_family != AF_INET || (m->ndm_state & NUD_NOARP)) continue;
      struct in_addr dst = {0};
      unsigned char *ll = NULL;
      int have_dst = 0;
      int alen = RTM_PAYLOAD(h);
      for (struct rtattr *a = (struct rtattr *)((char *)m + NLMSG_ALIGN(sizeof *m)); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
        if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == 4) {
          memcpy(&dst, RTA_DATA(a), 4);
          have_dst = 1;
        } else if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
          ll = RTA_DATA(a);
        }
      }
      if (!have_dst) continue;
      if (ndel == cap) {
        cap = cap ? cap * 2 : 64;
        dels = realloc(dels, cap * sizeof *dels);
      }
      dels[ndel++] = (struct del){m->ndm_ifindex, dst};
      const char *state = (m->ndm_state & NUD_REACHABLE) ? "REACHABLE" : (m->ndm_state & NUD_STALE) ? "STALE" : (m->ndm_state & NUD_DELAY) ? "DELAY" : (m->ndm_state & NUD_PROBE) ? "PROBE" : (m->ndm_state & NUD_FAILED) ? "FAILED" : (m->ndm_state & NUD_INCOMPLETE) ? "INCOMPLETE" : (m->ndm_state & NUD_PERMANENT) ? "PERMANENT" : "NONE";
      char ip[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &dst, ip, sizeof ip);
      if (used < sizeof out - 80) {
        if (ll) used += snprintf(out + used, sizeof out - used, "\t%d,%s,%02x:%02x:%02x:%02x:%02x:%02x,%s", m->ndm_ifindex, ip, ll[0], ll[1], ll[2], ll[3], ll[4], ll[5], state);
        else used += snprintf(out + used, sizeof out - used, "\t%d,%s,,%s", m->ndm_ifindex, ip, state);
      }
    }
  }
  for (size_t i = 0; i < ndel; i++) {
    struct {
      struct nlmsghdr h;
      struct ndmsg m;
      struct rtattr a;
      struct in_addr dst;
    } d = {.h = {.nlmsg_len = sizeof d, .nlmsg_type = RTM_DELNEIGH, .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = (unsigned)i + 2},
           .m = {.ndm_family = AF_INET, .ndm_ifindex = dels[i].ifindex},
           .a = {.rta_len = RTA_LENGTH(4), .rta_type = NDA_DST},
           .dst = dels[i].dst};
    /* no ack asked: an entry gone meanwhile is as good as deleted */
    send(fd, &d, sizeof d, 0);
  }
  free(dels);
  close(fd);
  out[used] = 0;
  reply("%s\tok%s", f[1], out);
}

static void request(char *line) {
  char *f[MAX_FIELDS];
  int n = 0;
  for (char *s = line; n < MAX_FIELDS;) {
    f[n++] = s;
    char *t = strchr(s, '\t');
    if (!t) break;
    *t = 0;
    s = t + 1;
  }
  if (n == 0 || f[0][0] == 0) return;
  switch (f[0][0]) {
  case 'S': spawn(f, n); break;
  case 'P': probe(f, n); break;
  case 'M': mac(f, n); break;
  case 'C': sysctls(f, n); break;
  case 'N': neighbours(f, n); break;
  default: reply("%s\terr\tunknown request %s", n > 1 ? f[1] : "?", f[0]);
  }
}

int main(void) {
  home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home_ns < 0) {
    perror("flatlab-nsd: /proc/self/ns/net");
    return 3;
  }
  /* orphans of the guests (their scripts' children) are ours to reap, not PID 1's */
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  /* a terminal's Ctrl-C or hang-up is flatlab's to handle (it tears the lab down
     through this helper); the helper ends when flatlab closes its input */
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  for (int i = 0; i < MAX_PENDING; i++) pend[i].fd = -1;

  static char in[1 << 20];
  size_t used = 0;
  static struct pollfd pfd[MAX_PENDING + 2];
  static int idx[MAX_PENDING + 2];
  for (;;) {
    int np = 0;
    pfd[np++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    if (input_open) pfd[np++] = (struct pollfd){.fd = 0, .events = POLLIN};
    double t = now(), soonest = t + 60;
    for (int i = 0; i < MAX_PENDING; i++) {
      struct pending *p = &pend[i];
      if (p->kind == K_FREE) continue;
      if (t >= p->deadline) {
        finish(p, "unreachable", "timeout");
        continue;
      }
      if (p->deadline < soonest) soonest = p->deadline;
      idx[np] = i;
      pfd[np++] = (struct pollfd){.fd = p->fd, .events = p->kind == K_TCP ? POLLOUT : POLLIN};
    }
    if (!input_open && no_children) {
      int busy = 0;
      for (int i = 0; i < MAX_PENDING; i++) busy |= pend[i].kind != K_FREE;
      if (!busy) return 0;
    }
    int ms = (int)((soonest - t) * 1000) + 1;
    if (poll(pfd, np, ms < 0 ? 0 : ms) < 0 && errno != EINTR) {
      perror("flatlab-nsd: poll");
      return 3;
    }
    for (int j = 0; j < np; j++) {
      if (!pfd[j].revents) continue;
      if (pfd[j].fd == sfd) {
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) == sizeof si) {
        }
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
          reply("!\texit\t%d\t%d", (int)pid, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        if (pid < 0 && errno == ECHILD) no_children = 1;
      } else if (pfd[j].fd == 0 && input_open) {
        ssize_t r = read(0, in + used, sizeof in - 1 - used);
        if (r == 0) input_open = 0;
        if (r <= 0) continue;
        used += r;
        char *s = in, *nl;
        while ((nl = memchr(s, '\n', in + used - s))) {
          *nl = 0;
          request(s);
          s = nl + 1;
        }
        used = in + used - s;
        memmove(in, s, used);
      } else {
        struct pending *p = &pend[idx[j]];
        if (p->kind == K_ICMP) icmp_input(p);
        else if (p->kind != K_FREE) stream_input(p, pfd[j].revents);
      }
    }
  }
}
