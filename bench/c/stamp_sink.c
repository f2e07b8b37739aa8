/*
 * Latency sink of the mesh bench: binds PORT... on 127.0.0.1 and records, per port and per packet, when the
 * kernel queued the datagram on the socket (SO_TIMESTAMPNS, CLOCK_REALTIME) minus the send time the blaster
 * wrote in it (bytes 16..23, CLOCK_REALTIME ns, big-endian), by the 32-bit packet counter at bytes 12..15.
 * Kernel receive timestamps keep the sink's own scheduling out of the figure; a difference of two ports'
 * records for one packet is the time between the two arrivals. Reads only the first 24 bytes (MSG_TRUNC).
 * Exits once EXPECTED datagrams per port arrived, IDLE_MS after the last datagram (once one arrived), or after
 * MAX_MS; writes OUTFILE (per port, EXPECTED little-endian doubles: ns from send to arrival, NaN when the packet
 * never came) and prints one JSON line with the per-port counts.
 *
 * usage: stamp_sink MAX_MS IDLE_MS EXPECTED OUTFILE PORT...   ("ready P1 P2 ..." is printed once bound)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 64
#define BATCH 256
#define CTRL 64

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static unsigned char heads[BATCH][24];
static unsigned char ctrl[BATCH][CTRL];
static struct iovec iov[BATCH];
static struct mmsghdr msgs[BATCH];

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: stamp_sink MAX_MS IDLE_MS EXPECTED OUTFILE PORT...\n");
    return 2;
  }
  double max_ms = atof(argv[1]), idle_ms = atof(argv[2]);
  unsigned long long expected = strtoull(argv[3], NULL, 10);
  const char *outfile = argv[4];
  int n = argc - 5;
  if (n > MAX_PORTS) n = MAX_PORTS;
  if (expected == 0 || expected > 100000000ULL) { fprintf(stderr, "EXPECTED out of range\n"); return 2; }
  double *lat = malloc(sizeof(double) * expected * n);
  if (!lat) { perror("malloc"); return 1; }
  for (unsigned long long i = 0; i < expected * n; i++) lat[i] = NAN;
  int fds[MAX_PORTS];
  struct pollfd pfds[MAX_PORTS];
  unsigned long long received[MAX_PORTS] = {0}, gaps[MAX_PORTS] = {0}, reordered[MAX_PORTS] = {0};
  unsigned long long nostamp[MAX_PORTS] = {0};
  long long next[MAX_PORTS];
  printf("ready");
  for (int p = 0; p < n; p++) {
    fds[p] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int sz = 16 * 1024 * 1024, on = 1;
    if (setsockopt(fds[p], SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) != 0)
      setsockopt(fds[p], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    setsockopt(fds[p], SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(atoi(argv[5 + p]));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fds[p], (struct sockaddr *)&a, sizeof a) != 0) { perror("bind"); return 1; }
    socklen_t len = sizeof a;
    getsockname(fds[p], (struct sockaddr *)&a, &len);
    printf(" %d", ntohs(a.sin_port));
    pfds[p].fd = fds[p];
    pfds[p].events = POLLIN;
    next[p] = -1;
  }
  printf("\n");
  fflush(stdout);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = heads[i];
    iov[i].iov_len = 24;
  }

  double start = now_ms(), last = 0;
  int any = 0;
  while (1) {
    double t = now_ms();
    if (t - start > max_ms) break;
    if (any && t - last > idle_ms) break;
    int done = 1;
    for (int p = 0; p < n && done; p++) done = received[p] >= expected;
    if (done) break;
    int r = poll(pfds, n, 20);
    if (r <= 0) continue;
    for (int p = 0; p < n; p++) {
      if (!(pfds[p].revents & POLLIN)) continue;
      for (;;) {
        for (int i = 0; i < BATCH; i++) {
          memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
          msgs[i].msg_hdr.msg_iov = &iov[i];
          msgs[i].msg_hdr.msg_iovlen = 1;
          msgs[i].msg_hdr.msg_control = ctrl[i];
          msgs[i].msg_hdr.msg_controllen = CTRL;
        }
        int got = recvmmsg(fds[p], msgs, BATCH, MSG_TRUNC, NULL);
        if (got <= 0) break;
        any = 1;
        received[p] += got;
        for (int i = 0; i < got; i++) {
          if (msgs[i].msg_len < 24) continue;
          unsigned char *h = heads[i];
          long long k = ((long long)h[12] << 24) | (h[13] << 16) | (h[14] << 8) | h[15];
          if (next[p] >= 0 && k != next[p]) {
            if (k > next[p]) gaps[p]++;
            else reordered[p]++;
          }
          if (k >= next[p]) next[p] = k + 1;
          uint64_t sent = 0;
          for (int b = 16; b < 24; b++) sent = (sent << 8) | h[b];
          struct timespec *ts = NULL;
          for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) ts = (struct timespec *)CMSG_DATA(c);
          }
          if (!ts) { nostamp[p]++; continue; }
          if (k < 0 || (unsigned long long)k >= expected) continue;
          double at = (double)ts->tv_sec * 1e9 + (double)ts->tv_nsec;
          lat[(unsigned long long)p * expected + k] = at - (double)sent;
        }
        if (got < BATCH) break;
      }
    }
    last = now_ms();
  }
  FILE *f = fopen(outfile, "wb");
  if (!f || fwrite(lat, sizeof(double), expected * n, f) != expected * n) { perror("write"); return 1; }
  fclose(f);
  printf("{\"received\":[");
  for (int p = 0; p < n; p++) printf("%s%llu", p ? "," : "", received[p]);
  printf("],\"gaps\":[");
  for (int p = 0; p < n; p++) printf("%s%llu", p ? "," : "", gaps[p]);
  printf("],\"reordered\":[");
  for (int p = 0; p < n; p++) printf("%s%llu", p ? "," : "", reordered[p]);
  printf("],\"unstamped\":[");
  for (int p = 0; p < n; p++) printf("%s%llu", p ? "," : "", nostamp[p]);
  printf("]}\n");
  return 0;
}
