#include "dns/resolver.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

namespace corral::dns {
namespace {

constexpr uint16_t kQuestionPointer = 0xC000 | kHeaderSize;

// Per-thread xorshift: cheap rotation of RRsets, never shared.
uint64_t nextRandom() {
  thread_local uint64_t state = [] {
    uint64_t seed =
        static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    seed ^= std::hash<std::thread::id>{}(std::this_thread::get_id()) * 0x9E3779B97F4A7C15ull;
    return seed == 0 ? 0x2545F4914F6CDD1Dull : seed;
  }();
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

// Length of the uncompressed name at the start of `wire` (which is valid).
size_t nameLength(std::span<const uint8_t> wire) {
  size_t pos = 0;
  while (pos < wire.size() && wire[pos] != 0) pos += 1 + wire[pos];
  return pos + 1;
}

class Responder {
 public:
  Responder(const Query& q, const AnswerOptions& options, size_t limit, std::span<uint8_t> out)
      : q_(q), options_(options), w_(out, limit) {}

  // Header, the question when there is one, and room kept for the OPT.
  bool begin(uint16_t extraFlags, bool withQuestion, bool withOpt) {
    header_.id = q_.header.id;
    header_.flags = static_cast<uint16_t>(kFlagQr | (q_.header.flags & (0xF << 11)) |
                                          (q_.header.flags & (kFlagRd | kFlagCd)) | extraFlags);
    if (options_.forwarding) header_.flags |= kFlagRa;
    withOpt_ = withOpt;
    if (!w_.writeHeader(header_)) return false;
    if (withQuestion && q_.hasQuestion) {
      if (!w_.writeName(q_.qname.view(), false, true) || !w_.writeU16(q_.qtype) ||
          !w_.writeU16(q_.qclass)) {
        return false;
      }
      header_.qdcount = 1;
      questionWritten_ = true;
    }
    afterQuestion_ = w_.mark();
    if (withOpt_) w_.setLimit(w_.limit() - kOptRecordSize);
    return true;
  }

  void setRcode(uint16_t rcode) {
    rcode_ = rcode;
    header_.flags = static_cast<uint16_t>((header_.flags & ~0xF) | (rcode & 0xF));
  }

  // Writes one record whose owner is the question name (or `owner` when not
  // empty) from a prepared body; names inside NS and SOA RDATA compressed.
  bool writeRecord(std::span<const uint8_t> owner, std::span<const uint8_t> body) {
    MessageWriter::Mark m = w_.mark();
    bool ok = owner.empty() ? w_.writeU16(kQuestionPointer) : w_.writeName(owner);
    if (!ok) return false;
    uint16_t type = static_cast<uint16_t>((body[0] << 8) | body[1]);
    if (type != kTypeSoa && type != kTypeNs) {
      lastRdataOffset_ = w_.size() + 10;
      if (w_.writeBytes(body)) return true;
      w_.rollback(m);
      return false;
    }
    // type, class, ttl; RDLENGTH patched after the compressed names.
    ok = w_.writeBytes(body.subspan(0, 8));
    size_t rdlenAt = w_.size();
    ok = ok && w_.writeU16(0);
    std::span<const uint8_t> rdata = body.subspan(10);
    size_t first = nameLength(rdata);
    ok = ok && w_.writeName(rdata.subspan(0, first));
    if (ok && type == kTypeSoa) {
      size_t second = nameLength(rdata.subspan(first));
      ok = w_.writeName(rdata.subspan(first, second)) &&
           w_.writeBytes(rdata.subspan(first + second));
    }
    if (!ok) {
      w_.rollback(m);
      return false;
    }
    w_.patchU16(rdlenAt, static_cast<uint16_t>(w_.size() - rdlenAt - 2));
    return true;
  }

  // TC: no partial RRsets, nothing after the question.
  void truncate() {
    w_.rollback(afterQuestion_);
    header_.ancount = header_.nscount = header_.arcount = 0;
    header_.flags |= kFlagTc;
    truncated_ = true;
  }

  AnswerResult finish(Disposition disposition) {
    if (withOpt_) {
      w_.setLimit(w_.limit() + kOptRecordSize);
      uint8_t ext = static_cast<uint8_t>(rcode_ >> 4);
      uint32_t ttl = (static_cast<uint32_t>(ext) << 24) | (q_.edns.dnssecOk ? 0x8000u : 0u);
      uint16_t size = static_cast<uint16_t>(std::max<size_t>(options_.maxUdpSize, kMinUdpSize));
      // Room was kept, so this cannot fail.
      if (w_.writeU8(0) && w_.writeU16(kTypeOpt) && w_.writeU16(size) && w_.writeU32(ttl) &&
          w_.writeU16(0)) {
        ++header_.arcount;
      }
    }
    w_.patchHeader(header_);
    AnswerResult r;
    r.disposition = disposition;
    r.size = w_.size();
    r.qtype = q_.hasQuestion ? q_.qtype : 0;
    r.rcode = rcode_;
    r.truncated = truncated_;
    r.recursionDesired = q_.header.has(kFlagRd);
    return r;
  }

  AnswerResult error(uint16_t rcode, bool withQuestion, bool withOpt) {
    if (!begin(0, withQuestion, withOpt)) return {};
    setRcode(rcode);
    return finish(Disposition::kRespond);
  }

  MessageWriter& writer() { return w_; }
  Header& header() { return header_; }
  size_t lastRdataOffset() const { return lastRdataOffset_; }

 private:
  const Query& q_;
  const AnswerOptions& options_;
  MessageWriter w_;
  Header header_;
  MessageWriter::Mark afterQuestion_{0, 0};
  bool withOpt_ = false;
  bool questionWritten_ = false;
  bool truncated_ = false;
  uint16_t rcode_ = 0;
  size_t lastRdataOffset_ = 0;
};

// Additional-section bookkeeping: which targets are already in, without
// allocating per query (a per-thread stamp per zone node).
class TargetSet {
 public:
  explicit TargetSet(size_t nodes) {
    if (stamps().size() < nodes) stamps().resize(nodes, 0);
    if (++generation() == 0) {
      std::fill(stamps().begin(), stamps().end(), 0);
      generation() = 1;
    }
  }
  // True the first time a node is seen in this response.
  bool insert(int32_t node) {
    uint32_t& s = stamps()[static_cast<size_t>(node)];
    if (s == generation()) return false;
    s = generation();
    return true;
  }

 private:
  static std::vector<uint32_t>& stamps() {
    thread_local std::vector<uint32_t> v;
    return v;
  }
  static uint32_t& generation() {
    thread_local uint32_t g = 0;
    return g;
  }
};

struct PendingTarget {
  int32_t node;
  size_t nameOffset;  // where the target name sits in the response
};

void addTargetAddresses(const Zone& zone, Responder& r, const PendingTarget& target, bool& stop) {
  const Node& node = zone.node(static_cast<size_t>(target.node));
  for (uint16_t type : {kTypeA, kTypeAaaa}) {
    const RrSet* set = node.find(type);
    if (set == nullptr) continue;
    for (size_t i = 0; i < set->size() && !stop; ++i) {
      MessageWriter& w = r.writer();
      MessageWriter::Mark m = w.mark();
      bool ok =
          target.nameOffset < 0x4000
              ? w.writeU16(static_cast<uint16_t>(0xC000 | target.nameOffset))
              : w.writeName({reinterpret_cast<const uint8_t*>(node.name.data()), node.name.size()});
      if (ok && w.writeBytes(set->body(i))) {
        ++r.header().arcount;
      } else {
        w.rollback(m);
        stop = true;  // additional data is optional: no TC
      }
    }
  }
}

}  // namespace

size_t responseLimit(const Query& q, Transport transport, const AnswerOptions& options) {
  if (transport == Transport::kTcp) return kMaxMessageSize;
  size_t ours = std::max<size_t>(options.maxUdpSize, kMinUdpSize);
  size_t client =
      q.edns.present && q.ednsValid ? std::max<size_t>(q.edns.udpSize, kMinUdpSize) : kMinUdpSize;
  return std::min(ours, client);
}

AnswerResult answer(const Zone& zone, std::span<const uint8_t> packet, Transport transport,
                    const AnswerOptions& options, std::span<uint8_t> out) {
  Query q;
  ParseStatus status = parseQuery(packet, q);
  if (status == ParseStatus::kTooShort || status == ParseStatus::kNotQuery) return {};
  const bool opt = q.edns.present && q.ednsValid;
  Responder r(q, options, responseLimit(q, transport, options), out);

  if (status == ParseStatus::kMalformed) return r.error(kRcodeFormErr, false, opt);
  if (status == ParseStatus::kBadOpcode) return r.error(kRcodeNotImp, true, opt);
  if (opt && q.edns.version > 0) return r.error(kRcodeBadVers, true, true);
  if (q.qtype == kTypeOpt) return r.error(kRcodeFormErr, true, opt);
  if (q.qclass != kClassIn && q.qclass != kClassAny) return r.error(kRcodeRefused, true, opt);
  if (!zone.contains(q.qnameLower.view())) {
    AnswerResult result = r.error(kRcodeRefused, true, opt);
    if (result.size > 0) result.disposition = Disposition::kNotOurs;
    return result;
  }
  if (q.qtype == kTypeAxfr || q.qtype == kTypeIxfr) return r.error(kRcodeRefused, true, opt);

  if (!r.begin(kFlagAa, true, opt)) return {};
  const Node* node = zone.find(q.qnameLower.asKey());
  const RrSet* set = nullptr;
  if (node != nullptr) {
    if (q.qtype == kTypeAny) {
      // RFC 8482: one RRset is a complete answer to ANY.
      if (!node->sets.empty()) set = &node->sets.front();
    } else {
      set = node->find(q.qtype);
    }
  }
  if (set == nullptr) {
    // NXDOMAIN or NODATA; either way the SOA goes in authority (RFC 2308).
    r.setRcode(node == nullptr ? kRcodeNxDomain : kRcodeNoError);
    if (r.writeRecord(zone.apexName(), zone.negativeSoaBody())) {
      r.header().nscount = 1;
    } else {
      r.truncate();
    }
    return r.finish(Disposition::kRespond);
  }

  // The answer RRset, rotated by a random start.
  thread_local std::vector<PendingTarget> targets;
  targets.clear();
  const size_t n = set->size();
  const size_t start = n > 1 ? nextRandom() % n : 0;
  const bool collectTargets = set->type == kTypeSrv;
  for (size_t k = 0; k < n; ++k) {
    size_t i = start + k < n ? start + k : start + k - n;
    if (!r.writeRecord({}, set->body(i))) {
      r.truncate();
      return r.finish(Disposition::kRespond);
    }
    ++r.header().ancount;
    if (collectTargets && set->targets[i] >= 0) {
      targets.push_back({set->targets[i], r.lastRdataOffset() + 6});
    }
  }

  // Additional: addresses of SRV targets, or of the name server for NS.
  if (set->type == kTypeNs) {
    auto rdata = set->rdata(0);
    const Node* ns = zone.find({reinterpret_cast<const char*>(rdata.data()), rdata.size()});
    if (ns != nullptr) {
      bool stop = false;
      for (uint16_t type : {kTypeA, kTypeAaaa}) {
        const RrSet* addr = ns->find(type);
        for (size_t i = 0; addr != nullptr && i < addr->size() && !stop; ++i) {
          if (r.writeRecord(rdata, addr->body(i))) {
            ++r.header().arcount;
          } else {
            stop = true;
          }
        }
      }
    }
  } else if (!targets.empty()) {
    TargetSet seen(zone.nodes().size());
    bool stop = false;
    for (const PendingTarget& t : targets) {
      if (stop) break;
      if (seen.insert(t.node)) addTargetAddresses(zone, r, t, stop);
    }
  }
  return r.finish(Disposition::kRespond);
}

size_t writeEmptyResponse(std::span<const uint8_t> query, uint16_t rcode, bool truncated,
                          Transport transport, const AnswerOptions& options,
                          std::span<uint8_t> out) {
  Query q;
  ParseStatus status = parseQuery(query, q);
  if (status != ParseStatus::kOk) return 0;
  const bool opt = q.edns.present && q.ednsValid;
  Responder r(q, options, responseLimit(q, transport, options), out);
  if (!r.begin(truncated ? kFlagTc : 0, true, opt)) return 0;
  r.setRcode(rcode);
  return r.finish(Disposition::kRespond).size;
}

}  // namespace corral::dns
