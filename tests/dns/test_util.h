// Helpers shared by the dns tests: hand-built packets and response decoding.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dns/wire.h"

namespace corral::dns::testing {

// Appends big-endian fields and names to a packet under construction.
struct PacketBuilder {
  std::vector<uint8_t> bytes;

  PacketBuilder& u8(uint8_t v) {
    bytes.push_back(v);
    return *this;
  }
  PacketBuilder& u16(uint16_t v) {
    bytes.push_back(static_cast<uint8_t>(v >> 8));
    bytes.push_back(static_cast<uint8_t>(v));
    return *this;
  }
  PacketBuilder& u32(uint32_t v) {
    return u16(static_cast<uint16_t>(v >> 16)).u16(static_cast<uint16_t>(v));
  }
  PacketBuilder& header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an = 0, uint16_t ns = 0,
                        uint16_t ar = 0) {
    return u16(id).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
  }
  // Dotted name, uncompressed.
  PacketBuilder& name(std::string_view dotted) {
    WireName w;
    if (encodeName(dotted, w))
      bytes.insert(bytes.end(), w.bytes.begin(), w.bytes.begin() + w.length);
    return *this;
  }
  PacketBuilder& label(std::string_view l) {
    bytes.push_back(static_cast<uint8_t>(l.size()));
    bytes.insert(bytes.end(), l.begin(), l.end());
    return *this;
  }
  PacketBuilder& pointer(uint16_t offset) { return u16(static_cast<uint16_t>(0xC000 | offset)); }
  PacketBuilder& question(std::string_view dotted, uint16_t type, uint16_t cls = kClassIn) {
    return name(dotted).u16(type).u16(cls);
  }
  PacketBuilder& opt(uint16_t size, uint8_t version = 0, uint16_t rdlen = 0) {
    return u8(0).u16(kTypeOpt).u16(size).u32(static_cast<uint32_t>(version) << 16).u16(rdlen);
  }
};

inline std::string recordName(const Record& r) { return nameToText(r.name.view()); }

inline uint16_t readU16At(const std::vector<uint8_t>& p, size_t off) {
  return static_cast<uint16_t>((p[off] << 8) | p[off + 1]);
}

// "1.2.3.4" from A RDATA.
inline std::string ipv4(const std::vector<uint8_t>& p, const Record& r) {
  return std::to_string(p[r.rdataOffset]) + "." + std::to_string(p[r.rdataOffset + 1]) + "." +
         std::to_string(p[r.rdataOffset + 2]) + "." + std::to_string(p[r.rdataOffset + 3]);
}

// SRV target as text (SRV targets are never compressed by us).
inline std::string srvTarget(const std::vector<uint8_t>& p, const Record& r) {
  size_t off = r.rdataOffset + 6;
  WireName n;
  if (!readName(p, off, n)) return "<bad>";
  return nameToText(n.view());
}
inline uint16_t srvPort(const std::vector<uint8_t>& p, const Record& r) {
  return readU16At(p, r.rdataOffset + 4);
}

}  // namespace corral::dns::testing
