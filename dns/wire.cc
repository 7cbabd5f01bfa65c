#include "dns/wire.h"

#include <algorithm>
#include <cstring>

namespace corral::dns {
namespace {

constexpr uint8_t kPointerMask = 0xC0;

inline uint8_t lowerAscii(uint8_t c) { return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c; }

inline uint16_t readU16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t readU32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | p[3];
}

Header readHeader(const uint8_t* p) {
  Header h;
  h.id = readU16(p);
  h.flags = readU16(p + 2);
  h.qdcount = readU16(p + 4);
  h.ancount = readU16(p + 6);
  h.nscount = readU16(p + 8);
  h.arcount = readU16(p + 10);
  return h;
}

// Reads name, type, class, ttl, rdlength; checks the rdata fits.
bool readRecord(std::span<const uint8_t> packet, size_t& offset, Record& out) {
  if (!readName(packet, offset, out.name)) return false;
  if (packet.size() - offset < 10) return false;
  const uint8_t* p = packet.data() + offset;
  out.type = readU16(p);
  out.rclass = readU16(p + 2);
  out.ttl = readU32(p + 4);
  out.rdataLength = readU16(p + 8);
  offset += 10;
  if (packet.size() - offset < out.rdataLength) return false;
  out.rdataOffset = offset;
  offset += out.rdataLength;
  return true;
}

bool readQuestion(std::span<const uint8_t> packet, size_t& offset, Record& out) {
  if (!readName(packet, offset, out.name)) return false;
  if (packet.size() - offset < 4) return false;
  out.type = readU16(packet.data() + offset);
  out.rclass = readU16(packet.data() + offset + 2);
  offset += 4;
  return true;
}

// OPT RDATA is a sequence of {code, length, data}; it must add up exactly.
bool validOptions(std::span<const uint8_t> rdata) {
  size_t pos = 0;
  while (pos < rdata.size()) {
    if (rdata.size() - pos < 4) return false;
    uint16_t length = readU16(rdata.data() + pos + 2);
    pos += 4;
    if (rdata.size() - pos < length) return false;
    pos += length;
  }
  return true;
}

}  // namespace

bool encodeName(std::string_view dotted, WireName& out) {
  out.length = 0;
  if (!dotted.empty() && dotted.back() == '.') dotted.remove_suffix(1);
  size_t length = 0;
  while (!dotted.empty()) {
    size_t dot = dotted.find('.');
    std::string_view label = dotted.substr(0, dot);
    if (label.empty() || label.size() > kMaxLabelLength) return false;
    if (length + 1 + label.size() + 1 > kMaxNameLength) return false;
    out.bytes[length++] = static_cast<uint8_t>(label.size());
    std::memcpy(out.bytes.data() + length, label.data(), label.size());
    length += label.size();
    if (dot == std::string_view::npos) break;
    dotted.remove_prefix(dot + 1);
    if (dotted.empty()) return false;  // "a..": an empty label
  }
  out.bytes[length++] = 0;
  out.length = static_cast<uint8_t>(length);
  return true;
}

bool encodeName(std::string_view dotted, std::string& out) {
  WireName name;
  if (!encodeName(dotted, name)) return false;
  out.assign(name.asKey());
  return true;
}

std::string nameToText(std::span<const uint8_t> wire) {
  std::string text;
  size_t pos = 0;
  while (pos < wire.size() && wire[pos] != 0) {
    uint8_t len = wire[pos];
    if (pos + 1 + len > wire.size()) break;
    if (!text.empty()) text.push_back('.');
    for (size_t i = 0; i < len; ++i) {
      uint8_t c = wire[pos + 1 + i];
      if (c == '.' || c == '\\' || c < 0x21 || c > 0x7E) {
        char buf[5];
        buf[0] = '\\';
        buf[1] = static_cast<char>('0' + c / 100);
        buf[2] = static_cast<char>('0' + (c / 10) % 10);
        buf[3] = static_cast<char>('0' + c % 10);
        buf[4] = 0;
        text += buf;
      } else {
        text.push_back(static_cast<char>(c));
      }
    }
    pos += 1 + len;
  }
  return text;
}

void lowerName(WireName& name) {
  size_t pos = 0;
  while (pos < name.length && name.bytes[pos] != 0) {
    uint8_t len = name.bytes[pos];
    for (size_t i = pos + 1; i <= pos + len && i < name.length; ++i) {
      name.bytes[i] = lowerAscii(name.bytes[i]);
    }
    pos += 1 + len;
  }
}

size_t labelCount(std::span<const uint8_t> wire) {
  size_t count = 0;
  size_t pos = 0;
  while (pos < wire.size() && wire[pos] != 0) {
    ++count;
    pos += 1 + wire[pos];
  }
  return count;
}

bool readName(std::span<const uint8_t> packet, size_t& offset, WireName& out) {
  size_t pos = offset;
  size_t segmentStart = offset;  // every pointer must go below this
  size_t length = 0;
  bool jumped = false;
  while (true) {
    if (pos >= packet.size()) return false;
    uint8_t len = packet[pos];
    if ((len & kPointerMask) == kPointerMask) {
      if (pos + 1 >= packet.size()) return false;
      size_t target = static_cast<size_t>((len & 0x3F) << 8) | packet[pos + 1];
      if (target < kHeaderSize || target >= segmentStart) return false;
      if (!jumped) offset = pos + 2;
      jumped = true;
      segmentStart = target;
      pos = target;
      continue;
    }
    if ((len & kPointerMask) != 0) return false;  // 0x40/0x80: reserved label types
    if (len == 0) {
      if (length + 1 > kMaxNameLength) return false;
      out.bytes[length++] = 0;
      out.length = static_cast<uint8_t>(length);
      if (!jumped) offset = pos + 1;
      return true;
    }
    if (packet.size() - pos - 1 < len) return false;
    if (length + 1 + len + 1 > kMaxNameLength) return false;
    out.bytes[length] = len;
    std::memcpy(out.bytes.data() + length + 1, packet.data() + pos + 1, len);
    length += 1 + len;
    pos += 1 + len;
  }
}

ParseStatus parseQuery(std::span<const uint8_t> packet, Query& out) {
  out = Query{};
  if (packet.size() < kHeaderSize) return ParseStatus::kTooShort;
  out.header = readHeader(packet.data());
  if (out.header.has(kFlagQr)) return ParseStatus::kNotQuery;

  size_t offset = kHeaderSize;
  Record question;
  bool questionOk = out.header.qdcount == 1 && readQuestion(packet, offset, question);
  if (questionOk) {
    out.hasQuestion = true;
    out.qname = question.name;
    out.qnameLower = question.name;
    lowerName(out.qnameLower);
    out.qtype = question.type;
    out.qclass = question.rclass;
  }
  if (out.header.opcode() != kOpcodeQuery) return ParseStatus::kBadOpcode;
  if (!questionOk) {
    out.hasQuestion = false;
    return ParseStatus::kMalformed;
  }

  Record rr;
  uint32_t skip = static_cast<uint32_t>(out.header.ancount) + out.header.nscount;
  for (uint32_t i = 0; i < skip; ++i) {
    if (!readRecord(packet, offset, rr)) return ParseStatus::kMalformed;
  }
  for (uint16_t i = 0; i < out.header.arcount; ++i) {
    if (!readRecord(packet, offset, rr)) return ParseStatus::kMalformed;
    if (rr.type != kTypeOpt) continue;
    // RFC 6891 6.1.1: one OPT at most, owned by the root.
    if (out.edns.present || rr.name.length != 1 ||
        !validOptions(packet.subspan(rr.rdataOffset, rr.rdataLength))) {
      out.ednsValid = false;
      return ParseStatus::kMalformed;
    }
    out.edns.present = true;
    out.edns.udpSize = rr.rclass;
    out.edns.extendedRcode = static_cast<uint8_t>(rr.ttl >> 24);
    out.edns.version = static_cast<uint8_t>(rr.ttl >> 16);
    out.edns.dnssecOk = (rr.ttl & 0x8000) != 0;
  }
  return ParseStatus::kOk;
}

bool parseMessage(std::span<const uint8_t> packet, Message& out) {
  out = Message{};
  if (packet.size() < kHeaderSize) return false;
  out.header = readHeader(packet.data());
  size_t offset = kHeaderSize;
  for (uint16_t i = 0; i < out.header.qdcount; ++i) {
    Record q;
    if (!readQuestion(packet, offset, q)) return false;
    out.questions.push_back(q);
  }
  auto section = [&](uint16_t count, std::vector<Record>& into) {
    for (uint16_t i = 0; i < count; ++i) {
      Record rr;
      if (!readRecord(packet, offset, rr)) return false;
      into.push_back(rr);
    }
    return true;
  };
  return section(out.header.ancount, out.answers) && section(out.header.nscount, out.authority) &&
         section(out.header.arcount, out.additional);
}

std::vector<uint8_t> buildQuery(uint16_t id, std::string_view name, uint16_t qtype,
                                bool recursionDesired, int ednsUdpSize, uint8_t ednsVersion,
                                bool dnssecOk) {
  std::vector<uint8_t> buf(kMaxNameLength + kHeaderSize + 4 + kOptRecordSize);
  MessageWriter w(buf, buf.size());
  Header h;
  h.id = id;
  h.flags = recursionDesired ? kFlagRd : 0;
  h.qdcount = 1;
  h.arcount = ednsUdpSize >= 0 ? 1 : 0;
  WireName wire;
  if (!encodeName(name, wire)) wire.length = 1;  // root: callers test bad names by hand
  bool ok = w.writeHeader(h) && w.writeName(wire.view(), false, false) && w.writeU16(qtype) &&
            w.writeU16(kClassIn);
  if (ok && ednsUdpSize >= 0) {
    ok = w.writeU8(0) && w.writeU16(kTypeOpt) && w.writeU16(static_cast<uint16_t>(ednsUdpSize)) &&
         w.writeU32((static_cast<uint32_t>(ednsVersion) << 16) | (dnssecOk ? 0x8000u : 0u)) &&
         w.writeU16(0);
  }
  buf.resize(ok ? w.size() : 0);
  return buf;
}

MessageWriter::MessageWriter(std::span<uint8_t> buffer, size_t limit)
    : buffer_(buffer), limit_(std::min(limit, buffer.size())) {}

void MessageWriter::setLimit(size_t limit) {
  limit_ = std::min(limit, buffer_.size());
  if (limit_ < size_) limit_ = size_;
}

void MessageWriter::rollback(Mark mark) {
  size_ = mark.size;
  entries_ = mark.compressionEntries;
}

bool MessageWriter::writeU8(uint8_t v) {
  if (limit_ - size_ < 1) return false;
  buffer_[size_++] = v;
  return true;
}

bool MessageWriter::writeU16(uint16_t v) {
  if (limit_ - size_ < 2) return false;
  buffer_[size_] = static_cast<uint8_t>(v >> 8);
  buffer_[size_ + 1] = static_cast<uint8_t>(v);
  size_ += 2;
  return true;
}

bool MessageWriter::writeU32(uint32_t v) {
  if (limit_ - size_ < 4) return false;
  buffer_[size_] = static_cast<uint8_t>(v >> 24);
  buffer_[size_ + 1] = static_cast<uint8_t>(v >> 16);
  buffer_[size_ + 2] = static_cast<uint8_t>(v >> 8);
  buffer_[size_ + 3] = static_cast<uint8_t>(v);
  size_ += 4;
  return true;
}

bool MessageWriter::writeBytes(std::span<const uint8_t> bytes) {
  if (limit_ - size_ < bytes.size()) return false;
  if (!bytes.empty()) std::memcpy(buffer_.data() + size_, bytes.data(), bytes.size());
  size_ += bytes.size();
  return true;
}

void MessageWriter::patchU16(size_t offset, uint16_t v) {
  if (offset + 2 > size_) return;
  buffer_[offset] = static_cast<uint8_t>(v >> 8);
  buffer_[offset + 1] = static_cast<uint8_t>(v);
}

bool MessageWriter::writeHeader(const Header& h) {
  if (size_ != 0) return false;
  return writeU16(h.id) && writeU16(h.flags) && writeU16(h.qdcount) && writeU16(h.ancount) &&
         writeU16(h.nscount) && writeU16(h.arcount);
}

void MessageWriter::patchHeader(const Header& h) {
  patchU16(0, h.id);
  patchU16(2, h.flags);
  patchU16(4, h.qdcount);
  patchU16(6, h.ancount);
  patchU16(8, h.nscount);
  patchU16(10, h.arcount);
}

bool MessageWriter::matchesAt(size_t offset, const uint8_t* suffix) const {
  size_t pos = offset;
  int hops = 0;
  while (true) {
    if (pos >= size_) return false;
    uint8_t len = buffer_[pos];
    if ((len & kPointerMask) == kPointerMask) {
      if (pos + 1 >= size_ || ++hops > 64) return false;
      pos = static_cast<size_t>((len & 0x3F) << 8) | buffer_[pos + 1];
      continue;
    }
    if (len != *suffix) return false;
    if (len == 0) return true;
    if (pos + 1 + len > size_) return false;
    for (size_t i = 1; i <= len; ++i) {
      if (lowerAscii(buffer_[pos + i]) != lowerAscii(suffix[i])) return false;
    }
    pos += 1 + len;
    suffix += 1 + len;
  }
}

void MessageWriter::remember(size_t offset) {
  if (offset >= 0x4000 || entries_ >= kMaxEntries) return;
  offsets_[entries_++] = static_cast<uint16_t>(offset);
}

void MessageWriter::rememberName(size_t offset, std::span<const uint8_t> wire) {
  size_t pos = 0;
  while (pos < wire.size() && wire[pos] != 0) {
    remember(offset + pos);
    pos += 1 + wire[pos];
  }
}

bool MessageWriter::writeName(std::span<const uint8_t> wire, bool compress, bool remember) {
  Mark start = mark();
  std::array<uint16_t, kMaxNameLength / 2> written{};
  size_t writtenCount = 0;
  size_t pos = 0;
  bool ok = true;
  while (true) {
    if (pos >= wire.size()) {
      ok = false;
      break;
    }
    uint8_t len = wire[pos];
    if (len == 0) {
      ok = writeU8(0);
      break;
    }
    if (compress) {
      bool found = false;
      for (size_t e = 0; e < entries_ && !found; ++e) {
        if (matchesAt(offsets_[e], wire.data() + pos)) {
          ok = writeU16(static_cast<uint16_t>(0xC000 | offsets_[e]));
          found = true;
        }
      }
      if (found) break;
    }
    if (pos + 1 + len > wire.size()) {
      ok = false;
      break;
    }
    written[writtenCount++] = static_cast<uint16_t>(size_);
    if (!writeBytes(wire.subspan(pos, 1 + len))) {
      ok = false;
      break;
    }
    pos += 1 + len;
  }
  if (!ok) {
    rollback(start);
    return false;
  }
  if (remember) {
    for (size_t i = 0; i < writtenCount; ++i) this->remember(written[i]);
  }
  return true;
}

}  // namespace corral::dns
