// tandem-fault-proxy: the fault proxy (fault_proxy.h) as a process, for scripts (soak.sh).
// Forwards 127.0.0.1:--listen to 127.0.0.1:--upstream and reads commands, one per line, on
// stdin:
//   cut | blackhole on|off | latency MS | loss PROBABILITY STALL_MS | refuse on|off |
//   upstream PORT | heal | stats
// Prints "tandem-fault-proxy listening on 127.0.0.1:PORT" when ready; "ok" (or an error)
// after each command, the counters after "stats". Exits at the end of stdin.
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "tests/fault/fault_proxy.h"

namespace {

using tandem::fault::FaultProxy;

// Applies one command; an error message or "".
std::string Apply(FaultProxy& proxy, const std::string& line) {
  std::vector<std::string> w = absl::StrSplit(line, ' ', absl::SkipWhitespace());
  if (w.empty()) return "";
  const std::string& cmd = w[0];
  auto on = [&]() { return w.size() > 1 && w[1] == "on"; };
  double x = 0, y = 0;
  if (cmd == "cut") {
    proxy.Cut();
  } else if (cmd == "blackhole" && w.size() == 2) {
    proxy.SetBlackhole(on());
  } else if (cmd == "refuse" && w.size() == 2) {
    proxy.SetRefuse(on());
  } else if (cmd == "latency" && w.size() == 2 && absl::SimpleAtod(w[1], &x) && x >= 0) {
    proxy.SetLatency(absl::Milliseconds(x));
  } else if (cmd == "loss" && w.size() == 3 && absl::SimpleAtod(w[1], &x) &&
             absl::SimpleAtod(w[2], &y) && x >= 0 && x <= 1 && y >= 0) {
    proxy.SetStalls(x, absl::Milliseconds(y));
  } else if (cmd == "upstream" && w.size() == 2 && absl::SimpleAtod(w[1], &x) && x > 0 &&
             x < 65536) {
    proxy.SetUpstream(static_cast<int>(x));
  } else if (cmd == "heal") {
    proxy.Heal();
  } else if (cmd == "stats") {
    const tandem::fault::ProxyStats s = proxy.stats();
    std::cout << "connections " << s.connections << " open " << s.open << " cuts " << s.cuts
              << " refused " << s.refused << " to_upstream_bytes " << s.to_upstream_bytes
              << " to_client_bytes " << s.to_client_bytes << "\n";
  } else {
    return "error: unknown command: " + line;
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  int listen_port = 0;
  int upstream_port = 0;
  CLI::App app{"tandem-fault-proxy: a TCP proxy on loopback that injects network faults"};
  app.add_option("--listen", listen_port, "Port to listen on (0: any)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--upstream", upstream_port, "Port to forward to")
      ->check(CLI::Range(1, 65535))
      ->required();
  CLI11_PARSE(app, argc, argv);
  auto proxy = FaultProxy::Start(upstream_port, listen_port);
  if (!proxy.ok()) {
    std::cerr << "tandem-fault-proxy: error: " << proxy.status() << "\n";
    return 1;
  }
  std::cout << "tandem-fault-proxy listening on 127.0.0.1:" << (*proxy)->port() << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    const std::string error = Apply(**proxy, line);
    std::cout << (error.empty() ? "ok" : error) << std::endl;
  }
  return 0;
}
