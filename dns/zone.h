// An immutable, authoritative zone built once from a ZoneInput. Every RRset
// is encoded when the zone is built (type, class, TTL, RDLENGTH, RDATA per
// record), so answering is copying bytes. Lookups are one hash probe by the
// lower-cased wire name; every name that exists is present, empty
// non-terminals included, which makes NXDOMAIN vs NODATA a lookup.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "dns/zone_input.h"

namespace corral::dns {

struct RrSet {
  uint16_t type = 0;
  std::vector<uint8_t> bodies;    // per record: type, class, ttl, rdlength, rdata
  std::vector<uint32_t> offsets;  // start of each body, plus the end: size() + 1 entries
  std::vector<int32_t> targets;   // SRV: node index of each target, -1 when none

  size_t size() const { return offsets.empty() ? 0 : offsets.size() - 1; }
  std::span<const uint8_t> body(size_t i) const {
    return {bodies.data() + offsets[i], offsets[i + 1] - offsets[i]};
  }
  std::span<const uint8_t> rdata(size_t i) const { return body(i).subspan(10); }
};

struct Node {
  std::string name;  // lower-cased wire form; the lookup key
  std::vector<RrSet> sets;

  const RrSet* find(uint16_t type) const {
    for (const RrSet& s : sets) {
      if (s.type == type) return &s;
    }
    return nullptr;
  }
};

class Zone {
 public:
  struct Stats {
    size_t names = 0;
    size_t records = 0;
    size_t tasks = 0;          // tasks that made it into DNS
    size_t skippedTasks = 0;   // not running, unhealthy
    size_t rejectedItems = 0;  // bad address, label or name: left out, logged
  };

  // Lower-cased wire name -> node, or nullptr.
  const Node* find(std::string_view lowerWireName) const {
    auto it = index_.find(lowerWireName);
    return it == index_.end() ? nullptr : &nodes_[it->second];
  }
  const Node& node(size_t index) const { return nodes_[index]; }
  const std::vector<Node>& nodes() const { return nodes_; }

  // True when the lower-cased wire name is the apex or below it.
  bool contains(std::span<const uint8_t> lowerWireName) const;

  std::span<const uint8_t> apexName() const {
    return {reinterpret_cast<const uint8_t*>(apex_.data()), apex_.size()};
  }
  const Node& apex() const { return nodes_[apexIndex_]; }
  // The SOA record body with the negative-caching TTL (RFC 2308).
  std::span<const uint8_t> negativeSoaBody() const { return negativeSoa_.body(0); }

  std::string_view domain() const { return domain_; }
  std::string_view framework() const { return framework_; }
  uint32_t ttl() const { return ttl_; }
  uint32_t negativeTtl() const { return negativeTtl_; }
  uint32_t serial() const { return serial_; }
  const Stats& stats() const { return stats_; }

  // For the Mesos-DNS-style HTTP API: the addresses of a host name, and the
  // SRV records of a service name (dotted, any case, trailing dot optional).
  std::vector<std::string> hostAddresses(std::string_view name) const;
  struct ServiceEntry {
    std::string service;
    std::string host;
    std::string ip;
    uint16_t port = 0;
  };
  std::vector<ServiceEntry> services(std::string_view name) const;

 private:
  friend class ZoneBuilder;
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::vector<Node> nodes_;
  std::unordered_map<std::string, uint32_t, KeyHash, std::equal_to<>> index_;
  std::string apex_;  // wire form
  size_t apexIndex_ = 0;
  RrSet negativeSoa_;
  std::string domain_;
  std::string framework_;
  uint32_t ttl_ = 5;
  uint32_t negativeTtl_ = 5;
  uint32_t serial_ = 0;
  Stats stats_;
};

// Builds a zone. Fails only on configuration errors (a domain or framework
// name that cannot be a DNS name); bad tasks, ports or addresses are left
// out and counted in stats().rejectedItems, never failing the whole zone.
Result<std::shared_ptr<const Zone>> buildZone(const ZoneInput& input);

}  // namespace corral::dns
