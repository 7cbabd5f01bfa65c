#include "reload/worker_pool.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "reload/process_sockets.h"

namespace corral::reload {
namespace {

using namespace std::chrono_literals;

struct Value {
  std::string text;
};

std::shared_ptr<const Value> value(std::string text) {
  return std::make_shared<const Value>(Value{std::move(text)});
}

// Answers from its worker's slot: a UDP datagram "get" gets the text of the
// snapshot served now; "hold" keeps that snapshot for later, "held" answers
// from the kept one, "release" drops it. A TCP connection gets the text, then
// the close.
class EchoService : public WorkerService {
 public:
  void onReady(Worker& w, Listener& l) override {
    if (l.endpoint().transport == Transport::kTcp) {
      auto* c = new uv_tcp_t;
      uv_tcp_init(w.loop().raw(), c);
      if (uv_accept(l.stream(), reinterpret_cast<uv_stream_t*>(c)) == 0) {
        uv_os_fd_t fd;
        uv_fileno(reinterpret_cast<uv_handle_t*>(c), &fd);
        const std::string& text = w.get<Value>()->text;
        (void)!::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
      }
      closeAndDelete(c);
      return;
    }
    char buf[64];
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    ssize_t n =
        ::recvfrom(l.fd(), buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&peer), &len);
    if (n <= 0) return;
    std::string req(buf, static_cast<size_t>(n)), reply;
    if (req == "get") reply = w.get<Value>()->text;
    if (req == "hold") {
      held_ = w.hold<Value>();
      reply = held_->text;
    }
    if (req == "held") reply = held_ ? held_->text : "none";
    if (req == "release") {
      held_.reset();
      reply = "ok";
    }
    ::sendto(l.fd(), reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&peer), len);
  }
  void onSnapshot(Worker& w) override {
    snapshots.fetch_add(1);
    if (gate != nullptr && w.get<Value>()->text == gateOn) {
      entered.set_value();
      gate->wait();
    }
  }
  void close(Worker& w) override {
    held_.reset();
    if (leak != nullptr) {
      // A bug on purpose: the handle stays open (unreferenced, so the loop ends).
      uv_timer_init(w.loop().raw(), leak);
      uv_unref(reinterpret_cast<uv_handle_t*>(leak));
    }
  }

  std::atomic<int> snapshots{0};
  std::shared_future<void>* gate = nullptr;
  std::string gateOn;
  std::promise<void> entered;
  uv_timer_t* leak = nullptr;

 private:
  std::shared_ptr<const Value> held_;
};

struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() { ::close(fd); }
};

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

void setTimeout(int fd) {
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

// One UDP client: requests go to the same worker socket every time (the
// kernel hashes the client's address and port).
class UdpClient {
 public:
  explicit UdpClient(uint16_t port) : fd_(::socket(AF_INET, SOCK_DGRAM, 0)), port_(port) {
    setTimeout(fd_.fd);
  }
  std::string ask(const std::string& req) {
    sockaddr_in to = loopback(port_);
    ::sendto(fd_.fd, req.data(), req.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    char buf[64];
    ssize_t n = ::recv(fd_.fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "<timeout>";
  }

 private:
  Fd fd_;
  uint16_t port_;
};

// Connects, reads until the server closes; "<refused>" when nobody listens.
std::string tcpRead(uint16_t port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM, 0));
  setTimeout(fd.fd);
  sockaddr_in to = loopback(port);
  if (::connect(fd.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) return "<refused>";
  std::string out;
  char buf[64];
  ssize_t n;
  while ((n = ::recv(fd.fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

template <typename Pred>
bool waitFor(Pred pred, std::chrono::milliseconds limit = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::yield();
  }
  return pred();
}

PoolOptions udpAndTcp(int workers) {
  PoolOptions o;
  o.workers = workers;
  o.listeners = {Endpoint{"127.0.0.1", 0, Transport::kUdp},
                 Endpoint{"127.0.0.1", 0, Transport::kTcp}};
  return o;
}

WorkerPool::ServiceFactory echo(std::vector<EchoService*>* made = nullptr) {
  return [made](Worker&) -> Result<std::unique_ptr<WorkerService>> {
    auto s = std::make_unique<EchoService>();
    if (made) made->push_back(s.get());
    return std::unique_ptr<WorkerService>(std::move(s));
  };
}

uint16_t portOf(const WorkerPool& pool, Transport t) {
  for (const auto& [key, ep] : pool.endpoints()) {
    if (ep.transport == t) return ep.port;
  }
  return 0;
}

TEST(WorkerPool, ServesUdpAndTcpOnOnePortAndPublishesToEveryWorker) {
  auto pool = WorkerPool::start(udpAndTcp(3), AnySnapshot::of(value("one")), echo());
  ASSERT_TRUE(pool.ok()) << pool.error().message;
  uint16_t port = portOf(**pool, Transport::kUdp);
  ASSERT_NE(port, 0);
  EXPECT_EQ(portOf(**pool, Transport::kTcp), port);  // port 0: one port for both
  UdpClient udp(port);
  EXPECT_EQ(udp.ask("get"), "one");
  EXPECT_EQ(tcpRead(port), "one");

  uint64_t v = (*pool)->publish(value("two"));
  ASSERT_TRUE(waitFor([&] { return (*pool)->applied(v); }));
  // Every worker has it: many clients (spread over the workers) all see it.
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(UdpClient(port).ask("get"), "two");
    EXPECT_EQ(tcpRead(port), "two");
  }
  (*pool)->stop();
  EXPECT_TRUE((*pool)->closedCleanly());
  EXPECT_EQ(tcpRead(port), "<refused>");
}

TEST(WorkerPool, AWorkerTakesOnlyTheNewestOfWhatWasPublishedWhileItWasBusy) {
  std::promise<void> open;
  std::shared_future<void> gate = open.get_future().share();
  std::vector<EchoService*> services;
  PoolOptions o;
  o.workers = 1;
  auto pool = WorkerPool::start(o, AnySnapshot::of(value("v1")), echo(&services));
  ASSERT_TRUE(pool.ok());
  services[0]->gate = &gate;
  services[0]->gateOn = "busy";
  (*pool)->publish(value("busy"));
  services[0]->entered.get_future().wait();  // the worker is inside onSnapshot
  uint64_t last = 0;
  for (int i = 0; i < 50; ++i) last = (*pool)->publish(value("v" + std::to_string(i)));
  open.set_value();
  ASSERT_TRUE(waitFor([&] { return (*pool)->applied(last); }));
  // "busy", then one wake-up that took the newest of the 50.
  EXPECT_EQ(services[0]->snapshots.load(), 2);
  (*pool)->stop();
  EXPECT_TRUE((*pool)->closedCleanly());
}

TEST(WorkerPool, WorkInFlightFinishesOnTheSnapshotItStartedWith) {
  PoolOptions o = udpAndTcp(1);
  auto first = value("old");
  std::weak_ptr<const Value> watch = first;
  auto pool = WorkerPool::start(o, AnySnapshot::of(std::move(first)), echo());
  ASSERT_TRUE(pool.ok());
  UdpClient udp(portOf(**pool, Transport::kUdp));
  EXPECT_EQ(udp.ask("hold"), "old");
  uint64_t v = (*pool)->publish(value("new"));
  ASSERT_TRUE(waitFor([&] { return (*pool)->applied(v); }));
  EXPECT_EQ(udp.ask("get"), "new");
  EXPECT_EQ(udp.ask("held"), "old");
  EXPECT_FALSE(watch.expired());  // kept alive by the work that holds it
  EXPECT_EQ(udp.ask("release"), "ok");
  // Then by the pool until the next publish, which frees it.
  uint64_t v3 = (*pool)->publish(value("newer"));
  ASSERT_TRUE(waitFor([&] { return (*pool)->applied(v3); }));
  EXPECT_TRUE(watch.expired());
  (*pool)->stop();
  EXPECT_TRUE((*pool)->closedCleanly());
}

// A snapshot's destructor says which thread freed it.
struct FreedOn {
  std::mutex mu;
  std::vector<std::thread::id> threads;
};
struct Tracked {
  explicit Tracked(FreedOn* f) : freed(f) {}
  ~Tracked() {
    std::lock_guard<std::mutex> lock(freed->mu);
    freed->threads.push_back(std::this_thread::get_id());
  }
  FreedOn* freed;
};

TEST(WorkerPool, AReplacedSnapshotIsFreedByTheNextPublishNotByAWorker) {
  FreedOn first, second;
  PoolOptions o;
  o.workers = 2;
  auto pool = WorkerPool::start(
      o, AnySnapshot::of(std::shared_ptr<const Tracked>(std::make_shared<Tracked>(&first))),
      echo());
  ASSERT_TRUE(pool.ok());
  uint64_t v = (*pool)->publish(
      AnySnapshot::of(std::shared_ptr<const Tracked>(std::make_shared<Tracked>(&second))));
  ASSERT_TRUE(waitFor([&] { return (*pool)->applied(v); }));
  {
    // Freed by now only when both workers retired it before publish() took
    // the retired list (workers on other cores are that quick): by this
    // thread, then; never by a worker.
    std::lock_guard<std::mutex> lock(first.mu);
    for (const auto& t : first.threads) {
      EXPECT_EQ(t, std::this_thread::get_id()) << "a worker freed the snapshot it stopped serving";
    }
  }
  v = (*pool)->publish(value("third"));
  {
    std::lock_guard<std::mutex> lock(first.mu);
    ASSERT_EQ(first.threads.size(), 1u) << "a publish freed it, once";
    EXPECT_EQ(first.threads[0], std::this_thread::get_id());
  }
  ASSERT_TRUE(waitFor([&] { return (*pool)->applied(v); }));
  (*pool)->stop();
  EXPECT_TRUE((*pool)->closedCleanly());
  (*pool).reset();
  std::lock_guard<std::mutex> lock(second.mu);
  ASSERT_EQ(second.threads.size(), 1u);
  EXPECT_EQ(second.threads[0], std::this_thread::get_id()) << "stop and the pool free the rest";
}

TEST(WorkerPool, ListenersAreAddedAndRemovedOnEveryWorkerWhileTheOthersServe) {
  PoolOptions o = udpAndTcp(2);
  auto pool = WorkerPool::start(o, AnySnapshot::of(value("x")), echo());
  ASSERT_TRUE(pool.ok());
  uint16_t base = portOf(**pool, Transport::kTcp);
  auto added = (*pool)->addListener(Endpoint{"127.0.0.1", 0, Transport::kTcp});
  ASSERT_TRUE(added.ok()) << added.error().message;
  ASSERT_NE(added->port, 0);
  ASSERT_TRUE(waitFor([&] { return (*pool)->listenersApplied((*pool)->listenerChanges()); }));
  EXPECT_EQ((*pool)->endpoints().size(), 3u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(tcpRead(added->port), "x");
  // The same address twice is refused at once.
  auto twice = (*pool)->addListener(*added);
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.error().message, ::testing::HasSubstr("already listening"));

  ASSERT_TRUE((*pool)->removeListener(added->key()).ok());
  ASSERT_TRUE(waitFor([&] { return (*pool)->listenersApplied((*pool)->listenerChanges()); }));
  EXPECT_EQ(tcpRead(added->port), "<refused>");
  EXPECT_EQ(tcpRead(base), "x");  // the others never stopped
  EXPECT_FALSE((*pool)->removeListener(added->key()).ok());

  // A port another process holds: the bind error comes back to the caller.
  Fd taken(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a = loopback(0);
  ASSERT_EQ(::bind(taken.fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(taken.fd, reinterpret_cast<sockaddr*>(&a), &len);
  auto busy = (*pool)->addListener(Endpoint{"127.0.0.1", ntohs(a.sin_port), Transport::kTcp});
  ASSERT_FALSE(busy.ok());
  EXPECT_THAT(busy.error().message, ::testing::HasSubstr("bind"));
  EXPECT_EQ((*pool)->endpoints().size(), 2u);

  // Stopping right after an add: the new sockets are closed with the rest.
  ASSERT_TRUE((*pool)->addListener(Endpoint{"127.0.0.1", 0, Transport::kUdp}).ok());
  (*pool)->stop();
  EXPECT_TRUE((*pool)->closedCleanly());
}

TEST(WorkerPool, StartErrorsComeBackBeforeAnyThreadRuns) {
  PoolOptions o = udpAndTcp(2);
  o.listeners[0].host = "not-an-address";
  auto bad = WorkerPool::start(o, AnySnapshot::of(value("x")), echo());
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, ::testing::HasSubstr("invalid listen address"));

  EXPECT_FALSE(WorkerPool::start(udpAndTcp(0), AnySnapshot::of(value("x")), echo()).ok());
  EXPECT_FALSE(WorkerPool::start(udpAndTcp(1), AnySnapshot{}, echo()).ok());

  Fd taken(::socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in a = loopback(0);
  ASSERT_EQ(::bind(taken.fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(taken.fd, reinterpret_cast<sockaddr*>(&a), &len);
  o = udpAndTcp(2);
  for (auto& ep : o.listeners) ep.port = ntohs(a.sin_port);
  auto inUse = WorkerPool::start(o, AnySnapshot::of(value("x")), echo());
  ASSERT_FALSE(inUse.ok());
  EXPECT_THAT(inUse.error().message, ::testing::HasSubstr("UDP 127.0.0.1:"));

  // A service that cannot start: the workers made before it are closed.
  int made = 0;
  auto failing = WorkerPool::start(udpAndTcp(3), AnySnapshot::of(value("x")),
                                   [&](Worker& w) -> Result<std::unique_ptr<WorkerService>> {
                                     if (++made == 2)
                                       return makeError(ErrorKind::kUnavailable, "no upstream");
                                     return std::unique_ptr<WorkerService>(new EchoService);
                                   });
  ASSERT_FALSE(failing.ok());
  EXPECT_EQ(failing.error().message, "no upstream");
}

TEST(WorkerPool, AHandleLeftOpenIsReported) {
  std::vector<EchoService*> services;
  auto pool = WorkerPool::start(udpAndTcp(1), AnySnapshot::of(value("x")), echo(&services));
  ASSERT_TRUE(pool.ok());
  uv_timer_t leaked;
  services[0]->leak = &leaked;
  (*pool)->stop();
  EXPECT_FALSE((*pool)->closedCleanly());
  // Clean up after the deliberate bug (the worker thread is gone).
  uv_close(reinterpret_cast<uv_handle_t*>(&leaked), nullptr);
  uv_run(leaked.loop, UV_RUN_DEFAULT);
}

}  // namespace
}  // namespace corral::reload

namespace corral::reload {
namespace {

// A takeover inside one process: pool B inherits pool A's sockets (through
// ProcessSockets, as from another process) and holds them; A stops
// accepting; a TCP connection and a datagram that arrive in between wait on
// the shared sockets and are answered by B once it resumes.
TEST(WorkerPool, TakesOverAnotherPoolsSocketsWithWhatIsQueuedOnThem) {
  auto a = WorkerPool::start(udpAndTcp(2), AnySnapshot::of(value("old")), echo());
  ASSERT_TRUE(a.ok()) << a.error().message;
  uint16_t port = portOf(**a, Transport::kUdp);
  auto sockets = (*a)->sockets();
  ASSERT_EQ(sockets.size(), 4u);  // UDP and TCP on each of the two workers
  for (const auto& [ep, fd] : sockets) {
    ProcessSockets::get().inherit(ep, UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0)));
  }
  ProcessSockets::get().setHoldListeners(true);
  PoolOptions o;
  o.workers = 1;  // raised to the inherited count
  o.listeners = {Endpoint{"127.0.0.1", port, Transport::kUdp},
                 Endpoint{"127.0.0.1", port, Transport::kTcp}};
  auto b = WorkerPool::start(o, AnySnapshot::of(value("new")), echo());
  ProcessSockets::get().setHoldListeners(false);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ((*b)->size(), 2);
  EXPECT_TRUE(ProcessSockets::get().closeUnclaimed().empty());
  EXPECT_EQ(tcpRead(port), "old");  // B holds: A still serves

  (*a)->drain();
  (*a)->releaseSockets();
  ASSERT_TRUE(waitFor([&] { return (*a)->openConnections() == 0; }));
  // Nobody accepts now, yet nothing is refused: both wait on the sockets.
  Fd tcp(::socket(AF_INET, SOCK_STREAM, 0));
  setTimeout(tcp.fd);
  sockaddr_in to = loopback(port);
  ASSERT_EQ(::connect(tcp.fd, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  Fd udp(::socket(AF_INET, SOCK_DGRAM, 0));
  setTimeout(udp.fd);
  ASSERT_EQ(::sendto(udp.fd, "get", 3, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 3);

  uint64_t change = (*b)->resumeListeners();
  ASSERT_TRUE(waitFor([&] { return (*b)->listenersApplied(change); }));
  char buf[16];
  ssize_t n = ::recv(tcp.fd, buf, sizeof buf, 0);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "new");
  n = ::recv(udp.fd, buf, sizeof buf, 0);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "new");
  EXPECT_FALSE((*a)->addListener(Endpoint{"127.0.0.1", 0, Transport::kTcp}).ok());  // draining

  (*a)->stop();
  EXPECT_EQ(tcpRead(port), "new");  // the sockets live on in B
  (*b)->stop();
  EXPECT_TRUE((*a)->closedCleanly());
  EXPECT_TRUE((*b)->closedCleanly());
}

}  // namespace
}  // namespace corral::reload
