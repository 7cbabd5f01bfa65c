// The master's durable state as a key-value store. Keys are '/'-separated
// paths ("/apps/shop/web", "/tasks/<id>") so that a ZooKeeper-backed store can
// map each key to a znode; values are JSON documents.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/result.h"

namespace corral::state {

// One change in a batch: a put when value is set, a delete when it is nullopt.
// (A JSON null value is a put of null, not a delete.)
struct Mutation {
  std::string key;
  std::optional<Json> value;

  static Mutation put(std::string key, Json value) { return {std::move(key), std::move(value)}; }
  static Mutation del(std::string key) { return {std::move(key), std::nullopt}; }
};

using StateMap = std::map<std::string, Json>;

class StateStore {
 public:
  virtual ~StateStore() = default;

  // Loads everything (called once at startup); returns key -> value.
  virtual Result<StateMap> recover() = 0;

  // Durably applies a batch of puts/deletes atomically: when it returns OK the
  // whole batch survives a crash; when it returns an error none of it is applied.
  // Later mutations in a batch win over earlier ones on the same key. Deleting
  // an absent key is not an error.
  virtual Status commit(const std::vector<Mutation>& batch) = 0;

  // Group commit: applies several batches in order, as one durable unit (a
  // store may use one sync for all of them): all of them or none. The default
  // commits their concatenation as one batch (later mutations win, so the
  // order of the batches is kept).
  virtual Status commitMany(const std::vector<std::vector<Mutation>>& batches) {
    std::vector<Mutation> all;
    for (const auto& batch : batches) all.insert(all.end(), batch.begin(), batch.end());
    return commit(all);
  }
};

// A key is '/' followed by one or more non-empty segments separated by '/',
// without "." or ".." segments, a trailing '/', NUL or control characters.
// The error (kind invalid) names the key and what is wrong with it.
Status validateKey(std::string_view key);

// Validates every key of a batch; the error's path is "/<index>".
Status validateBatch(const std::vector<Mutation>& batch);

// Applies a (validated) batch to a map.
void applyBatch(StateMap& state, const std::vector<Mutation>& batch);

}  // namespace corral::state
