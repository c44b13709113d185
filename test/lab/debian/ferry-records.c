/*
 * ferry-records: appends checksummed records (records.h) to
 * /var/lib/ferry/records at a steady rate (argument, else
 * ferry.records_rate= on the kernel command line: records per second,
 * default 20), each made durable with fdatasync before its number goes to
 * /run/ferry-records.acknowledged. On start it checks what the file holds:
 * a torn last line (a crash mid-write) is cut off, any other damage stops
 * it (the unit fails, and the system is no longer `running`).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cmdline.h"
#include "records.h"

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void acknowledge(int fd, unsigned long long number) {
  char text[32];
  int n = snprintf(text, sizeof text, "%20llu\n", number);
  pwrite(fd, text, (size_t)n, 0);
}

int main(int argc, char **argv) {
  double rate = argc > 1 ? atof(argv[1]) : cmdline_number("ferry.records_rate", 20);
  if (rate <= 0) rate = 20;
  mkdir("/var/lib/ferry", 0755);
  int fd = open(RECORDS_FILE, O_RDWR | O_CREAT | O_APPEND, 0644);
  int acked = open(RECORDS_ACKNOWLEDGED, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || acked < 0) { perror("ferry-records: open"); return 1; }
  struct stat st;
  fstat(fd, &st);
  unsigned long long records = (unsigned long long)st.st_size / RECORD_LINE;
  char line[RECORD_LINE];
  for (unsigned long long n = 1; n <= records; n++) {
    if (pread(fd, line, RECORD_LINE, (off_t)((n - 1) * RECORD_LINE)) != RECORD_LINE || records_check(line, n) != n) {
      printf("ferry-records: record %llu of %llu is corrupt; not writing\n", n, records);
      return 1;
    }
  }
  if ((unsigned long long)st.st_size % RECORD_LINE) {
    printf("ferry-records: cutting a torn last record (%llu bytes)\n", (unsigned long long)st.st_size % RECORD_LINE);
    if (ftruncate(fd, (off_t)(records * RECORD_LINE)) < 0) { perror("ferry-records: ftruncate"); return 1; }
  }
  unsigned long long generation;
  if (getrandom(&generation, sizeof generation, 0) != sizeof generation) generation = (unsigned long long)time(NULL);
  acknowledge(acked, records);
  printf("ferry-records: %llu records intact; appending %g a second as generation %016llx\n", records, rate, generation);
  fflush(stdout);
  double started = now_seconds();
  for (unsigned long long next = records + 1;; next++) {
    records_format(line, next, generation);
    if (write(fd, line, RECORD_LINE) != RECORD_LINE || fdatasync(fd) < 0) {
      printf("ferry-records: writing record %llu failed: %s\n", next, strerror(errno));
      return 1;
    }
    acknowledge(acked, next);
    double wait = started + (double)(next - records) / rate - now_seconds();
    if (wait > 0) usleep((useconds_t)(wait * 1e6));
    else if (wait < -1) { started = now_seconds(); records = next; } /* paused long: do not burst */
  }
}
