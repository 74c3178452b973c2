// tandem-edge --config end to end: a device holding only the edge shard, with the split,
// codec and worker address from a tuner config, generates what the whole model does
// against a worker holding only the cloud shard (in process, TLS on 127.0.0.1 port 0).
// Explicit flags override the config; a K beyond the shard is refused.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cloud/cloud_server.h"
#include "common/metrics/metrics_server.h"
#include "common/tool/commands.h"
#include "edge/tune/tuned_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/cloud/fake_clock.h"
#include "tests/unit/cloud/test_certs.h"

namespace tandem::tune {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct ShellResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs a shell command line with a bounded time; stdout and stderr captured.
ShellResult Shell(const std::string& command, const std::string& dir) {
  const std::string out = dir + "/stdout", err = dir + "/stderr";
  const int status =
      std::system(absl::StrCat("timeout 60 ", command, " >", out, " 2>", err).c_str());
  ShellResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ostringstream o, e;
  o << std::ifstream(out).rdbuf();
  e << std::ifstream(err).rdbuf();
  r.out = o.str();
  r.err = e.str();
  return r;
}

class EdgeConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(testing::TempDir()) / absl::StrCat("edge_config_", getpid());
    fs::create_directories(dir_);
    ASSERT_TRUE(cloud::MakeDevCerts(dir_ + "/certs", &certs_).ok());
    SplitConfig split{.input_path = TANDEM_TEST_MODEL,
                      .split = 2,
                      .edge_output_path = dir_ + "/edge.gguf",
                      .cloud_output_path = dir_ + "/cloud.gguf"};
    std::ostringstream out, err;
    ASSERT_TRUE(RunSplit(split, out, err).ok());
    auto worker = cloud::Worker::Create({.model_path = dir_ + "/cloud.gguf", .threads = 1}, clock_);
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = *std::move(worker);
    metrics_ = std::make_unique<cloud::CloudMetrics>(metrics_server_.registry());
    cloud::ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.tls.cert_file = certs_.server_cert;
    config.tls.key_file = certs_.server_key;
    config.shutdown_grace = absl::Seconds(2);
    auto server = cloud::CloudServer::Start(config, *worker_, *metrics_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  void TearDown() override {
    server_.reset();
    worker_.reset();
    fs::remove_all(dir_);
  }

  std::string Edge(const std::string& args) {
    return absl::StrCat(TANDEM_EDGE_BINARY, " --tls-ca ", certs_.ca, " ", args);
  }

  std::string dir_;
  cloud::CertPaths certs_;
  cloud::FakeClock clock_;
  MetricsServer metrics_server_;
  std::unique_ptr<cloud::CloudMetrics> metrics_;
  std::unique_ptr<cloud::Worker> worker_;
  std::unique_ptr<cloud::CloudServer> server_;
};

TEST_F(EdgeConfigTest, EdgeShardWithTunedConfigGeneratesAsTheWholeModel) {
  const std::string config = dir_ + "/tuned.json";
  ASSERT_TRUE(WriteTunedConfig({.split = 2,
                                .codec = CodecKind::kF32,
                                .cloud = absl::StrCat("127.0.0.1:", server_->port()),
                                .model = dir_ + "/edge.gguf"},
                               config)
                  .ok());
  // The golden greedy continuation of the whole model (tool_test).
  ShellResult r =
      Shell(Edge(absl::StrCat("--config ", config, " -p 'Once upon a time' -n 30 --temp 0")), dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            ", there was a little girl named Lily. She loved to play outside in the park. One "
            "day,\n");

  // Explicit flags win: K = 3 is not in the edge shard.
  r = Shell(Edge(absl::StrCat("--config ", config, " --split 3 -p 'Once' -n 2")), dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("does not hold layers [0, 3)"));
  // The whole model at K = 1 against the cloud shard from K = 2: refused by the worker.
  r = Shell(Edge(absl::StrCat("--config ", config, " -m ", TANDEM_TEST_MODEL,
                              " --split 1 -p 'Once' -n 2")),
            dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("this worker serves K in [2, 4]"));
}

TEST_F(EdgeConfigTest, MissingOrBadConfigIsAClearError) {
  ShellResult r = Shell(Edge("-p 'Once' -n 2"), dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("--split and --cloud are required (or --config FILE"));
  std::ofstream(dir_ + "/bad.json") << "{\"split\": 2}";
  r = Shell(Edge(absl::StrCat("--config ", dir_, "/bad.json -p 'Once' -n 2")), dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("bad.json: \"codec\" (a string) is missing"));
}

}  // namespace
}  // namespace tandem::tune
