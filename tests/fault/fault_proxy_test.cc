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

// Echoes every connection on 127.0.0.1:port() until destroyed.
class EchoServer {
 public:
  EchoServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
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

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7) % 26);
  return s;
}

TEST(FaultProxyTest, ForwardsBothWaysIntact) {
  EchoServer echo;
  auto proxy = FaultProxy::Start(echo.port());
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  const int fd = Connect((*proxy)->port());
  const std::string data = Pattern(1 << 20);  // more than one read
  std::thread writer(
      [&] { ASSERT_EQ(send(fd, data.data(), data.size(), 0), (ssize_t)data.size()); });
  EXPECT_EQ(ReadN(fd, data.size()), data);
  writer.join();
  close(fd);
  const ProxyStats s = (*proxy)->stats();
  EXPECT_EQ(s.connections, 1);
  EXPECT_EQ(s.to_upstream_bytes, static_cast<int64_t>(data.size()));
  EXPECT_EQ(s.to_client_bytes, static_cast<int64_t>(data.size()));
}

TEST(FaultProxyTest, BlackHoleHoldsBytesUntilItEnds) {
  EchoServer echo;
  auto proxy = FaultProxy::Start(echo.port());
  ASSERT_TRUE(proxy.ok());
  const int fd = Connect((*proxy)->port());
  ASSERT_EQ(send(fd, "ping", 4, 0), 4);
  EXPECT_EQ(ReadN(fd, 4), "ping");
  (*proxy)->SetBlackhole(true);
  ASSERT_EQ(send(fd, "lost?", 5, 0), 5);
  EXPECT_EQ(ReadN(fd, 5, /*timeout_ms=*/200), "");  // nothing gets through
  (*proxy)->SetBlackhole(false);
  EXPECT_EQ(ReadN(fd, 5), "lost?");  // delayed, not lost
  close(fd);
}

TEST(FaultProxyTest, CutResetsOpenConnectionsOnly) {
  EchoServer echo;
  auto proxy = FaultProxy::Start(echo.port());
  ASSERT_TRUE(proxy.ok());
  const int fd = Connect((*proxy)->port());
  ASSERT_EQ(send(fd, "a", 1, 0), 1);
  EXPECT_EQ(ReadN(fd, 1), "a");
  (*proxy)->Cut();
  EXPECT_TRUE(Closed(fd));
  close(fd);
  const int again = Connect((*proxy)->port());
  ASSERT_EQ(send(again, "b", 1, 0), 1);
  EXPECT_EQ(ReadN(again, 1), "b");
  close(again);
  EXPECT_EQ((*proxy)->stats().cuts, 1);
}

TEST(FaultProxyTest, RefusedAndDeadUpstreamConnectionsAreReset) {
  EchoServer echo;
  auto proxy = FaultProxy::Start(echo.port());
  ASSERT_TRUE(proxy.ok());
  (*proxy)->SetRefuse(true);
  int fd = Connect((*proxy)->port());
  EXPECT_TRUE(Closed(fd));
  close(fd);
  (*proxy)->SetRefuse(false);
  // A port nobody listens on (the proxy's own listener is taken; this one is closed).
  const int probe = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len);
  close(probe);
  (*proxy)->SetUpstream(ntohs(addr.sin_port));
  fd = Connect((*proxy)->port());
  EXPECT_TRUE(Closed(fd));
  close(fd);
  (*proxy)->SetUpstream(echo.port());
  fd = Connect((*proxy)->port());
  ASSERT_EQ(send(fd, "c", 1, 0), 1);
  EXPECT_EQ(ReadN(fd, 1), "c");
  close(fd);
  EXPECT_EQ((*proxy)->stats().refused, 2);
}

TEST(FaultProxyTest, LatencyAndStallsKeepTheStreamIntactAndInOrder) {
  EchoServer echo;
  auto proxy = FaultProxy::Start(echo.port());
  ASSERT_TRUE(proxy.ok());
  (*proxy)->SetLatency(absl::Milliseconds(2));
  (*proxy)->SetStalls(0.5, absl::Milliseconds(5));
  const int fd = Connect((*proxy)->port());
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
