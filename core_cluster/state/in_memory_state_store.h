// A StateStore that keeps everything in memory, for tests of other components.
// Same validation and atomicity as the durable stores; failures can be injected.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>

#include "core_cluster/state/state_store.h"

namespace corral::state {

class InMemoryStateStore : public StateStore {
 public:
  InMemoryStateStore() = default;
  explicit InMemoryStateStore(StateMap initial) : state_(std::move(initial)) {}

  Result<StateMap> recover() override;
  Status commit(const std::vector<Mutation>& batch) override;
  Status commitMany(const std::vector<std::vector<Mutation>>& batches) override;

  // The next commit/commitMany fails with this error and applies nothing.
  void failNextCommit(Error error);
  // A copy of the current contents.
  StateMap snapshot() const;
  // Number of successful commit/commitMany calls.
  uint64_t commitCount() const;

 private:
  mutable std::mutex mu_;
  StateMap state_;
  std::optional<Error> nextFailure_;
  uint64_t commits_ = 0;
};

}  // namespace corral::state
