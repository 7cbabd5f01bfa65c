// A TCP relay between a follower (corral dns, corral proxy) and a master,
// which the test can cut: it drops every relayed connection and refuses new
// ones until resumed, the way a network partition or a load balancer's idle
// cut looks to the follower. It answers GET /v2/leader itself with its own
// address so that the follower keeps streaming through it, and records the
// request head of every connection (what was asked, with which Last-Event-ID).
// One thread, poll(2), loopback only; every wait is bounded.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace corral::testing {

class HttpRelay {
 public:
  // Listens on ip (a free port) and relays to upstreamIp:upstreamPort.
  HttpRelay(const std::string& ip, std::string upstreamIp, int upstreamPort);
  ~HttpRelay();
  HttpRelay(const HttpRelay&) = delete;
  HttpRelay& operator=(const HttpRelay&) = delete;

  bool ok() const { return listenFd_ >= 0; }
  std::string address() const { return ip_ + ":" + std::to_string(port_); }
  // Closes every relayed connection; new ones are closed on accept until resume().
  void cut();
  void resume();
  // The request head of every relayed connection, oldest first.
  std::vector<std::string> heads() const;
  // How many relayed requests start with `requestLine` (e.g. "GET /v2/apps?").
  int count(const std::string& requestLinePrefix) const;

 private:
  struct Pair {
    int client = -1;
    int upstream = -1;  // -1 until the request head is read
    std::string head;   // bytes read from the client before upstream connects
  };
  void run();
  void onAccept();
  bool onClientHead(Pair& p);
  static void closePair(Pair& p);

  std::string ip_;
  int port_ = 0;
  std::string upstreamIp_;
  int upstreamPort_;
  int listenFd_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::atomic<bool> refusing_{false};
  std::atomic<int> cutRequests_{0};
  std::vector<Pair> pairs_;  // relay thread only
  mutable std::mutex mu_;
  std::vector<std::string> heads_;
  std::thread thread_;
};

}  // namespace corral::testing
