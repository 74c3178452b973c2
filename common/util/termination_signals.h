// Daemons handle SIGTERM/SIGINT synchronously: block them in the main thread before any
// other thread starts (threads inherit the mask), then wait for one with sigwait.
#pragma once

#include <signal.h>

namespace tandem {

// Blocks SIGINT and SIGTERM in this thread and every thread it starts later; returns
// the set to wait on.
sigset_t BlockTerminationSignals();

// Waits for one of `signals`; returns its name ("SIGTERM" or "SIGINT").
const char* WaitForTerminationSignal(const sigset_t& signals);

}  // namespace tandem
