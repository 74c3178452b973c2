// Deadlines that keep silent clients from holding the worker: a stream must say Hello
// within hello_timeout, and a stream attached to a session must send something within
// idle_timeout of its last message (an edge mid-generation sends a chunk every step; an
// edge between generations closes its session). Streams past their deadline are
// cancelled; the session detaches and is resumable as after any dropped stream, and
// gives way to new sessions once the worker is full (Worker::Open).
#pragma once

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace tandem::cloud {

struct StreamDeadlines {
  absl::Duration hello_timeout = absl::Seconds(10);
  absl::Duration idle_timeout = absl::Seconds(60);
  absl::Status Validate() const;
};

// Where a stream is: waiting for Hello, waiting for its next message (idle), or running
// a step (busy: never cancelled for silence, a long prompt chunk is not silence).
struct StreamState {
  bool hello_done = false;
  bool idle = true;
  absl::Time idle_since;
};

enum class StreamVerdict { kKeep, kNoHello, kSilent };

StreamVerdict JudgeStream(const StreamState& state, absl::Time now,
                          const StreamDeadlines& deadlines);

}  // namespace tandem::cloud
