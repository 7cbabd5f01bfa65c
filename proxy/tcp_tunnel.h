// TCP mode and the tail of an HTTP Upgrade: bytes copied both ways between
// two connections with bounded buffers. Each direction reads into its source
// connection's one buffer, writes it out (uv_try_write first, the rest
// queued straight from that buffer) and stops reading its source until the
// write has drained: at most one buffer per direction is ever in flight, so
// a slow reader holds back a fast writer (backpressure). EOF on one side
// shuts down the other's write side (half-close); the tunnel ends when both
// directions are done, on an error, or on a timeout.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/loop.h"
#include "proxy/connection.h"

namespace corral::proxy {

struct TunnelOptions {
  uint64_t connectTimeoutMs = 5000;
  uint64_t idleTimeoutMs = 60 * 60 * 1000;  // no byte either way for this long: close
};

enum class TunnelEnd {
  kDone,            // both directions reached EOF and were shut down
  kConnectFailed,   // the upstream refused or was unreachable
  kConnectTimeout,  // the upstream did not answer the connect in time
  kIdleTimeout,
  kError,  // a read or write failed (reset by a peer)
};
const char* tunnelEndName(TunnelEnd end);

class TcpTunnel {
 public:
  // Called once when the tunnel is over (its connections are closing). The
  // owner must not destroy the tunnel inside it: defer the deletion.
  using DoneCallback = std::function<void(TunnelEnd)>;

  // Takes a connected downstream connection.
  TcpTunnel(Loop& loop, ConnPtr client, TunnelOptions options, DoneCallback done);
  ~TcpTunnel();
  TcpTunnel(const TcpTunnel&) = delete;
  TcpTunnel& operator=(const TcpTunnel&) = delete;

  // TCP mode: connects to the upstream, then copies.
  void connect(const sockaddr* upstream);
  // After an HTTP Upgrade: an already connected upstream, plus the bytes each
  // side already sent that the other has not yet received.
  void start(ConnPtr upstream, std::string toUpstream, std::string toClient);

  uint64_t bytesToUpstream() const { return sides_[0].bytes; }
  uint64_t bytesToClient() const { return sides_[1].bytes; }
  bool finished() const { return finished_; }
  // Bytes accepted for writing but not yet written, both directions.
  size_t queuedBytes() const;

 private:
  // Side i reads from conn and writes to the other side's conn.
  struct Side {
    ConnPtr conn;
    std::string carry;      // bytes owed to the other side before reading resumes
    bool writing = false;   // a write of this side's bytes is in flight
    bool eof = false;       // this side sent EOF
    bool shutDown = false;  // the other side's write half is shut (this direction done)
    uint64_t bytes = 0;
  };
  void begin();
  void startReading(int i);
  void onRead(int i, ssize_t n);
  // Writes data from side i to the other side; false if an error ended the tunnel.
  bool forward(int i, const char* data, size_t n);
  void onWritten(int i, int status);
  void shutdownOther(int i);
  void armIdle();
  void checkIdle();
  void finish(TunnelEnd end);
  static int sideOf(Conn* c, TcpTunnel** t);

  Loop& loop_;
  TunnelOptions options_;
  DoneCallback done_;
  Side sides_[2];  // 0: client (reads go upstream), 1: upstream (reads go to the client)
  Timer timer_;
  uint64_t lastActivityMs_ = 0;
  bool finished_ = false;
};

}  // namespace corral::proxy
