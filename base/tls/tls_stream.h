// One TLS connection over memory BIOs, socket-free, either side: encrypted
// bytes read from the network go in with feedEncrypted, the plaintext comes
// out of readPlain; plaintext to send goes in with writePlain and the
// encrypted bytes to write to the network come out of takeEncrypted. The
// handshake runs inside these calls (a client starts it with its first
// readPlain). The stream holds `keep`, whatever owns its SSL_CTX and the
// context's callbacks (the proxy's TlsStore, a tls::Context), so a reload
// never pulls certificates from under a live connection.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <memory>
#include "base/result.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace corral::tls {

class TlsStream {
 public:
  enum class Role { kServer, kClient };
  // A client verifies that the server's certificate names `peerName` (a DNS
  // name, sent as SNI, or an IP address) besides the context's CA check.
  TlsStream(Role role, SSL_CTX* ctx, std::shared_ptr<const void> keep,
            const std::string& peerName = "");
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Encrypted bytes from the peer.
  void feedEncrypted(std::string_view bytes);

  enum class ReadStatus { kData, kNeedMore, kClosed, kError };
  // Decrypts into out[0..cap); *n is the byte count for kData. kClosed: the
  // peer sent close_notify. kError: the handshake or a record failed
  // (error() says why, naming a certificate the client could not verify;
  // takeEncrypted may hold an alert to send).
  ReadStatus readPlain(char* out, size_t cap, size_t* n);
  // Decrypts everything that can be now, appended to *out; the status that
  // ended it (never kData).
  ReadStatus readAllPlain(std::string* out);

  // Encrypts plaintext for the peer; false on a fatal error. Callable
  // once the handshake is done.
  bool writePlain(std::string_view bytes);
  // Starts a clean shutdown (close_notify).
  void shutdown();

  // Encrypted bytes waiting to be written to the peer (moved out).
  std::string takeEncrypted();
  size_t pendingEncrypted() const;

  // Whether decrypted or undecrypted bytes wait inside (readPlain may
  // yield more without new input).
  bool hasBuffered() const;
  bool handshakeDone() const;
  // The SNI the client sent ("" when none).
  std::string_view serverName() const;
  // The ALPN protocol chosen ("" when none).
  std::string_view alpn() const;
  const std::string& error() const { return error_; }

 private:
  std::shared_ptr<const void> keep_;
  Role role_;
  SSL* ssl_ = nullptr;
  std::string error_;
};

}  // namespace corral::tls
