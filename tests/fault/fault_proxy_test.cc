// The fault proxy against a loopback echo server: bytes pass intact and in order, a black
// hole holds them (and delivers them when it ends), a cut resets connections, refusing
// resets new ones, and latency/stalls keep the stream intact.
#include "tests/fault/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tandem::fault {
namespace {

// Binds `fd` to a free loopback port; the port.
int BindLoopback(int fd) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

// Echoes every connection on 127.0.0.1:port() until destroyed.
class EchoServer {
 public:
  EchoServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    port_ = BindLoopback(fd_);
    EXPECT_EQ(listen(fd_, 16), 0);
    thread_ = std::thread([this] {
      while (true) {
        const int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        workers_.emplace_back([c] {
          char buf[4096];
          ssize_t n;
          while ((n = recv(c, buf, sizeof(buf), 0)) > 0) {
            if (send(c, buf, n, MSG_NOSIGNAL) != n) break;
          }
          close(c);
        });
      }
    });
  }
  ~EchoServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
    for (auto& w : workers_) w.join();
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::vector<std::thread> workers_;
};

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

// Reads exactly n bytes (waiting up to 10 s in total); what came if fewer.
std::string ReadN(int fd, size_t n, int timeout_ms = 10000) {
  std::string out;
  char buf[4096];
  while (out.size() < n) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) break;
    const ssize_t r = recv(fd, buf, std::min(sizeof(buf), n - out.size()), 0);
    if (r <= 0) break;
    out.append(buf, r);
  }
  return out;
}

// True if the peer reset or closed the connection (within 10 s).
bool Closed(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 10000) <= 0) return false;
  char c;
  return recv(fd, &c, 1, 0) <= 0;
}

// A new connection to `port` echoes `byte`.
void ExpectEchoes(int port, const std::string& byte) {
  const int fd = Connect(port);
  ASSERT_EQ(send(fd, byte.data(), byte.size(), 0), static_cast<ssize_t>(byte.size()));
  EXPECT_EQ(ReadN(fd, byte.size()), byte);
  close(fd);
}

// A new connection to `port` is reset or closed.
void ExpectReset(int port) {
  const int fd = Connect(port);
  EXPECT_TRUE(Closed(fd));
  close(fd);
}

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7) % 26);
  return s;
}

// Each test: an echo server and a proxy in front of it.
class FaultProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto proxy = FaultProxy::Start(echo_.port());
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = *std::move(proxy);
  }

  EchoServer echo_;
  std::unique_ptr<FaultProxy> proxy_;
};

TEST_F(FaultProxyTest, ForwardsBothWaysIntact) {
  const int fd = Connect(proxy_->port());
  const std::string data = Pattern(1 << 20);  // more than one read
  std::thread writer(
      [&] { ASSERT_EQ(send(fd, data.data(), data.size(), 0), (ssize_t)data.size()); });
  EXPECT_EQ(ReadN(fd, data.size()), data);
  writer.join();
  close(fd);
  const ProxyStats s = proxy_->stats();
  EXPECT_EQ(s.connections, 1);
  EXPECT_EQ(s.to_upstream_bytes, static_cast<int64_t>(data.size()));
  EXPECT_EQ(s.to_client_bytes, static_cast<int64_t>(data.size()));
}

TEST_F(FaultProxyTest, BlackHoleHoldsBytesUntilItEnds) {
  const int fd = Connect(proxy_->port());
  ASSERT_EQ(send(fd, "ping", 4, 0), 4);
  EXPECT_EQ(ReadN(fd, 4), "ping");
  proxy_->SetBlackhole(true);
  ASSERT_EQ(send(fd, "lost?", 5, 0), 5);
  EXPECT_EQ(ReadN(fd, 5, /*timeout_ms=*/200), "");  // nothing gets through
  proxy_->SetBlackhole(false);
  EXPECT_EQ(ReadN(fd, 5), "lost?");  // delayed, not lost
  close(fd);
}

TEST_F(FaultProxyTest, CutResetsOpenConnectionsOnly) {
  const int fd = Connect(proxy_->port());
  ASSERT_EQ(send(fd, "a", 1, 0), 1);
  EXPECT_EQ(ReadN(fd, 1), "a");
  proxy_->Cut();
  EXPECT_TRUE(Closed(fd));
  close(fd);
  ExpectEchoes(proxy_->port(), "b");
  EXPECT_EQ(proxy_->stats().cuts, 1);
}

TEST_F(FaultProxyTest, RefusedAndDeadUpstreamConnectionsAreReset) {
  proxy_->SetRefuse(true);
  ExpectReset(proxy_->port());
  proxy_->SetRefuse(false);
  // A port nobody listens on (the proxy's own listener is taken; this one is closed).
  const int probe = socket(AF_INET, SOCK_STREAM, 0);
  const int closed_port = BindLoopback(probe);
  close(probe);
  proxy_->SetUpstream(closed_port);
  ExpectReset(proxy_->port());
  proxy_->SetUpstream(echo_.port());
  ExpectEchoes(proxy_->port(), "c");
  EXPECT_EQ(proxy_->stats().refused, 2);
}

TEST_F(FaultProxyTest, LatencyAndStallsKeepTheStreamIntactAndInOrder) {
  proxy_->SetLatency(absl::Milliseconds(2));
  proxy_->SetStalls(0.5, absl::Milliseconds(5));
  const int fd = Connect(proxy_->port());
  std::string sent, got;
  for (int i = 0; i < 50; ++i) {
    const std::string piece = Pattern(100 + i);
    ASSERT_EQ(send(fd, piece.data(), piece.size(), 0), (ssize_t)piece.size());
    sent += piece;
  }
  got = ReadN(fd, sent.size());
  EXPECT_EQ(got, sent);
  close(fd);
}

}  // namespace
}  // namespace tandem::fault
