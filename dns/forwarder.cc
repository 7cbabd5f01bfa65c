#include "dns/forwarder.h"

#include <ares.h>

#include <mutex>

#include "base/log.h"

namespace corral::dns {

struct Forwarder::Poll {
  uv_poll_t handle;
  Forwarder* owner;
  int fd;
};

namespace {

struct Request {
  Forwarder* owner;
  Forwarder::Callback done;
};

constexpr uint64_t kTimerTickMs = 20;

}  // namespace

Result<std::unique_ptr<Forwarder>> Forwarder::create(uv_loop_t* loop,
                                                     const std::vector<std::string>& resolvers,
                                                     uint32_t timeoutMs) {
  static std::once_flag once;
  static int initStatus = ARES_SUCCESS;
  std::call_once(once, [] { initStatus = ares_library_init(ARES_LIB_INIT_ALL); });
  if (initStatus != ARES_SUCCESS) {
    return makeError(ErrorKind::kInternal,
                     std::string("c-ares init failed: ") + ares_strerror(initStatus));
  }
  if (resolvers.empty())
    return makeError(ErrorKind::kInvalid, "forwarding needs at least one resolver", "/resolvers");

  std::unique_ptr<Forwarder> f(new Forwarder(loop));
  ares_options options{};
  options.flags = ARES_FLAG_NOCHECKRESP;  // pass SERVFAIL/REFUSED answers through
  options.timeout = static_cast<int>(timeoutMs);
  options.tries = 1;
  options.sock_state_cb = &Forwarder::onSocketState;
  options.sock_state_cb_data = f.get();
  int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
  int rc = ares_init_options(&f->channel_, &options, mask);
  if (rc != ARES_SUCCESS)
    return makeError(ErrorKind::kInternal, std::string("c-ares: ") + ares_strerror(rc));
  std::string csv;
  for (const std::string& r : resolvers) {
    if (!csv.empty()) csv += ",";
    csv += r;
  }
  rc = ares_set_servers_ports_csv(f->channel_, csv.c_str());
  if (rc != ARES_SUCCESS) {
    return makeError(ErrorKind::kInvalid,
                     "invalid resolver list '" + csv + "': " + ares_strerror(rc), "/resolvers");
  }
  f->timer_ = new uv_timer_t;
  uv_timer_init(loop, f->timer_);
  f->timer_->data = f.get();
  return f;
}

Forwarder::~Forwarder() { close(); }

void Forwarder::forward(std::span<const uint8_t> query, Callback done) {
  if (closed_) {
    done({}, true);
    return;
  }
  auto* request = new Request{this, std::move(done)};
  ++pending_;
  if (pending_ == 1) uv_timer_start(timer_, &Forwarder::onTimer, kTimerTickMs, kTimerTickMs);
  ares_send(channel_, query.data(), static_cast<int>(query.size()), &Forwarder::onResponse,
            request);
}

void Forwarder::onResponse(void* arg, int status, int timeouts, unsigned char* abuf, int alen) {
  std::unique_ptr<Request> request(static_cast<Request*>(arg));
  Forwarder* self = request->owner;
  if (--self->pending_ == 0 && !self->closed_) uv_timer_stop(self->timer_);
  bool cancelled = status == ARES_EDESTRUCTION || status == ARES_ECANCELLED;
  if (status == ARES_SUCCESS && abuf != nullptr && alen > 0) {
    request->done({abuf, static_cast<size_t>(alen)}, false);
  } else {
    if (!cancelled) log::debug("dns: forwarding failed: {}", ares_strerror(status));
    request->done({}, cancelled);
  }
}

void Forwarder::onSocketState(void* data, int fd, int readable, int writable) {
  auto* self = static_cast<Forwarder*>(data);
  auto it = self->polls_.find(fd);
  if (!readable && !writable) {
    if (it == self->polls_.end()) return;
    Poll* poll = it->second;
    self->polls_.erase(it);
    uv_poll_stop(&poll->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll->handle),
             [](uv_handle_t* h) { delete static_cast<Poll*>(h->data); });
    return;
  }
  Poll* poll;
  if (it == self->polls_.end()) {
    if (self->closed_) return;
    poll = new Poll{};
    poll->owner = self;
    poll->fd = fd;
    if (uv_poll_init_socket(self->loop_, &poll->handle, fd) != 0) {
      delete poll;
      return;
    }
    poll->handle.data = poll;
    self->polls_.emplace(fd, poll);
  } else {
    poll = it->second;
  }
  int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
  uv_poll_start(&poll->handle, events, &Forwarder::onPoll);
}

void Forwarder::onPoll(uv_poll_t* handle, int status, int events) {
  auto* poll = static_cast<Poll*>(handle->data);
  Forwarder* self = poll->owner;
  ares_socket_t fd = poll->fd;
  // On error let c-ares read and discover it.
  ares_socket_t readFd = (status < 0 || (events & UV_READABLE)) ? fd : ARES_SOCKET_BAD;
  ares_socket_t writeFd = (status >= 0 && (events & UV_WRITABLE)) ? fd : ARES_SOCKET_BAD;
  ares_process_fd(self->channel_, readFd, writeFd);
}

void Forwarder::onTimer(uv_timer_t* timer) {
  auto* self = static_cast<Forwarder*>(timer->data);
  ares_process_fd(self->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

void Forwarder::close() {
  if (closed_) return;
  closed_ = true;
  if (channel_ != nullptr) {
    ares_destroy(channel_);  // runs pending callbacks with ARES_EDESTRUCTION
    channel_ = nullptr;
  }
  for (auto& [fd, poll] : polls_) {
    uv_poll_stop(&poll->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll->handle),
             [](uv_handle_t* h) { delete static_cast<Poll*>(h->data); });
  }
  polls_.clear();
  if (timer_ != nullptr) {
    uv_timer_stop(timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    timer_ = nullptr;
  }
}

}  // namespace corral::dns
