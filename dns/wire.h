// DNS wire format (RFC 1035, RFC 6891): a socket-free codec. Bytes in, a
// parsed query or a precise status out; responses are written into a caller
// buffer with name compression and a hard size limit. Nothing here allocates
// on the query path.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace corral::dns {

// Resource record types we know by name.
inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeNs = 2;
inline constexpr uint16_t kTypeCname = 5;
inline constexpr uint16_t kTypeSoa = 6;
inline constexpr uint16_t kTypePtr = 12;
inline constexpr uint16_t kTypeHinfo = 13;
inline constexpr uint16_t kTypeMx = 15;
inline constexpr uint16_t kTypeTxt = 16;
inline constexpr uint16_t kTypeAaaa = 28;
inline constexpr uint16_t kTypeSrv = 33;
inline constexpr uint16_t kTypeOpt = 41;
inline constexpr uint16_t kTypeIxfr = 251;
inline constexpr uint16_t kTypeAxfr = 252;
inline constexpr uint16_t kTypeAny = 255;

inline constexpr uint16_t kClassIn = 1;
inline constexpr uint16_t kClassCh = 3;
inline constexpr uint16_t kClassAny = 255;

// Response codes; values above 15 travel partly in the OPT record.
inline constexpr uint16_t kRcodeNoError = 0;
inline constexpr uint16_t kRcodeFormErr = 1;
inline constexpr uint16_t kRcodeServFail = 2;
inline constexpr uint16_t kRcodeNxDomain = 3;
inline constexpr uint16_t kRcodeNotImp = 4;
inline constexpr uint16_t kRcodeRefused = 5;
inline constexpr uint16_t kRcodeBadVers = 16;

inline constexpr uint16_t kOpcodeQuery = 0;

// Header flag bits (the 16-bit word after the id).
inline constexpr uint16_t kFlagQr = 0x8000;
inline constexpr uint16_t kFlagAa = 0x0400;
inline constexpr uint16_t kFlagTc = 0x0200;
inline constexpr uint16_t kFlagRd = 0x0100;
inline constexpr uint16_t kFlagRa = 0x0080;
inline constexpr uint16_t kFlagAd = 0x0020;
inline constexpr uint16_t kFlagCd = 0x0010;

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxLabelLength = 63;
inline constexpr size_t kMaxNameLength = 255;  // wire form, root octet included
inline constexpr size_t kMinUdpSize = 512;
inline constexpr size_t kDefaultEdnsSize = 1232;
inline constexpr size_t kMaxMessageSize = 65535;
inline constexpr size_t kOptRecordSize = 11;  // root name + fixed fields, no options

struct Header {
  uint16_t id = 0;
  uint16_t flags = 0;
  uint16_t qdcount = 0;
  uint16_t ancount = 0;
  uint16_t nscount = 0;
  uint16_t arcount = 0;

  uint16_t opcode() const { return (flags >> 11) & 0xF; }
  uint16_t rcode() const { return flags & 0xF; }
  bool has(uint16_t flag) const { return (flags & flag) != 0; }
};

// An uncompressed domain name in wire form (length-prefixed labels ending in
// the root octet). Case is kept as received.
struct WireName {
  std::array<uint8_t, kMaxNameLength> bytes{};
  uint8_t length = 0;  // 0 means "unset"; the root name has length 1

  std::span<const uint8_t> view() const { return {bytes.data(), length}; }
  std::string_view asKey() const { return {reinterpret_cast<const char*>(bytes.data()), length}; }
};

// Name helpers. Presentation form is dotted without the trailing dot ("" is
// the root). Returns false when a label is empty, longer than 63 octets, or
// the name is longer than 255 octets.
[[nodiscard]] bool encodeName(std::string_view dotted, WireName& out);
[[nodiscard]] bool encodeName(std::string_view dotted, std::string& out);
std::string nameToText(std::span<const uint8_t> wire);
// ASCII lower-casing of a wire name (label length octets are < 64, never
// affected).
void lowerName(WireName& name);
// Number of labels (root excluded).
size_t labelCount(std::span<const uint8_t> wire);

// EDNS(0) information from a query's OPT record.
struct Edns {
  bool present = false;
  uint16_t udpSize = 0;
  uint8_t extendedRcode = 0;
  uint8_t version = 0;
  bool dnssecOk = false;
};

struct Query {
  Header header;
  bool hasQuestion = false;
  WireName qname;       // as received (case echoed)
  WireName qnameLower;  // lower-cased, the lookup key
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  Edns edns;
  bool ednsValid = true;  // false: OPT present but malformed
};

enum class [[nodiscard]] ParseStatus{
    kOk,
    kTooShort,   // not even a header: drop silently
    kNotQuery,   // QR bit set: never answer a response (loops)
    kMalformed,  // FORMERR; the header in the Query is valid
    kBadOpcode,  // NOTIMP; the header (and question when it parsed) is valid
};

// Parses a query: header, exactly one question, the answer and authority
// sections (skipped, but validated), and the additional section where an OPT
// record is recognised. Counts that lie, compression loops, pointers forward
// or out of range, reserved label types, labels > 63 and names > 255 octets
// are all kMalformed.
ParseStatus parseQuery(std::span<const uint8_t> packet, Query& out);

// Reads a possibly compressed name at `offset` into `out` (uncompressed).
// On success `offset` is moved past the name as it sits in the packet.
// Pointers must point strictly backwards, so loops are impossible; names
// longer than 255 octets are refused.
[[nodiscard]] bool readName(std::span<const uint8_t> packet, size_t& offset, WireName& out);

// A whole message, decoded for clients and tests (allocates).
struct Record {
  WireName name;
  uint16_t type = 0;
  uint16_t rclass = 0;
  uint32_t ttl = 0;
  size_t rdataOffset = 0;  // into the message
  uint16_t rdataLength = 0;
};
struct Message {
  Header header;
  std::vector<Record> questions;  // ttl/rdata unused
  std::vector<Record> answers;
  std::vector<Record> authority;
  std::vector<Record> additional;
};
[[nodiscard]] bool parseMessage(std::span<const uint8_t> packet, Message& out);

// Builds a query (for clients and tests).
std::vector<uint8_t> buildQuery(uint16_t id, std::string_view name, uint16_t qtype,
                                bool recursionDesired = true, int ednsUdpSize = -1,
                                uint8_t ednsVersion = 0, bool dnssecOk = false);

// Writes a message into a fixed buffer. Every write is checked against the
// limit; a failed write leaves the writer unchanged, so callers can try a
// record and give up cleanly (see Mark/rollback for multi-part records).
class MessageWriter {
 public:
  MessageWriter(std::span<uint8_t> buffer, size_t limit);

  size_t size() const { return size_; }
  size_t limit() const { return limit_; }
  // The limit never exceeds the buffer size.
  void setLimit(size_t limit);
  std::span<const uint8_t> data() const { return {buffer_.data(), size_}; }

  struct Mark {
    size_t size;
    size_t compressionEntries;
  };
  Mark mark() const { return {size_, entries_}; }
  void rollback(Mark mark);

  [[nodiscard]] bool writeU8(uint8_t v);
  [[nodiscard]] bool writeU16(uint16_t v);
  [[nodiscard]] bool writeU32(uint32_t v);
  [[nodiscard]] bool writeBytes(std::span<const uint8_t> bytes);
  void patchU16(size_t offset, uint16_t v);

  // Writes the header at offset 0 (the buffer must be empty) or rewrites it.
  [[nodiscard]] bool writeHeader(const Header& header);
  void patchHeader(const Header& header);

  // Writes an uncompressed wire name, pointing at an earlier occurrence of
  // its longest known suffix when `compress`. When `remember` the labels
  // written here become compression targets for later names.
  [[nodiscard]] bool writeName(std::span<const uint8_t> wire, bool compress = true,
                               bool remember = true);
  // Registers a name already present in the buffer (e.g. the SRV target
  // inside RDATA, which must not itself be compressed) as a target.
  void rememberName(size_t offset, std::span<const uint8_t> wire);

 private:
  bool matchesAt(size_t offset, const uint8_t* suffix) const;
  void remember(size_t offset);

  static constexpr size_t kMaxEntries = 64;
  std::span<uint8_t> buffer_;
  size_t limit_;
  size_t size_ = 0;
  std::array<uint16_t, kMaxEntries> offsets_{};
  size_t entries_ = 0;
};

}  // namespace corral::dns
