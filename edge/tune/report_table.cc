#include "edge/tune/report_table.h"

#include "absl/strings/str_format.h"

namespace tandem::tune {

void WriteTable(const std::vector<Prediction>& predictions, const Constraints& c,
                const Recommendation& r, std::ostream& out, bool speculation) {
  out << absl::StrFormat("  %3s %-5s %10s %9s %9s %9s %9s %10s %9s%s\n", "K", "codec", "device ms",
                         "link ms", "cloud ms", "token ms", "TTFT ms", "device MiB", "B/token",
                         speculation ? "  speculative ms/token (drafts)" : "");
  for (const Prediction& p : predictions) {
    const char* mark = " ";
    if (p.split == r.choice.split && p.codec == r.choice.codec) {
      mark = "*";
    } else if (!FitsHardConstraints(p, c)) {
      mark = "x";
    } else if (c.latency_target_seconds > 0 && p.per_token_seconds > c.latency_target_seconds) {
      mark = "-";
    }
    out << absl::StrFormat("%s %3d %-5s %10.2f %9.2f %9.2f %9.2f %9.1f %10.1f %9.0f", mark, p.split,
                           CodecKindName(p.codec), p.device_seconds * 1e3, p.link_seconds * 1e3,
                           p.cloud_seconds * 1e3, p.per_token_seconds * 1e3,
                           p.first_token_seconds * 1e3, p.device_bytes / 1048576.0,
                           p.up_bytes_per_token);
    if (speculation) {
      out << absl::StrFormat("  %9.2f (%d)", p.speculative_token_seconds * 1e3, p.draft_tokens);
    }
    out << "\n";
  }
}

}  // namespace tandem::tune
