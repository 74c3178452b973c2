// Metric families registered in one call: a family (for labelled series), or its one
// unlabelled series.
#pragma once

#include <string>
#include <vector>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tandem {

inline prometheus::Family<prometheus::Counter>& NewCounterFamily(prometheus::Registry& registry,
                                                                 const std::string& name,
                                                                 const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

inline prometheus::Family<prometheus::Gauge>& NewGaugeFamily(prometheus::Registry& registry,
                                                             const std::string& name,
                                                             const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

inline prometheus::Family<prometheus::Histogram>& NewHistogramFamily(prometheus::Registry& registry,
                                                                     const std::string& name,
                                                                     const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
}

inline prometheus::Counter& NewCounter(prometheus::Registry& registry, const std::string& name,
                                       const std::string& help) {
  return NewCounterFamily(registry, name, help).Add({});
}

inline prometheus::Gauge& NewGauge(prometheus::Registry& registry, const std::string& name,
                                   const std::string& help) {
  return NewGaugeFamily(registry, name, help).Add({});
}

inline prometheus::Histogram& NewHistogram(prometheus::Registry& registry, const std::string& name,
                                           const std::string& help,
                                           const std::vector<double>& buckets) {
  return NewHistogramFamily(registry, name, help).Add({}, buckets);
}

}  // namespace tandem
