// Mesos-DNS naming: how app ids, task ids, agent ids and framework names
// become DNS labels. Pure functions; see docs of Mesos-DNS "Service Naming".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace corral::dns {

inline constexpr size_t kRfc1123MaxLabel = 63;
inline constexpr size_t kRfc952MaxLabel = 24;

// One label per RFC 1123 (or RFC 952 when `rfc952`): lower-cased; '.', '_'
// and '-' become '-'; every other character is dropped; leading '-' (and
// for RFC 952 leading digits, so it starts with a letter) are trimmed; cut
// to `maxLength` octets (capped at 63, or 24 for RFC 952); trailing '-'
// trimmed. May return "" when nothing valid is left.
std::string sanitizeLabel(std::string_view raw, bool rfc952, size_t maxLength = kRfc1123MaxLabel);

// A dotted name (e.g. a framework name) sanitised label by label; empty
// labels are dropped.
std::string sanitizeDomainFragment(std::string_view raw, bool rfc952);

// The label of a Marathon app: its id path segments reversed and joined
// with '-' ("/shop/web" -> "web-shop"), sanitised. Marathon names the Mesos
// task "web.shop"; Mesos-DNS then turns the dot into '-'.
std::string appLabel(std::string_view appId, bool rfc952, size_t maxLength = kRfc1123MaxLabel);

// The 5-character per-task discriminator Mesos-DNS uses in canonical task
// names: z-base-32 of the SHA-1 of the task id, first 5 characters.
std::string taskIdHash(std::string_view taskId);

// The last '-'-separated part of a Mesos agent id, lower-cased and
// sanitised ("...-S3" -> "s3").
std::string agentIdTail(std::string_view agentId);

// SHA-1 (FIPS 180-4), 20 bytes. Exposed for tests.
std::string sha1(std::string_view data);

// z-base-32 encoding of bytes (most significant bit first).
std::string zbase32(std::string_view data);

}  // namespace corral::dns
