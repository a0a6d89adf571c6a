/*
 * dllt-sockdiag: the TCP sockets of network namespaces through netlink sock_diag, for the
 * attribution worker (sock-diag-helper.ts drives it; docs/design/0005-attribution-cost.md).
 *
 * Why C: Node has no netlink sockets and cannot enter another network namespace. Running
 * `nsenter ... ss` for every table cost 7-30 ms of CPU (two program starts, and ss resolving
 * each socket's cgroup, which re-reads /proc/mounts for every socket where no cgroup2 mount
 * is visible); this helper lives as long as dllt and answers a table with one kernel dump.
 *
 * Requests, one per line on stdin: the path of a network namespace file (/proc/PID/ns/net).
 * Answer on stdout: one line per socket, TIME_WAIT left out by the kernel,
 *   STATE UID INODE LOCAL_IP LOCAL_PORT REMOTE_IP REMOTE_PORT
 * (IPv4-mapped IPv6 addresses as IPv4), then a line "."; or a line "!REASON" when the
 * namespace cannot be read. After each request the helper goes back to its own namespace:
 * holding a pod's namespace would keep its veth alive after the pod is deleted.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Bit n stands for TCP state n (ESTABLISHED 1 ... NEW_SYN_RECV 12); TIME_WAIT is 6. */
#define STATES_BUT_TIME_WAIT (((1u << 13) - 1) & ~1u & ~(1u << 6))

static char reply[256 * 1024] __attribute__((aligned(8)));

static void format_address(int family, const __be32 words[4], char *text) {
  if (family == AF_INET6 && words[0] == 0 && words[1] == 0 && words[2] == htonl(0xffff))
    inet_ntop(AF_INET, &words[3], text, INET6_ADDRSTRLEN);
  else
    inet_ntop(family, words, text, INET6_ADDRSTRLEN);
}

static void print_socket(const struct inet_diag_msg *m) {
  char local[INET6_ADDRSTRLEN], remote[INET6_ADDRSTRLEN];
  format_address(m->idiag_family, m->id.idiag_src, local);
  format_address(m->idiag_family, m->id.idiag_dst, remote);
  printf("%u %u %u %s %u %s %u\n", m->idiag_state, m->idiag_uid, m->idiag_inode, local, ntohs(m->id.idiag_sport), remote,
         ntohs(m->id.idiag_dport));
}

/*
 * Prints every TCP socket, IPv4 and IPv6, and returns 0 or a negative errno. The original
 * TCPDIAG_GETSOCK request, not SOCK_DIAG_BY_FAMILY: the kernel answers it for both families in
 * one walk of the established hash, which all namespaces share and which is the cost of a dump
 * (every TIME_WAIT socket of the host is visited): per family, it would be walked twice.
 */
static int dump(int nl) {
  struct {
    struct nlmsghdr nlh;
    struct inet_diag_req r;
  } req;
  memset(&req, 0, sizeof req);
  req.nlh.nlmsg_len = sizeof req;
  req.nlh.nlmsg_type = TCPDIAG_GETSOCK;
  req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.r.idiag_states = STATES_BUT_TIME_WAIT;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(nl, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -errno;
  for (;;) {
    ssize_t n = recv(nl, reply, sizeof reply, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return -EIO;
    for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(h);
        return e->error < 0 ? e->error : -EIO;
      }
      if (h->nlmsg_type == TCPDIAG_GETSOCK && h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
        print_socket(NLMSG_DATA(h));
    }
  }
}

static void answer(const char *path, int home) {
  int ns = open(path, O_RDONLY | O_CLOEXEC);
  if (ns < 0) {
    printf("!cannot open %s: %s\n", path, strerror(errno));
    return;
  }
  int entered = setns(ns, CLONE_NEWNET);
  int saved = errno;
  close(ns);
  if (entered < 0) {
    printf("!cannot enter %s: %s\n", path, strerror(saved));
    return;
  }
  int err = 0;
  int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nl < 0) err = -errno;
  if (err == 0) err = dump(nl);
  if (nl >= 0) close(nl);
  if (setns(home, CLONE_NEWNET) < 0) {
    printf("!cannot return to the helper's own namespace: %s\n", strerror(errno));
    fflush(stdout);
    exit(1);
  }
  if (err != 0)
    printf("!sock_diag in %s: %s\n", path, strerror(-err));
  else
    printf(".\n");
}

int main(void) {
  /* Ends with the thread that started it, never left behind. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    printf("!cannot open /proc/self/ns/net: %s\n", strerror(errno));
    return 1;
  }
  static char out[1 << 16];
  setvbuf(stdout, out, _IOFBF, sizeof out);
  char path[4096];
  while (fgets(path, sizeof path, stdin) != NULL) {
    path[strcspn(path, "\n")] = 0;
    answer(path, home);
    if (fflush(stdout) != 0) return 1;
  }
  return 0;
}
