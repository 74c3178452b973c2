#include "tests/fault/fault_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <random>
#include <vector>

#include "absl/strings/str_format.h"

namespace tandem::fault {
namespace {

constexpr size_t kReadBytes = 64 * 1024;
constexpr size_t kMaxQueuedBytes = 4 << 20;  // per direction: then stop reading (backpressure)

absl::Status Errno(const char* what) {
  return absl::UnavailableError(absl::StrFormat("fault proxy: %s: %s", what, strerror(errno)));
}

// Closes with RST instead of FIN.
void ResetClose(int fd) {
  if (fd < 0) return;
  linger l{.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
}

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

}  // namespace

struct FaultProxy::Conn {
  struct Segment {
    absl::Time release;
    std::string data;
    size_t offset = 0;
  };
  // Bytes read from one side, waiting to be written to the other.
  struct Direction {
    std::deque<Segment> queue;
    size_t queued = 0;
    bool eof = false;   // the source closed its side
    bool shut = false;  // the destination was told (shutdown SHUT_WR)
    absl::Time last_release = absl::InfinitePast();
  };

  int client = -1;
  int upstream = -1;
  bool connecting = true;
  bool dead = false;
  uint64_t cut_generation = 0;
  Direction up;    // client -> upstream
  Direction down;  // upstream -> client

  void Reset() {
    ResetClose(client);
    ResetClose(upstream);
    client = upstream = -1;
    dead = true;
  }
};

absl::StatusOr<std::unique_ptr<FaultProxy>> FaultProxy::Start(int upstream_port, int listen_port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr = Loopback(listen_port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 128) != 0) {
    absl::Status s = Errno("bind/listen");
    close(fd);
    return s;
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    close(fd);
    return Errno("eventfd");
  }
  auto proxy =
      std::unique_ptr<FaultProxy>(new FaultProxy(fd, ntohs(addr.sin_port), wake, upstream_port));
  proxy->thread_ = std::thread([p = proxy.get()] { p->Loop(); });
  return proxy;
}

FaultProxy::FaultProxy(int listen_fd, int port, int wake_fd, int upstream_port)
    : listen_fd_(listen_fd), port_(port), wake_fd_(wake_fd) {
  config_.upstream_port = upstream_port;
}

FaultProxy::~FaultProxy() {
  stop_ = true;
  Wake();
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  close(wake_fd_);
}

void FaultProxy::Wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

FaultProxy::Config FaultProxy::config() const {
  absl::MutexLock lock(&mu_);
  return config_;
}

void FaultProxy::Cut() {
  {
    absl::MutexLock lock(&mu_);
    ++config_.cut_generation;
  }
  Wake();
}

void FaultProxy::SetBlackhole(bool on) {
  {
    absl::MutexLock lock(&mu_);
    config_.blackhole = on;
  }
  Wake();
}

void FaultProxy::SetLatency(absl::Duration one_way) {
  {
    absl::MutexLock lock(&mu_);
    config_.latency = one_way;
  }
  Wake();
}

void FaultProxy::SetStalls(double probability, absl::Duration stall) {
  {
    absl::MutexLock lock(&mu_);
    config_.stall_probability = probability;
    config_.stall = stall;
  }
  Wake();
}

void FaultProxy::SetRefuse(bool on) {
  {
    absl::MutexLock lock(&mu_);
    config_.refuse = on;
  }
  Wake();
}

void FaultProxy::SetUpstream(int port) {
  {
    absl::MutexLock lock(&mu_);
    config_.upstream_port = port;
  }
  Wake();
}

void FaultProxy::Heal() {
  {
    absl::MutexLock lock(&mu_);
    config_.blackhole = false;
    config_.refuse = false;
    config_.latency = absl::ZeroDuration();
    config_.stall_probability = 0;
  }
  Wake();
}

ProxyStats FaultProxy::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void FaultProxy::Loop() {
  std::vector<std::unique_ptr<Conn>> conns;
  std::mt19937_64 rng(port_);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::vector<char> buffer(kReadBytes);

  // Reads what `from` has into `dir` (release times from the current faults).
  auto read_side = [&](Conn& c, int from, Conn::Direction& dir, const Config& cfg) {
    while (dir.queued < kMaxQueuedBytes) {
      const ssize_t n = recv(from, buffer.data(), buffer.size(), 0);
      if (n == 0) {
        dir.eof = true;
        return;
      }
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) c.Reset();
        return;
      }
      absl::Time release = absl::Now() + cfg.latency;
      if (cfg.stall_probability > 0 && uniform(rng) < cfg.stall_probability) release += cfg.stall;
      release = std::max(release, dir.last_release);  // a stream keeps its order
      dir.last_release = release;
      dir.queue.push_back({.release = release, .data = std::string(buffer.data(), n)});
      dir.queued += n;
    }
  };
  // Writes the released bytes of `dir` to `to`; returns the bytes written.
  auto write_side = [&](Conn& c, int to, Conn::Direction& dir) -> int64_t {
    int64_t written = 0;
    const absl::Time now = absl::Now();
    while (!dir.queue.empty() && dir.queue.front().release <= now) {
      Conn::Segment& s = dir.queue.front();
      const ssize_t n = send(to, s.data.data() + s.offset, s.data.size() - s.offset, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) c.Reset();
        return written;
      }
      s.offset += n;
      dir.queued -= n;
      written += n;
      if (s.offset < s.data.size()) return written;
      dir.queue.pop_front();
    }
    return written;
  };

  while (!stop_) {
    const Config cfg = config();
    for (auto& c : conns) {
      if (!c->dead && c->cut_generation < cfg.cut_generation) {
        c->Reset();
        absl::MutexLock lock(&mu_);
        ++stats_.cuts;
      }
    }
    std::erase_if(conns, [](const std::unique_ptr<Conn>& c) { return c->dead; });
    {
      absl::MutexLock lock(&mu_);
      stats_.open = static_cast<int64_t>(conns.size());
    }

    // What to wait for. In a black hole nothing moves, not even errors (fds left out).
    std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    absl::Duration timeout = absl::Milliseconds(50);
    const absl::Time now = absl::Now();
    for (auto& c : conns) {
      short client_events = 0, upstream_events = 0;
      if (c->connecting) {
        upstream_events = POLLOUT;
      } else if (!cfg.blackhole) {
        if (!c->up.eof && c->up.queued < kMaxQueuedBytes) client_events |= POLLIN;
        if (!c->down.eof && c->down.queued < kMaxQueuedBytes) upstream_events |= POLLIN;
        for (auto [dir, events] :
             {std::make_pair(&c->up, &upstream_events), std::make_pair(&c->down, &client_events)}) {
          if (dir->queue.empty()) continue;
          if (dir->queue.front().release <= now) {
            *events |= POLLOUT;
          } else {
            timeout = std::min(timeout, dir->queue.front().release - now);
          }
        }
      }
      const bool skip = cfg.blackhole && !c->connecting;
      fds.push_back({skip ? -1 : c->client, client_events, 0});
      fds.push_back({skip ? -1 : c->upstream, upstream_events, 0});
    }
    const int wait_ms = static_cast<int>(
        std::max<int64_t>(absl::ToInt64Milliseconds(timeout + absl::Microseconds(999)), 0));
    if (poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) break;

    if (fds[1].revents & POLLIN) {
      uint64_t v;
      [[maybe_unused]] ssize_t n = read(wake_fd_, &v, sizeof(v));
    }
    // Connections accepted during this round are handled from the next one.
    const size_t known = conns.size();
    for (size_t i = 0; i < known; ++i) {
      Conn& c = *conns[i];
      const pollfd& cf = fds[2 + 2 * i];
      const pollfd& uf = fds[3 + 2 * i];
      if (c.dead) continue;
      if (c.connecting) {
        if (uf.revents == 0) continue;
        int error = 0;
        socklen_t len = sizeof(error);
        getsockopt(c.upstream, SOL_SOCKET, SO_ERROR, &error, &len);
        if (error != 0) {
          c.Reset();
          absl::MutexLock lock(&mu_);
          ++stats_.refused;
          continue;
        }
        c.connecting = false;
        continue;
      }
      if (cfg.blackhole) continue;
      if ((cf.revents | uf.revents) & POLLERR) {
        c.Reset();
        continue;
      }
      if (cf.revents & (POLLIN | POLLHUP)) read_side(c, c.client, c.up, cfg);
      if (!c.dead && (uf.revents & (POLLIN | POLLHUP))) read_side(c, c.upstream, c.down, cfg);
      int64_t up = 0, down = 0;
      if (!c.dead) up = write_side(c, c.upstream, c.up);
      if (!c.dead) down = write_side(c, c.client, c.down);
      if (up + down > 0) {
        absl::MutexLock lock(&mu_);
        stats_.to_upstream_bytes += up;
        stats_.to_client_bytes += down;
      }
      if (c.dead) continue;
      // Pass a half-close on once everything before it was delivered.
      if (c.up.eof && c.up.queue.empty() && !c.up.shut) {
        shutdown(c.upstream, SHUT_WR);
        c.up.shut = true;
      }
      if (c.down.eof && c.down.queue.empty() && !c.down.shut) {
        shutdown(c.client, SHUT_WR);
        c.down.shut = true;
      }
      if (c.up.shut && c.down.shut) {
        close(c.client);
        close(c.upstream);
        c.client = c.upstream = -1;
        c.dead = true;
      }
    }

    if (fds[0].revents & POLLIN) {
      while (true) {
        const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (client < 0) break;
        absl::MutexLock lock(&mu_);
        ++stats_.connections;
        if (config_.refuse) {
          ResetClose(client);
          ++stats_.refused;
          continue;
        }
        const int one = 1;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        const int upstream = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        sockaddr_in addr = Loopback(config_.upstream_port);
        if (upstream < 0 ||
            (connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 &&
             errno != EINPROGRESS)) {
          ResetClose(client);
          if (upstream >= 0) close(upstream);
          ++stats_.refused;
          continue;
        }
        auto c = std::make_unique<Conn>();
        c->client = client;
        c->upstream = upstream;
        c->cut_generation = config_.cut_generation;
        conns.push_back(std::move(c));
      }
    }
  }
  for (auto& c : conns) c->Reset();
}

}  // namespace tandem::fault
