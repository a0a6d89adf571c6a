/*
 * dllt-bpfdrain: hands the socket events of dllt's bpftrace program over to dllt in batches,
 * read straight out of the program's event map (ebpf-socket-source.ts drives it;
 * docs/design/0005-attribution-cost.md).
 *
 * Why: bpftrace's printf costs ~20 us of bpftrace's CPU per line (a perf-buffer wake-up and
 * formatting) and as much again in Node for the JSON around it; at 1,000 connections a second
 * that was more CPU than the rest of dllt. The program stores each event as one key of a BPF
 * hash map instead (bpftrace-program.ts), and this helper empties that map every few tens of
 * milliseconds with BPF_MAP_LOOKUP_AND_DELETE_BATCH: a few system calls per thousand events,
 * and bpftrace itself stays asleep.
 *
 *   dllt-bpfdrain PID MAP KEY_SIZE INTERVAL_MS KIND...
 *
 * PID is bpftrace's; MAP the map's name in the program without "@" (bpftrace names it "AT_MAP");
 * KEY_SIZE the key size the program's layout gives (checked: another bpftrace version laying
 * keys out differently is refused, not misread); KIND the event kind names by their code: only
 * their number counts, an event with a higher code is none of the program's and is dropped.
 * Key layout, every integer 8 bytes little-endian as bpftrace stores map keys:
 *   kind tsNs pid tid cgroup netns socket family localPort remotePort a b c  (13 integers)
 *   localIp4 remoteIp4 localIp6 remoteIp6  (bpftrace inet values: 8-byte family, 16 bytes)
 *   comm  (16 bytes, NUL-padded)
 *
 * Output on stdout, in kernel time order within each batch:
 *   one event per binary record of RECORD_BYTES, starting with the byte 'E' (write_event);
 *   text records, each ended by a NUL byte: "+MAX_ENTRIES" once the map is found; "!REASON"
 *   when it cannot be, then exit 1; "#full" after a batch that filled the map: events may have
 *   been lost; "?REASON" (below).
 * It drains once more and exits when its stdin closes or bpftrace is gone.
 *
 * Input on stdin, one line each: "L NETNS PORT PID TID CGROUP COMM" (tab-separated, COMM the
 * rest of the line) puts the owner of a listener older than bpftrace into the program's
 * listener map (AT_lis: key netns, port; value pid, tid, cgroup, comm[16]), so the kernel
 * credits its accepted connections as it does those of listeners it saw start. A line for a
 * program without that map, or one laid out otherwise, answers "?REASON" once.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <linux/bpf.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define INTEGERS 13
#define INET_BYTES 24
#define COMM_BYTES 16
#define LAYOUT_BYTES (INTEGERS * 8 + 4 * INET_BYTES + COMM_BYTES)
#define MAX_KINDS 32
#define BATCH 4096
#define MAP_WAIT_MS 10000
#define RECORD_BYTES 112
#define LISTENER_MAP_WAIT_MS 1000
#define INPUT_BYTES 4096
#define LISTENER_KEY_BYTES 16
#define LISTENER_VALUE_BYTES (3 * 8 + COMM_BYTES)

enum { KIND, TS, PID, TID, CGROUP, NETNS, SOCKET, FAMILY, LOCAL_PORT, REMOTE_PORT, A, B, C };

static long bpf(int cmd, union bpf_attr *attr) { return syscall(__NR_bpf, cmd, attr, sizeof *attr); }

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  putchar('!');
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\0');
  fflush(stdout);
  exit(1);
}

/* The map named AT_<name> among the BPF maps process `pid` holds, or -1. */
static int find_map(int pid, const char *name, struct bpf_map_info *info) {
  char want[BPF_OBJ_NAME_LEN + 4];
  snprintf(want, sizeof want, "AT_%s", name);
  char dir_path[64];
  snprintf(dir_path, sizeof dir_path, "/proc/%d/fdinfo", pid);
  DIR *dir = opendir(dir_path);
  if (dir == NULL) fail("cannot list %s: %s (has bpftrace exited?)", dir_path, strerror(errno));
  struct dirent *entry;
  int found = -1;
  while (found < 0 && (entry = readdir(dir)) != NULL) {
    char path[352], line[128];
    snprintf(path, sizeof path, "%s/%s", dir_path, entry->d_name);
    FILE *f = fopen(path, "r");
    if (f == NULL) continue;
    unsigned id = 0;
    int has_id = 0;
    while (fgets(line, sizeof line, f) != NULL)
      if (sscanf(line, "map_id: %u", &id) == 1) has_id = 1;
    fclose(f);
    if (!has_id) continue;
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_id = id;
    int fd = bpf(BPF_MAP_GET_FD_BY_ID, &attr);
    if (fd < 0 && (errno == EPERM || errno == EACCES))
      fail("opening bpftrace's maps by id needs CAP_SYS_ADMIN: %s", strerror(errno));
    if (fd < 0) continue;
    memset(info, 0, sizeof *info);
    memset(&attr, 0, sizeof attr);
    attr.info.bpf_fd = fd;
    attr.info.info_len = sizeof *info;
    attr.info.info = (uintptr_t)info;
    if (bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) == 0 && strcmp(info->name, want) == 0)
      found = fd;
    else
      close(fd);
  }
  closedir(dir);
  return found;
}

static uint64_t integer(const unsigned char *key, int column) {
  uint64_t v;
  memcpy(&v, key + column * 8, 8);
  return v;
}

static int kind_count;
static unsigned key_size;
static unsigned char *keys;
static unsigned char *values;
static uint32_t *order;

static int by_time(const void *x, const void *y) {
  uint64_t a = integer(keys + (size_t)*(const uint32_t *)x * key_size, TS);
  uint64_t b = integer(keys + (size_t)*(const uint32_t *)y * key_size, TS);
  return a < b ? -1 : a > b;
}

/* One event as a fixed binary record (DRAINED_EVENT_BYTES in drained-event.ts, which reads it):
 * formatting text here and parsing it again in Node was most of both sides' cost per event.
 * Little-endian; addresses in network byte order as the kernel keeps them, IPv4 in the first
 * four bytes. */
static void write_event(const unsigned char *key) {
  uint64_t kind = integer(key, KIND);
  if (kind >= (uint64_t)kind_count) return;
  unsigned char record[RECORD_BYTES];
  memset(record, 0, sizeof record);
  record[0] = 'E';
  record[1] = (unsigned char)kind;
  record[2] = (unsigned char)integer(key, FAMILY);
  uint16_t ports[2] = {(uint16_t)integer(key, LOCAL_PORT), (uint16_t)integer(key, REMOTE_PORT)};
  memcpy(record + 4, ports, sizeof ports);
  uint64_t socket = integer(key, SOCKET);
  uint32_t small[6] = {(uint32_t)integer(key, PID), (uint32_t)integer(key, TID), (uint32_t)integer(key, NETNS),
                       (uint32_t)socket, (uint32_t)(socket >> 32), (uint32_t)integer(key, C)};
  memcpy(record + 8, small, sizeof small);
  uint64_t wide[4] = {integer(key, TS), integer(key, CGROUP), integer(key, A), integer(key, B)};
  memcpy(record + 32, wide, sizeof wide);
  /* The pair of the event's own family (IPv4 pair, then IPv6 pair in the key). */
  int first = integer(key, FAMILY) == AF_INET6 ? 2 : 0;
  const unsigned char *addresses = key + INTEGERS * 8;
  memcpy(record + 64, addresses + first * INET_BYTES + 8, 16);
  memcpy(record + 80, addresses + (first + 1) * INET_BYTES + 8, 16);
  memcpy(record + 96, addresses + 4 * INET_BYTES, COMM_BYTES);
  fwrite(record, 1, sizeof record, stdout);
}

/* Empties the map (every entry read and deleted by the kernel in batches), prints the events
 * in time order; returns how many there were. */
static size_t drain(int map, size_t capacity) {
  size_t n = 0;
  uint64_t in_batch = 0, out_batch = 0;
  int first = 1;
  while (n < capacity) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.batch.map_fd = map;
    attr.batch.in_batch = first ? 0 : (uintptr_t)&in_batch;
    attr.batch.out_batch = (uintptr_t)&out_batch;
    attr.batch.keys = (uintptr_t)(keys + n * key_size);
    attr.batch.values = (uintptr_t)values;
    attr.batch.count = capacity - n < BATCH ? capacity - n : BATCH;
    long r = bpf(BPF_MAP_LOOKUP_AND_DELETE_BATCH, &attr);
    int err = r < 0 ? errno : 0;
    n += attr.batch.count;
    if (err == ENOENT) break;
    if (err != 0) fail("reading the event map: %s", strerror(err));
    in_batch = out_batch;
    first = 0;
  }
  for (size_t i = 0; i < n; i++) order[i] = i;
  qsort(order, n, sizeof *order, by_time);
  for (size_t i = 0; i < n; i++) write_event(keys + (size_t)order[i] * key_size);
  return n;
}

/* The listener map's fd once found; NO_MAP while it may still appear (bpftrace makes its maps
 * one by one, after announcing its probes), GAVE_UP when it did not within LISTENER_MAP_WAIT_MS
 * of the event map, BAD_LAYOUT when it is not laid out as seed_listener writes. */
enum { NO_MAP = -1, GAVE_UP = -2, BAD_LAYOUT = -3 };
static int listeners = NO_MAP;
static int bpftrace_pid;
static struct timespec event_map_found;

static long elapsed_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - event_map_found.tv_sec) * 1000 + (now.tv_nsec - event_map_found.tv_nsec) / 1000000;
}

/* Whether input lines can be handled now: the map is found, or will never be. */
static int listener_map_settled(void) {
  if (listeners != NO_MAP) return 1;
  struct bpf_map_info info;
  int fd = find_map(bpftrace_pid, "lis", &info);
  if (fd >= 0 && (info.key_size != LISTENER_KEY_BYTES || info.value_size != LISTENER_VALUE_BYTES)) {
    close(fd);
    listeners = BAD_LAYOUT;
  } else if (fd >= 0) {
    listeners = fd;
  } else if (elapsed_ms() >= LISTENER_MAP_WAIT_MS) {
    listeners = GAVE_UP;
  }
  return listeners != NO_MAP;
}

/* One "L NETNS PORT PID TID CGROUP COMM" line (tabs between), NUL-terminated, into AT_lis. */
static void seed_listener(char *line) {
  static int complained;
  if (listeners < 0) {
    if (!complained)
      printf("?%s%c", listeners == GAVE_UP ? "the program has no listener map (AT_lis)" : "the listener map (AT_lis) is not laid out as (netns, port) -> (pid, tid, cgroup, comm)", 0);
    complained = 1;
    return;
  }
  uint64_t numbers[5];
  char *at = line + 1;
  for (int i = 0; i < 5; i++) {
    if (*at != '\t') return;
    char *end;
    numbers[i] = strtoull(at + 1, &end, 10);
    if (end == at + 1) return;
    at = end;
  }
  if (*at != '\t') return;
  unsigned char key[LISTENER_KEY_BYTES], value[LISTENER_VALUE_BYTES];
  memcpy(key, &numbers[0], 8);
  memcpy(key + 8, &numbers[1], 8);
  memset(value, 0, sizeof value);
  memcpy(value, &numbers[2], 24);
  strncpy((char *)value + 24, at + 1, COMM_BYTES - 1);
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_fd = (uint32_t)listeners;
  attr.key = (uintptr_t)key;
  attr.value = (uintptr_t)value;
  attr.flags = BPF_NOEXIST;
  /* EEXIST: listen() since bpftrace attached already told the kernel, and wins. */
  if (bpf(BPF_MAP_UPDATE_ELEM, &attr) < 0 && errno != EEXIST && !complained) {
    printf("?writing the listener map (AT_lis): %s%c", strerror(errno), 0);
    complained = 1;
  }
}

/* Handles the complete lines of input[0, length) that can be handled now; returns the length of
 * the rest, moved to the front (a line longer than the buffer is dropped). */
static size_t take_lines(char *input, size_t length) {
  size_t start = 0;
  for (size_t i = 0; i < length; i++) {
    if (input[i] != '\n') continue;
    if (input[start] == 'L') {
      if (!listener_map_settled()) break;
      input[i] = 0;
      seed_listener(input + start);
    }
    start = i + 1;
  }
  size_t rest = length - start;
  if (rest == length && length >= INPUT_BYTES - 1 && memchr(input, '\n', length) == NULL) return 0;
  memmove(input, input + start, rest);
  return rest;
}

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  static char out[1 << 20];
  setvbuf(stdout, out, _IOFBF, sizeof out);
  if (argc < 6) fail("usage: dllt-bpfdrain PID MAP KEY_SIZE INTERVAL_MS KIND...");
  int pid = atoi(argv[1]);
  bpftrace_pid = pid;
  key_size = (unsigned)atoi(argv[3]);
  int interval_ms = atoi(argv[4]);
  kind_count = argc - 5;
  if (kind_count > MAX_KINDS) fail("at most %d kinds", MAX_KINDS);
  if (key_size != LAYOUT_BYTES) fail("dllt-bpfdrain reads %u-byte event keys, the program was built for %u", LAYOUT_BYTES, key_size);
  struct bpf_map_info info;
  /* bpftrace reports its probes as attached before it has made its maps (0.17 prints the count
   * first): they show up within tens of milliseconds. */
  int map = -1;
  for (int waited_ms = 0; map < 0 && waited_ms < MAP_WAIT_MS; waited_ms += 10) {
    map = find_map(pid, argv[2], &info);
    if (map < 0) usleep(10000);
  }
  if (map < 0) fail("no map AT_%s in bpftrace (pid %d) after %d s: is this bpftrace's map naming?", argv[2], pid, MAP_WAIT_MS / 1000);
  if (info.type != BPF_MAP_TYPE_HASH) fail("map AT_%s is of type %u, not a hash map", argv[2], info.type);
  if (info.key_size != key_size)
    fail("bpftrace laid the event key out in %u bytes where %u were expected: unsupported bpftrace version", info.key_size, key_size);
  size_t capacity = info.max_entries;
  keys = malloc(capacity * key_size);
  values = malloc((size_t)BATCH * info.value_size);
  order = malloc(capacity * sizeof *order);
  if (keys == NULL || values == NULL || order == NULL) fail("out of memory for %zu events", capacity);
  clock_gettime(CLOCK_MONOTONIC, &event_map_found);
  printf("+%zu%c", capacity, 0);
  fflush(stdout);
  struct pollfd in = {.fd = 0, .events = POLLIN};
  static char input[INPUT_BYTES];
  size_t input_length = 0;
  for (;;) {
    /* A full input buffer (lines waiting for the listener map) is not read into: its stdin still
     * reports an end (POLLHUP). */
    in.events = input_length < sizeof input ? POLLIN : 0;
    int r = poll(&in, 1, interval_ms);
    int closing = r > 0 && (in.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    if (closing && (in.revents & POLLIN) != 0) {
      ssize_t got = read(0, input + input_length, sizeof input - input_length);
      closing = got <= 0;
      if (got > 0) input_length += (size_t)got;
    }
    if (input_length > 0) input_length = take_lines(input, input_length);
    int gone = kill(pid, 0) < 0 && errno == ESRCH;
    if (drain(map, capacity) >= capacity) printf("#full%c", 0);
    if (fflush(stdout) != 0) return 1;
    if (closing || gone) return 0;
  }
}
