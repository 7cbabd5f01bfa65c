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
    : loop_(loop), options_(options), sweeper_(loop), closer_(loop) {}

UpstreamPool::~UpstreamPool() {
  idle_.clear();
  byAge_.clear();
  closing_.clear();
}

ConnPtr UpstreamPool::unlink(std::vector<AgeList::iterator>& ofBackend, size_t index) {
  AgeList::iterator entry = ofBackend[index];
  ofBackend.erase(ofBackend.begin() + static_cast<std::ptrdiff_t>(index));
  ConnPtr conn = std::move(entry->conn);
  byAge_.erase(entry);
  return conn;
}

void UpstreamPool::letGo(ConnPtr conn) {
  uv_read_stop(conn->stream());
  conn->owner = nullptr;
  closing_.push_back(std::move(conn));
  if (!closer_.active()) closer_.start(kCloseEveryMs, kCloseEveryMs, [this] { closeSome(); });
}

void UpstreamPool::closeSome() {
  size_t n = std::min(closing_.size(), kClosePerTick + closing_.size() / kCloseBacklogShare);
  for (size_t i = 0; i < n; ++i) closing_.pop_front();  // closes it
  if (closing_.empty()) closer_.stop();
}

ConnPtr UpstreamPool::take(uint64_t backendId) {
  auto it = idle_.find(backendId);
  if (it == idle_.end()) return nullptr;
  auto& list = it->second;
  ConnPtr found;
  while (!list.empty() && found == nullptr) {
    ConnPtr c = unlink(list, list.size() - 1);  // the most recently used
    uv_read_stop(c->stream());
    if (stillClean(c.get())) {
      c->owner = nullptr;
      ++reused_;
      found = std::move(c);
    }
  }
  if (list.empty()) idle_.erase(it);
  return found;
}

void UpstreamPool::give(ConnPtr conn) {
  if (options_.maxIdlePerBackend == 0 || conn->filled != 0) return;  // closes it
  // A session's parked connection can come back after its task went away.
  if (forgotten_.count(conn->backendId) || forgottenBefore_.count(conn->backendId)) return;
  auto& list = idle_[conn->backendId];
  if (list.size() >= options_.maxIdlePerBackend) letGo(unlink(list, 0));  // the oldest makes room
  conn->owner = this;
  uv_read_stop(conn->stream());  // the giver may still be reading it
  int rc = conn->startReading([](uv_stream_t* s, ssize_t n, const uv_buf_t*) {
    auto* c = static_cast<Conn*>(s->data);
    auto* pool = static_cast<UpstreamPool*>(c->owner);
    if (pool != nullptr && n != 0) pool->drop(c);
  });
  if (rc != 0) {
    if (list.empty()) idle_.erase(conn->backendId);
    return;
  }
  byAge_.push_back({std::move(conn), loop_.nowMs()});
  list.push_back(std::prev(byAge_.end()));
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
                          [conn](AgeList::iterator e) { return e->conn.get() == conn; });
  if (pos == list.end()) return;
  // Closes it; the read callback that got here returns right after.
  unlink(list, static_cast<size_t>(pos - list.begin()));
  if (list.empty()) idle_.erase(it);
}

void UpstreamPool::forget(uint64_t backendId) {
  forgotten_.insert(backendId);
  startSweeper();  // which lets the id go again after one or two rounds
  auto it = idle_.find(backendId);
  if (it == idle_.end()) return;
  auto& list = it->second;
  while (!list.empty()) letGo(unlink(list, list.size() - 1));
  idle_.erase(it);
}

void UpstreamPool::sweep() {
  uint64_t now = loop_.nowMs();
  while (!byAge_.empty() && now - byAge_.front().sinceMs >= options_.idleTimeoutMs) {
    // The oldest of all is the oldest of its backend: the front of its list.
    auto it = idle_.find(byAge_.front().conn->backendId);
    auto& list = it->second;
    size_t at =
        static_cast<size_t>(std::find(list.begin(), list.end(), byAge_.begin()) - list.begin());
    letGo(unlink(list, at));
    if (list.empty()) idle_.erase(it);
  }
  forgottenBefore_ = std::move(forgotten_);
  forgotten_.clear();
  if (byAge_.empty() && forgottenBefore_.empty()) sweeper_.stop();
}

void UpstreamPool::release() {
  options_.maxIdlePerBackend = 0;  // give() closes from now on
  idle_.clear();
  while (!byAge_.empty()) {
    letGo(std::move(byAge_.front().conn));
    byAge_.pop_front();
  }
}

size_t UpstreamPool::idleCount(uint64_t backendId) const {
  auto it = idle_.find(backendId);
  return it == idle_.end() ? 0 : it->second.size();
}

}  // namespace corral::proxy
