#include "dns/naming.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace corral::dns {
namespace {

// The character a raw byte becomes in a label, or 0 when it is dropped.
char mapChar(char c) {
  if (c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
  if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return c;
  if (c == '-' || c == '.' || c == '_') return '-';
  return 0;
}

inline uint32_t rotl(uint32_t v, int n) { return (v << n) | (v >> (32 - n)); }

}  // namespace

std::string sanitizeLabel(std::string_view raw, bool rfc952, size_t maxLength) {
  size_t limit = std::min(maxLength, rfc952 ? kRfc952MaxLabel : kRfc1123MaxLabel);
  std::string out;
  out.reserve(std::min(raw.size(), limit));
  for (char c : raw) {
    char m = mapChar(c);
    if (m == 0) continue;
    if (out.empty()) {
      if (m == '-') continue;
      if (rfc952 && m >= '0' && m <= '9') continue;
    }
    out.push_back(m);
    if (out.size() == limit) break;
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

std::string sanitizeDomainFragment(std::string_view raw, bool rfc952) {
  std::string out;
  while (true) {
    size_t dot = raw.find('.');
    std::string label = sanitizeLabel(raw.substr(0, dot), rfc952);
    if (!label.empty()) {
      if (!out.empty()) out.push_back('.');
      out += label;
    }
    if (dot == std::string_view::npos) break;
    raw.remove_prefix(dot + 1);
  }
  return out;
}

std::string appLabel(std::string_view appId, bool rfc952, size_t maxLength) {
  std::vector<std::string_view> parts;
  while (!appId.empty()) {
    size_t slash = appId.find('/');
    std::string_view part = appId.substr(0, slash);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string_view::npos) break;
    appId.remove_prefix(slash + 1);
  }
  std::string joined;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (!joined.empty()) joined.push_back('.');
    joined.append(*it);
  }
  return sanitizeLabel(joined, rfc952, maxLength);
}

std::string sha1(std::string_view data) {
  std::array<uint32_t, 5> h = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
  // Message plus padding: 0x80, zeros, then the 64-bit big-endian bit length.
  std::vector<uint8_t> msg(data.begin(), data.end());
  uint64_t bits = static_cast<uint64_t>(data.size()) * 8;
  msg.push_back(0x80);
  while (msg.size() % 64 != 56) msg.push_back(0);
  for (int i = 7; i >= 0; --i) msg.push_back(static_cast<uint8_t>(bits >> (i * 8)));

  std::array<uint32_t, 80> w{};
  for (size_t block = 0; block < msg.size(); block += 64) {
    for (int t = 0; t < 16; ++t) {
      const uint8_t* p = msg.data() + block + t * 4;
      w[t] = (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
             (static_cast<uint32_t>(p[2]) << 8) | p[3];
    }
    for (int t = 16; t < 80; ++t) w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; ++t) {
      uint32_t f, k;
      if (t < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999u;
      } else if (t < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1u;
      } else if (t < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDCu;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6u;
      }
      uint32_t temp = rotl(a, 5) + f + e + k + w[t];
      e = d;
      d = c;
      c = rotl(b, 30);
      b = a;
      a = temp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  std::string out(20, '\0');
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 4; ++j) out[i * 4 + j] = static_cast<char>(h[i] >> (24 - 8 * j));
  }
  return out;
}

std::string zbase32(std::string_view data) {
  static constexpr char kAlphabet[] = "ybndrfg8ejkmcpqxot1uwisza345h769";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char ch : data) {
    buffer = (buffer << 8) | static_cast<uint8_t>(ch);
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 0x1F]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 0x1F]);
  return out;
}

std::string taskIdHash(std::string_view taskId) { return zbase32(sha1(taskId)).substr(0, 5); }

std::string agentIdTail(std::string_view agentId) {
  size_t dash = agentId.rfind('-');
  std::string_view tail = dash == std::string_view::npos ? agentId : agentId.substr(dash + 1);
  return sanitizeLabel(tail, false);
}

}  // namespace corral::dns
