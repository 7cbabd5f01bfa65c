#include "dns/metrics.h"

#include <fmt/format.h>

#include "dns/wire.h"

namespace corral::dns {

std::string typeName(uint16_t qtype) {
  switch (qtype) {
    case kTypeA:
      return "A";
    case kTypeNs:
      return "NS";
    case kTypeCname:
      return "CNAME";
    case kTypeSoa:
      return "SOA";
    case kTypePtr:
      return "PTR";
    case kTypeHinfo:
      return "HINFO";
    case kTypeMx:
      return "MX";
    case kTypeTxt:
      return "TXT";
    case kTypeAaaa:
      return "AAAA";
    case kTypeSrv:
      return "SRV";
    case kTypeOpt:
      return "OPT";
    case kTypeIxfr:
      return "IXFR";
    case kTypeAxfr:
      return "AXFR";
    case kTypeAny:
      return "ANY";
    default:
      return fmt::format("TYPE{}", qtype);
  }
}

std::string rcodeName(uint16_t rcode) {
  switch (rcode) {
    case kRcodeNoError:
      return "NOERROR";
    case kRcodeFormErr:
      return "FORMERR";
    case kRcodeServFail:
      return "SERVFAIL";
    case kRcodeNxDomain:
      return "NXDOMAIN";
    case kRcodeNotImp:
      return "NOTIMP";
    case kRcodeRefused:
      return "REFUSED";
    case kRcodeBadVers:
      return "BADVERS";
    default:
      return fmt::format("RCODE{}", rcode);
  }
}

void DnsMetrics::countQuery(uint16_t qtype, uint16_t rcode, bool tcp) {
  byType_[qtype < kTypeSlots - 1 ? qtype : kTypeSlots - 1].fetch_add(1, std::memory_order_relaxed);
  byRcode_[rcode < kRcodeSlots - 1 ? rcode : kRcodeSlots - 1].fetch_add(1,
                                                                        std::memory_order_relaxed);
  (tcp ? tcp_ : udp_).fetch_add(1, std::memory_order_relaxed);
}

uint64_t DnsMetrics::queries(uint16_t qtype) const {
  return byType_[qtype < kTypeSlots - 1 ? qtype : kTypeSlots - 1].load(std::memory_order_relaxed);
}

uint64_t DnsMetrics::responses(uint16_t rcode) const {
  return byRcode_[rcode < kRcodeSlots - 1 ? rcode : kRcodeSlots - 1].load(
      std::memory_order_relaxed);
}

void DnsMetrics::mergeFrom(const DnsMetrics& other) {
  auto add = [](std::atomic<uint64_t>& to, const std::atomic<uint64_t>& from) {
    to.fetch_add(from.load(std::memory_order_relaxed), std::memory_order_relaxed);
  };
  for (size_t i = 0; i < kTypeSlots; ++i) add(byType_[i], other.byType_[i]);
  for (size_t i = 0; i < kRcodeSlots; ++i) add(byRcode_[i], other.byRcode_[i]);
  add(udp_, other.udp_);
  add(tcp_, other.tcp_);
  add(dropped_, other.dropped_);
  add(truncated_, other.truncated_);
  add(forwarded_, other.forwarded_);
  add(forwardFailed_, other.forwardFailed_);
  add(zonesApplied_, other.zonesApplied_);
  add(tcpConnections_, other.tcpConnections_);
  add(tcpRejected_, other.tcpRejected_);
  for (size_t i = 0; i < kRrlCategories; ++i) {
    add(rrlDropped_[i], other.rrlDropped_[i]);
    add(rrlSlipped_[i], other.rrlSlipped_[i]);
  }
}

std::string DnsMetrics::prometheusText() const {
  std::string out;
  auto load = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  out += "# HELP corral_dns_queries_total DNS queries answered, by query type.\n";
  out += "# TYPE corral_dns_queries_total counter\n";
  for (size_t t = 0; t < kTypeSlots; ++t) {
    uint64_t v = load(byType_[t]);
    if (v == 0) continue;
    std::string name = t == kTypeSlots - 1 ? "other" : typeName(static_cast<uint16_t>(t));
    out += fmt::format("corral_dns_queries_total{{type=\"{}\"}} {}\n", name, v);
  }
  out += "# HELP corral_dns_responses_total DNS responses sent, by rcode.\n";
  out += "# TYPE corral_dns_responses_total counter\n";
  for (size_t r = 0; r < kRcodeSlots; ++r) {
    uint64_t v = load(byRcode_[r]);
    if (v == 0) continue;
    std::string name = r == kRcodeSlots - 1 ? "other" : rcodeName(static_cast<uint16_t>(r));
    out += fmt::format("corral_dns_responses_total{{rcode=\"{}\"}} {}\n", name, v);
  }
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n{} {}\n", name, help, name, name, v);
  };
  out += "# HELP corral_dns_transport_queries_total DNS queries by transport.\n";
  out += "# TYPE corral_dns_transport_queries_total counter\n";
  out += fmt::format("corral_dns_transport_queries_total{{transport=\"udp\"}} {}\n", load(udp_));
  out += fmt::format("corral_dns_transport_queries_total{{transport=\"tcp\"}} {}\n", load(tcp_));
  counter("corral_dns_dropped_total", "Packets dropped without an answer.", load(dropped_));
  counter("corral_dns_truncated_total", "Responses sent with TC set.", load(truncated_));
  counter("corral_dns_forwarded_total", "Queries forwarded to upstream resolvers.",
          load(forwarded_));
  counter("corral_dns_forward_failures_total", "Forwarded queries answered SERVFAIL.",
          load(forwardFailed_));
  counter("corral_dns_zone_updates_applied_total", "Zones applied by worker loops.",
          load(zonesApplied_));
  counter("corral_dns_tcp_connections_total", "TCP connections accepted.", load(tcpConnections_));
  counter("corral_dns_tcp_rejected_total", "TCP connections closed at the connection limit.",
          load(tcpRejected_));
  auto byCategory = [&](const char* name, const char* help,
                        const std::array<std::atomic<uint64_t>, kRrlCategories>& slots) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name, help, name);
    for (size_t i = 0; i < kRrlCategories; ++i) {
      out += fmt::format("{}{{category=\"{}\"}} {}\n", name, toString(static_cast<RrlCategory>(i)),
                         load(slots[i]));
    }
  };
  byCategory("corral_dns_rrl_dropped_total",
             "Answers dropped by response rate limiting, by kind of answer.", rrlDropped_);
  byCategory("corral_dns_rrl_slipped_total",
             "Answers sent truncated (TC, empty) by response rate limiting, by kind of answer.",
             rrlSlipped_);
  return out;
}

}  // namespace corral::dns
