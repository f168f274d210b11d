/*
 * nova-dhcpbridge, compiled: flatlab's stand-in for the --dhcp-script nova gave dnsmasq
 * (assets/nova-dhcpbridge says what it records and why), statically linked. dnsmasq runs
 * it once per lease event; as a shell script each event was a dynamically linked dash
 * started from dnsmasq's helper, and at a thousand guests that start-up was a tenth of
 * the DHCP phase's CPU (perf, 16x64). add/old/del append the same line to the same log
 * in one write; every other event (init: the leases still held, answered with awk) is
 * handed to the shell script beside the package's assets, which stays the one
 * definition of those.
 *
 *   add|old|del MAC IP [HOSTNAME]  ->  "<unix time> <event> <mac> <ip> <hostname|*>\n"
 *                                      appended to $FLATLAB_LEASE_LOG
 * The time is dnsmasq's (DNSMASQ_LEASE_EXPIRES - DNSMASQ_TIME_REMAINING) when it says
 * both, as the script computes it; else the clock.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what) {
  fprintf(stderr, "nova-dhcpbridge: %s\n", what);
  return 1;
}

/* the shell script: <package>/assets/nova-dhcpbridge, this binary being <package>/dist/native/ */
static int run_script(const char *event) {
  char self[PATH_MAX], script[PATH_MAX + 64];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n < 0) return fail("cannot read /proc/self/exe");
  self[n] = 0;
  snprintf(script, sizeof script, "%s/../../assets/nova-dhcpbridge", dirname(self));
  execv("/bin/sh", (char *[]){"sh", script, (char *)event, NULL});
  return fail("cannot run /bin/sh");
}

int main(int argc, char **argv) {
  if (argc < 2) return 0;
  const char *ev = argv[1];
  if (strcmp(ev, "add") && strcmp(ev, "old") && strcmp(ev, "del")) {
    if (strcmp(ev, "init")) return 0; /* tftp, arp: nova ignored them */
    return run_script(ev);
  }
  if (argc < 4) return fail("usage: add|old|del MAC IP [HOSTNAME]");
  const char *log = getenv("FLATLAB_LEASE_LOG");
  if (!log || !*log) return fail("FLATLAB_LEASE_LOG is not set");
  const char *exp = getenv("DNSMASQ_LEASE_EXPIRES"), *rem = getenv("DNSMASQ_TIME_REMAINING");
  long long now = (exp && *exp && rem && *rem) ? atoll(exp) - atoll(rem) : (long long)time(NULL);
  char line[1024];
  int len = snprintf(line, sizeof line, "%lld %s %s %s %s\n", now, ev, argv[2], argv[3], argc > 4 && *argv[4] ? argv[4] : "*");
  if (len < 0 || len >= (int)sizeof line) return fail("event too long");
  int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return fail("cannot open FLATLAB_LEASE_LOG");
  if (write(fd, line, len) != len) return fail("cannot write FLATLAB_LEASE_LOG");
  return close(fd) ? fail("cannot close FLATLAB_LEASE_LOG") : 0;
}
