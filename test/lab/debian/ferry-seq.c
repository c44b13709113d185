/*
 * ferry-seq: streams 1, 2, 3, ... one number per line to the client on
 * stdout (a socket, from ferry-seq.socket with Accept=yes) at a steady
 * rate (argument, else ferry.seq_rate= on the kernel command line: numbers
 * per second, default 2000). Each client has its
 * own sequence, so a client that sees a number skipped or repeated across
 * a migration saw its TCP connection lose or replay data. After a pause
 * (a migration's switchover) it sends what it owes at once: the sequence
 * stays gap-free whatever the pause.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "cmdline.h"

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  double rate = argc > 1 ? atof(argv[1]) : cmdline_number("ferry.seq_rate", 2000);
  if (rate <= 0) rate = 2000;
  unsigned long long next = 1;
  char buffer[1 << 16];
  double started = now_seconds();
  for (;;) {
    unsigned long long owed = (unsigned long long)((now_seconds() - started) * rate) + 1;
    size_t used = 0;
    while (next <= owed && used + 24 < sizeof buffer) used += (size_t)snprintf(buffer + used, 24, "%llu\n", next++);
    /* A closed connection ends the write with EPIPE (or SIGPIPE): the client is gone. */
    for (size_t sent = 0; sent < used;) {
      ssize_t n = write(1, buffer + sent, used - sent);
      if (n <= 0) return 0;
      sent += (size_t)n;
    }
    usleep(1000);
  }
}
