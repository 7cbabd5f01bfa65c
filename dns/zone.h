// An immutable, authoritative zone. Every RRset is encoded when the zone is
// built (type, class, TTL, RDLENGTH, RDATA per record), so answering is
// copying bytes. Lookups are one hash probe by the lower-cased wire name;
// every name that exists is present, empty non-terminals included, which
// makes NXDOMAIN vs NODATA a lookup. Zones are published by a ZoneAssembler,
// which rebuilds only the names a change touches.
#pragma once

#include <array>
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
  std::vector<int32_t> targets;   // SRV: slot of each target (Zone::node), -1 when none

  size_t size() const { return offsets.empty() ? 0 : offsets.size() - 1; }
  std::span<const uint8_t> body(size_t i) const {
    return {bodies.data() + offsets[i], offsets[i + 1] - offsets[i]};
  }
  std::span<const uint8_t> rdata(size_t i) const { return body(i).subspan(10); }
};

struct Node {
  std::string name;  // lower-cased wire form; the lookup key
  std::vector<RrSet> sets;

  size_t records() const {
    size_t n = 0;
    for (const RrSet& s : sets) n += s.size();
    return n;
  }
  const RrSet* find(uint16_t type) const {
    for (const RrSet& s : sets) {
      if (s.type == type) return &s;
    }
    return nullptr;
  }
};

class Zone;

// Keeps a zone's records grouped by where they come from (the apex, the
// masters, the agents, each app) and publishes immutable zones that share
// every part a change did not touch: a change re-encodes only the names of
// the sources it replaces, and a new Zone copies the small top-level tables
// (shard and slot pointers), never the records. Names shared by several
// sources (an app's SRV name, empty non-terminals like `_tcp.marathon.mesos`)
// are reference-counted, so a source removed takes only its own records.
// Records of one name are merged in source order with duplicates dropped,
// which is exactly what a build from scratch of the same input gives.
// Not thread-safe: one owner builds; published zones are read by any thread.
class ZoneAssembler {
 public:
  // Validates and keeps the settings of `settings` (domain, framework,
  // options); the rest of it is ignored here.
  static Result<std::unique_ptr<ZoneAssembler>> create(const ZoneInput& settings);
  ~ZoneAssembler();
  ZoneAssembler(const ZoneAssembler&) = delete;
  ZoneAssembler& operator=(const ZoneAssembler&) = delete;

  // Masters, leader and framework names from `in` (its other fields are not read).
  void setLeadership(const ZoneInput& in);
  // The agents (slave names, and how tasks find their agent's address).
  // Returns the ids of the apps whose records used an agent that changed:
  // the caller passes them to setApp again.
  std::vector<std::string> setAgents(const std::vector<AgentInfo>& agents);
  // Adds or replaces one app's records.
  void setApp(const AppInfo& app);
  void removeApp(std::string_view appId);
  // A zone with every change so far. Cost: the names touched since the last
  // publish, plus one copy of the top-level tables.
  std::shared_ptr<const Zone> publish();

  class Impl;

 private:
  explicit ZoneAssembler(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
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

  // Lower-cased wire name -> node, or nullptr. One hash, one shard, one probe
  // sequence in a small open-addressing table.
  const Node* find(std::string_view lowerWireName) const {
    const uint64_t h = hashKey(lowerWireName);
    return shards_[h >> shardShift_]->find(lowerWireName, h);
  }
  // A node by its slot (what RrSet::targets holds). A slot whose name does
  // not exist (an SRV target outside the zone) gives a node with no records.
  const Node& node(size_t slot) const {
    const Node* n = slots_[slot / kSlotChunk]->nodes[slot % kSlotChunk];
    return n != nullptr ? *n : emptyNode();
  }
  // The number of slots: every slot index is below nodes().size().
  struct Slots {
    size_t count = 0;
    size_t size() const { return count; }
  };
  Slots nodes() const { return {slotCount_}; }

  // True when the lower-cased wire name is the apex or below it.
  bool contains(std::span<const uint8_t> lowerWireName) const;

  std::span<const uint8_t> apexName() const {
    return {reinterpret_cast<const uint8_t*>(apex_.data()), apex_.size()};
  }
  const Node& apex() const { return *find(apex_); }
  // The SOA record body with the negative-caching TTL (RFC 2308).
  std::span<const uint8_t> negativeSoaBody() const { return negativeSoa_.body(0); }

  std::string_view domain() const { return domain_; }
  std::string_view framework() const { return framework_; }
  uint32_t ttl() const { return ttl_; }
  uint32_t negativeTtl() const { return negativeTtl_; }
  uint32_t serial() const { return serial_; }
  const Stats& stats() const { return stats_; }
  // Calls `fn(const Node&)` for every name (in no particular order).
  template <typename Fn>
  void forEachNode(Fn&& fn) const {
    for (const auto& shard : shards_) {
      for (const auto& e : shard->table) {
        if (e.node) fn(*e.node);
      }
    }
  }

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
  friend class ZoneAssembler::Impl;
  static constexpr size_t kSlotChunk = 1024;

  static uint64_t hashKey(std::string_view key) { return std::hash<std::string_view>{}(key); }
  static const Node& emptyNode();

  // One shard of the name index: linear probing, at most a quarter full; the
  // position comes from the hash's low bits, the shard from its high bits.
  struct Shard {
    struct Entry {
      uint64_t hash = 0;
      std::shared_ptr<const Node> node;  // null: free
    };
    std::vector<Entry> table;  // power-of-two size, never empty
    size_t count = 0;
    const Node* find(std::string_view key, uint64_t h) const {
      const size_t mask = table.size() - 1;
      for (size_t i = h & mask;; i = (i + 1) & mask) {
        const Entry& e = table[i];
        if (!e.node) return nullptr;
        if (e.hash == h && e.node->name == key) return e.node.get();
      }
    }
  };
  // Slot -> node, in chunks shared between zones; the nodes are owned by the
  // shards of every zone that holds the chunk.
  struct SlotChunk {
    std::array<const Node*, kSlotChunk> nodes{};
  };

  std::vector<std::shared_ptr<const Shard>> shards_;
  unsigned shardShift_ = 63;
  std::vector<std::shared_ptr<const SlotChunk>> slots_;
  size_t slotCount_ = 0;
  std::string apex_;  // wire form
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
