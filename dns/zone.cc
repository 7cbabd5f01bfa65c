#include "dns/zone.h"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <unordered_set>

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

}  // namespace

class ZoneBuilder {
 public:
  explicit ZoneBuilder(const ZoneInput& in) : in_(in), zone_(std::make_shared<Zone>()) {}

  Result<std::shared_ptr<const Zone>> build() {
    const ZoneOptions& opt = in_.options;
    rfc952_ = opt.enforceRfc952;
    ttl_ = opt.ttl;
    domain_ = lowerAscii(in_.domain);
    while (!domain_.empty() && domain_.back() == '.') domain_.pop_back();
    if (domain_.empty() || !encodeName(domain_, zone_->apex_)) {
      return makeError("invalid DNS domain '" + in_.domain + "'", "/domain", 400);
    }
    framework_ = sanitizeDomainFragment(in_.framework, rfc952_);
    if (framework_.empty()) {
      return makeError("framework name '" + in_.framework + "' has no valid DNS label",
                       "/framework", 400);
    }
    if (!encodeName(framework_ + "." + domain_, scratch_)) {
      return makeError("framework name '" + in_.framework + "' makes too long a DNS name",
                       "/framework", 400);
    }
    zone_->domain_ = domain_;
    zone_->framework_ = framework_;
    zone_->ttl_ = ttl_;

    // Size the tables once: rehashing and regrowth were a fifth of the build.
    size_t names = 32 + in_.agents.size() * 4 + in_.apps.size() * 8;
    for (const AppInfo& app : in_.apps) names += app.tasks.size() * 6;
    keys_.reserve(names);
    nodes_.reserve(names);
    if (!addApex()) return makeError("invalid SOA mname or rname", "/options/soa", 400);
    addMasters();
    addFramework();
    addAgents();
    for (const AppInfo& app : in_.apps) addApp(app);
    finish();
    return std::shared_ptr<const Zone>(std::move(zone_));
  }

 private:
  using Index = std::unordered_map<std::string, uint32_t, Zone::KeyHash, std::equal_to<>>;
  struct Unresolved {
    uint32_t node;
    size_t set;
    size_t record;
    std::string target;
  };
  static constexpr size_t kLinearDedupe = 16;

  std::string fq(std::string_view relative) const {
    return relative.empty() ? domain_ : std::string(relative) + "." + domain_;
  }

  // Adds one record; `dotted` is a full, lower-case name. Returns false (and
  // counts it) when the name is not a valid DNS name inside the domain.
  bool add(std::string_view dotted, uint16_t type, std::string_view rdata,
           std::string_view target = {}) {
    if (!encodeName(dotted, key_) ||
        !zone_->contains({reinterpret_cast<const uint8_t*>(key_.data()), key_.size()})) {
      ++zone_->stats_.rejectedItems;
      log::debug("dns: left out record for invalid name '{}'", dotted);
      return false;
    }
    uint32_t index = nodeIndex(key_);
    Node& node = nodes_[index];
    size_t setIndex = 0;
    while (setIndex < node.sets.size() && node.sets[setIndex].type != type) ++setIndex;
    if (setIndex == node.sets.size()) {
      node.sets.emplace_back();
      node.sets.back().type = type;
      node.sets.back().offsets.push_back(0);
    }
    RrSet& set = node.sets[setIndex];
    // Duplicates are dropped, like Mesos-DNS does.
    if (set.size() < kLinearDedupe) {
      for (size_t i = 0; i < set.size(); ++i) {
        auto rd = set.rdata(i);
        if (rd.size() == rdata.size() && std::memcmp(rd.data(), rdata.data(), rd.size()) == 0) {
          return true;
        }
      }
    } else {
      auto& seen = bigSets_[(static_cast<uint64_t>(index) << 16) | type];
      if (seen.empty()) {
        for (size_t i = 0; i < set.size(); ++i) {
          auto rd = set.rdata(i);
          seen.emplace(reinterpret_cast<const char*>(rd.data()), rd.size());
        }
      }
      if (!seen.emplace(rdata).second) return true;
    }
    appendBody(set.bodies, type, ttl_, rdata);
    set.offsets.push_back(static_cast<uint32_t>(set.bodies.size()));
    if (type == kTypeSrv) {
      auto it = keys_.find(target);
      set.targets.push_back(it == keys_.end() ? -1 : static_cast<int32_t>(it->second));
      if (it == keys_.end()) {
        unresolved_.push_back({index, setIndex, set.size() - 1, std::string(target)});
      }
    }
    ++zone_->stats_.records;
    return true;
  }

  uint32_t nodeIndex(std::string_view key) {
    auto it = keys_.find(key);
    if (it != keys_.end()) return it->second;
    uint32_t index = static_cast<uint32_t>(nodes_.size());
    keys_.emplace(std::string(key), index);
    nodes_.emplace_back();
    nodes_.back().name.assign(key);
    return index;
  }

  bool addAddress(std::string_view dotted, std::string_view ip) {
    uint16_t type = 0;
    std::string rdata;
    if (!addressRdata(ip, type, rdata)) {
      ++zone_->stats_.rejectedItems;
      log::debug("dns: left out '{}': '{}' is not an IP address", dotted, ip);
      return false;
    }
    return add(dotted, type, std::move(rdata));
  }

  bool addSrv(std::string_view dotted, std::string_view target, uint16_t port) {
    std::string targetWire;
    if (!encodeName(target, targetWire)) {
      ++zone_->stats_.rejectedItems;
      return false;
    }
    std::string rdata;
    appendU16(rdata, 0);  // priority
    appendU16(rdata, 1);  // weight
    appendU16(rdata, port);
    rdata += targetWire;
    return add(dotted, kTypeSrv, std::move(rdata), targetWire);
  }

  bool addApex() {
    const SoaOptions& soa = in_.options.soa;
    std::string mname = soa.mname.empty() ? fq("ns1") : lowerAscii(soa.mname);
    std::string rname = soa.rname.empty() ? fq("root.ns1") : lowerAscii(soa.rname);
    std::replace(rname.begin(), rname.end(), '@', '.');
    std::string mwire, rwire;
    if (!encodeName(mname, mwire) || !encodeName(rname, rwire)) return false;
    uint32_t serial = soa.serial;
    if (serial == 0) {
      serial = static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
    }
    zone_->serial_ = serial;
    std::string rdata = mwire + rwire;
    appendU32(rdata, serial);
    appendU32(rdata, soa.refresh);
    appendU32(rdata, soa.retry);
    appendU32(rdata, soa.expire);
    appendU32(rdata, soa.minimum);
    zone_->negativeTtl_ = std::min(ttl_, soa.minimum);
    soaRdata_ = rdata;
    if (!add(domain_, kTypeSoa, std::move(rdata)) || !add(domain_, kTypeNs, mwire)) return false;
    for (const std::string& ip : in_.options.nameServerIps) addAddress(mname, ip);
    return true;
  }

  void addMasters() {
    bool leaderListed = false;
    size_t n = 0;
    for (const MasterInfo& m : in_.masters) {
      if (m.ip.empty()) continue;
      addAddress(fq("master"), m.ip);
      addAddress(fq("master" + std::to_string(n++)), m.ip);
      if (m.ip == in_.leaderIp) leaderListed = true;
    }
    if (in_.leaderIp.empty()) return;
    addAddress(fq("leader"), in_.leaderIp);
    addAddress(fq("master"), in_.leaderIp);
    if (!leaderListed) addAddress(fq("master" + std::to_string(n)), in_.leaderIp);
    addSrv(fq("_leader._tcp"), fq("leader"), in_.leaderPort);
    addSrv(fq("_leader._udp"), fq("leader"), in_.leaderPort);
  }

  void addFramework() {
    const std::string& ip = in_.frameworkIp.empty() ? in_.leaderIp : in_.frameworkIp;
    if (ip.empty()) return;
    std::string name = fq(framework_);
    addAddress(name, ip);
    if (in_.frameworkPort != 0)
      addSrv(fq("_framework._tcp." + framework_), name, in_.frameworkPort);
  }

  static std::string agentAddress(const AgentInfo& agent) {
    if (!agent.ip.empty()) return agent.ip;
    uint16_t type;
    std::string rdata;
    return addressRdata(agent.hostname, type, rdata) ? agent.hostname : std::string();
  }

  void addAgents() {
    for (const AgentInfo& agent : in_.agents) {
      if (!agent.id.empty()) agentsById_[agent.id] = &agent;
      if (!agent.hostname.empty()) agentsByHost_[agent.hostname] = &agent;
      std::string ip = agentAddress(agent);
      if (ip.empty()) continue;
      addAddress(fq("slave"), ip);
      addSrv(fq("_slave._tcp"), fq("slave"), agent.port);
    }
  }

  const AgentInfo* agentOf(const TaskInfo& task) const {
    if (!task.agentId.empty()) {
      auto it = agentsById_.find(task.agentId);
      if (it != agentsById_.end()) return it->second;
    }
    if (!task.agentHostname.empty()) {
      auto it = agentsByHost_.find(task.agentHostname);
      if (it != agentsByHost_.end()) return it->second;
    }
    return nullptr;
  }

  bool eligible(const AppInfo& app, const TaskInfo& task) const {
    if (!task.running) return false;
    if (app.hasHealthChecks && in_.options.onlyHealthy) return task.healthy.value_or(false);
    return true;
  }

  void addApp(const AppInfo& app) {
    const size_t limit = rfc952_ ? kRfc952MaxLabel : kRfc1123MaxLabel;
    std::string label = appLabel(app.appId, rfc952_);
    std::string service = "_" + appLabel(app.appId, rfc952_, limit - 1);
    if (label.empty() || service.size() == 1) {
      ++zone_->stats_.rejectedItems;
      log::warn("dns: app '{}' has no valid DNS label, left out", app.appId);
      return;
    }
    const std::string fw = framework_;
    size_t canonicalSuffixSize = 0;
    std::string canonicalApp;
    for (const TaskInfo& task : app.tasks) {
      if (!eligible(app, task)) {
        ++zone_->stats_.skippedTasks;
        continue;
      }
      const AgentInfo* agent = agentOf(task);
      std::string agentIp = agent ? agentAddress(*agent) : std::string();
      std::string agentId = agent && !agent->id.empty() ? agent->id : task.agentId;
      std::string tail = agentId.empty() ? std::string() : agentIdTail(agentId).substr(0, 20);
      std::string suffix = "-" + taskIdHash(task.taskId) + (tail.empty() ? "" : "-" + tail);
      if (suffix.size() != canonicalSuffixSize) {
        canonicalSuffixSize = suffix.size();
        canonicalApp = appLabel(app.appId, rfc952_, limit - suffix.size());
      }
      std::string canonical = canonicalApp + suffix;

      std::vector<std::string> ips;
      if (!task.ip.empty()) ips.push_back(task.ip);
      for (const std::string& ip : task.extraIps) {
        if (!ip.empty()) ips.push_back(ip);
      }
      if (ips.empty() && !agentIp.empty()) ips.push_back(agentIp);
      if (ips.empty()) {
        ++zone_->stats_.rejectedItems;
        log::debug("dns: task '{}' has no address, left out", task.taskId);
        continue;
      }
      ++zone_->stats_.tasks;

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
            port.name.empty() ? std::string() : sanitizeLabel(port.name, rfc952_, limit - 1);
        for (std::string_view proto : splitProtocols(port.protocol)) {
          if (proto != "tcp" && proto != "udp") {
            ++zone_->stats_.rejectedItems;
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

  // Empty non-terminals, late SRV targets, and the hand-over to the zone.
  void finish() {
    const std::string& apex = zone_->apex_;
    size_t count = nodes_.size();
    for (size_t i = 0; i < count; ++i) {
      std::string key = nodes_[i].name;
      std::string_view rest(key);
      while (rest.size() > apex.size()) {
        rest.remove_prefix(1 + static_cast<uint8_t>(rest[0]));
        // An ancestor already known has its own ancestors in place too.
        if (keys_.find(rest) != keys_.end()) break;
        nodeIndex(rest);
      }
    }
    for (const Unresolved& u : unresolved_) {
      auto it = keys_.find(u.target);
      if (it != keys_.end()) {
        nodes_[u.node].sets[u.set].targets[u.record] = static_cast<int32_t>(it->second);
      }
    }
    Zone& z = *zone_;
    z.apexIndex_ = keys_.at(apex);
    z.nodes_ = std::move(nodes_);
    z.index_ = std::move(keys_);
    z.stats_.names = z.nodes_.size();
    z.negativeSoa_.type = kTypeSoa;
    z.negativeSoa_.offsets.push_back(0);
    appendBody(z.negativeSoa_.bodies, kTypeSoa, z.negativeTtl_, soaRdata_);
    z.negativeSoa_.offsets.push_back(static_cast<uint32_t>(z.negativeSoa_.bodies.size()));
  }

  static void appendBody(std::vector<uint8_t>& out, uint16_t type, uint32_t ttl,
                         std::string_view rdata) {
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

  const ZoneInput& in_;
  std::shared_ptr<Zone> zone_;
  bool rfc952_ = false;
  uint32_t ttl_ = 5;
  std::string domain_;
  std::string framework_;
  std::string scratch_;
  std::string soaRdata_;
  std::string key_;  // scratch
  std::vector<Node> nodes_;
  Index keys_;
  std::unordered_map<uint64_t, std::unordered_set<std::string>> bigSets_;
  std::vector<Unresolved> unresolved_;
  std::unordered_map<std::string, const AgentInfo*> agentsById_;
  std::unordered_map<std::string, const AgentInfo*> agentsByHost_;
};

bool Zone::contains(std::span<const uint8_t> name) const {
  if (name.size() < apex_.size()) return false;
  size_t pos = 0;
  while (name.size() - pos > apex_.size()) {
    if (name[pos] == 0) return false;
    pos += 1 + name[pos];
  }
  return name.size() - pos == apex_.size() &&
         std::memcmp(name.data() + pos, apex_.data(), apex_.size()) == 0;
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
  return ZoneBuilder(input).build();
}

}  // namespace corral::dns
