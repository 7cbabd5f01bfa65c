#include "reload/takeover_protocol.h"

namespace corral::reload::takeover {
namespace {

constexpr char kMagic0 = 'C';
constexpr char kMagic1 = 'T';
constexpr size_t kHeaderBytes = 7;  // magic (2), type (1), body length (4)
constexpr size_t kMaxStringBytes = 4096;

class Writer {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) {
    u8(static_cast<uint8_t>(v >> 8));
    u8(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  bool str(const std::string& s) {
    if (s.size() > kMaxStringBytes) return false;
    u16(static_cast<uint16_t>(s.size()));
    out_.append(s);
    return true;
  }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

// Reads a body; every read past its end or bad value records the first
// problem with the field it was reading.
class Reader {
 public:
  explicit Reader(std::string_view body) : body_(body) {}
  uint8_t u8(const char* field) {
    if (!need(1, field)) return 0;
    return static_cast<uint8_t>(body_[pos_++]);
  }
  uint16_t u16(const char* field) {
    uint16_t hi = u8(field);
    return static_cast<uint16_t>((hi << 8) | u8(field));
  }
  uint32_t u32(const char* field) {
    uint32_t hi = u16(field);
    return (hi << 16) | u16(field);
  }
  int32_t i32(const char* field) { return static_cast<int32_t>(u32(field)); }
  std::string str(const char* field) {
    uint16_t n = u16(field);
    if (n > kMaxStringBytes) return fail(field, "longer than 4096 bytes"), std::string();
    if (!need(n, field)) return {};
    std::string s(body_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  void fail(const char* field, const std::string& why) {
    if (error_.empty()) error_ = std::string(field) + ": " + why;
  }
  // The body must be used up exactly.
  void finish() {
    if (error_.empty() && pos_ != body_.size()) {
      error_ = std::to_string(body_.size() - pos_) + " unexpected byte(s) after the last field";
    }
  }
  const std::string& error() const { return error_; }

 private:
  bool need(size_t n, const char* field) {
    if (!error_.empty()) return false;
    if (body_.size() - pos_ < n) {
      fail(field, "the message ends early");
      return false;
    }
    return true;
  }
  std::string_view body_;
  size_t pos_ = 0;
  std::string error_;
};

bool validKind(uint8_t k) { return k >= 1 && k <= 4; }
bool validReason(uint8_t r) { return r >= 1 && r <= 2; }

Result<Message> decodeBody(MessageType type, std::string_view body) {
  Reader r(body);
  Message m;
  switch (type) {
    case MessageType::kHello: {
      Hello h;
      h.version = r.u32("hello.version");
      h.pid = r.i32("hello.pid");
      m = h;
      break;
    }
    case MessageType::kWait:
      m = Wait{r.i32("wait.pid")};
      break;
    case MessageType::kSockets: {
      Sockets s;
      uint8_t last = r.u8("sockets.last");
      if (last > 1) r.fail("sockets.last", "must be 0 or 1");
      s.last = last == 1;
      uint16_t n = r.u16("sockets.count");
      if (n > kMaxSocketsPerMessage) {
        r.fail("sockets.count", std::to_string(n) + " entries, at most " +
                                    std::to_string(kMaxSocketsPerMessage) + " per message");
        break;
      }
      for (uint16_t i = 0; i < n && r.error().empty(); ++i) {
        SocketEntry e;
        uint8_t kind = r.u8("sockets.entry.kind");
        if (r.error().empty() && !validKind(kind)) {
          r.fail("sockets.entry.kind", "unknown socket kind " + std::to_string(kind));
        }
        e.kind = static_cast<SocketKind>(kind);
        e.host = r.str("sockets.entry.host");
        e.port = r.u16("sockets.entry.port");
        e.bufferBytes = r.u32("sockets.entry.buffer");
        s.entries.push_back(std::move(e));
      }
      m = std::move(s);
      break;
    }
    case MessageType::kReady:
      m = Ready{r.i32("ready.pid")};
      break;
    case MessageType::kDraining: {
      Draining d;
      d.pid = r.i32("draining.pid");
      d.openConnections = r.u32("draining.open");
      m = d;
      break;
    }
    case MessageType::kFinish:
      m = Finish{r.i32("finish.pid")};
      break;
    case MessageType::kRefused: {
      Refused f;
      uint8_t reason = r.u8("refused.reason");
      if (r.error().empty() && !validReason(reason)) {
        r.fail("refused.reason", "unknown reason " + std::to_string(reason));
      }
      f.reason = static_cast<RefusedReason>(reason);
      f.detail = r.str("refused.detail");
      m = std::move(f);
      break;
    }
  }
  r.finish();
  if (!r.error().empty()) {
    return makeError(ErrorKind::kInvalid,
                     std::string("takeover message ") + typeName(type) + ": " + r.error());
  }
  return m;
}

}  // namespace

MessageType typeOf(const Message& m) {
  return static_cast<MessageType>(m.index() + 1);  // the variant follows the enum's order
}

const char* typeName(MessageType t) {
  switch (t) {
    case MessageType::kHello:
      return "Hello";
    case MessageType::kWait:
      return "Wait";
    case MessageType::kSockets:
      return "Sockets";
    case MessageType::kReady:
      return "Ready";
    case MessageType::kDraining:
      return "Draining";
    case MessageType::kRefused:
      return "Refused";
    case MessageType::kFinish:
      return "Finish";
  }
  return "unknown";
}

size_t fdCount(const Message& m) {
  if (const auto* s = std::get_if<Sockets>(&m)) return s->entries.size();
  return 0;
}

Result<std::string> encode(const Message& m) {
  Writer w;
  bool ok = true;
  if (const auto* h = std::get_if<Hello>(&m)) {
    w.u32(h->version);
    w.i32(h->pid);
  } else if (const auto* wt = std::get_if<Wait>(&m)) {
    w.i32(wt->drainingPid);
  } else if (const auto* s = std::get_if<Sockets>(&m)) {
    if (s->entries.size() > kMaxSocketsPerMessage) {
      return makeError(ErrorKind::kInvalid,
                       "takeover Sockets message: " + std::to_string(s->entries.size()) +
                           " entries, at most " + std::to_string(kMaxSocketsPerMessage));
    }
    w.u8(s->last ? 1 : 0);
    w.u16(static_cast<uint16_t>(s->entries.size()));
    for (const auto& e : s->entries) {
      w.u8(static_cast<uint8_t>(e.kind));
      ok = ok && w.str(e.host);
      w.u16(e.port);
      w.u32(e.bufferBytes);
    }
  } else if (const auto* r = std::get_if<Ready>(&m)) {
    w.i32(r->pid);
  } else if (const auto* d = std::get_if<Draining>(&m)) {
    w.i32(d->pid);
    w.u32(d->openConnections);
  } else if (const auto* f = std::get_if<Refused>(&m)) {
    w.u8(static_cast<uint8_t>(f->reason));
    ok = ok && w.str(f->detail);
  } else if (const auto* fin = std::get_if<Finish>(&m)) {
    w.i32(fin->waitingPid);
  }
  if (!ok)
    return makeError(ErrorKind::kInvalid, "takeover message: a string is longer than 4096 bytes");
  std::string body = std::move(w.bytes());
  Writer frame;
  frame.u8(static_cast<uint8_t>(kMagic0));
  frame.u8(static_cast<uint8_t>(kMagic1));
  frame.u8(static_cast<uint8_t>(typeOf(m)));
  frame.u32(static_cast<uint32_t>(body.size()));
  frame.bytes().append(body);
  return std::move(frame.bytes());
}

Result<std::optional<Message>> Decoder::next() {
  if (failed_)
    return makeError(ErrorKind::kInvalid, "takeover stream: unusable after an earlier error");
  if (buffer_.size() < kHeaderBytes) {
    // A wrong first byte is known at once: report it without waiting.
    if ((!buffer_.empty() && buffer_[0] != kMagic0) ||
        (buffer_.size() > 1 && buffer_[1] != kMagic1)) {
      failed_ = true;
      return makeError(ErrorKind::kInvalid, "takeover stream: not a takeover frame (bad magic)");
    }
    return std::optional<Message>();
  }
  if (buffer_[0] != kMagic0 || buffer_[1] != kMagic1) {
    failed_ = true;
    return makeError(ErrorKind::kInvalid, "takeover stream: not a takeover frame (bad magic)");
  }
  auto typeByte = static_cast<uint8_t>(buffer_[2]);
  if (typeByte < 1 || typeByte > 7) {
    failed_ = true;
    return makeError(ErrorKind::kInvalid,
                     "takeover stream: unknown message type " + std::to_string(typeByte));
  }
  uint32_t len = 0;
  for (size_t i = 3; i < kHeaderBytes; ++i) len = (len << 8) | static_cast<uint8_t>(buffer_[i]);
  if (len > kMaxBodyBytes) {
    failed_ = true;
    return makeError(ErrorKind::kInvalid, "takeover stream: a " + std::to_string(len) +
                                              "-byte message, at most " +
                                              std::to_string(kMaxBodyBytes));
  }
  if (buffer_.size() < kHeaderBytes + len) return std::optional<Message>();
  auto type = static_cast<MessageType>(typeByte);
  auto m = decodeBody(type, std::string_view(buffer_).substr(kHeaderBytes, len));
  buffer_.erase(0, kHeaderBytes + len);
  if (!m.ok()) {
    failed_ = true;
    return m.error();
  }
  return std::optional<Message>(std::move(*m));
}

}  // namespace corral::reload::takeover
