// The wire form of GreedyHello (worker_test_util.h): a Hello message asking for a greedy,
// f32-codec session at `split`, for tests that talk to the worker over gRPC.
#pragma once

#include <cstdint>
#include <string>

#include "tandem/v1/tandem.pb.h"
#include "tests/unit/cloud/worker_test_util.h"

namespace tandem::cloud {

inline v1::EdgeMessage GreedyHelloProto(const LlamaModel& model, int32_t split,
                                        const std::string& id) {
  const OpenRequest r = GreedyHello(model, split, id);
  v1::EdgeMessage m;
  v1::Hello* h = m.mutable_hello();
  h->set_protocol_version(r.protocol_version);
  h->set_model_id(r.model_id);
  h->set_n_layers(r.n_layers);
  h->set_split_layer(r.split_layer);
  h->set_hidden_dim(r.hidden_dim);
  h->set_codec(v1::HIDDEN_CODEC_F32);
  h->mutable_sampling()->set_temperature(0);
  h->set_session_id(r.session_id);
  h->set_max_context(r.max_context);
  return m;
}

}  // namespace tandem::cloud
