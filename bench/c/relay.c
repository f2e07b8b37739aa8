/*
 * Reference UDP relay for the data-plane bench: recvmmsg a batch on one port, then one sendmmsg carrying
 * batch x fan-out copies to N destination ports on 127.0.0.1. Runs for a given duration or until SIGTERM,
 * then prints its counters as one JSON line on stdout.
 *
 * usage: relay LISTEN_PORT DURATION_MS DEST_PORT...
 * Prints "ready" on stdout once bound.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_DEST 64
#define SLOT 2048
#define BUF_BYTES (8 * 1024 * 1024)

static volatile sig_atomic_t stop_flag = 0;
static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void raise_buffers(int fd) {
  int size = BUF_BYTES;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

static unsigned char slots[BATCH][SLOT];
static struct mmsghdr rmsg[BATCH];
static struct iovec riov[BATCH];
static struct iovec siov[BATCH];
static struct mmsghdr smsg[BATCH * MAX_DEST];
static struct sockaddr_in dests[MAX_DEST];

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: relay LISTEN_PORT DURATION_MS DEST_PORT...\n");
    return 2;
  }
  int port = atoi(argv[1]);
  double duration = atof(argv[2]);
  int ndest = argc - 3;
  if (ndest > MAX_DEST) ndest = MAX_DEST;
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) { perror("socket"); return 1; }
  raise_buffers(fd);
  struct timeval tv = {0, 50000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("bind"); return 1; }

  for (int d = 0; d < ndest; d++) {
    dests[d].sin_family = AF_INET;
    dests[d].sin_port = htons(atoi(argv[3 + d]));
    dests[d].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
  for (int i = 0; i < BATCH; i++) {
    riov[i].iov_base = slots[i];
    riov[i].iov_len = SLOT;
    rmsg[i].msg_hdr.msg_iov = &riov[i];
    rmsg[i].msg_hdr.msg_iovlen = 1;
    siov[i].iov_base = slots[i];
    for (int d = 0; d < ndest; d++) {
      struct msghdr *h = &smsg[i * ndest + d].msg_hdr;
      h->msg_name = &dests[d];
      h->msg_namelen = sizeof dests[d];
      h->msg_iov = &siov[i];
      h->msg_iovlen = 1;
    }
  }
  printf("ready\n");
  fflush(stdout);

  unsigned long long rx = 0, rx_bytes = 0, tx = 0, tx_err = 0, batches = 0;
  double end = now_ms() + duration;
  while (!stop_flag && now_ms() < end) {
    int n = recvmmsg(fd, rmsg, BATCH, MSG_WAITFORONE, NULL);
    if (n <= 0) continue;
    batches++;
    rx += n;
    for (int i = 0; i < n; i++) {
      siov[i].iov_len = rmsg[i].msg_len;
      rx_bytes += rmsg[i].msg_len;
    }
    int total = n * ndest, off = 0;
    while (off < total) {
      int s = sendmmsg(fd, smsg + off, total - off, 0);
      if (s < 0) {
        if (errno == EINTR) continue;
        tx_err++;
        off++; /* skip the failing datagram */
        continue;
      }
      tx += s;
      off += s;
    }
  }
  close(fd);
  printf("{\"received\":%llu,\"receivedBytes\":%llu,\"sent\":%llu,\"sendErrors\":%llu,\"batches\":%llu}\n", rx,
         rx_bytes, tx, tx_err, batches);
  return 0;
}
