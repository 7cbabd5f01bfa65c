// The server side of one TLS connection over memory BIOs, socket-free:
// encrypted bytes read from the network go in with feedEncrypted, the
// plaintext comes out of readPlain; plaintext to send goes in with
// writePlain and the encrypted bytes to write to the network come out of
// takeEncrypted. The handshake runs inside these calls. The stream holds
// the TlsStore it started with (its servername callback reads that store),
// so a reload never pulls certificates from under a live connection.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"
#include "proxy/tls_context.h"

typedef struct ssl_st SSL;

namespace corral::proxy {

class TlsStream {
 public:
  explicit TlsStream(TlsStorePtr store);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Encrypted bytes from the client.
  void feedEncrypted(std::string_view bytes);

  enum class ReadStatus { kData, kNeedMore, kClosed, kError };
  // Decrypts into out[0..cap); *n is the byte count for kData. kClosed: the
  // client sent close_notify. kError: the handshake or a record failed
  // (error() says why; takeEncrypted may hold an alert to send).
  ReadStatus readPlain(char* out, size_t cap, size_t* n);

  // Encrypts plaintext for the client; false on a fatal error. Callable
  // once the handshake is done.
  bool writePlain(std::string_view bytes);
  // Starts a clean shutdown (close_notify).
  void shutdown();

  // Encrypted bytes waiting to be written to the client (moved out).
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
  TlsStorePtr store_;
  SSL* ssl_ = nullptr;
  std::string error_;
};

}  // namespace corral::proxy
