// A child process commits in a loop and reports each acknowledged counter
// through a pipe; the parent SIGKILLs it at a random point, then recovers and
// checks that every acknowledged batch is there, whole.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "core_cluster/state/log_format.h"
#include "core_cluster/state/log_state_store.h"
#include "tests/core_cluster/state/test_util.h"

namespace corral::state {
namespace {

// Each acknowledged step n leaves /counter = n and /tasks/k for the last
// kWindow values of k, all written by the same batch that set /counter.
constexpr uint64_t kWindow = 5;

LogStateStore::Options crashOptions() {
  LogStateStore::Options o;
  o.maxLogBytes = 4096;  // compact often, so kills also land inside compactions
  o.maxLogRecords = 37;
  return o;
}

std::vector<Mutation> step(uint64_t n) {
  std::vector<Mutation> batch = {Mutation::put("/counter", n),
                                 Mutation::put("/tasks/" + std::to_string(n),
                                               Json{{"n", n}, {"pad", std::string(n % 200, 'x')}})};
  if (n > kWindow) batch.push_back(Mutation::del("/tasks/" + std::to_string(n - kWindow)));
  return batch;
}

[[noreturn]] void childMain(const std::string& dir, int ackFd) {
  auto store = LogStateStore::open(dir, crashOptions());
  if (!store.ok()) ::_exit(2);
  auto state = (*store)->recover();
  if (!state.ok()) ::_exit(3);
  uint64_t n = state->count("/counter") ? (*state)["/counter"].get<uint64_t>() : 0;
  for (int i = 0; i < 100'000; ++i) {
    Status s;
    if (i % 3 == 2) {  // exercise group commit too
      s = (*store)->commitMany({step(n + 1), step(n + 2)});
      if (s.ok()) n += 2;
    } else {
      s = (*store)->commit(step(n + 1));
      if (s.ok()) n += 1;
    }
    if (!s.ok()) ::_exit(4);
    if (::write(ackFd, &n, sizeof(n)) != sizeof(n)) ::_exit(5);
  }
  ::_exit(0);
}

// Reads acknowledgements until `want` arrived (or EOF); returns the highest.
uint64_t readAcks(int fd, uint64_t want, uint64_t highest) {
  uint64_t got = 0;
  while (want == 0 || got < want) {
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, 20'000);
    if (ready <= 0) {
      ADD_FAILURE() << "no acknowledgement from the child for 20 s";
      break;
    }
    uint64_t n = 0;
    ssize_t r = ::read(fd, &n, sizeof(n));
    if (r == 0) break;  // child gone and pipe drained
    if (r < 0 && errno == EINTR) continue;
    if (r != static_cast<ssize_t>(sizeof(n))) {
      ADD_FAILURE() << "short read from the ack pipe: " << r;
      break;
    }
    highest = std::max(highest, n);
    ++got;
  }
  return highest;
}

// SIGKILL leaves the page cache intact; a power cut can also leave part of an
// unacknowledged record behind. Appends such a fragment to the newest log.
void appendTornRecord(const std::string& dir, std::mt19937& rng) {
  std::string newest;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.rfind("log.", 0) == 0 && name > newest) newest = name;
  }
  ASSERT_FALSE(newest.empty());
  std::string record;
  appendRecord(record, encodeBatchPayload({step(1'000'000)}));
  testing::appendFile(dir + "/" + newest, record.substr(0, 1 + rng() % (record.size() - 1)));
}

void checkState(const StateMap& state, uint64_t acked) {
  ASSERT_TRUE(state.count("/counter")) << "acked " << acked;
  uint64_t c = state.at("/counter").get<uint64_t>();
  // Recovered may be ahead of acked (committed, killed before the ack).
  ASSERT_GE(c, acked);
  uint64_t tasks = 0;
  for (const auto& [key, value] : state) {
    if (key.rfind("/tasks/", 0) != 0) continue;
    ++tasks;
    uint64_t k = value.at("n").get<uint64_t>();
    EXPECT_EQ(key, "/tasks/" + std::to_string(k));
    EXPECT_TRUE(k <= c && k + kWindow > c) << "stale task " << k << " at counter " << c;
    EXPECT_EQ(value.at("pad").get<std::string>().size(), k % 200);
  }
  EXPECT_EQ(tasks, std::min(c, kWindow)) << "counter " << c;
}

TEST(LogStateStoreCrash, EveryAcknowledgedBatchSurvivesSigkill) {
  testing::TempDir dir;
  std::random_device rd;
  const unsigned seed = rd();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  uint64_t acked = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (int round = 0; round < 8 && std::chrono::steady_clock::now() < deadline; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0) << std::strerror(errno);
    if (pid == 0) {
      ::close(fds[0]);
      childMain(dir.path(), fds[1]);
    }
    ::close(fds[1]);
    acked = readAcks(fds[0], 1 + rng() % 120, acked);
    // Land the kill anywhere, not just right after an ack.
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    acked = readAcks(fds[0], 0, acked);  // whatever was in flight is acknowledged too
    ::close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
    if (rng() % 2 == 0) appendTornRecord(dir.path(), rng);

    auto store = LogStateStore::open(dir.path(), crashOptions());
    ASSERT_TRUE(store.ok()) << store.error().message;
    auto state = (*store)->recover();
    ASSERT_TRUE(state.ok()) << state.error().message;
    checkState(*state, acked);
  }
  EXPECT_GT(acked, 0u);
}

}  // namespace
}  // namespace corral::state
