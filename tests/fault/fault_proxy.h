// A TCP proxy for fault injection between the edge and a worker (loopback): it forwards
// bytes both ways and, on command, misbehaves as a network does.
//
//   Cut()            every open connection is reset (RST), as when a NAT or a middlebox
//                    forgets the flow; new connections work.
//   SetBlackhole()   no byte moves in either direction on any connection, old or new, as
//                    when a route is withdrawn; connections stay open, and what was queued
//                    is delivered when the black hole ends (TCP retransmits).
//   SetLatency()     each chunk of bytes is delivered this much later (one way, both ways).
//   SetStalls()      with probability p a chunk is held back for `stall` (what a lost
//                    segment costs a TCP stream: the retransmission timeout), order kept.
//   SetRefuse()      new connections are reset at once (nothing listening behind).
//   SetUpstream()    new connections go to another port (a worker restarted elsewhere).
//
// One thread runs a poll loop over non-blocking sockets; the setters may be called from
// any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tandem::fault {

struct ProxyStats {
  int64_t connections = 0;        // accepted
  int64_t cuts = 0;               // connections reset by Cut()
  int64_t refused = 0;            // connections reset by SetRefuse or a dead upstream
  int64_t to_upstream_bytes = 0;  // delivered
  int64_t to_client_bytes = 0;    // delivered
  int64_t open = 0;               // connections open now
};

class FaultProxy {
 public:
  // Listens on 127.0.0.1:`listen_port` (0: any free port) and forwards to
  // 127.0.0.1:`upstream_port`.
  static absl::StatusOr<std::unique_ptr<FaultProxy>> Start(int upstream_port, int listen_port = 0);
  ~FaultProxy();  // stops the loop, closes everything

  int port() const { return port_; }

  void Cut();
  void SetBlackhole(bool on);
  void SetLatency(absl::Duration one_way);
  void SetStalls(double probability, absl::Duration stall);
  void SetRefuse(bool on);
  void SetUpstream(int port);
  // No fault: no black hole, latency or stalls, connections accepted.
  void Heal();

  ProxyStats stats() const;

 private:
  struct Conn;
  struct Config {
    bool blackhole = false;
    bool refuse = false;
    absl::Duration latency;
    double stall_probability = 0;
    absl::Duration stall;
    int upstream_port = 0;
    uint64_t cut_generation = 0;
  };
  FaultProxy(int listen_fd, int port, int wake_fd, int upstream_port);
  void Loop();
  void Wake();
  Config config() const;

  const int listen_fd_;
  const int port_;
  const int wake_fd_;  // eventfd: setters wake the loop
  std::atomic<bool> stop_{false};
  mutable absl::Mutex mu_;
  Config config_ ABSL_GUARDED_BY(mu_);
  ProxyStats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace tandem::fault
