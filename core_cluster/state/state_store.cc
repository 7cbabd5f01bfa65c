#include "core_cluster/state/state_store.h"

#include <fmt/core.h>

namespace corral::state {

Status validateKey(std::string_view key) {
  auto bad = [&](std::string_view why) {
    return makeError(ErrorKind::kInvalid, fmt::format("invalid state key \"{}\": {}", key, why),
                     std::string(key));
  };
  if (key.empty() || key.front() != '/') return bad("must start with '/'");
  if (key.size() == 1) return bad("the root '/' is not a key");
  if (key.back() == '/') return bad("must not end with '/'");
  size_t start = 1;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    std::string_view segment = key.substr(start, end - start);
    if (segment.empty()) return bad("empty path segment");
    if (segment == "." || segment == "..") return bad("'.' and '..' segments are not allowed");
    for (char c : segment) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return bad("control character");
    }
    start = end + 1;
  }
  return Status::Ok();
}

Status validateBatch(const std::vector<Mutation>& batch) {
  for (size_t i = 0; i < batch.size(); ++i) {
    if (Status s = validateKey(batch[i].key); !s.ok()) {
      Error e = s.error();
      e.path = fmt::format("/{}", i);
      return e;
    }
  }
  return Status::Ok();
}

void applyBatch(StateMap& state, const std::vector<Mutation>& batch) {
  for (const auto& m : batch) {
    if (m.value) {
      state.insert_or_assign(m.key, *m.value);
    } else {
      state.erase(m.key);
    }
  }
}

}  // namespace corral::state
