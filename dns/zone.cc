#include "dns/zone.h"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <unordered_set>

#include <fmt/format.h>

#include "base/log.h"
#include "dns/naming.h"
#include "dns/wire.h"

namespace corral::dns {
namespace {

void appendU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

void appendU32(std::string& out, uint32_t v) {
  appendU16(out, static_cast<uint16_t>(v >> 16));
  appendU16(out, static_cast<uint16_t>(v));
}

std::string lowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// An address literal as A or AAAA RDATA.
bool addressRdata(std::string_view ip, uint16_t& type, std::string& rdata) {
  std::string text(ip);
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
    type = kTypeA;
    rdata.assign(reinterpret_cast<char*>(buf), 4);
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    type = kTypeAaaa;
    rdata.assign(reinterpret_cast<char*>(buf), 16);
    return true;
  }
  return false;
}

std::vector<std::string_view> splitProtocols(std::string_view protocol) {
  if (protocol.empty()) return {"tcp", "udp"};
  std::vector<std::string_view> out;
  while (true) {
    size_t comma = protocol.find(',');
    std::string_view p = protocol.substr(0, comma);
    while (!p.empty() && p.front() == ' ') p.remove_prefix(1);
    while (!p.empty() && p.back() == ' ') p.remove_suffix(1);
    if (!p.empty()) out.push_back(p);
    if (comma == std::string_view::npos) break;
    protocol.remove_prefix(comma + 1);
  }
  return out;
}

// True when the wire name `name` is `apex` or below it.
bool insideApex(std::string_view name, std::string_view apex) {
  if (name.size() < apex.size()) return false;
  size_t pos = 0;
  while (name.size() - pos > apex.size()) {
    if (name[pos] == 0) return false;
    pos += 1 + static_cast<uint8_t>(name[pos]);
  }
  return name.size() - pos == apex.size() && name.substr(pos) == apex;
}

void appendBody(std::vector<uint8_t>& out, uint16_t type, uint32_t ttl, std::string_view rdata) {
  const uint8_t head[10] = {static_cast<uint8_t>(type >> 8),
                            static_cast<uint8_t>(type),
                            0,
                            static_cast<uint8_t>(kClassIn),
                            static_cast<uint8_t>(ttl >> 24),
                            static_cast<uint8_t>(ttl >> 16),
                            static_cast<uint8_t>(ttl >> 8),
                            static_cast<uint8_t>(ttl),
                            static_cast<uint8_t>(rdata.size() >> 8),
                            static_cast<uint8_t>(rdata.size())};
  out.insert(out.end(), head, head + sizeof head);
  out.insert(out.end(), rdata.begin(), rdata.end());
}

uint32_t secondsNow() {
  return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

bool sameRecords(const Node& a, const Node& b) {
  if (a.sets.size() != b.sets.size()) return false;
  for (size_t i = 0; i < a.sets.size(); ++i) {
    const RrSet& x = a.sets[i];
    const RrSet& y = b.sets[i];
    if (x.type != y.type || x.bodies != y.bodies || x.offsets != y.offsets ||
        x.targets != y.targets) {
      return false;
    }
  }
  return true;
}

size_t nextPowerOfTwo(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

// What the zone is built with, checked once.
struct Settings {
  std::string domain;     // dotted, lower case, no trailing dot
  std::string apex;       // wire form
  std::string framework;  // sanitised
  bool rfc952 = false;
  uint32_t ttl = 5;
  uint32_t negativeTtl = 5;
  bool onlyHealthy = true;
  SoaOptions soa;
  std::string mname;  // dotted
  std::string rname;  // dotted
  std::string mnameWire;
  std::string rnameWire;
  std::vector<std::string> nameServerIps;
};

// One record a source puts in the zone; names are lower-cased wire form.
struct Emitted {
  std::string name;
  uint16_t type = 0;
  std::string rdata;
  std::string target;  // SRV only
};

struct SourceStats {
  size_t tasks = 0;
  size_t skipped = 0;
  size_t rejected = 0;
  SourceStats& operator+=(const SourceStats& o) {
    tasks += o.tasks;
    skipped += o.skipped;
    rejected += o.rejected;
    return *this;
  }
  SourceStats& operator-=(const SourceStats& o) {
    tasks -= o.tasks;
    skipped -= o.skipped;
    rejected -= o.rejected;
    return *this;
  }
};

struct Emission {
  std::vector<Emitted> records;
  SourceStats stats;
  std::vector<std::string> agentKeys;  // agents looked up ("i" + id, "h" + hostname)
};

std::string agentAddress(const AgentInfo& agent) {
  if (!agent.ip.empty()) return agent.ip;
  uint16_t type;
  std::string rdata;
  return addressRdata(agent.hostname, type, rdata) ? agent.hostname : std::string();
}

// Agents as tasks find them: by id first, then by hostname.
struct AgentTable {
  std::unordered_map<std::string, AgentInfo> byId;
  std::unordered_map<std::string, AgentInfo> byHost;

  explicit AgentTable(const std::vector<AgentInfo>& agents = {}) {
    for (const AgentInfo& a : agents) {
      if (!a.id.empty()) byId[a.id] = a;
      if (!a.hostname.empty()) byHost[a.hostname] = a;
    }
  }
  // The agent of a task; `keys` gets every lookup made, found or not.
  const AgentInfo* agentOf(const TaskInfo& task, std::vector<std::string>* keys) const {
    if (!task.agentId.empty()) {
      if (keys) keys->push_back("i" + task.agentId);
      auto it = byId.find(task.agentId);
      if (it != byId.end()) return &it->second;
    }
    if (!task.agentHostname.empty()) {
      if (keys) keys->push_back("h" + task.agentHostname);
      auto it = byHost.find(task.agentHostname);
      if (it != byHost.end()) return &it->second;
    }
    return nullptr;
  }
};

// Only what app records read of an agent: its id and address.
bool sameForApps(const AgentInfo& a, const AgentInfo& b) {
  return a.id == b.id && agentAddress(a) == agentAddress(b);
}

void changedKeys(const std::unordered_map<std::string, AgentInfo>& before,
                 const std::unordered_map<std::string, AgentInfo>& after, char prefix,
                 std::vector<std::string>& out) {
  for (const auto& [k, v] : before) {
    auto it = after.find(k);
    if (it == after.end() || !sameForApps(v, it->second)) out.push_back(prefix + k);
  }
  for (const auto& [k, v] : after) {
    if (!before.count(k)) out.push_back(prefix + k);
  }
}

// Turns one source (apex, leadership, agents, one app) into records, with
// Mesos-DNS naming. Bad names and addresses are counted, never fatal.
class Emitter {
 public:
  Emitter(const Settings& st, Emission& out) : st_(st), out_(out) {}

  std::string fq(std::string_view relative) const {
    return relative.empty() ? st_.domain : std::string(relative) + "." + st_.domain;
  }

  bool add(std::string_view dotted, uint16_t type, std::string rdata, std::string target = {}) {
    Emitted e;
    if (!encodeName(dotted, e.name) || !insideApex(e.name, st_.apex)) {
      ++out_.stats.rejected;
      log::debug("dns: left out record for invalid name '{}'", dotted);
      return false;
    }
    e.type = type;
    e.rdata = std::move(rdata);
    e.target = std::move(target);
    out_.records.push_back(std::move(e));
    return true;
  }

  bool addAddress(std::string_view dotted, std::string_view ip) {
    uint16_t type = 0;
    std::string rdata;
    if (!addressRdata(ip, type, rdata)) {
      ++out_.stats.rejected;
      log::debug("dns: left out '{}': '{}' is not an IP address", dotted, ip);
      return false;
    }
    return add(dotted, type, std::move(rdata));
  }

  bool addSrv(std::string_view dotted, std::string_view target, uint16_t port) {
    std::string targetWire;
    if (!encodeName(target, targetWire)) {
      ++out_.stats.rejected;
      return false;
    }
    std::string rdata;
    appendU16(rdata, 0);  // priority
    appendU16(rdata, 1);  // weight
    appendU16(rdata, port);
    rdata += targetWire;
    return add(dotted, kTypeSrv, std::move(rdata), std::move(targetWire));
  }

  // SOA, NS and the name server's addresses. Returns the SOA RDATA.
  std::string apex(uint32_t serial) {
    std::string rdata = st_.mnameWire + st_.rnameWire;
    appendU32(rdata, serial);
    appendU32(rdata, st_.soa.refresh);
    appendU32(rdata, st_.soa.retry);
    appendU32(rdata, st_.soa.expire);
    appendU32(rdata, st_.soa.minimum);
    add(st_.domain, kTypeSoa, rdata);
    add(st_.domain, kTypeNs, st_.mnameWire);
    for (const std::string& ip : st_.nameServerIps) addAddress(st_.mname, ip);
    return rdata;
  }

  void leadership(const ZoneInput& in) {
    bool leaderListed = false;
    size_t n = 0;
    for (const MasterInfo& m : in.masters) {
      if (m.ip.empty()) continue;
      addAddress(fq("master"), m.ip);
      addAddress(fq("master" + std::to_string(n++)), m.ip);
      if (m.ip == in.leaderIp) leaderListed = true;
    }
    if (!in.leaderIp.empty()) {
      addAddress(fq("leader"), in.leaderIp);
      addAddress(fq("master"), in.leaderIp);
      if (!leaderListed) addAddress(fq("master" + std::to_string(n)), in.leaderIp);
      addSrv(fq("_leader._tcp"), fq("leader"), in.leaderPort);
      addSrv(fq("_leader._udp"), fq("leader"), in.leaderPort);
    }
    const std::string& ip = in.frameworkIp.empty() ? in.leaderIp : in.frameworkIp;
    if (ip.empty()) return;
    std::string name = fq(st_.framework);
    addAddress(name, ip);
    if (in.frameworkPort != 0)
      addSrv(fq("_framework._tcp." + st_.framework), name, in.frameworkPort);
  }

  void agents(const std::vector<AgentInfo>& agents) {
    for (const AgentInfo& agent : agents) {
      std::string ip = agentAddress(agent);
      if (ip.empty()) continue;
      addAddress(fq("slave"), ip);
      addSrv(fq("_slave._tcp"), fq("slave"), agent.port);
    }
  }

  bool eligible(const AppInfo& app, const TaskInfo& task) const {
    if (!task.running) return false;
    if (app.hasHealthChecks && st_.onlyHealthy) return task.healthy.value_or(false);
    return true;
  }

  void app(const AppInfo& app, const AgentTable& agents) {
    const bool rfc952 = st_.rfc952;
    const size_t limit = rfc952 ? kRfc952MaxLabel : kRfc1123MaxLabel;
    std::string label = appLabel(app.appId, rfc952);
    std::string service = "_" + appLabel(app.appId, rfc952, limit - 1);
    if (label.empty() || service.size() == 1) {
      ++out_.stats.rejected;
      log::warn("dns: app '{}' has no valid DNS label, left out", app.appId);
      return;
    }
    const std::string& fw = st_.framework;
    size_t canonicalSuffixSize = 0;
    std::string canonicalApp;
    for (const TaskInfo& task : app.tasks) {
      if (!eligible(app, task)) {
        ++out_.stats.skipped;
        continue;
      }
      const AgentInfo* agent = agents.agentOf(task, &out_.agentKeys);
      std::string agentIp = agent ? agentAddress(*agent) : std::string();
      std::string agentId = agent && !agent->id.empty() ? agent->id : task.agentId;
      std::string tail = agentId.empty() ? std::string() : agentIdTail(agentId).substr(0, 20);
      std::string suffix = "-" + taskIdHash(task.taskId) + (tail.empty() ? "" : "-" + tail);
      if (suffix.size() != canonicalSuffixSize) {
        canonicalSuffixSize = suffix.size();
        canonicalApp = appLabel(app.appId, rfc952, limit - suffix.size());
      }
      std::string canonical = canonicalApp + suffix;

      std::vector<std::string> ips;
      if (!task.ip.empty()) ips.push_back(task.ip);
      for (const std::string& ip : task.extraIps) {
        if (!ip.empty()) ips.push_back(ip);
      }
      if (ips.empty() && !agentIp.empty()) ips.push_back(agentIp);
      if (ips.empty()) {
        ++out_.stats.rejected;
        log::debug("dns: task '{}' has no address, left out", task.taskId);
        continue;
      }
      ++out_.stats.tasks;

      const std::string appName = fq(label + "." + fw);
      const std::string canonicalName = fq(canonical + "." + fw);
      for (const std::string& ip : ips) {
        addAddress(appName, ip);
        addAddress(canonicalName, ip);
      }
      const std::string canonicalSlave = fq(canonical + "." + fw + ".slave");
      if (!agentIp.empty()) {
        addAddress(fq(label + "." + fw + ".slave"), agentIp);
        addAddress(canonicalSlave, agentIp);
      }
      for (const PortInfo& port : task.ports) {
        if (port.port == 0) continue;
        std::string portLabel =
            port.name.empty() ? std::string() : sanitizeLabel(port.name, rfc952, limit - 1);
        for (std::string_view proto : splitProtocols(port.protocol)) {
          if (proto != "tcp" && proto != "udp") {
            ++out_.stats.rejected;
            continue;
          }
          std::string srv = service + "._" + std::string(proto) + "." + fw;
          addSrv(fq(srv), canonicalName, port.port);
          if (!portLabel.empty()) addSrv(fq("_" + portLabel + "." + srv), canonicalName, port.port);
        }
        if (!agentIp.empty()) {
          addSrv(fq(service + "._tcp." + fw + ".slave"), canonicalSlave, port.port);
          addSrv(fq(service + "._udp." + fw + ".slave"), canonicalSlave, port.port);
        }
      }
    }
  }

 private:
  const Settings& st_;
  Emission& out_;
};

// Source keys order the records of a name exactly as a build from scratch
// adds them: apex, leadership, agents, then the apps in input order.
const std::string kApexSource = "a";
const std::string kLeadershipSource = "b";
const std::string kAgentSource = "c";
constexpr char kAppSourcePrefix = 'd';

}  // namespace

class ZoneAssembler::Impl {
 public:
  explicit Impl(Settings st) : st_(std::move(st)) {
    shardBits_ = 4;
    shards_.assign(size_t{1} << shardBits_, emptyShard());
    serial_ = st_.soa.serial != 0 ? st_.soa.serial : secondsNow();
    emitApex();
  }

  void setLeadership(const ZoneInput& in) {
    Emission e;
    Emitter(st_, e).leadership(in);
    setSource(kLeadershipSource, std::move(e));
  }

  std::vector<std::string> setAgents(const std::vector<AgentInfo>& agents) {
    AgentTable next(agents);
    std::vector<std::string> keys;
    changedKeys(agents_.byId, next.byId, 'i', keys);
    changedKeys(agents_.byHost, next.byHost, 'h', keys);
    agents_ = std::move(next);
    Emission e;
    Emitter(st_, e).agents(agents);
    setSource(kAgentSource, std::move(e));
    std::set<std::string> apps;
    for (const std::string& k : keys) {
      auto it = dependents_.find(k);
      if (it == dependents_.end()) continue;
      for (const std::string& source : it->second) apps.insert(source.substr(1));
    }
    return {apps.begin(), apps.end()};
  }

  void setApp(const std::string& source, const AppInfo& app) {
    Emission e;
    Emitter(st_, e).app(app, agents_);
    std::sort(e.agentKeys.begin(), e.agentKeys.end());
    e.agentKeys.erase(std::unique(e.agentKeys.begin(), e.agentKeys.end()), e.agentKeys.end());
    setSource(source, std::move(e));
  }

  void removeSource(const std::string& source) {
    auto it = sources_.find(source);
    if (it == sources_.end()) return;
    clear(it);
    sources_.erase(it);
  }

  std::shared_ptr<const Zone> publish();

 private:
  struct NameEntry;
  using NameRef = std::pair<const std::string, NameEntry>*;
  struct Rec {
    uint16_t type = 0;
    int32_t target = -1;  // SRV: the target's slot
    std::string rdata;
  };
  struct Contribution {
    const std::string* source;  // key in sources_
    std::vector<Rec> recs;
  };
  struct NameEntry {
    uint32_t slot = 0;
    uint32_t children = 0;    // direct children that exist
    uint32_t targetRefs = 0;  // SRV records pointing here
    bool exists = false;
    bool contentDirty = false;
    bool queued = false;
    bool touched = false;
    std::vector<Contribution> contribs;  // sorted by source key
    std::shared_ptr<const Node> node;    // as published; null when it does not exist
  };
  struct Source {
    std::vector<NameRef> names;    // names this source has records at
    std::vector<NameRef> targets;  // one per SRV record
    std::vector<std::string> agentKeys;
    SourceStats stats;
  };
  struct TableChange {
    uint64_t hash;
    std::string_view key;              // a key of names_, erased only after the tables are updated
    std::shared_ptr<const Node> node;  // null: removed
  };
  using Shard = Zone::Shard;

  static std::shared_ptr<const Shard> emptyShard() {
    static const std::shared_ptr<const Shard> empty = [] {
      auto s = std::make_shared<Shard>();
      s->table.resize(2);
      return std::shared_ptr<const Shard>(std::move(s));
    }();
    return empty;
  }

  void emitApex() {
    Emission e;
    soaRdata_ = Emitter(st_, e).apex(serial_);
    setSource(kApexSource, std::move(e));
  }

  NameRef entry(const std::string& key) {
    auto [it, inserted] = names_.try_emplace(key);
    if (inserted) {
      if (!freeSlots_.empty()) {
        it->second.slot = freeSlots_.back();
        freeSlots_.pop_back();
      } else {
        it->second.slot = nextSlot_++;
      }
    }
    return &*it;
  }

  void touch(NameRef n) {
    if (!n->second.touched) {
      n->second.touched = true;
      touched_.push_back(n);
    }
    if (!n->second.queued) {
      n->second.queued = true;
      queue_.push_back(n);
    }
  }

  void clear(std::map<std::string, Source>::iterator it) {
    const std::string* key = &it->first;
    Source& src = it->second;
    for (NameRef n : src.names) {
      auto& cs = n->second.contribs;
      cs.erase(std::find_if(cs.begin(), cs.end(),
                            [&](const Contribution& c) { return c.source == key; }));
      n->second.contentDirty = true;
      touch(n);
    }
    for (NameRef t : src.targets) {
      --t->second.targetRefs;
      touch(t);
    }
    for (const std::string& k : src.agentKeys) {
      auto d = dependents_.find(k);
      d->second.erase(*key);
      if (d->second.empty()) dependents_.erase(d);
    }
    totals_ -= src.stats;
    src = Source{};
  }

  void setSource(const std::string& source, Emission e) {
    auto it = sources_.try_emplace(source).first;
    clear(it);
    const std::string* key = &it->first;
    Source& src = it->second;
    for (Emitted& r : e.records) {
      NameRef n = entry(r.name);
      auto& cs = n->second.contribs;
      auto pos = std::lower_bound(
          cs.begin(), cs.end(), *key,
          [](const Contribution& c, const std::string& k) { return *c.source < k; });
      if (pos == cs.end() || pos->source != key) {
        pos = cs.insert(pos, Contribution{key, {}});
        src.names.push_back(n);
      }
      int32_t target = -1;
      if (r.type == kTypeSrv) {
        NameRef t = entry(r.target);
        ++t->second.targetRefs;
        src.targets.push_back(t);
        target = static_cast<int32_t>(t->second.slot);
      }
      pos->recs.push_back(Rec{r.type, target, std::move(r.rdata)});
      n->second.contentDirty = true;
      touch(n);
    }
    for (const std::string& k : e.agentKeys) dependents_[k].insert(*key);
    src.agentKeys = std::move(e.agentKeys);
    src.stats = e.stats;
    totals_ += e.stats;
  }

  // The records of one name: every source's in source order, duplicates
  // dropped (as Mesos-DNS does), each encoded once.
  std::shared_ptr<const Node> buildNode(NameRef n) const {
    static constexpr size_t kLinearDedupe = 16;
    auto node = std::make_shared<Node>();
    node->name = n->first;
    // Large sets only (an app with many tasks): seen RDATA per set index.
    std::vector<std::pair<size_t, std::unordered_set<std::string_view>>> big;
    for (const Contribution& c : n->second.contribs) {
      for (const Rec& r : c.recs) {
        size_t i = 0;
        while (i < node->sets.size() && node->sets[i].type != r.type) ++i;
        if (i == node->sets.size()) {
          if (node->sets.empty()) node->sets.reserve(2);
          node->sets.emplace_back();
          node->sets.back().type = r.type;
          node->sets.back().offsets.push_back(0);
        }
        RrSet& set = node->sets[i];
        if (set.size() < kLinearDedupe) {
          bool dup = false;
          for (size_t k = 0; k < set.size() && !dup; ++k) {
            auto rd = set.rdata(k);
            dup = rd.size() == r.rdata.size() &&
                  std::memcmp(rd.data(), r.rdata.data(), rd.size()) == 0;
          }
          if (dup) continue;
        } else {
          auto b =
              std::find_if(big.begin(), big.end(), [&](const auto& e) { return e.first == i; });
          if (b == big.end()) {
            // Views into the contributions' RDATA, which outlive this build.
            big.emplace_back(i, std::unordered_set<std::string_view>{});
            b = big.end() - 1;
            auto& seen = b->second;
            [&] {
              for (const Contribution& c2 : n->second.contribs) {
                for (const Rec& r2 : c2.recs) {
                  if (&r2 == &r) return;  // only the records before this one
                  if (r2.type == r.type) seen.insert(r2.rdata);
                }
              }
            }();
          }
          if (!b->second.insert(r.rdata).second) continue;
        }
        appendBody(set.bodies, r.type, st_.ttl, r.rdata);
        set.offsets.push_back(static_cast<uint32_t>(set.bodies.size()));
        if (r.type == kTypeSrv) set.targets.push_back(r.target);
      }
    }
    return node;
  }

  void applyShardChanges(std::vector<TableChange>& changes);
  static void setEntry(Shard& shard, uint64_t hash, std::string_view key,
                       std::shared_ptr<const Node> node);
  static void eraseEntry(Shard& shard, uint64_t hash, std::string_view key);
  void regrowShards(size_t bits);
  static std::shared_ptr<const Shard> makeShard(std::vector<Shard::Entry> entries);

  Settings st_;
  AgentTable agents_;
  std::unordered_map<std::string, std::set<std::string>> dependents_;  // agent key -> sources
  std::unordered_map<std::string, NameEntry> names_;
  std::map<std::string, Source> sources_;
  std::vector<NameRef> queue_;
  std::vector<NameRef> touched_;
  std::vector<uint32_t> freeSlots_;
  uint32_t nextSlot_ = 0;
  SourceStats totals_;
  size_t nameCount_ = 0;
  size_t recordCount_ = 0;
  uint32_t serial_ = 0;
  std::string soaRdata_;
  unsigned shardBits_ = 4;
  std::vector<std::shared_ptr<const Shard>> shards_;
  std::vector<std::shared_ptr<const Zone::SlotChunk>> slots_;
};

std::shared_ptr<const Zone::Shard> ZoneAssembler::Impl::makeShard(
    std::vector<Shard::Entry> entries) {
  auto shard = std::make_shared<Shard>();
  // At most a quarter full: a name that is not there (NXDOMAIN) then
  // meets a free slot after ~1.4 probes, as fast as the old hash map.
  shard->table.resize(nextPowerOfTwo(4 * entries.size() + 2));
  shard->count = entries.size();
  const size_t mask = shard->table.size() - 1;
  for (Shard::Entry& e : entries) {
    size_t i = e.hash & mask;
    while (shard->table[i].node) i = (i + 1) & mask;
    shard->table[i] = std::move(e);
  }
  return shard;
}

void ZoneAssembler::Impl::applyShardChanges(std::vector<TableChange>& changes) {
  const unsigned shift = 64 - shardBits_;
  std::sort(changes.begin(), changes.end(), [&](const TableChange& a, const TableChange& b) {
    return (a.hash >> shift) < (b.hash >> shift);
  });
  for (size_t first = 0; first < changes.size();) {
    const size_t index = changes[first].hash >> shift;
    size_t last = first;
    while (last < changes.size() && (changes[last].hash >> shift) == index) ++last;
    const Shard& old = *shards_[index];
    size_t adds = 0;
    for (size_t i = first; i < last; ++i) adds += changes[i].node != nullptr;
    if (4 * (old.count + adds) + 2 <= old.table.size()) {
      // Room even if every change adds a name: the old table, copied and
      // patched in place; the names that did not change are not rehashed.
      auto shard = std::make_shared<Shard>(old);
      for (size_t i = first; i < last; ++i) {
        TableChange& c = changes[i];
        if (c.node) {
          setEntry(*shard, c.hash, c.key, std::move(c.node));
        } else {
          eraseEntry(*shard, c.hash, c.key);
        }
      }
      shards_[index] = std::move(shard);
    } else {
      // Growing past a quarter full: laid out again in a larger table, the
      // old entries minus the changed keys, plus the new nodes.
      std::unordered_set<std::string_view> changedKeys;
      for (size_t i = first; i < last; ++i) changedKeys.insert(changes[i].key);
      std::vector<Shard::Entry> entries;
      entries.reserve(old.count + adds);
      for (const Shard::Entry& e : old.table) {
        if (e.node && !changedKeys.count(e.node->name)) entries.push_back(e);
      }
      for (size_t i = first; i < last; ++i) {
        if (changes[i].node) entries.push_back({changes[i].hash, std::move(changes[i].node)});
      }
      shards_[index] = makeShard(std::move(entries));
    }
    first = last;
  }
}

void ZoneAssembler::Impl::setEntry(Shard& shard, uint64_t hash, std::string_view key,
                                   std::shared_ptr<const Node> node) {
  const size_t mask = shard.table.size() - 1;
  size_t i = hash & mask;
  while (shard.table[i].node && !(shard.table[i].hash == hash && shard.table[i].node->name == key))
    i = (i + 1) & mask;
  if (!shard.table[i].node) ++shard.count;
  shard.table[i] = {hash, std::move(node)};
}

// Linear probing's deletion without tombstones: the entries after the freed
// slot move back when their probe sequence passes through it, so a lookup
// still stops at the first free slot.
void ZoneAssembler::Impl::eraseEntry(Shard& shard, uint64_t hash, std::string_view key) {
  const size_t mask = shard.table.size() - 1;
  size_t i = hash & mask;
  while (shard.table[i].node) {
    if (shard.table[i].hash == hash && shard.table[i].node->name == key) break;
    i = (i + 1) & mask;
  }
  if (!shard.table[i].node) return;
  shard.table[i] = {};
  --shard.count;
  for (size_t j = (i + 1) & mask; shard.table[j].node; j = (j + 1) & mask) {
    const size_t home = shard.table[j].hash & mask;
    // Stays when its home is cyclically within (i, j].
    const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    shard.table[i] = std::move(shard.table[j]);
    shard.table[j] = {};
    i = j;
  }
}

void ZoneAssembler::Impl::regrowShards(size_t bits) {
  shardBits_ = static_cast<unsigned>(bits);
  std::vector<std::vector<Shard::Entry>> parts(size_t{1} << bits);
  for (auto& [key, e] : names_) {
    if (!e.node) continue;
    uint64_t h = Zone::hashKey(key);
    parts[h >> (64 - bits)].push_back({h, e.node});
  }
  shards_.clear();
  for (auto& p : parts) shards_.push_back(makeShard(std::move(p)));
}

std::shared_ptr<const Zone> ZoneAssembler::Impl::publish() {
  if (st_.soa.serial == 0) {
    uint32_t now = secondsNow();
    if (now != serial_) {
      serial_ = now;
      emitApex();
    }
  }
  // Existence: a name exists while it has records or a child that exists
  // (empty non-terminals). A change ripples up only while it flips.
  for (size_t i = 0; i < queue_.size(); ++i) {
    NameRef n = queue_[i];
    NameEntry& e = n->second;
    e.queued = false;
    const bool should = !e.contribs.empty() || e.children > 0;
    if (should == e.exists) continue;
    e.exists = should;
    std::string_view key = n->first;
    if (key.size() <= st_.apex.size()) continue;
    NameRef parent = entry(std::string(key.substr(1 + static_cast<uint8_t>(key[0]))));
    if (should) {
      ++parent->second.children;
    } else {
      --parent->second.children;
    }
    touch(parent);
  }
  queue_.clear();

  std::vector<TableChange> changes;
  std::vector<std::pair<uint32_t, const Node*>> slotChanges;
  std::vector<NameRef> dead;
  for (NameRef n : touched_) {
    NameEntry& e = n->second;
    e.touched = false;
    if (e.exists && (e.contentDirty || !e.node)) {
      std::shared_ptr<const Node> node = buildNode(n);
      // A source replaced by the same records (the other tasks of a changed
      // app) leaves its names as they were: the index and slots are not
      // touched for them.
      if (e.node && sameRecords(*e.node, *node)) {
        e.contentDirty = false;
        continue;
      }
      if (e.node) {
        recordCount_ -= e.node->records();
      } else {
        ++nameCount_;
      }
      recordCount_ += node->records();
      e.node = node;
      slotChanges.emplace_back(e.slot, node.get());
      changes.push_back({Zone::hashKey(n->first), n->first, std::move(node)});
    } else if (!e.exists && e.node) {
      recordCount_ -= e.node->records();
      --nameCount_;
      e.node.reset();
      slotChanges.emplace_back(e.slot, nullptr);
      changes.push_back({Zone::hashKey(n->first), n->first, nullptr});
    }
    e.contentDirty = false;
    if (!e.exists && e.contribs.empty() && e.children == 0 && e.targetRefs == 0) {
      dead.push_back(n);
    }
  }
  touched_.clear();

  // The index: shards copied only where a name changed; all of them
  // re-split when names outgrow them (amortised like a vector's growth).
  // About 128 names a shard: copying one is a few microseconds, and the
  // top-level copy stays small (8k shard pointers at 100k tasks).
  if (nameCount_ > (size_t{512} << shardBits_)) {
    size_t bits = shardBits_;
    while ((size_t{128} << bits) < nameCount_ && bits < 20) ++bits;
    regrowShards(bits);
  } else {
    applyShardChanges(changes);
  }
  for (NameRef n : dead) {
    freeSlots_.push_back(n->second.slot);
    names_.erase(names_.find(n->first));
  }
  const size_t chunks = (nextSlot_ + Zone::kSlotChunk - 1) / Zone::kSlotChunk;
  while (slots_.size() < chunks) slots_.push_back(std::make_shared<Zone::SlotChunk>());
  std::sort(slotChanges.begin(), slotChanges.end());
  for (size_t i = 0; i < slotChanges.size();) {
    const size_t chunk = slotChanges[i].first / Zone::kSlotChunk;
    auto copy = std::make_shared<Zone::SlotChunk>(*slots_[chunk]);
    for (; i < slotChanges.size() && slotChanges[i].first / Zone::kSlotChunk == chunk; ++i) {
      copy->nodes[slotChanges[i].first % Zone::kSlotChunk] = slotChanges[i].second;
    }
    slots_[chunk] = std::move(copy);
  }

  auto z = std::make_shared<Zone>();
  z->shards_ = shards_;
  z->shardShift_ = 64 - shardBits_;
  z->slots_ = slots_;
  z->slotCount_ = slots_.size() * Zone::kSlotChunk;
  z->apex_ = st_.apex;
  z->domain_ = st_.domain;
  z->framework_ = st_.framework;
  z->ttl_ = st_.ttl;
  z->negativeTtl_ = st_.negativeTtl;
  z->serial_ = serial_;
  z->negativeSoa_.type = kTypeSoa;
  z->negativeSoa_.offsets.push_back(0);
  appendBody(z->negativeSoa_.bodies, kTypeSoa, st_.negativeTtl, soaRdata_);
  z->negativeSoa_.offsets.push_back(static_cast<uint32_t>(z->negativeSoa_.bodies.size()));
  z->stats_.names = nameCount_;
  z->stats_.records = recordCount_;
  z->stats_.tasks = totals_.tasks;
  z->stats_.skippedTasks = totals_.skipped;
  z->stats_.rejectedItems = totals_.rejected;
  return z;
}

namespace {

Result<Settings> checkSettings(const ZoneInput& in) {
  Settings st;
  const ZoneOptions& opt = in.options;
  st.rfc952 = opt.enforceRfc952;
  st.ttl = opt.ttl;
  st.onlyHealthy = opt.onlyHealthy;
  st.soa = opt.soa;
  st.nameServerIps = opt.nameServerIps;
  st.domain = lowerAscii(in.domain);
  while (!st.domain.empty() && st.domain.back() == '.') st.domain.pop_back();
  if (st.domain.empty() || !encodeName(st.domain, st.apex)) {
    return makeError(ErrorKind::kInvalid, "invalid DNS domain '" + in.domain + "'", "/domain");
  }
  st.framework = sanitizeDomainFragment(in.framework, st.rfc952);
  if (st.framework.empty()) {
    return makeError(ErrorKind::kInvalid,
                     "framework name '" + in.framework + "' has no valid DNS label", "/framework");
  }
  std::string scratch;
  if (!encodeName(st.framework + "." + st.domain, scratch)) {
    return makeError(ErrorKind::kInvalid,
                     "framework name '" + in.framework + "' makes too long a DNS name",
                     "/framework");
  }
  st.mname = opt.soa.mname.empty() ? "ns1." + st.domain : lowerAscii(opt.soa.mname);
  st.rname = opt.soa.rname.empty() ? "root.ns1." + st.domain : lowerAscii(opt.soa.rname);
  std::replace(st.rname.begin(), st.rname.end(), '@', '.');
  if (!encodeName(st.mname, st.mnameWire) || !encodeName(st.rname, st.rnameWire)) {
    return makeError(ErrorKind::kInvalid, "invalid SOA mname or rname", "/options/soa");
  }
  st.negativeTtl = std::min(st.ttl, opt.soa.minimum);
  return st;
}

std::string appSource(std::string_view appId) {
  std::string key(1, kAppSourcePrefix);
  key += appId;
  return key;
}

}  // namespace

Result<std::unique_ptr<ZoneAssembler>> ZoneAssembler::create(const ZoneInput& settings) {
  auto st = checkSettings(settings);
  if (!st.ok()) return st.error();
  return std::unique_ptr<ZoneAssembler>(new ZoneAssembler(std::make_unique<Impl>(std::move(*st))));
}

ZoneAssembler::ZoneAssembler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ZoneAssembler::~ZoneAssembler() = default;

void ZoneAssembler::setLeadership(const ZoneInput& in) { impl_->setLeadership(in); }
std::vector<std::string> ZoneAssembler::setAgents(const std::vector<AgentInfo>& agents) {
  return impl_->setAgents(agents);
}
void ZoneAssembler::setApp(const AppInfo& app) { impl_->setApp(appSource(app.appId), app); }
void ZoneAssembler::removeApp(std::string_view appId) { impl_->removeSource(appSource(appId)); }
std::shared_ptr<const Zone> ZoneAssembler::publish() { return impl_->publish(); }

const Node& Zone::emptyNode() {
  static const Node empty;
  return empty;
}

bool Zone::contains(std::span<const uint8_t> name) const {
  return insideApex({reinterpret_cast<const char*>(name.data()), name.size()}, apex_);
}

std::vector<std::string> Zone::hostAddresses(std::string_view name) const {
  std::vector<std::string> out;
  std::string key;
  if (!encodeName(lowerAscii(name), key)) return out;
  const Node* node = find(key);
  if (node == nullptr) return out;
  for (uint16_t type : {kTypeA, kTypeAaaa}) {
    const RrSet* set = node->find(type);
    if (set == nullptr) continue;
    for (size_t i = 0; i < set->size(); ++i) {
      char buf[INET6_ADDRSTRLEN];
      auto rd = set->rdata(i);
      if (inet_ntop(type == kTypeA ? AF_INET : AF_INET6, rd.data(), buf, sizeof buf)) {
        out.emplace_back(buf);
      }
    }
  }
  return out;
}

std::vector<Zone::ServiceEntry> Zone::services(std::string_view name) const {
  std::vector<ServiceEntry> out;
  std::string key;
  if (!encodeName(lowerAscii(name), key)) return out;
  const Node* node = find(key);
  const RrSet* set = node ? node->find(kTypeSrv) : nullptr;
  if (set == nullptr) return out;
  for (size_t i = 0; i < set->size(); ++i) {
    auto rd = set->rdata(i);
    ServiceEntry e;
    e.service = nameToText({reinterpret_cast<const uint8_t*>(key.data()), key.size()});
    e.port = static_cast<uint16_t>((rd[4] << 8) | rd[5]);
    e.host = nameToText(rd.subspan(6));
    if (set->targets[i] >= 0) {
      auto ips = hostAddresses(e.host);
      if (!ips.empty()) e.ip = ips.front();
    }
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::shared_ptr<const Zone>> buildZone(const ZoneInput& input) {
  auto st = checkSettings(input);
  if (!st.ok()) return st.error();
  ZoneAssembler::Impl impl(std::move(*st));
  impl.setLeadership(input);
  impl.setAgents(input.agents);
  // Apps keep their input order (source keys sort like the indexes).
  for (size_t i = 0; i < input.apps.size(); ++i) {
    impl.setApp(fmt::format("{}{:010}", kAppSourcePrefix, i), input.apps[i]);
  }
  return impl.publish();
}

}  // namespace corral::dns
