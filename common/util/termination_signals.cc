#include "common/util/termination_signals.h"

#include <pthread.h>

namespace tandem {

sigset_t BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

const char* WaitForTerminationSignal(const sigset_t& signals) {
  int signal = 0;
  sigwait(&signals, &signal);
  return signal == SIGTERM ? "SIGTERM" : "SIGINT";
}

}  // namespace tandem
