// The embedded real model (deploy/models/stories260K.gguf, TANDEM_TEST_MODEL), loaded once
// per test binary and shared read-only by its tests.
#pragma once

#include <cstdlib>
#include <iostream>

#include "common/model/llama_model.h"

namespace tandem::testing_util {

inline const LlamaModel& EmbeddedModel() {
  static const LlamaModel* const model = [] {
    absl::StatusOr<std::unique_ptr<LlamaModel>> loaded = LlamaModel::Load(TANDEM_TEST_MODEL);
    if (!loaded.ok()) {
      std::cerr << "cannot load the embedded model: " << loaded.status() << "\n";
      std::abort();
    }
    return loaded->release();
  }();
  return *model;
}

}  // namespace tandem::testing_util
