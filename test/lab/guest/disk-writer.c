/*
 * The small guest's disk workload: verifies the ring of records already on
 * /dev/vda (a fresh QEMU on an existing image), then appends records at
 * ferry.disk_rate per second, each written with O_DIRECT|O_DSYNC so it is
 * on the image before it counts as acknowledged. The probe's replies carry
 * the last acknowledged number (disk_acknowledged()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "disk-records.h"
#include "disk-writer.h"

#define RING_DEFAULT_BYTES (64ull << 20)
#define SCAN_CHUNK (1u << 20)

static _Atomic uint64_t acknowledged;

uint64_t disk_acknowledged(void) { return acknowledged; }

struct disk { int fd; uint64_t slots; uint64_t next; uint64_t generation; long rate; };

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads the whole ring: the highest intact record, and the lowest one below
   it that is missing or corrupt. The oldest slot is left out: it is the one
   the next record overwrites, so a write torn by a crash lands there. */
static int scan_ring(int fd, uint64_t slots, struct ring_state *state) {
  uint64_t *found = calloc(slots, sizeof *found);
  unsigned char *chunk;
  if (!found || posix_memalign((void **)&chunk, RECORD_BYTES, SCAN_CHUNK)) return -1;
  memset(state, 0, sizeof *state);
  for (uint64_t slot = 0; slot < slots; slot += SCAN_CHUNK / RECORD_BYTES) {
    ssize_t got = pread(fd, chunk, SCAN_CHUNK, (off_t)(slot * RECORD_BYTES));
    if (got <= 0) break;
    for (uint64_t i = 0; i < (uint64_t)got / RECORD_BYTES && slot + i < slots; i++) {
      uint64_t number = record_check(chunk + i * RECORD_BYTES, slot + i, slots);
      if (number == UINT64_MAX) state->corrupt++;
      else if (number > state->last) state->last = number;
      found[slot + i] = number == UINT64_MAX ? 0 : number;
    }
  }
  uint64_t oldest = state->last + 2 > slots ? state->last + 2 - slots : 1;
  for (uint64_t n = oldest; n <= state->last; n++) {
    if (found[(n - 1) % slots] != n) { state->first_bad = n; break; }
  }
  free(found);
  free(chunk);
  return 0;
}

static void *write_records(void *arg) {
  struct disk *disk = arg;
  unsigned char *block;
  if (posix_memalign((void **)&block, RECORD_BYTES, RECORD_BYTES)) return NULL;
  double per_tick = disk->rate / 100.0, owed = 0, tick = now_seconds();
  int failing = 0;
  for (;;) {
    owed += per_tick;
    while (owed >= 1) {
      record_fill(block, disk->next, disk->generation, disk->slots);
      off_t offset = (off_t)(((disk->next - 1) % disk->slots) * RECORD_BYTES);
      if (pwrite(disk->fd, block, RECORD_BYTES, offset) == RECORD_BYTES) {
        acknowledged = disk->next++;
        failing = 0;
        owed -= 1;
      } else {
        if (!failing) { printf("ferry-disk: write of record %llu failed: %s\n", (unsigned long long)disk->next, strerror(errno)); fflush(stdout); }
        failing = 1;
        owed = 0; /* retry the same record next tick */
      }
    }
    tick += 0.01;
    double wait = tick - now_seconds();
    if (wait > 0) usleep((useconds_t)(wait * 1e6));
    else if (wait < -1) { tick = now_seconds(); owed = 0; } /* fell far behind (paused, slow disk): do not burst */
  }
}

int disk_start(const char *device, long rate, long ring_mb) {
  int fd = -1;
  /* virtio_blk probes the disk asynchronously: wait for the node. */
  for (int i = 0; i < 100 && fd < 0; i++) {
    fd = open(device, O_RDWR | O_DIRECT | O_DSYNC);
    if (fd < 0) usleep(100000);
  }
  uint64_t bytes = 0;
  if (fd < 0 || ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
    printf("ferry-disk: failed: cannot open %s: %s\n", device, strerror(errno));
    fflush(stdout);
    return -1;
  }
  uint64_t ring = ring_mb > 0 ? (uint64_t)ring_mb << 20 : RING_DEFAULT_BYTES;
  if (ring > bytes) ring = bytes;
  static struct disk disk;
  disk.fd = fd;
  disk.slots = ring / RECORD_BYTES;
  disk.rate = rate;
  if (disk.slots < 2) { printf("ferry-disk: failed: %s is too small\n", device); fflush(stdout); return -1; }
  struct ring_state state;
  if (scan_ring(fd, disk.slots, &state) < 0) { printf("ferry-disk: failed: out of memory\n"); fflush(stdout); return -1; }
  if (getrandom(&disk.generation, sizeof disk.generation, 0) != sizeof disk.generation) disk.generation = (uint64_t)time(NULL);
  disk.next = state.last + 1;
  acknowledged = state.last;
  printf("ferry-disk: verified last=%llu first_bad=%llu corrupt=%llu slots=%llu\n",
         (unsigned long long)state.last, (unsigned long long)state.first_bad,
         (unsigned long long)state.corrupt, (unsigned long long)disk.slots);
  printf("ferry-disk: ready device=%s rate=%ld generation=%016llx\n", device, rate, (unsigned long long)disk.generation);
  fflush(stdout);
  if (rate <= 0) return 0;
  pthread_t writer;
  return pthread_create(&writer, NULL, write_records, &disk) == 0 ? 0 : -1;
}
