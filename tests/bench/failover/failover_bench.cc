// failover_bench: what resilience costs and how fast it acts, on the embedded model with a
// real worker over gRPC + TLS on loopback (tests/fault/fault_rig.h). Three measurements:
//
//  1. Healthy decode speed: the generator with no fallback and no reconnect vs with
//     reconnects and with a fallback model too, same link, interleaved runs; the fallback
//     must cost nothing while the cloud answers (it is only loaded, never run).
//  2. Black hole -> next token: during a generation on the cloud the proxy black-holes the
//     link right after a token reached the app; the time until the next token reaches the
//     app (step deadline, then the fallback's prefill and step). Also with 20 ms of one-way
//     latency on the link, where the deadline follows the measured step time.
//  3. Catch-up bytes: after a cut and k fallback tokens the worker is brought up to date;
//     the bytes sent vs. what a replay of the whole context sends (after a worker restart).
//
// A plain program (not a test): prints tables; --json for one object per measurement.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/util/stats.h"
#include "tests/fault/fault_rig.h"

namespace tandem::fault {
namespace {

using edge::GeneratedToken;
using edge::GenerationMode;

constexpr char kPrompt[] = "Once upon a time, there was a little girl named Lily.";

double Max(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}

// Decode tokens per second of one generation (first token excluded: the prompt).
template <typename Generator>
double DecodeSpeed(Generator& gen, int32_t tokens) {
  absl::Time first, last;
  int32_t n = 0;
  auto result =
      gen.Generate({.prompt = kPrompt, .max_tokens = tokens, .sampling = {.temperature = 0}},
                   [&](const GeneratedToken&) {
                     last = absl::Now();
                     if (n++ == 0) first = last;
                     return true;
                   });
  if (!result.ok() || n < 2) {
    std::cerr << "generation failed: " << result.status() << "\n";
    return 0;
  }
  return (n - 1) / absl::ToDoubleSeconds(last - first);
}

void HealthyDecode(int32_t runs, int32_t tokens, bool json) {
  RigOptions options;
  options.direct = true;
  options.max_context = 512;
  auto rig = FaultRig::Create(options);
  if (!rig.ok()) {
    std::cerr << rig.status() << "\n";
    return;
  }
  FaultRig& r = **rig;
  SystemClock edge_clock_;
  edge::ResilienceOptions resilience;
  resilience.deadline.floor = options.step_deadline_floor;
  // Plain: one worker, no fallback, no reconnect (what a split without resilience costs).
  edge::ResilienceOptions no_reconnect = resilience;
  no_reconnect.reconnect.give_up_after = absl::ZeroDuration();
  auto plain = edge::ResilientGenerator::Create(
      r.edge_model(), {{.name = "w", .link = &r.link()}}, nullptr, r.pool(), edge_clock_,
      r.edge_metrics(), {.codec = options.codec, .max_context = options.max_context}, no_reconnect);
  auto no_fallback = edge::ResilientGenerator::Create(
      r.edge_model(), {{.name = "w", .link = &r.link()}}, nullptr, r.pool(), edge_clock_,
      r.edge_metrics(), {.codec = options.codec, .max_context = options.max_context}, resilience);
  auto with_fallback = edge::ResilientGenerator::Create(
      r.edge_model(), {{.name = "w", .link = &r.link()}}, r.fallback(), r.pool(), edge_clock_,
      r.edge_metrics(), {.codec = options.codec, .max_context = options.max_context}, resilience);
  if (!plain.ok() || !no_fallback.ok() || !with_fallback.ok()) {
    std::cerr << plain.status() << " " << no_fallback.status() << " " << with_fallback.status()
              << "\n";
    return;
  }
  std::vector<double> speed[3];
  for (int32_t i = 0; i < runs; ++i) {
    // Interleaved, rotating the order, so that drift hits all three alike.
    for (int32_t j = 0; j < 3; ++j) {
      switch ((i + j) % 3) {
        case 0:
          speed[0].push_back(DecodeSpeed(**plain, tokens));
          break;
        case 1:
          speed[1].push_back(DecodeSpeed(**no_fallback, tokens));
          break;
        case 2:
          speed[2].push_back(DecodeSpeed(**with_fallback, tokens));
          break;
      }
    }
  }
  const char* names[] = {"no fallback, no reconnect", "resilient, no fallback",
                         "resilient + fallback model"};
  // Paired by round (the three runs of a round are back to back), so that load changes on
  // the machine cancel out.
  std::vector<double> ratio[3];
  for (int k = 0; k < 3; ++k) {
    for (size_t i = 0; i < speed[k].size(); ++i) ratio[k].push_back(speed[k][i] / speed[0][i]);
  }
  if (json) {
    for (int k = 0; k < 3; ++k) {
      std::cout
          << absl::StrFormat(
                 R"({"measure": "healthy_decode", "generator": "%s", "runs": %d, "tokens": %d, "median_tok_s": %.1f, "min_tok_s": %.1f, "max_tok_s": %.1f, "median_paired_ratio": %.4f})",
                 names[k], runs, tokens, Median(speed[k]),
                 *std::min_element(speed[k].begin(), speed[k].end()), Max(speed[k]),
                 Median(ratio[k]))
          << "\n";
    }
    return;
  }
  std::cout << absl::StrFormat(
      "\n1. Healthy decode over gRPC+TLS on loopback, K=%d, %s, %d runs x %d tokens "
      "(interleaved)\n\n",
      options.split, CodecKindName(options.codec), runs, tokens);
  std::cout << "| generator | median tok/s | min | max | vs split generator (median of "
               "paired runs) |\n|---|---:|---:|---:|---:|\n";
  for (int k = 0; k < 3; ++k) {
    std::cout << absl::StrFormat("| %s | %.0f | %.0f | %.0f | %+.1f%% |\n", names[k],
                                 Median(speed[k]),
                                 *std::min_element(speed[k].begin(), speed[k].end()), Max(speed[k]),
                                 100 * (Median(ratio[k]) - 1));
  }
}

void BlackHole(int32_t trials, absl::Duration one_way_latency, bool json) {
  RigOptions options;
  options.max_context = 512;
  options.reconnect.min_fallback_tokens = 0;
  auto rig = FaultRig::Create(options);
  if (!rig.ok()) {
    std::cerr << rig.status() << "\n";
    return;
  }
  FaultRig& r = **rig;
  r.proxy().SetLatency(one_way_latency);
  std::vector<double> to_next_ms, deadline_ms, back_ms;
  int32_t skipped = 0;
  for (int32_t t = 0; t < trials; ++t) {
    const int32_t inject_at = 12 + t % 8;
    int32_t n = 0;
    bool on_cloud_before = false, next_on_fallback = false;
    double deadline = 0, to_next = 0;
    absl::Time injected, healed, back;
    auto result = r.generator().Generate(
        {.prompt = kPrompt, .max_tokens = 120, .sampling = {.temperature = 0}},
        [&](const GeneratedToken& tok) {
          const absl::Time now = absl::Now();
          ++n;
          if (n == inject_at) {
            on_cloud_before = tok.mode == GenerationMode::kCloud;
            deadline = absl::ToDoubleMilliseconds(r.generator().step_deadline().decode());
            r.proxy().SetBlackhole(true);
            injected = absl::Now();
          } else if (n == inject_at + 1) {
            to_next = absl::ToDoubleMilliseconds(now - injected);
            next_on_fallback = tok.mode == GenerationMode::kFallback;
            absl::SleepFor(absl::Milliseconds(20));  // the outage goes on for a while
            r.proxy().SetBlackhole(false);
            healed = absl::Now();
          } else if (n > inject_at + 1 && back == absl::Time() &&
                     tok.mode == GenerationMode::kCloud) {
            back = now;
          }
          absl::SleepFor(absl::Microseconds(500));  // an app reading the stream
          return true;
        });
    r.proxy().SetBlackhole(false);
    // Only trials that were on the cloud when the black hole came count.
    if (!result.ok() || !on_cloud_before || !next_on_fallback) {
      ++skipped;
      continue;
    }
    to_next_ms.push_back(to_next);
    deadline_ms.push_back(deadline);
    if (back != absl::Time()) back_ms.push_back(absl::ToDoubleMilliseconds(back - healed));
  }
  const double median = Median(to_next_ms);
  const double deadline = Median(deadline_ms);
  if (json) {
    std::cout
        << absl::StrFormat(
               R"({"measure": "blackhole_to_next_token", "one_way_latency_ms": %.0f, "trials": %d, "skipped": %d, "step_deadline_ms": %.1f, "median_ms": %.1f, "max_ms": %.1f, "median_over_deadline": %.2f, "heal_to_cloud_median_ms": %.1f})",
               absl::ToDoubleMilliseconds(one_way_latency), (int)to_next_ms.size(), skipped,
               deadline, median, Max(to_next_ms), median / deadline, Median(back_ms))
        << "\n";
    return;
  }
  std::cout << absl::StrFormat("| %.0f ms | %d | %.1f | %.1f | %.1f | %.2f | %.1f (%d of %d) |\n",
                               absl::ToDoubleMilliseconds(one_way_latency), (int)to_next_ms.size(),
                               deadline, median, Max(to_next_ms), median / deadline,
                               Median(back_ms), (int)back_ms.size(), (int)to_next_ms.size());
}

void CatchUp(CodecKind codec, int32_t fallback_tokens, bool json) {
  RigOptions options;
  options.codec = codec;
  options.max_context = 512;
  options.reconnect.min_fallback_tokens = fallback_tokens;
  options.settle_attempts = true;
  auto rig = FaultRig::Create(options);
  if (!rig.ok()) {
    std::cerr << rig.status() << "\n";
    return;
  }
  FaultRig& r = **rig;
  const int32_t prompt =
      static_cast<int32_t>(r.edge_model().tokenizer().Encode(kPrompt, true).size());
  // Warm up (deadline measured), then a cut after token 40, then a restart after token 40.
  auto run = [&](bool restart) -> std::pair<int64_t, int64_t> {
    const edge::ResilienceStats before = r.generator().stats();
    int32_t n = 0;
    auto result = r.generator().Generate(
        {.prompt = kPrompt, .max_tokens = 80, .sampling = {.temperature = 0}},
        [&](const GeneratedToken&) {
          if (++n == 40) {
            if (restart) {
              r.KillWorker();
              if (!r.StartWorker().ok()) std::cerr << "restart failed\n";
            } else {
              r.proxy().Cut();
            }
          }
          return true;
        });
    if (!result.ok()) std::cerr << result.status() << "\n";
    const edge::ResilienceStats& after = r.generator().stats();
    return {after.catchup_positions - before.catchup_positions,
            after.catchup_bytes - before.catchup_bytes};
  };
  run(false);  // warm-up (its cut is not counted)
  const auto [cut_positions, cut_bytes] = run(false);
  const auto [restart_positions, restart_bytes] = run(true);
  if (json) {
    std::cout
        << absl::StrFormat(
               R"({"measure": "catch_up", "codec": "%s", "prompt_tokens": %d, "fallback_tokens": %d, "resume_positions": %d, "resume_bytes": %d, "replay_positions": %d, "replay_bytes": %d})",
               CodecKindName(codec), prompt, fallback_tokens, cut_positions, cut_bytes,
               restart_positions, restart_bytes)
        << "\n";
    return;
  }
  std::cout << absl::StrFormat("| %s | %d | %d | %d | %d | %d | %d |\n", CodecKindName(codec),
                               prompt + 40, cut_positions, cut_bytes, restart_positions,
                               restart_bytes,
                               cut_positions > 0 ? static_cast<int>(cut_bytes / cut_positions) : 0);
}

}  // namespace
}  // namespace tandem::fault

int main(int argc, char** argv) {
  int32_t runs = 9, tokens = 200, trials = 30, fallback_tokens = 8;
  bool json = false;
  std::string measure = "all";
  CLI::App app{"failover_bench: resilience costs and reaction times (see the file comment)"};
  app.add_option("--runs", runs, "Healthy decode: runs per generator")->capture_default_str();
  app.add_option("--tokens", tokens, "Healthy decode: tokens per run")->capture_default_str();
  app.add_option("--trials", trials, "Black holes per latency setting")->capture_default_str();
  app.add_option("--fallback-tokens", fallback_tokens, "Catch-up: tokens made on the fallback")
      ->capture_default_str();
  app.add_flag("--json", json, "One JSON object per measurement");
  app.add_option("--measure", measure, "healthy | blackhole | catchup | all")
      ->check(CLI::IsMember({"healthy", "blackhole", "catchup", "all"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  using namespace tandem::fault;
  const bool all = measure == "all";
  if (all || measure == "healthy") HealthyDecode(runs, tokens, json);
  if ((all || measure == "blackhole") && !json) {
    std::cout << "\n2. Black hole -> next token at the app (deadline floor 50 ms; one black hole "
                 "right after a token, healed after the next)\n\n"
                 "| one-way latency | trials | step deadline ms (median) | median ms | max ms | "
                 "median / deadline | heal -> back on cloud, median ms |\n"
                 "|---|---:|---:|---:|---:|---:|---:|\n";
  }
  if (all || measure == "blackhole") {
    BlackHole(trials, absl::ZeroDuration(), json);
    BlackHole(trials, absl::Milliseconds(20), json);
  }
  if (!all && measure != "catchup") return 0;
  if (!json) {
    std::cout << absl::StrFormat(
        "\n3. Catch-up after a cut at token 40 and %d fallback tokens (resume), and after a "
        "worker restart at token 40 (replay)\n\n"
        "| codec | context at the fault | resume: positions sent | resume: bytes | replay: "
        "positions | replay: bytes | bytes/position |\n"
        "|---|---:|---:|---:|---:|---:|---:|\n",
        fallback_tokens);
  }
  for (tandem::CodecKind codec :
       {tandem::CodecKind::kF32, tandem::CodecKind::kQ8, tandem::CodecKind::kQ4}) {
    CatchUp(codec, fallback_tokens, json);
  }
  return 0;
}
