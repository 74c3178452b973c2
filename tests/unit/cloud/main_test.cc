// The tandem-cloud binary: flags -> config, the "listening" line with the real port, a
// Health call over TLS, and a clean exit on SIGTERM.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/net/tls.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tandem/v1/tandem.grpc.pb.h"
#include "tests/unit/cloud/test_certs.h"

extern char** environ;

namespace tandem::cloud {
namespace {

using ::testing::HasSubstr;

// tandem-cloud with `args`, its stderr read through a pipe.
class CloudProcess {
 public:
  explicit CloudProcess(const std::vector<std::string>& args) {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    std::vector<std::string> argv_strings = {TANDEM_CLOUD_BINARY};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, TANDEM_CLOUD_BINARY, &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    stderr_fd_ = fds[0];
  }
  ~CloudProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(stderr_fd_);
  }

  // Reads stderr until a line matches `pattern` (returns the match) or `timeout` passes
  // or the stream ends (returns nullopt).
  std::optional<std::smatch> WaitForLine(const std::regex& pattern, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      size_t newline;
      while ((newline = buffer_.find('\n')) != std::string::npos) {
        lines_.push_back(buffer_.substr(0, newline));
        buffer_.erase(0, newline + 1);
        std::smatch match;
        if (std::regex_search(lines_.back(), match, pattern)) return match;
      }
      if (!ReadSome(deadline)) return std::nullopt;
    }
  }

  // Waits for the exit status (bounded); reads the rest of stderr.
  std::optional<int> Wait(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (ReadSome(deadline)) {
    }
    for (;;) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (absl::Now() > deadline) return std::nullopt;
      absl::SleepFor(absl::Milliseconds(10));
    }
  }

  void Signal(int sig) { kill(pid_, sig); }
  std::string output() const {
    std::string all;
    for (const std::string& l : lines_) absl::StrAppend(&all, l, "\n");
    return all + buffer_;
  }

 private:
  // Appends what stderr has to buffer_; false at EOF or the deadline.
  bool ReadSome(absl::Time deadline) {
    pollfd p{.fd = stderr_fd_, .events = POLLIN, .revents = 0};
    const int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (ms <= 0 || poll(&p, 1, ms) <= 0) return false;
    char chunk[4096];
    const ssize_t n = read(stderr_fd_, chunk, sizeof(chunk));
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  bool exited_ = false;
  std::string buffer_;
  std::vector<std::string> lines_;
};

class MainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::path(testing::TempDir()) / absl::StrCat("cloud_main_", getpid()))
               .string();
    ASSERT_TRUE(MakeDevCerts(dir_, &certs_).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  CertPaths certs_;
};

TEST_F(MainTest, ServesOverTlsAndShutsDownOnSigterm) {
  CloudProcess cloud({"--model", TANDEM_TEST_MODEL, "--listen", "127.0.0.1:0", "--metrics",
                      "127.0.0.1:0", "--threads", "1", "--tls-cert", certs_.server_cert,
                      "--tls-key", certs_.server_key, "--max-sessions", "4",
                      // An idle connected client holds gRPC's shutdown for up to ~5 s.
                      "--shutdown-grace-seconds", "2"});
  auto match = cloud.WaitForLine(std::regex("tandem-cloud listening on 127\\.0\\.0\\.1:(\\d+)$"),
                                 absl::Seconds(60));
  ASSERT_TRUE(match.has_value()) << cloud.output();
  const int port = std::stoi((*match)[1]);
  EXPECT_GT(port, 0);

  auto credentials = MakeChannelCredentials(ClientTlsOptions{.ca_file = certs_.ca});
  ASSERT_TRUE(credentials.ok());
  auto stub = v1::SplitInference::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), *credentials));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::HealthResponse health;
  grpc::Status status = stub->Health(&context, v1::HealthRequest(), &health);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(health.status(), v1::SERVING_STATUS_SERVING);
  EXPECT_EQ(health.max_sessions(), 4);
  EXPECT_EQ(health.n_layers(), 5);

  cloud.Signal(SIGTERM);
  EXPECT_EQ(cloud.Wait(absl::Seconds(60)), 0) << cloud.output();
  EXPECT_THAT(cloud.output(), HasSubstr("SIGTERM, shutting down"));
}

TEST_F(MainTest, RefusesPlaintextWithoutInsecureAndWarnsWithIt) {
  {
    CloudProcess cloud({"--model", TANDEM_TEST_MODEL, "--listen", "127.0.0.1:0"});
    EXPECT_EQ(cloud.Wait(absl::Seconds(60)), 1);
    EXPECT_THAT(cloud.output(), HasSubstr("--tls-cert"));
  }
  {
    CloudProcess cloud({"--model", TANDEM_TEST_MODEL, "--listen", "127.0.0.1:0", "--insecure"});
    ASSERT_TRUE(cloud.WaitForLine(std::regex("listening on"), absl::Seconds(60)).has_value())
        << cloud.output();
    EXPECT_THAT(cloud.output(), HasSubstr("WARNING: --insecure"));
    cloud.Signal(SIGINT);
    EXPECT_EQ(cloud.Wait(absl::Seconds(60)), 0) << cloud.output();
  }
}

TEST_F(MainTest, BadConfigFailsFastWithAClearMessage) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--model", "/nonexistent.gguf", "--insecure"}, "nonexistent.gguf"},
      {{"--idle-timeout-seconds", "0", "--insecure"}, "idle timeout"},
      {{"--max-sessions", "0", "--insecure"}, "max sessions"},
      {{"--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"}, "nonexistent.pem"},
      {{"--auth-tokens-file", "/nonexistent-tokens", "--insecure"}, "nonexistent-tokens"},
  };
  for (const auto& [args, message] : cases) {
    std::vector<std::string> all = {"--listen", "127.0.0.1:0"};
    if (args[0] != "--model") all.insert(all.end(), {"--model", TANDEM_TEST_MODEL});
    all.insert(all.end(), args.begin(), args.end());
    CloudProcess cloud(all);
    EXPECT_EQ(cloud.Wait(absl::Seconds(60)), 1) << message;
    EXPECT_THAT(cloud.output(), HasSubstr(message));
  }
}

}  // namespace
}  // namespace tandem::cloud
