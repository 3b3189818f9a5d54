/*
 * The many-sessions bench's client (scripts/bench/sessions.ts builds it with cc and runs it in a
 * process of its own, with a descriptor limit to match): a raw Jute client that holds thousands of
 * idle sessions in one epoll loop. It is written in C so that its own CPU per session, which shares
 * the machine's cores with the server under test, stays small beside the server's.
 *
 * Commands come as lines on stdin, answers go as JSON lines on stdout:
 *   connect N   opens N sessions, at most WINDOW handshakes at a time, then one more session (the
 *               writer) that creates /fanout; {connectMs, perSec, sessions, errors}
 *   watch       every session sets a data watch on /fanout (exists with watch), WINDOW requests at
 *               a time; {ms, armed}
 *   fanout      the writer sets /fanout's data; {ms} from the request to the last notification,
 *               then, 200 ms later, each session's count of notifications: {received, missing,
 *               duplicated, setErr}
 *   close       closes every socket and exits
 * Each session pings a third of its timeout after its last request, as ZooKeeper's clients do.
 * Sockets come from many loopback addresses (127.1.R.x, R given on the command line) so that
 * ephemeral ports and TIME_WAIT of earlier runs never run out.
 *
 * usage: sessionclient HOST PORT RUN
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SESSION_TIMEOUT_MS 30000
#define PING_AFTER_MS (SESSION_TIMEOUT_MS / 3)
/*
 * Handshakes (and watch requests) in flight at a time: ZooKeeper's listen backlog is Java's default
 * of 50. A client that opens more at once than the server accepts measures SYN retransmits (1 s
 * each), not the server.
 */
#define WINDOW 50
#define LOCAL_ADDRESSES 200
#define RX_BYTES 512
#define FANOUT_PATH "/fanout"
#define XID_NOTIFICATION (-1)
#define XID_PING (-2)
#define OP_CREATE 1
#define OP_EXISTS 3
#define OP_SET_DATA 5
#define OP_PING 11
#define ERR_NODEEXISTS (-110)
#define STDIN_TAG UINT32_MAX

enum state { S_FREE, S_CONNECTING, S_HANDSHAKE, S_OPEN, S_FAILED };
enum waiting { W_NONE, W_EXISTS, W_CREATE, W_SET };

struct session {
  int fd;
  enum state state;
  enum waiting waiting;
  int32_t xid;
  int32_t waiting_xid;
  uint32_t events;
  double last_sent_ms;
  uint16_t rx_len;
  uint8_t rx[RX_BYTES];
};

static struct session *sessions; /* [0, n) the watchers, [n] the writer */
static int n_sessions;
static int epfd;
static const char *host;
static int port;
static int run_id;

/* The command under way and its progress. */
static enum { C_IDLE, C_CONNECT, C_CREATE, C_WATCH, C_FANOUT, C_FANOUT_SETTLE } command = C_IDLE;
static int next_index, in_flight, done_count, errors, armed, set_err;
static double started_ms, connect_ms, fanout_ms, settle_until_ms;
static int fanout_remaining;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what) {
  fprintf(stderr, "sessionclient: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void answer(const char *json) {
  fputs(json, stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

static uint8_t *put32(uint8_t *p, int32_t v) {
  uint32_t u = htonl((uint32_t)v);
  memcpy(p, &u, 4);
  return p + 4;
}

static uint8_t *put64(uint8_t *p, int64_t v) {
  p = put32(p, (int32_t)(v >> 32));
  return put32(p, (int32_t)v);
}

static uint8_t *put_str(uint8_t *p, const char *s) {
  size_t n = strlen(s);
  p = put32(p, (int32_t)n);
  memcpy(p, s, n);
  return p + n;
}

static int32_t get32(const uint8_t *p) {
  uint32_t u;
  memcpy(&u, p, 4);
  return (int32_t)ntohl(u);
}

/* Whole frames only: they are small and the socket is fresh, so a short write means trouble. */
static void send_frame(struct session *s, uint8_t *frame, uint8_t *end) {
  put32(frame, (int32_t)(end - frame - 4));
  ssize_t n = write(s->fd, frame, (size_t)(end - frame));
  if (n != end - frame) {
    fprintf(stderr, "sessionclient: short write (%zd of %td bytes)\n", n, end - frame);
    exit(2);
  }
  s->last_sent_ms = now_ms();
}

static void send_request(struct session *s, int op, enum waiting w, const uint8_t *body, size_t body_len) {
  uint8_t buf[256];
  uint8_t *p = buf + 4;
  s->waiting_xid = s->xid++;
  s->waiting = w;
  p = put32(p, s->waiting_xid);
  p = put32(p, op);
  memcpy(p, body, body_len);
  send_frame(s, buf, p + body_len);
}

static void send_connect(struct session *s) {
  uint8_t buf[64];
  uint8_t *p = buf + 4;
  p = put32(p, 0);                  /* protocolVersion */
  p = put64(p, 0);                  /* lastZxidSeen */
  p = put32(p, SESSION_TIMEOUT_MS); /* timeOut */
  p = put64(p, 0);                  /* sessionId */
  p = put32(p, 16);                 /* passwd */
  memset(p, 0, 16);
  p += 16;
  *p++ = 0; /* readOnly */
  send_frame(s, buf, p);
  s->state = S_HANDSHAKE;
}

static void open_session(int i) {
  struct session *s = &sessions[i];
  memset(s, 0, sizeof *s);
  s->xid = 1;
  s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd < 0) die("socket");
  int one = 1;
  setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in local = {.sin_family = AF_INET};
  char addr[32];
  snprintf(addr, sizeof addr, "127.1.%d.%d", run_id, 1 + i % LOCAL_ADDRESSES);
  inet_pton(AF_INET, addr, &local.sin_addr);
  if (bind(s->fd, (struct sockaddr *)&local, sizeof local) < 0) die("bind");
  struct sockaddr_in remote = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &remote.sin_addr);
  s->state = S_CONNECTING;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) die("epoll_ctl");
  if (connect(s->fd, (struct sockaddr *)&remote, sizeof remote) < 0 && errno != EINPROGRESS) die("connect");
}

static void start_watch_requests(void);
static void next_connects(void);

static void fail_session(struct session *s) {
  if (s->state == S_FAILED) return;
  enum state was = s->state;
  s->state = S_FAILED;
  epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
  close(s->fd);
  if (command == C_CONNECT && was != S_OPEN) {
    errors++;
    in_flight--;
  } else if (s->waiting != W_NONE && command == C_WATCH) {
    in_flight--;
    done_count++;
  }
  s->waiting = W_NONE;
  if (command == C_CONNECT) next_connects();
  else if (command == C_WATCH) start_watch_requests();
}

static void on_reply(struct session *s, int32_t err) {
  enum waiting w = s->waiting;
  s->waiting = W_NONE;
  if (w == W_EXISTS) {
    if (err == 0) armed++;
    in_flight--;
    done_count++;
    start_watch_requests();
  } else if (w == W_CREATE) {
    if (err != 0 && err != ERR_NODEEXISTS) errors++;
    char out[160];
    snprintf(out, sizeof out, "{\"connectMs\":%.3f,\"perSec\":%.1f,\"sessions\":%d,\"errors\":%d}", connect_ms,
             (n_sessions - errors) / connect_ms * 1000, n_sessions - errors, errors);
    command = C_IDLE;
    answer(out);
  } else if (w == W_SET) {
    set_err = err;
  }
}

static void on_frame(int index, const uint8_t *f, int32_t len) {
  struct session *s = &sessions[index];
  if (s->state == S_HANDSHAKE) {
    if (len < 20) {
      fail_session(s);
      return;
    }
    s->state = S_OPEN;
    if (index < n_sessions) {
      in_flight--;
      done_count++;
      next_connects();
    }
    return;
  }
  if (len < 16) return;
  int32_t xid = get32(f);
  if (xid == XID_NOTIFICATION) {
    s->events++;
    if (command == C_FANOUT && index < n_sessions && s->events == 1 && --fanout_remaining == 0) {
      fanout_ms = now_ms() - started_ms;
      command = C_FANOUT_SETTLE;
      settle_until_ms = now_ms() + 200;
    }
    return;
  }
  if (xid == XID_PING) return;
  if (s->waiting != W_NONE && xid == s->waiting_xid) on_reply(s, get32(f + 12));
}

static void on_readable(int index) {
  struct session *s = &sessions[index];
  for (;;) {
    ssize_t n = read(s->fd, s->rx + s->rx_len, RX_BYTES - s->rx_len);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      fail_session(s);
      return;
    }
    if (n < 0) return;
    s->rx_len = (uint16_t)(s->rx_len + n);
    int at = 0;
    while (s->rx_len - at >= 4) {
      int32_t len = get32(s->rx + at);
      if (len < 0 || len > RX_BYTES - 4) {
        fprintf(stderr, "sessionclient: a frame of %d bytes, more than this client takes\n", len);
        exit(2);
      }
      if (s->rx_len - at - 4 < len) break;
      on_frame(index, s->rx + at + 4, len);
      if (s->state == S_FAILED) return;
      at += 4 + len;
    }
    memmove(s->rx, s->rx + at, (size_t)(s->rx_len - at));
    s->rx_len = (uint16_t)(s->rx_len - at);
    if (n < RX_BYTES) return;
  }
}

static void on_writable(int index) {
  struct session *s = &sessions[index];
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    fail_session(s);
    return;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)index};
  epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev);
  send_connect(s);
}

static void create_fanout_node(void) {
  uint8_t body[128];
  uint8_t *p = put_str(body, FANOUT_PATH);
  p = put32(p, 1); /* data: "x" */
  *p++ = 'x';
  p = put32(p, 1); /* one ACL: world:anyone, all */
  p = put32(p, 31);
  p = put_str(p, "world");
  p = put_str(p, "anyone");
  p = put32(p, 0); /* flags */
  command = C_CREATE;
  send_request(&sessions[n_sessions], OP_CREATE, W_CREATE, body, (size_t)(p - body));
}

static void next_connects(void) {
  while (in_flight < WINDOW && next_index < n_sessions) {
    open_session(next_index++);
    in_flight++;
  }
  if (command == C_CONNECT && done_count + errors == n_sessions && in_flight == 0) {
    connect_ms = now_ms() - started_ms;
    /* The writer: one more session, connected after the count is taken. */
    open_session(n_sessions);
    command = C_CREATE;
  }
}

static void start_watch_requests(void) {
  uint8_t body[64];
  uint8_t *p = put_str(body, FANOUT_PATH);
  *p++ = 1;
  while (in_flight < WINDOW && next_index < n_sessions) {
    struct session *s = &sessions[next_index++];
    if (s->state != S_OPEN) {
      done_count++;
      continue;
    }
    send_request(s, OP_EXISTS, W_EXISTS, body, (size_t)(p - body));
    in_flight++;
  }
  if (command == C_WATCH && done_count == n_sessions) {
    char out[96];
    snprintf(out, sizeof out, "{\"ms\":%.3f,\"armed\":%d}", now_ms() - started_ms, armed);
    command = C_IDLE;
    answer(out);
  }
}

static void finish_fanout(void) {
  int missing = 0, duplicated = 0;
  for (int i = 0; i < n_sessions; i++) {
    if (sessions[i].state != S_OPEN || sessions[i].events == 0) missing++;
    else if (sessions[i].events > 1) duplicated++;
  }
  char out[192];
  snprintf(out, sizeof out, "{\"ms\":%.3f,\"received\":%d,\"missing\":%d,\"duplicated\":%d,\"setErr\":%d}", fanout_ms,
           n_sessions - missing, missing, duplicated, set_err);
  command = C_IDLE;
  answer(out);
}

static void on_command(char *line) {
  char cmd[32] = {0};
  int arg = 0;
  sscanf(line, "%31s %d", cmd, &arg);
  started_ms = now_ms();
  if (strcmp(cmd, "connect") == 0) {
    if (sessions != NULL || arg <= 0) {
      answer("{\"error\":\"connect takes a count, once\"}");
      return;
    }
    n_sessions = arg;
    sessions = calloc((size_t)arg + 1, sizeof *sessions);
    if (!sessions) die("calloc");
    command = C_CONNECT;
    next_index = in_flight = done_count = errors = 0;
    next_connects();
  } else if (strcmp(cmd, "watch") == 0) {
    command = C_WATCH;
    next_index = in_flight = done_count = armed = 0;
    start_watch_requests();
  } else if (strcmp(cmd, "fanout") == 0) {
    uint8_t body[96];
    char value[32];
    snprintf(value, sizeof value, "%.0f", started_ms);
    uint8_t *p = put_str(body, FANOUT_PATH);
    p = put_str(p, value);
    p = put32(p, -1);
    for (int i = 0; i < n_sessions; i++) sessions[i].events = 0;
    fanout_remaining = n_sessions;
    fanout_ms = 0;
    set_err = 0;
    command = C_FANOUT;
    send_request(&sessions[n_sessions], OP_SET_DATA, W_SET, body, (size_t)(p - body));
  } else if (strcmp(cmd, "close") == 0) {
    exit(0);
  } else {
    answer("{\"error\":\"unknown command\"}");
  }
}

static void read_stdin(void) {
  static char line[256];
  static size_t len;
  ssize_t n = read(0, line + len, sizeof line - 1 - len);
  if (n <= 0) exit(0);
  len += (size_t)n;
  char *nl;
  while ((nl = memchr(line, '\n', len)) != NULL) {
    *nl = 0;
    on_command(line);
    size_t used = (size_t)(nl - line) + 1;
    memmove(line, nl + 1, len - used);
    len -= used;
  }
  if (len == sizeof line - 1) len = 0;
}

static void ping_idle(double now) {
  static uint8_t ping[12];
  put32(ping, 8);
  put32(ping + 4, XID_PING);
  put32(ping + 8, OP_PING);
  for (int i = 0; sessions && i <= n_sessions; i++) {
    struct session *s = &sessions[i];
    if (s->state == S_OPEN && now - s->last_sent_ms >= PING_AFTER_MS) {
      if (write(s->fd, ping, sizeof ping) == (ssize_t)sizeof ping) s->last_sent_ms = now;
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: sessionclient HOST PORT RUN\n");
    return 2;
  }
  host = argv[1];
  port = atoi(argv[2]);
  run_id = atoi(argv[3]) % 250;
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");
  struct epoll_event in = {.events = EPOLLIN, .data.u32 = STDIN_TAG};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &in) < 0) die("epoll_ctl stdin");
  static struct epoll_event evs[1024];
  double last_ping_ms = now_ms();
  for (;;) {
    int n = epoll_wait(epfd, evs, 1024, 100);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int k = 0; k < n; k++) {
      uint32_t tag = evs[k].data.u32;
      if (tag == STDIN_TAG) {
        read_stdin();
        continue;
      }
      struct session *s = &sessions[tag];
      if (s->state == S_FAILED) continue;
      if (s->state == S_CONNECTING) {
        if (evs[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_writable((int)tag);
        continue;
      }
      if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable((int)tag);
    }
    double now = now_ms();
    if (command == C_CREATE && sessions[n_sessions].state == S_OPEN && sessions[n_sessions].waiting == W_NONE)
      create_fanout_node();
    if (command == C_CREATE && sessions[n_sessions].state == S_FAILED) {
      answer("{\"error\":\"the writer session failed\"}");
      command = C_IDLE;
    }
    if ((command == C_FANOUT && now - started_ms > 60000) || (command == C_FANOUT_SETTLE && now >= settle_until_ms)) {
      /* A notification that never comes ends the round after 60 s; the counts then say which. */
      if (command == C_FANOUT) fanout_ms = now - started_ms;
      finish_fanout();
    }
    if (now - last_ping_ms >= 1000) {
      last_ping_ms = now;
      ping_idle(now);
    }
  }
}
