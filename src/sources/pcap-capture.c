/*
 * dllt-capture: reads an interface through libpcap and writes a pcap stream to stdout, one
 * write per batch of ring blocks, for live-capture.ts (docs/design/0001-capture-mechanism.md).
 *
 * Why not tcpdump itself: `tcpdump -w -` must run with -U, or a packet on a quiet link waits in
 * stdio's buffer until 4 KiB more arrive; -U makes one pipe write per packet, and on 2 cores that
 * per-packet write (and Node's many small reads) cost dllt half its live capacity (bench section
 * `live`: kernel drops at 200 k packets/s with -U, none without). This program does what
 * tcpdump does for dllt and flushes after each pcap_dispatch, i.e. each time the kernel hands
 * over ring blocks (when a block fills, or 1 s after its first packet on a quiet link).
 *
 * It takes tcpdump's options as live-capture.ts passes them (-i IF -w - -s SNAPLEN -B KIB -n -p
 * --immediate-mode [-- FILTER]) and speaks like it on stderr: "listening on IF ..." once the
 * interface is open; on SIGUSR1 one line "N packets captured, N packets received by filter, N
 * packets dropped by kernel"; on exit the same counts one per line; errors as "dllt-capture: ...".
 * Started as root, it runs as nobody once the interface is open, as tcpdump does.
 * SIGTERM stops it after writing every packet the kernel already handed over. SIGINT is ignored:
 * a Ctrl-C reaches the whole process group, and dllt stops it only after the last ring block.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <unistd.h>

#define OUTPUT_BUFFER (1 << 20)
/* tcpdump's packet-buffer timeout: a partly filled ring block is handed over this long after its first packet. */
#define BLOCK_TIMEOUT_MS 1000
#define NOBODY 65534

static pcap_t *pcap;
static volatile sig_atomic_t stats_wanted, stop_wanted;
static unsigned long long captured;

static void on_stats_signal(int sig) {
  (void)sig;
  stats_wanted = 1;
  pcap_breakloop(pcap);
}

static void on_stop_signal(int sig) {
  (void)sig;
  stop_wanted = 1;
  pcap_breakloop(pcap);
}

static void write_packet(u_char *dumper, const struct pcap_pkthdr *h, const u_char *bytes) {
  captured++;
  pcap_dump(dumper, h, bytes);
}

static void print_stats(int final) {
  struct pcap_stat s;
  if (pcap_stats(pcap, &s) < 0) {
    fprintf(stderr, "dllt-capture: pcap_stats: %s\n", pcap_geterr(pcap));
    return;
  }
  const char *sep = final ? "\n" : ", ";
  fprintf(stderr, "%llu packets captured%s%u packets received by filter%s%u packets dropped by kernel", captured, sep, s.ps_recv, sep, s.ps_drop);
  if (s.ps_ifdrop != 0) fprintf(stderr, "%s%u packets dropped by interface", sep, s.ps_ifdrop);
  fputc('\n', stderr);
}

static int flush(pcap_dumper_t *dumper) {
  if (pcap_dump_flush(dumper) == 0) return 0;
  fprintf(stderr, "dllt-capture: writing packets: %s\n", strerror(errno));
  return -1;
}

static void on_signal(int sig, void (*handler)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  /* A write into a full pipe that a signal interrupts is restarted, not failed with EINTR (which
   * stdio would keep as an error); pcap_breakloop wakes libpcap's poll through its own eventfd. */
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

/*
 * Like tcpdump, gives up root once the capture is open: the socket and its ring stay usable, and
 * what is left only copies packet bytes to a pipe. Without CAP_SETUID and CAP_SETGID (a
 * container that dropped them) it goes on as it is. A credential change clears the parent-death
 * signal, so it is set again.
 */
static void drop_root(void) {
  if (geteuid() != 0) return;
  if (setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 && setuid(NOBODY) == 0) prctl(PR_SET_PDEATHSIG, SIGTERM);
}

/* The words after the options, joined by spaces as tcpdump does: the BPF filter, or NULL. */
static char *filter_of(int argc, char **argv) {
  size_t length = 0;
  for (int i = optind; i < argc; i++) length += strlen(argv[i]) + 1;
  if (length == 0) return NULL;
  char *filter = calloc(length, 1);
  if (filter == NULL) return NULL;
  for (int i = optind; i < argc; i++) {
    if (i > optind) strcat(filter, " ");
    strcat(filter, argv[i]);
  }
  return filter;
}

static int fail_activation(int status, const char *ifname) {
  const char *detail = pcap_geterr(pcap);
  const char *kind = pcap_statustostr(status);
  if (status == PCAP_ERROR || detail[0] == 0 || strcmp(detail, kind) == 0)
    fprintf(stderr, "dllt-capture: %s: %s\n", ifname, detail[0] != 0 ? detail : kind);
  else
    fprintf(stderr, "dllt-capture: %s: %s (%s)\n", ifname, kind, detail);
  return 1;
}

int main(int argc, char **argv) {
  /* Ends with the thread that started it, never left behind. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  const char *ifname = NULL, *output = NULL;
  int snaplen = 262144, buffer_kib = 0, promisc = 1, immediate = 0;
  static const struct option long_options[] = {{"immediate-mode", no_argument, NULL, 'M'}, {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "i:w:s:B:npU", long_options, NULL)) != -1) {
    switch (c) {
      case 'i': ifname = optarg; break;
      case 'w': output = optarg; break;
      case 's': snaplen = atoi(optarg); break;
      case 'B': buffer_kib = atoi(optarg); break;
      case 'p': promisc = 0; break;
      case 'M': immediate = 1; break;
      case 'n': case 'U': break; /* no name lookups; every batch is flushed anyway */
      default:
        fprintf(stderr, "dllt-capture: usage: dllt-capture -i IF -w - [-s SNAPLEN] [-B KIB] [-p] [--immediate-mode] [-- FILTER]\n");
        return 2;
    }
  }
  if (ifname == NULL || output == NULL || strcmp(output, "-") != 0) {
    fprintf(stderr, "dllt-capture: needs -i IF and -w - (it writes to standard output only)\n");
    return 2;
  }

  char errbuf[PCAP_ERRBUF_SIZE];
  pcap = pcap_create(ifname, errbuf);
  if (pcap == NULL) {
    fprintf(stderr, "dllt-capture: %s\n", errbuf);
    return 1;
  }
  pcap_set_snaplen(pcap, snaplen);
  pcap_set_promisc(pcap, promisc);
  pcap_set_timeout(pcap, BLOCK_TIMEOUT_MS);
  if (buffer_kib > 0) pcap_set_buffer_size(pcap, buffer_kib * 1024);
  if (immediate) pcap_set_immediate_mode(pcap, 1);
  int status = pcap_activate(pcap);
  if (status < 0) return fail_activation(status, ifname);
  if (status > 0) fprintf(stderr, "dllt-capture: WARNING: %s: %s\n", ifname, pcap_statustostr(status));

  char *filter = filter_of(argc, argv);
  if (filter != NULL) {
    bpf_u_int32 net = 0, netmask = PCAP_NETMASK_UNKNOWN;
    if (pcap_lookupnet(ifname, &net, &netmask, errbuf) < 0) netmask = PCAP_NETMASK_UNKNOWN;
    struct bpf_program program;
    if (pcap_compile(pcap, &program, filter, 1, netmask) < 0) {
      fprintf(stderr, "dllt-capture: %s\n", pcap_geterr(pcap));
      return 1;
    }
    if (pcap_setfilter(pcap, &program) < 0) {
      fprintf(stderr, "dllt-capture: setting the filter: %s\n", pcap_geterr(pcap));
      return 1;
    }
    pcap_freecode(&program);
    free(filter);
  }

  /* A larger pipe absorbs a burst while Node is busy; the kernel caps it at fs.pipe-max-size. */
  fcntl(STDOUT_FILENO, F_SETPIPE_SZ, OUTPUT_BUFFER);
  static char out[OUTPUT_BUFFER];
  setvbuf(stdout, out, _IOFBF, sizeof out);
  pcap_dumper_t *dumper = pcap_dump_fopen(pcap, stdout);
  if (dumper == NULL) {
    fprintf(stderr, "dllt-capture: %s\n", pcap_geterr(pcap));
    return 1;
  }
  if (flush(dumper) < 0) return 1;
  drop_root();

  on_signal(SIGUSR1, on_stats_signal);
  on_signal(SIGTERM, on_stop_signal);
  on_signal(SIGHUP, on_stop_signal);
  signal(SIGINT, SIG_IGN);
  const char *link = pcap_datalink_val_to_name(pcap_datalink(pcap));
  fprintf(stderr, "listening on %s, link-type %s, snapshot length %d bytes\n", ifname, link != NULL ? link : "?", pcap_snapshot(pcap));

  int failed = 0;
  while (!stop_wanted) {
    int n = pcap_dispatch(pcap, -1, write_packet, (u_char *)dumper);
    if ((n > 0 || n == PCAP_ERROR_BREAK) && flush(dumper) < 0) return 1;
    if (n == PCAP_ERROR) {
      fprintf(stderr, "dllt-capture: pcap_loop: %s\n", pcap_geterr(pcap));
      failed = 1;
      break;
    }
    if (stats_wanted) {
      stats_wanted = 0;
      print_stats(0);
    }
  }
  if (!failed && pcap_setnonblock(pcap, 1, errbuf) == 0) {
    /* The blocks the kernel handed over before the stop. */
    while (pcap_dispatch(pcap, -1, write_packet, (u_char *)dumper) > 0) {
    }
  }
  if (flush(dumper) < 0) return 1;
  print_stats(1);
  pcap_close(pcap);
  return failed;
}
