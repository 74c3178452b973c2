#include "edge/tune/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/util/enum_names.h"

namespace tandem::tune {
namespace {

constexpr double kWidth = 760, kHeight = 440;
constexpr double kLeft = 70, kRight = 80, kTop = 84, kBottom = 60;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;

// A "nice" axis maximum (1, 2, 2.5 or 5 times a power of ten) at or above v.
double NiceMax(double v) {
  if (!(v > 0)) return 1;
  const double p = std::pow(10, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (m * p >= v) return m * p;
  }
  return 10 * p;
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

// Indexed by CodecKind: f32, f16, q8, q4.
std::string_view ColorOf(CodecKind kind) {
  static constexpr std::string_view kColors[] = {"#7b3294", "#1f77b4", "#2ca02c", "#ff7f0e"};
  return EnumName(kind, kColors, "#000000");
}

// Where values land on the plot.
struct Scale {
  int32_t k_min = 0;
  double k_span = 1;  // K range (at least 1)
  double max_ms = 1, max_mib = 1;

  double X(double k) const { return kLeft + (k - k_min) / k_span * kPlotW; }
  double YMs(double ms) const { return kTop + kPlotH * (1 - ms / max_ms); }
  double YMib(double mib) const { return kTop + kPlotH * (1 - mib / max_mib); }
};

// Latency points per codec, and device memory per K (it does not depend on the codec).
struct Series {
  std::map<CodecKind, std::vector<const Prediction*>> by_codec;
  std::map<int32_t, double> mib_by_k;
};

Scale ScaleFor(const std::vector<Prediction>& predictions, const Constraints& c, Series& series) {
  int32_t k_min = predictions.front().split, k_max = k_min;
  double max_ms = c.latency_target_seconds * 1e3, max_mib = c.memory_budget_bytes / 1048576.0;
  for (const Prediction& p : predictions) {
    k_min = std::min(k_min, p.split);
    k_max = std::max(k_max, p.split);
    max_ms = std::max(max_ms, p.per_token_seconds * 1e3);
    series.mib_by_k[p.split] = p.device_bytes / 1048576.0;
    max_mib = std::max(max_mib, series.mib_by_k[p.split]);
    series.by_codec[p.codec].push_back(&p);
  }
  return Scale{.k_min = k_min,
               .k_span = static_cast<double>(std::max(1, k_max - k_min)),
               .max_ms = NiceMax(max_ms * 1.05),
               .max_mib = NiceMax(max_mib * 1.05)};
}

void AppendAxes(const Scale& s, std::string& svg) {
  absl::StrAppendFormat(&svg,
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                        "stroke=\"#444\"/>\n",
                        kLeft, kTop, kPlotW, kPlotH);
  for (int i = 0; i <= 5; ++i) {
    const double f = i / 5.0, yy = kTop + kPlotH * (1 - f);
    absl::StrAppendFormat(
        &svg,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n"
        "<text x=\"%.1f\" y=\"%.1f\">%g</text>\n",
        kLeft, yy, kLeft + kPlotW, yy, kLeft - 6, yy + 4, f * s.max_ms, kLeft + kPlotW + 6, yy + 4,
        f * s.max_mib);
  }
  const int32_t k_max = s.k_min + static_cast<int32_t>(s.k_span);
  const int32_t k_step = std::max(1, (k_max - s.k_min) / 12 + ((k_max - s.k_min) % 12 != 0));
  for (int32_t k = s.k_min; k <= k_max; k += k_step) {
    absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n",
                          s.X(k), kTop + kPlotH + 18, k);
  }
  absl::StrAppendFormat(
      &svg,
      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">split point K (layers on the "
      "device)</text>\n"
      "<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">per-token "
      "latency (ms)</text>\n"
      "<text transform=\"translate(%.1f %.1f) rotate(90)\" text-anchor=\"middle\">device memory "
      "(MiB)</text>\n",
      kLeft + kPlotW / 2, kHeight - 20, kTop + kPlotH / 2, kWidth - 18, kTop + kPlotH / 2);
}

void AppendConstraints(const Scale& s, const Constraints& c, std::string& svg) {
  if (c.latency_target_seconds > 0) {
    const double yy = s.YMs(c.latency_target_seconds * 1e3);
    absl::StrAppendFormat(
        &svg,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d62728\" "
        "stroke-dasharray=\"6 4\"/><text x=\"%.1f\" y=\"%.1f\" "
        "fill=\"#d62728\">latency target</text>\n",
        kLeft, yy, kLeft + kPlotW, yy, kLeft + 4, yy - 4);
  }
  if (c.memory_budget_bytes > 0) {
    const double yy = s.YMib(c.memory_budget_bytes / 1048576.0);
    absl::StrAppendFormat(
        &svg,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" "
        "stroke-dasharray=\"2 3\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" "
        "fill=\"#555\">memory budget</text>\n",
        kLeft, yy, kLeft + kPlotW, yy, kLeft + kPlotW - 4, yy - 4);
  }
}

// The memory line, a latency line per codec, and the legend in one row above the plot.
void AppendSeries(const Scale& s, const Series& series, std::string& svg) {
  std::string points;
  for (const auto& [k, mib] : series.mib_by_k) {
    absl::StrAppendFormat(&points, "%.1f,%.1f ", s.X(k), s.YMib(mib));
  }
  absl::StrAppendFormat(&svg,
                        "<polyline points=\"%s\" fill=\"none\" stroke=\"#888\" stroke-width=\"2\" "
                        "stroke-dasharray=\"8 3\"/>\n",
                        points);
  const double legend_y = kTop - 18;
  double legend_x = kLeft;
  for (const auto& [kind, ps] : series.by_codec) {
    points.clear();
    for (const Prediction* p : ps) {
      absl::StrAppendFormat(&points, "%.1f,%.1f ", s.X(p->split),
                            s.YMs(p->per_token_seconds * 1e3));
    }
    absl::StrAppendFormat(&svg,
                          "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" "
                          "stroke-width=\"2\"/>\n"
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                          "stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\">latency, %s</text>\n",
                          points, ColorOf(kind), legend_x, legend_y, legend_x + 24, legend_y,
                          ColorOf(kind), legend_x + 30, legend_y + 4, CodecKindName(kind));
    legend_x += 110;
  }
  absl::StrAppendFormat(&svg,
                        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" "
                        "stroke-width=\"2\" stroke-dasharray=\"8 3\"/><text x=\"%.1f\" "
                        "y=\"%.1f\">device memory</text>\n",
                        legend_x, legend_y, legend_x + 24, legend_y, legend_x + 30, legend_y + 4);
}

// A ring around the chosen point and its label, on the side of the point with room for it
// (right of points in the plot's left half, left of those in the right half), so that the
// label never runs past the chart's edge.
void AppendRecommendation(const Scale& s, const Prediction& best, std::string& svg) {
  const double cx = s.X(best.split), cy = s.YMs(best.per_token_seconds * 1e3);
  const bool right_half = cx > kLeft + kPlotW / 2;
  absl::StrAppendFormat(
      &svg,
      "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"7\" fill=\"none\" stroke=\"#000\" "
      "stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">K = %d, %s: %.1f "
      "ms</text>\n",
      cx, cy, right_half ? cx - 10 : cx + 10, cy - 10, right_half ? "end" : "start", best.split,
      CodecKindName(best.codec), best.per_token_seconds * 1e3);
}

}  // namespace

std::string LatencyMemoryChart(const std::vector<Prediction>& predictions, const Constraints& c,
                               const Recommendation& r, const std::string& title) {
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"%.0f\" y=\"22\" font-size=\"15\">per-token latency and device memory "
      "against the split point</text>\n"
      "<text x=\"%.0f\" y=\"40\" font-size=\"11\" fill=\"#555\">%s</text>\n",
      kWidth, kHeight, kWidth, kHeight, kLeft, kLeft, Escape(title));
  if (predictions.empty()) return svg + "</svg>\n";
  Series series;
  const Scale scale = ScaleFor(predictions, c, series);
  AppendAxes(scale, svg);
  AppendConstraints(scale, c, svg);
  AppendSeries(scale, series, svg);
  AppendRecommendation(scale, r.choice, svg);
  return svg + "</svg>\n";
}

}  // namespace tandem::tune
