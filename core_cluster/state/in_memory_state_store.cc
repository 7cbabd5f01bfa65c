#include "core_cluster/state/in_memory_state_store.h"

namespace corral::state {

Result<StateMap> InMemoryStateStore::recover() {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

Status InMemoryStateStore::commit(const std::vector<Mutation>& batch) {
  return commitMany({batch});
}

Status InMemoryStateStore::commitMany(const std::vector<std::vector<Mutation>>& batches) {
  std::lock_guard<std::mutex> lock(mu_);
  if (nextFailure_) {
    Error e = std::move(*nextFailure_);
    nextFailure_.reset();
    return e;
  }
  for (const auto& batch : batches) {
    if (Status s = validateBatch(batch); !s.ok()) return s;
  }
  for (const auto& batch : batches) applyBatch(state_, batch);
  ++commits_;
  return Status::Ok();
}

void InMemoryStateStore::failNextCommit(Error error) {
  std::lock_guard<std::mutex> lock(mu_);
  nextFailure_ = std::move(error);
}

StateMap InMemoryStateStore::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

uint64_t InMemoryStateStore::commitCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return commits_;
}

}  // namespace corral::state
