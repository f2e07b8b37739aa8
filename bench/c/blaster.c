/*
 * Offered load for the data-plane and mesh benches: RTP-like datagrams (12-byte RTP header with sequence number,
 * then a 32-bit packet counter, then the send time: CLOCK_REALTIME ns, 64-bit big-endian, read once per sendmmsg,
 * then filler) to HOST:PORT (default 127.0.0.1) at RATE packets/s for DURATION_MS. Paced per 1 ms tick, each
 * tick's packets sent with sendmmsg. Prints one JSON line with the number sent.
 *
 * usage: blaster PORT RATE DURATION_MS [SIZE [SOURCE_PORT [HOST [RTP_BASE]]]]   (SOURCE_PORT 0: any)
 * RTP_BASE offsets the RTP sequence number and timestamp (not the packet counter), so that consecutive runs
 * continue one stream as a camera would, instead of restarting its numbering.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 256

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned char bufs[BATCH][2048];
static struct iovec iov[BATCH];
static struct mmsghdr msgs[BATCH];

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: blaster PORT RATE DURATION_MS [SIZE [SOURCE_PORT [HOST [RTP_BASE]]]]\n");
    return 2;
  }
  int port = atoi(argv[1]);
  double rate = atof(argv[2]);
  double duration = atof(argv[3]) / 1e3;
  int size = argc > 4 ? atoi(argv[4]) : 1200;
  unsigned long long rtp_base = argc > 7 ? strtoull(argv[7], NULL, 10) : 0;
  if (size < 24) size = 24;
  if (size > 2048) size = 2048;

  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int sz = 8 * 1024 * 1024;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  if (argc > 5 && atoi(argv[5]) > 0) {
    /* A fixed source port: an RTSP publisher's client_port, which the relay checks. */
    struct sockaddr_in from = {0};
    from.sin_family = AF_INET;
    from.sin_port = htons(atoi(argv[5]));
    from.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&from, sizeof from) != 0) { perror("bind"); return 1; }
  }
  struct sockaddr_in to = {0};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (argc > 6 && inet_pton(AF_INET, argv[6], &to.sin_addr) != 1) { fprintf(stderr, "bad HOST\n"); return 2; }
  if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0) { perror("connect"); return 1; }

  for (int i = 0; i < BATCH; i++) {
    memset(bufs[i], 0, size);
    bufs[i][0] = 0x80;
    bufs[i][1] = 96;
    bufs[i][8] = 0x5e; bufs[i][9] = 0xed; bufs[i][10] = 0x12; bufs[i][11] = 0x34;
    for (int j = 16; j < size; j++) bufs[i][j] = (unsigned char)j;
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = size;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  unsigned long long sent = 0, errors = 0;
  unsigned long long total = (unsigned long long)(rate * duration);
  double start = now_s();
  while (sent < total) {
    double t = now_s() - start;
    unsigned long long due = (unsigned long long)(t * rate);
    if (due > total) due = total;
    if (t > duration + 1.0) break; /* bounded even if the socket stalls */
    while (sent < due) {
      int n = (int)(due - sent > BATCH ? BATCH : due - sent);
      struct timespec wall;
      clock_gettime(CLOCK_REALTIME, &wall);
      unsigned long long stamp = (unsigned long long)wall.tv_sec * 1000000000ULL + wall.tv_nsec;
      for (int i = 0; i < n; i++) {
        unsigned long long k = sent + i, r = k + rtp_base;
        unsigned int ts = (unsigned int)(r * 3000 / 30);
        bufs[i][2] = (r >> 8) & 0xff; bufs[i][3] = r & 0xff;
        bufs[i][4] = ts >> 24; bufs[i][5] = ts >> 16; bufs[i][6] = ts >> 8; bufs[i][7] = ts;
        bufs[i][12] = k >> 24; bufs[i][13] = k >> 16; bufs[i][14] = k >> 8; bufs[i][15] = k;
        for (int b = 0; b < 8; b++) bufs[i][16 + b] = (unsigned char)(stamp >> (56 - 8 * b));
      }
      int s = sendmmsg(fd, msgs, n, 0);
      if (s <= 0) {
        if (errno != EINTR) errors++;
        if (errors > 100000) break;
        continue;
      }
      sent += s;
    }
    struct timespec pause = {0, 200000}; /* 0.2 ms */
    nanosleep(&pause, NULL);
  }
  double elapsed = now_s() - start;
  printf("{\"sent\":%llu,\"errors\":%llu,\"seconds\":%.4f}\n", sent, errors, elapsed);
  return 0;
}
