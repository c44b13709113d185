/*
 * ferry lab guest workload: runs as the guest's only program.
 *  - answers UDP datagrams on ferry.port (default 7777): the reply is the
 *    request's first 8 bytes (the probe's sequence number) followed by a
 *    64-bit counter that only ever increases while this guest lives; a
 *    reboot or lost state shows up as the counter going backwards;
 *  - dirties ferry.dirty_mb MiB of memory at ferry.dirty_rate MB/s
 *    (0 = idle), writing a changing value so no page compresses to zero;
 *  - with ferry.disk=DEV (e.g. vda), verifies the records on /dev/DEV and
 *    appends ferry.disk_rate records per second (disk-writer.c); the reply
 *    then also carries the last record acknowledged as on the disk (0 if
 *    none), after the counter: a probe that reads only 16 bytes still works.
 * It prints "ferry-workload: ready" once its memory is populated (and its
 * disk verified), so a test migrates only a guest whose workload is really
 * running (LAB.md).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "disk-writer.h"

#define PAGE 4096

static long param(const char *cmdline, const char *key, long fallback) {
  const char *at = strstr(cmdline, key);
  if (!at) return fallback;
  return strtol(at + strlen(key), NULL, 10);
}

/* A word-valued parameter (up to the next space), or NULL. */
static const char *word_param(const char *cmdline, const char *key, char *out, size_t size) {
  const char *at = strstr(cmdline, key);
  if (!at) return NULL;
  at += strlen(key);
  size_t n = strcspn(at, " \n");
  if (n == 0 || n >= size) return NULL;
  memcpy(out, at, n);
  out[n] = 0;
  return out;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct dirty_job { size_t bytes; long rate_mb; };

static void *dirty_memory(void *arg) {
  struct dirty_job *job = arg;
  size_t pages = job->bytes / PAGE;
  uint64_t *mem = NULL;
  if (pages > 0) {
    mem = malloc(job->bytes);
    if (!mem) { printf("ferry-workload: malloc failed\n"); fflush(stdout); return NULL; }
    /* Populate page by page from user space: a long in-kernel fill that is
       in flight during migration is what breaks under QEMU 7.2 TCG. */
    for (size_t p = 0; p < pages; p++) mem[p * (PAGE / 8)] = p + 1;
  }
  printf("ferry-workload: ready dirty_mb=%zu dirty_rate=%ld\n", job->bytes >> 20, job->rate_mb);
  fflush(stdout);
  if (pages == 0 || job->rate_mb <= 0) return NULL;

  /* Every 10 ms, dirty the pages that keep the average at rate_mb MB/s. */
  double per_tick = job->rate_mb * 1e6 / PAGE / 100.0, owed = 0;
  /* Start past the values the buffer was populated with: every write then
     changes its page, as a real guest's writes do. Rewriting equal values
     is dirty to QEMU's bitmap but invisible to calc-dirty-rate's sampling,
     which compares page contents. */
  uint64_t stamp = pages;
  size_t next = 0;
  double tick = now_seconds();
  for (;;) {
    owed += per_tick;
    while (owed >= 1) {
      mem[next * (PAGE / 8)] = ++stamp;
      next = (next + 1) % pages;
      owed -= 1;
    }
    tick += 0.01;
    double wait = tick - now_seconds();
    if (wait > 0) usleep((useconds_t)(wait * 1e6));
    else if (wait < -1) tick = now_seconds(); /* fell far behind (e.g. paused): do not burst */
  }
}

int main(void) {
  char cmdline[4096] = {0};
  FILE *f = fopen("/proc/cmdline", "r");
  if (f) { fread(cmdline, 1, sizeof cmdline - 1, f); fclose(f); }
  long port = param(cmdline, "ferry.port=", 7777);
  static struct dirty_job job;
  job.bytes = (size_t)param(cmdline, "ferry.dirty_mb=", 0) << 20;
  job.rate_mb = param(cmdline, "ferry.dirty_rate=", 0);

  int sock = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
  if (sock < 0 || bind(sock, (struct sockaddr *)&addr, sizeof addr) < 0) {
    perror("ferry-workload: bind");
    return 1;
  }
  char disk_name[64], device[80];
  if (word_param(cmdline, "ferry.disk=", disk_name, sizeof disk_name)) {
    snprintf(device, sizeof device, "/dev/%s", disk_name);
    disk_start(device, param(cmdline, "ferry.disk_rate=", 0), param(cmdline, "ferry.disk_ring_mb=", 0));
  }
  pthread_t dirtier;
  pthread_create(&dirtier, NULL, dirty_memory, &job);

  uint64_t counter = 0;
  unsigned char buf[64];
  for (;;) {
    struct sockaddr_in peer;
    socklen_t peer_len = sizeof peer;
    ssize_t n = recvfrom(sock, buf, sizeof buf, 0, (struct sockaddr *)&peer, &peer_len);
    if (n < 8) continue;
    counter++;
    memcpy(buf + 8, &counter, sizeof counter);
    uint64_t acknowledged = disk_acknowledged();
    memcpy(buf + 16, &acknowledged, sizeof acknowledged);
    sendto(sock, buf, 24, 0, (struct sockaddr *)&peer, peer_len);
  }
}
