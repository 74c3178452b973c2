// Test helpers: split a server-sent-event body into its data payloads, strictly.
#pragma once

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tandem::edge::testing_util {

// The payloads of "data: ...\n\n" events, in order. Adds a test failure for anything
// else in the body (other fields, a missing blank line, trailing bytes).
inline std::vector<std::string> SseData(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) {
      ADD_FAILURE() << "unterminated event: " << body.substr(pos);
      break;
    }
    const std::string event = body.substr(pos, end - pos);
    if (event.rfind("data: ", 0) != 0 || event.find('\n') != std::string::npos) {
      ADD_FAILURE() << "not a single data line: " << event;
    } else {
      out.push_back(event.substr(6));
    }
    pos = end + 2;
  }
  return out;
}

}  // namespace tandem::edge::testing_util
