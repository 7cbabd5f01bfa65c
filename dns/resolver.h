// Answering: a pure function from (zone, query bytes) to response bytes.
// No sockets, no locks, no allocation on the steady-state path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dns/wire.h"
#include "dns/zone.h"

namespace corral::dns {

enum class Transport { kUdp, kTcp };

struct AnswerOptions {
  // Forwarding of other names is on: RA is set, and kNotOurs answers may be
  // forwarded by the caller.
  bool forwarding = false;
  // Our EDNS UDP payload size (advertised, and the cap over UDP). Values
  // below 512 are treated as 512.
  size_t maxUdpSize = kDefaultEdnsSize;
};

enum class Disposition {
  kRespond,  // send `size` bytes of `out`
  kDrop,     // send nothing (not a query, or not even a header)
  kNotOurs,  // the name is outside the zone; `out` holds a REFUSED response
             // the caller sends unless it forwards the query
};

struct AnswerResult {
  Disposition disposition = Disposition::kDrop;
  size_t size = 0;
  uint16_t qtype = 0;  // 0 when no question was read
  uint16_t rcode = 0;  // extended rcode (e.g. 16 for BADVERS)
  bool truncated = false;
  bool recursionDesired = false;
};

// Answers one query from `zone` into `out` (64 KiB is always enough; for
// UDP `maxUdpSize` bytes are). Implements: AA on authoritative answers, RD
// and CD copied, RA iff forwarding, question case echoed, name compression,
// SOA/NS at the apex, NXDOMAIN vs NODATA (empty non-terminals exist,
// RFC 8020), SOA in authority with min(TTL, SOA minimum) on negative answers
// (RFC 2308), EDNS(0) (RFC 6891: OPT echoed, BADVERS for version > 0, sizes
// below 512 read as 512, OPT counted in the size), TC only when the answer
// RRset does not fit, minimal ANY (RFC 8482), NOTIMP for other opcodes,
// FORMERR for malformed queries, A/AAAA of SRV targets in additional, and
// records rotated per response.
[[nodiscard]] AnswerResult answer(const Zone& zone, std::span<const uint8_t> query,
                                  Transport transport, const AnswerOptions& options,
                                  std::span<uint8_t> out);

// A response with no records and the given rcode to `query` (which parsed
// well enough to have a header): used for SERVFAIL when forwarding fails and
// for TC when a forwarded answer is too large for the client. Returns the
// size written, 0 when the query cannot be answered at all.
[[nodiscard]] size_t writeEmptyResponse(std::span<const uint8_t> query, uint16_t rcode,
                                        bool truncated, Transport transport,
                                        const AnswerOptions& options, std::span<uint8_t> out);

// The size a response to `query` may have over `transport` (512 unless the
// query has EDNS, then min(max(512, its size), ours)); 65535 over TCP.
size_t responseLimit(const Query& query, Transport transport, const AnswerOptions& options);

}  // namespace corral::dns
