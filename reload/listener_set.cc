#include "reload/listener_set.h"

#include <unistd.h>

#include <cstdint>

#include "base/log.h"
#include "base/loop.h"

namespace corral::reload {
namespace {
constexpr int kBacklog = 1024;
}

Status ListenerSet::open(const Endpoint& endpoint, UniqueFd fd, OnReady onReady, bool held) {
  std::string key = endpoint.key();
  if (has(key))
    return makeError(ErrorKind::kConflict,
                     endpoint.describe() + ": this worker listens there already");
  auto l = std::make_unique<Listener>();
  l->endpoint_ = endpoint;
  l->fd_ = fd.get();
  l->onReady_ = std::move(onReady);
  int rc = 0;
  if (endpoint.transport == Transport::kTcp) {
    l->tcp_ = new uv_tcp_t;
    uv_tcp_init(loop_, l->tcp_);
    l->tcp_->data = l.get();
    rc = uv_tcp_open(l->tcp_, fd.get());
    if (rc == 0) fd.release();  // the handle owns the socket now
  } else {
    l->poll_ = new uv_poll_t;
    rc = uv_poll_init(loop_, l->poll_, fd.get());
    if (rc != 0) {
      delete l->poll_;
      return makeError(ErrorKind::kUnavailable,
                       endpoint.describe() + ": uv_poll_init: " + uv_strerror(rc));
    }
    fd.release();  // closed after the poll handle (closeHandles)
    l->poll_->data = l.get();
  }
  if (rc == 0 && !held) rc = start(*l);
  if (rc != 0) {
    closeHandles(*l);
    return makeError(ErrorKind::kUnavailable, endpoint.describe() + ": " + uv_strerror(rc));
  }
  listeners_.emplace(std::move(key), std::move(l));
  return Status::Ok();
}

int ListenerSet::start(Listener& l) {
  if (l.started_) return 0;
  int rc;
  if (l.tcp_ != nullptr) {
    rc =
        uv_listen(reinterpret_cast<uv_stream_t*>(l.tcp_), kBacklog, [](uv_stream_t* s, int status) {
          auto* self = static_cast<Listener*>(s->data);
          if (status == 0 && self != nullptr) self->onReady_(*self);
        });
  } else {
    rc = uv_poll_start(l.poll_, UV_READABLE, [](uv_poll_t* p, int status, int events) {
      auto* self = static_cast<Listener*>(p->data);
      if (status == 0 && (events & UV_READABLE) && self != nullptr) self->onReady_(*self);
    });
  }
  l.started_ = rc == 0;
  return rc;
}

void ListenerSet::resumeAll() {
  for (auto& [key, l] : listeners_) {
    int rc = start(*l);
    if (rc != 0) log::error("{}: {}", l->endpoint_.describe(), uv_strerror(rc));
  }
}

void ListenerSet::stopAccepting() {
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    Listener& l = *it->second;
    if (l.tcp_ != nullptr) {
      closeHandles(l);
      it = listeners_.erase(it);
      continue;
    }
    if (l.poll_ != nullptr) uv_poll_stop(l.poll_);
    l.started_ = false;
    ++it;
  }
}

void ListenerSet::closeHandles(Listener& l) {
  if (l.tcp_ != nullptr) {
    l.tcp_->data = nullptr;
    closeAndDelete(l.tcp_);  // closes the socket too
    l.tcp_ = nullptr;
  }
  if (l.poll_ != nullptr) {
    uv_poll_stop(l.poll_);
    // libuv lets go of the socket only in the close callback: close it there.
    l.poll_->data = reinterpret_cast<void*>(static_cast<intptr_t>(l.fd_));
    uv_close(reinterpret_cast<uv_handle_t*>(l.poll_), [](uv_handle_t* h) {
      ::close(static_cast<int>(reinterpret_cast<intptr_t>(h->data)));
      delete reinterpret_cast<uv_poll_t*>(h);
    });
    l.poll_ = nullptr;
  }
  l.fd_ = -1;
}

bool ListenerSet::close(const std::string& key) {
  auto it = listeners_.find(key);
  if (it == listeners_.end()) return false;
  closeHandles(*it->second);
  listeners_.erase(it);
  return true;
}

void ListenerSet::closeAll() {
  for (auto& [key, l] : listeners_) closeHandles(*l);
  listeners_.clear();
}

std::vector<std::string> ListenerSet::keys() const {
  std::vector<std::string> out;
  for (const auto& [key, l] : listeners_) out.push_back(key);
  return out;
}

}  // namespace corral::reload
