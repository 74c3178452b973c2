// The wire contract's invariants that code on both sides relies on.
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "common/codec/crc32c.h"
#include "common/codec/hidden_codec.h"
#include "gtest/gtest.h"
#include "tandem/v1/tandem.grpc.pb.h"
#include "tandem/v1/tandem.pb.h"

namespace tandem {
namespace {

namespace pb = ::tandem::v1;

TEST(TandemProtoTest, HiddenCodecEnumIsCodecKindPlusOne) {
  // Transports map with static_cast<int>(kind) + 1; 0 stays UNSPECIFIED.
  for (CodecKind kind : kAllCodecKinds) {
    const int wire = static_cast<int>(kind) + 1;
    ASSERT_TRUE(pb::HiddenCodec_IsValid(wire));
    std::string name = pb::HiddenCodec_Name(static_cast<pb::HiddenCodec>(wire));
    EXPECT_EQ(absl::AsciiStrToLower(name.substr(std::string("HIDDEN_CODEC_").size())),
              CodecKindName(kind));
  }
  EXPECT_EQ(pb::HIDDEN_CODEC_UNSPECIFIED, 0);
  EXPECT_EQ(pb::HiddenCodec_MAX, static_cast<int>(kAllCodecKinds.size()));
}

TEST(TandemProtoTest, ServiceShape) {
  EXPECT_STREQ(pb::SplitInference::service_full_name(), "tandem.v1.SplitInference");
  const google::protobuf::ServiceDescriptor* service =
      pb::HiddenChunk::descriptor()->file()->FindServiceByName("SplitInference");
  ASSERT_NE(service, nullptr);
  const google::protobuf::MethodDescriptor* generate = service->FindMethodByName("Generate");
  ASSERT_NE(generate, nullptr);
  EXPECT_TRUE(generate->client_streaming());
  EXPECT_TRUE(generate->server_streaming());
  for (const char* unary : {"Health", "Profile", "Echo"}) {
    const google::protobuf::MethodDescriptor* m = service->FindMethodByName(unary);
    ASSERT_NE(m, nullptr) << unary;
    EXPECT_FALSE(m->client_streaming() || m->server_streaming()) << unary;
  }
}

TEST(TandemProtoTest, PerTokenMessagesUseOneByteTags) {
  for (const google::protobuf::Descriptor* d :
       {pb::HiddenChunk::descriptor(), pb::Token::descriptor(), pb::EdgeMessage::descriptor(),
        pb::CloudMessage::descriptor()}) {
    for (int i = 0; i < d->field_count(); ++i) {
      EXPECT_LT(d->field(i)->number(), 16) << d->full_name() << "." << d->field(i)->name();
    }
  }
}

TEST(TandemProtoTest, LargestDocumentedChunkFitsDefaultMessageLimit) {
  // 64 positions of f32 at hidden_dim 4096 = 1 MiB of payload, the documented default
  // max_chunk_bytes; gRPC's default receive limit is 4 MiB.
  const int32_t n = 64, dim = 4096;
  std::vector<float> hidden(static_cast<size_t>(n) * dim, 0.25f);
  pb::EdgeMessage msg;
  pb::HiddenChunk* chunk = msg.mutable_chunk();
  chunk->set_start_position(1000);
  chunk->set_num_positions(n);
  chunk->set_codec(pb::HIDDEN_CODEC_F32);
  ASSERT_TRUE(EncodeHidden(CodecKind::kF32, hidden, n, dim, chunk->mutable_payload()).ok());
  chunk->set_payload_crc32c(Crc32c(chunk->payload()));
  chunk->set_sample(true);
  EXPECT_EQ(chunk->payload().size(), 1u << 20);
  EXPECT_LT(msg.ByteSizeLong(), (1u << 20) + 64);
  EXPECT_LT(msg.ByteSizeLong(), 4u << 20);

  pb::EdgeMessage parsed;
  ASSERT_TRUE(parsed.ParseFromString(msg.SerializeAsString()));
  ASSERT_EQ(parsed.kind_case(), pb::EdgeMessage::kChunk);
  EXPECT_EQ(Crc32c(parsed.chunk().payload()), parsed.chunk().payload_crc32c());
  std::vector<float> out(hidden.size());
  ASSERT_TRUE(
      DecodeHidden(CodecKind::kF32, parsed.chunk().payload(), n, dim, absl::MakeSpan(out)).ok());
  EXPECT_EQ(out, hidden);
}

TEST(TandemProtoTest, DecodeStepMessageIsSmall) {
  // One decode step at hidden_dim 2048 with q8: the payload plus a few bytes of framing.
  pb::EdgeMessage msg;
  pb::HiddenChunk* chunk = msg.mutable_chunk();
  chunk->set_start_position(123456);
  chunk->set_num_positions(1);
  chunk->set_codec(pb::HIDDEN_CODEC_Q8);
  chunk->mutable_payload()->assign(EncodedSize(CodecKind::kQ8, 1, 2048), '\0');
  chunk->set_payload_crc32c(0xffffffffu);
  chunk->set_sample(true);
  EXPECT_LE(msg.ByteSizeLong(), 2176u + 24);

  pb::CloudMessage reply;
  pb::Token* token = reply.mutable_token();
  token->set_position(123456);
  token->set_token_id(31999);
  token->set_logprob(-0.5f);
  EXPECT_LE(reply.ByteSizeLong(), 16u);
}

TEST(TandemProtoTest, UnknownKindParsesAsNotSet) {
  // A newer edge's message kind (field 50 of the oneof) reaches an older worker as an
  // EdgeMessage with no kind set, which it must answer with UNIMPLEMENTED.
  pb::EdgeMessage msg;
  msg.GetReflection()->MutableUnknownFields(&msg)->AddLengthDelimited(50, "future");
  pb::EdgeMessage parsed;
  ASSERT_TRUE(parsed.ParseFromString(msg.SerializeAsString()));
  EXPECT_EQ(parsed.kind_case(), pb::EdgeMessage::KIND_NOT_SET);
}

TEST(TandemProtoTest, HelloRoundTrip) {
  pb::EdgeMessage msg;
  pb::Hello* hello = msg.mutable_hello();
  hello->set_protocol_version(1);
  hello->set_model_id("stories260K@sha256:00ff");
  hello->set_n_layers(5);
  hello->set_split_layer(2);
  hello->set_hidden_dim(64);
  hello->set_codec(pb::HIDDEN_CODEC_Q8);
  hello->mutable_sampling()->set_temperature(0.8f);
  hello->mutable_sampling()->set_top_k(40);
  hello->mutable_sampling()->set_top_p(0.95f);
  hello->mutable_sampling()->set_seed(42);
  hello->set_session_id("0123456789abcdef");
  hello->set_resume_position(17);
  hello->set_max_context(512);
  hello->set_top_logprobs(5);
  pb::EdgeMessage parsed;
  ASSERT_TRUE(parsed.ParseFromString(msg.SerializeAsString()));
  EXPECT_EQ(parsed.SerializeAsString(), msg.SerializeAsString());
  EXPECT_EQ(parsed.hello().sampling().seed(), 42u);
  EXPECT_EQ(parsed.hello().resume_position(), 17);
}

}  // namespace
}  // namespace tandem
