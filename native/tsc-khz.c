/*
 * flatlab-tsc-khz: this machine's TSC rate in kHz, for vm guests under TCG.
 *
 * Why: QEMU's TCG gives a guest the host's own TSC (cpu_get_ticks() reads rdtsc), but the
 * guest kernel must learn its rate by counting it against the PIT, which under emulation
 * on a busy machine fails ("tsc: Unable to calibrate against PIT", the TSC marked
 * unstable). The guest then keeps time by counting timer ticks (refined-jiffies), and
 * QEMU delivers the ticks its guest missed while descheduled in a burst: the guest's
 * clock leaps, and a probe's 2 s wait ends before the answer already at its NIC is read.
 * With this rate on the guest's command line (tsc_early_khz=) the TSC is its clocksource.
 *
 * How: rdtsc against CLOCK_MONOTONIC_RAW across a 200 ms sleep. Both keep counting while
 * this process is descheduled, so the sleep's length does not matter; each end is the
 * pair of reads with the least time between its two clock reads (of 16), so a preemption
 * between them does not either. Prints nothing and exits 1 where there is no TSC.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>

static int64_t ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC_RAW, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* the TSC at a time, read between two clock reads as close together as 16 tries give */
static void pair(uint64_t *tsc, int64_t *at) {
  int64_t best = INT64_MAX;
  for (int i = 0; i < 16; i++) {
    int64_t a = ns();
    uint64_t c = __rdtsc();
    int64_t b = ns();
    if (b - a < best) {
      best = b - a;
      *tsc = c;
      *at = a + (b - a) / 2;
    }
  }
}

int main(void) {
  uint64_t c0, c1;
  int64_t t0, t1;
  pair(&c0, &t0);
  struct timespec d = {0, 200000000};
  nanosleep(&d, NULL);
  pair(&c1, &t1);
  if (t1 <= t0 || c1 <= c0) return 1;
  printf("%.0f\n", (double)(c1 - c0) * 1e6 / (double)(t1 - t0));
  return 0;
}
#else
int main(void) { return 1; }
#endif
