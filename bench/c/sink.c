/*
 * Counting sink for the data-plane bench: binds N consecutive-or-listed UDP ports on 127.0.0.1 and counts, per
 * port, the datagrams received, the sequence gaps and the out-of-order arrivals (by the 32-bit packet counter
 * at bytes 12..15 that blaster writes). Reads only the first 16 bytes of each datagram (MSG_TRUNC), so the sink
 * is cheap next to what it measures. Exits once EXPECTED datagrams per port arrived, after IDLE_MS without any
 * datagram (once something arrived), or after MAX_MS; prints one JSON line.
 *
 * usage: sink MAX_MS IDLE_MS EXPECTED PORT...      (PORT 0 picks a free port; "ready P1 P2 ..." is printed)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 64
#define BATCH 256

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static unsigned char heads[BATCH][16];
static struct iovec iov[BATCH];
static struct mmsghdr msgs[BATCH];

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: sink MAX_MS IDLE_MS EXPECTED PORT...\n");
    return 2;
  }
  double max_ms = atof(argv[1]), idle_ms = atof(argv[2]);
  unsigned long long expected = strtoull(argv[3], NULL, 10);
  int n = argc - 4;
  if (n > MAX_PORTS) n = MAX_PORTS;
  int fds[MAX_PORTS];
  struct pollfd pfds[MAX_PORTS];
  unsigned long long received[MAX_PORTS] = {0}, gaps[MAX_PORTS] = {0}, reordered[MAX_PORTS] = {0};
  long long next[MAX_PORTS];
  printf("ready");
  for (int p = 0; p < n; p++) {
    fds[p] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int sz = 16 * 1024 * 1024;
    if (setsockopt(fds[p], SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) != 0)
      setsockopt(fds[p], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(atoi(argv[4 + p]));
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
    iov[i].iov_len = 16;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  double start = now_ms(), last = 0;
  int any = 0;
  while (1) {
    double t = now_ms();
    if (t - start > max_ms) break;
    if (any && t - last > idle_ms) break;
    int done = expected > 0;
    for (int p = 0; p < n && done; p++) done = received[p] >= expected;
    if (done) break;
    int r = poll(pfds, n, 20);
    if (r <= 0) continue;
    for (int p = 0; p < n; p++) {
      if (!(pfds[p].revents & POLLIN)) continue;
      for (;;) {
        int got = recvmmsg(fds[p], msgs, BATCH, MSG_TRUNC, NULL);
        if (got <= 0) break;
        any = 1;
        received[p] += got;
        for (int i = 0; i < got; i++) {
          if (msgs[i].msg_len < 16) continue;
          long long k = ((long long)heads[i][12] << 24) | (heads[i][13] << 16) | (heads[i][14] << 8) | heads[i][15];
          if (next[p] >= 0 && k != next[p]) {
            if (k > next[p]) gaps[p]++;
            else reordered[p]++;
          }
          if (k >= next[p]) next[p] = k + 1;
        }
        if (got < BATCH) break;
      }
    }
    last = now_ms();
  }
  printf("{\"received\":[");
  for (int p = 0; p < n; p++) printf("%s%llu", p ? "," : "", received[p]);
  printf("],\"gaps\":[");
  for (int p = 0; p < n; p++) printf("%s%llu", p ? "," : "", gaps[p]);
  printf("],\"reordered\":[");
  for (int p = 0; p < n; p++) printf("%s%llu", p ? "," : "", reordered[p]);
  printf("]}\n");
  return 0;
}
