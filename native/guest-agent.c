/*
 * flatlab-guest-agent: the agent of a `guest: vm` guest (src/backend/guest-agent.ts is
 * the other end). It reads requests from the virtio-serial port named flatlab.agent and
 * answers them; busybox init starts it (assets/guest/inittab) and starts it again should
 * it end. Static, like the guests' DHCP client script: under emulation (TCG) every fork
 * of a shell costs milliseconds of the guest's one CPU, and a lab's checks ask each
 * guest dozens of times while it leases, so the work is done here without a shell.
 *
 * Protocol, one line each way (every word base64, "-" for empty):
 *   host:  ID STDIN ARG...         run ARG... with STDIN on its standard input
 *   guest: ID RC STDOUT STDERR     how it ended (RC 126/127: not run)
 * "ready KERNEL-RELEASE" opens every connection: the port blocks that write until a host
 * is connected, and a read returns end-of-file once the host is gone; the port is then
 * closed and opened again for the next host. Commands run concurrently, answered as they
 * end. `cat FILE...` and `test -e FILE` are answered here, without a process: they are
 * what lease polls ask (a file's content, whether it exists).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_JOBS 64
#define MAX_LINE (1 << 20)

struct buf {
  char *p;
  size_t len, cap;
};

static void put(struct buf *b, const void *data, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
    if (!b->p) _exit(70);
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = 0;
}

struct job {
  int used;
  pid_t pid;
  int out, err; /* read ends, -1 once closed */
  int status;
  int exited;
  char id[64];
  struct buf o, e;
};

static struct job jobs[MAX_JOBS];
static int port = -1;

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64enc(struct buf *to, const char *s, size_t n) {
  if (n == 0) {
    put(to, "-", 1);
    return;
  }
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned char)s[i] << 16;
    if (i + 1 < n) v |= (unsigned char)s[i + 1] << 8;
    if (i + 2 < n) v |= (unsigned char)s[i + 2];
    char q[4] = {B64[(v >> 18) & 63], B64[(v >> 12) & 63], i + 1 < n ? B64[(v >> 6) & 63] : '=', i + 2 < n ? B64[v & 63] : '='};
    put(to, q, 4);
  }
}

/* Decodes a word in place; returns its length ("-" is empty). */
static size_t b64dec(char *s) {
  if (strcmp(s, "-") == 0) {
    s[0] = 0;
    return 0;
  }
  size_t n = 0;
  unsigned v = 0;
  int bits = 0;
  for (char *c = s; *c && *c != '='; c++) {
    const char *at = strchr(B64, *c);
    if (!at) continue;
    v = (v << 6) | (unsigned)(at - B64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      s[n++] = (char)((v >> bits) & 0xff);
    }
  }
  s[n] = 0;
  return n;
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return; /* the host went away: its answers go with it */
    }
    p += w;
    n -= (size_t)w;
  }
}

static void answer(const char *id, int rc, const char *out, size_t outn, const char *err, size_t errn) {
  struct buf line = {0};
  char head[96];
  int hn = snprintf(head, sizeof head, "%s %d ", id, rc);
  put(&line, head, (size_t)hn);
  b64enc(&line, out, outn);
  put(&line, " ", 1);
  b64enc(&line, err, errn);
  put(&line, "\n", 1);
  write_all(port, line.p, line.len);
  free(line.p);
}

/* `cat FILE...` and `test -e FILE`, answered without a process. */
static int builtin(const char *id, int argc, char **argv) {
  if (argc == 3 && strcmp(argv[0], "test") == 0 && strcmp(argv[1], "-e") == 0) {
    struct stat st;
    answer(id, stat(argv[2], &st) == 0 ? 0 : 1, "", 0, "", 0);
    return 1;
  }
  if (argc >= 2 && strcmp(argv[0], "cat") == 0) {
    struct buf o = {0}, e = {0};
    int rc = 0;
    for (int i = 1; i < argc; i++) {
      int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        char msg[512];
        int n = snprintf(msg, sizeof msg, "cat: can't open '%s': %s\n", argv[i], strerror(errno));
        put(&e, msg, (size_t)n);
        rc = 1;
        continue;
      }
      char chunk[8192];
      ssize_t r;
      while ((r = read(fd, chunk, sizeof chunk)) > 0) put(&o, chunk, (size_t)r);
      close(fd);
    }
    answer(id, rc, o.p ? o.p : "", o.len, e.p ? e.p : "", e.len);
    free(o.p);
    free(e.p);
    return 1;
  }
  return 0;
}

static void start(char *line) {
  char *save = NULL;
  char *id = strtok_r(line, " ", &save);
  char *in = strtok_r(NULL, " ", &save);
  if (!id || !in) return;
  char *argv[256];
  int argc = 0;
  for (char *w; argc < 255 && (w = strtok_r(NULL, " ", &save));) {
    b64dec(w);
    argv[argc++] = w;
  }
  argv[argc] = NULL;
  if (argc == 0) {
    answer(id, 127, "", 0, "no command\n", 11);
    return;
  }
  if (builtin(id, argc, argv)) return;
  struct job *j = NULL;
  for (int i = 0; i < MAX_JOBS && !j; i++)
    if (!jobs[i].used) j = &jobs[i];
  if (!j) {
    answer(id, 126, "", 0, "agent busy\n", 11);
    return;
  }
  size_t inn = b64dec(in);
  int pin[2], pout[2], perr[2];
  if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC)) {
    answer(id, 126, "", 0, "pipe failed\n", 12);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pin[0], 0);
    dup2(pout[1], 1);
    dup2(perr[1], 2);
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], argv);
    fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  close(pin[0]);
  close(pout[1]);
  close(perr[1]);
  /* small inputs (a file's text): written whole, then the end of input */
  write_all(pin[1], in, inn);
  close(pin[1]);
  if (pid < 0) {
    close(pout[0]);
    close(perr[0]);
    answer(id, 126, "", 0, "fork failed\n", 12);
    return;
  }
  memset(j, 0, sizeof *j);
  j->used = 1;
  j->pid = pid;
  j->out = pout[0];
  j->err = perr[0];
  snprintf(j->id, sizeof j->id, "%s", id);
}

static void finish_if_done(struct job *j) {
  if (!j->used || j->out >= 0 || j->err >= 0) return;
  if (!j->exited) {
    if (waitpid(j->pid, &j->status, 0) < 0) j->status = 126 << 8;
    j->exited = 1;
  }
  int rc = WIFEXITED(j->status) ? WEXITSTATUS(j->status) : 128 + WTERMSIG(j->status);
  answer(j->id, rc, j->o.p ? j->o.p : "", j->o.len, j->e.p ? j->e.p : "", j->e.len);
  free(j->o.p);
  free(j->e.p);
  j->used = 0;
}

static int drain(int *fd, struct buf *b) {
  char chunk[8192];
  ssize_t r = read(*fd, chunk, sizeof chunk);
  if (r > 0) {
    put(b, chunk, (size_t)r);
    return 1;
  }
  if (r < 0 && errno == EINTR) return 1;
  close(*fd);
  *fd = -1;
  return 0;
}

static const char *find_port(void) {
  static char path[300];
  DIR *d = opendir("/sys/class/virtio-ports");
  if (!d) return NULL;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char name[300], want[64] = {0};
    snprintf(name, sizeof name, "/sys/class/virtio-ports/%s/name", e->d_name);
    int fd = open(name, O_RDONLY);
    if (fd < 0) continue;
    ssize_t n = read(fd, want, sizeof want - 1);
    close(fd);
    if (n > 0 && strncmp(want, "flatlab.agent", 13) == 0) {
      snprintf(path, sizeof path, "/dev/%s", e->d_name);
      closedir(d);
      return path;
    }
  }
  closedir(d);
  return NULL;
}

/* One host's connection: until its end of the port closes. */
static void serve(void) {
  static char line[MAX_LINE];
  size_t have = 0;
  for (;;) {
    struct pollfd fds[1 + 2 * MAX_JOBS];
    struct {
      struct job *j;
      int err;
    } who[1 + 2 * MAX_JOBS];
    int n = 0;
    fds[n++] = (struct pollfd){.fd = port, .events = POLLIN};
    for (int i = 0; i < MAX_JOBS; i++) {
      if (!jobs[i].used) continue;
      if (jobs[i].out >= 0) who[n] = (typeof(who[0])){&jobs[i], 0}, fds[n++] = (struct pollfd){.fd = jobs[i].out, .events = POLLIN};
      if (jobs[i].err >= 0) who[n] = (typeof(who[0])){&jobs[i], 1}, fds[n++] = (struct pollfd){.fd = jobs[i].err, .events = POLLIN};
    }
    if (poll(fds, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 1; i < n; i++) {
      if (!fds[i].revents) continue;
      struct job *j = who[i].j;
      if (!drain(who[i].err ? &j->err : &j->out, who[i].err ? &j->e : &j->o)) finish_if_done(j);
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(port, line + have, sizeof line - 1 - have);
      if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) return;
      if (r < 0) continue;
      have += (size_t)r;
      char *nl;
      while ((nl = memchr(line, '\n', have))) {
        *nl = 0;
        start(line);
        size_t used = (size_t)(nl - line) + 1;
        memmove(line, nl + 1, have - used);
        have -= used;
      }
      if (have == sizeof line - 1) have = 0; /* a line too long for anyone: dropped */
    }
  }
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const char *path = find_port();
  if (!path) {
    fprintf(stderr, "flatlab-guest-agent: no virtio port named flatlab.agent\n");
    pause();
    return 1;
  }
  struct utsname u;
  uname(&u);
  char ready[128];
  int rn = snprintf(ready, sizeof ready, "ready %s\n", u.release);
  for (;;) {
    port = open(path, O_RDWR | O_CLOEXEC);
    if (port < 0) {
      perror(path);
      return 1;
    }
    write_all(port, ready, (size_t)rn); /* blocks until a host is connected */
    serve();
    close(port);
  }
}
