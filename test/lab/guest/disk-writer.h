#ifndef FERRY_DISK_WRITER_H
#define FERRY_DISK_WRITER_H
#include <stdint.h>

/* Verifies the records on `device`, prints the result, then writes `rate`
   records per second from a thread (0: verify only). `ring_mb` (0: 64 MiB
   or the whole disk if smaller) bounds the ring. Returns -1 on failure. */
int disk_start(const char *device, long rate, long ring_mb);
/* The number of the last record known to be on the disk. */
uint64_t disk_acknowledged(void);

#endif
