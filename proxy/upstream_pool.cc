#include "proxy/upstream_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace corral::proxy {

namespace {
// A clean idle connection has nothing to read and no EOF pending.
bool stillClean(Conn* c) {
  uv_os_fd_t fd;
  if (uv_fileno(c->handle(), &fd) != 0) return false;
  char byte;
  ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}
}  // namespace

UpstreamPool::UpstreamPool(Loop& loop, PoolOptions options)
    : loop_(loop), options_(options), sweeper_(loop), releaser_(loop) {}

UpstreamPool::~UpstreamPool() { idle_.clear(); }

ConnPtr UpstreamPool::take(uint64_t backendId) {
  auto it = idle_.find(backendId);
  if (it == idle_.end()) return nullptr;
  auto& list = it->second;
  while (!list.empty()) {
    ConnPtr c = std::move(list.back().conn);
    list.pop_back();
    --total_;
    uv_read_stop(c->stream());
    if (stillClean(c.get())) {
      c->owner = nullptr;
      ++reused_;
      return c;
    }
  }
  return nullptr;
}

void UpstreamPool::give(ConnPtr conn) {
  if (options_.maxIdlePerBackend == 0 || conn->filled != 0) return;  // closes it
  // A session's parked connection can come back after its task went away.
  if (forgotten_.count(conn->backendId) || forgottenBefore_.count(conn->backendId)) return;
  auto& list = idle_[conn->backendId];
  if (list.size() >= options_.maxIdlePerBackend) {
    list.pop_front();  // the oldest makes room
    --total_;
  }
  conn->owner = this;
  uv_read_stop(conn->stream());  // the giver may still be reading it
  int rc = conn->startReading([](uv_stream_t* s, ssize_t n, const uv_buf_t*) {
    auto* c = static_cast<Conn*>(s->data);
    auto* pool = static_cast<UpstreamPool*>(c->owner);
    if (pool != nullptr && n != 0) pool->drop(c);
  });
  if (rc != 0) return;
  list.push_back({std::move(conn), loop_.nowMs()});
  ++total_;
  startSweeper();
}

void UpstreamPool::startSweeper() {
  if (!sweeper_.active()) {
    sweeper_.start(options_.idleTimeoutMs / 4 + 1, options_.idleTimeoutMs / 4 + 1,
                   [this] { sweep(); });
  }
}

void UpstreamPool::drop(Conn* conn) {
  auto it = idle_.find(conn->backendId);
  if (it == idle_.end()) return;
  auto& list = it->second;
  auto pos = std::find_if(list.begin(), list.end(),
                          [conn](const Idle& i) { return i.conn.get() == conn; });
  if (pos == list.end()) return;
  list.erase(pos);  // closes it; the read callback that got here returns right after
  --total_;
}

void UpstreamPool::forget(uint64_t backendId) {
  forgotten_.insert(backendId);
  startSweeper();  // which lets the id go again after one or two rounds
  auto it = idle_.find(backendId);
  if (it == idle_.end()) return;
  total_ -= it->second.size();
  idle_.erase(it);
}

void UpstreamPool::sweep() {
  uint64_t now = loop_.nowMs();
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& list = it->second;
    // Oldest first: stop at the first one still young enough.
    while (!list.empty() && now - list.front().sinceMs >= options_.idleTimeoutMs) {
      list.pop_front();
      --total_;
    }
    it = list.empty() ? idle_.erase(it) : std::next(it);
  }
  forgottenBefore_ = std::move(forgotten_);
  forgotten_.clear();
  if (total_ == 0 && forgottenBefore_.empty()) sweeper_.stop();
}

void UpstreamPool::release() {
  options_.maxIdlePerBackend = 0;  // give() closes from now on
  if (total_ == 0 || releaser_.active()) return;
  releaser_.start(kReleaseEveryMs, kReleaseEveryMs, [this] { releaseSome(); });
}

void UpstreamPool::releaseSome() {
  size_t budget = kReleasePerTick;
  for (auto it = idle_.begin(); it != idle_.end() && budget > 0;) {
    auto& list = it->second;
    for (; !list.empty() && budget > 0; --budget) {
      list.pop_front();  // closes it
      --total_;
    }
    it = list.empty() ? idle_.erase(it) : std::next(it);
  }
  if (total_ == 0) releaser_.stop();
}

size_t UpstreamPool::idleCount(uint64_t backendId) const {
  auto it = idle_.find(backendId);
  return it == idle_.end() ? 0 : it->second.size();
}

}  // namespace corral::proxy
