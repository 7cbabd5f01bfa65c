#include "registry/app_map.h"

#include <algorithm>
#include <stdexcept>

namespace corral::registry {

namespace {

bool entryBefore(const AppMap::Entry& e, std::string_view id) { return e.first < id; }

}  // namespace

AppMap::const_iterator::reference AppMap::const_iterator::operator*() const {
  return map_->root_->chunks[chunk_]->entries[pos_];
}

AppMap::const_iterator& AppMap::const_iterator::operator++() {
  if (++pos_ == map_->root_->chunks[chunk_]->entries.size()) {
    ++chunk_;
    pos_ = 0;
  }
  return *this;
}

size_t AppMap::chunkFor(std::string_view id) const {
  const auto& chunks = root_->chunks;
  // First chunk whose first id is greater than id, then one back.
  auto it = std::upper_bound(chunks.begin(), chunks.end(), id,
                             [](std::string_view key, const std::shared_ptr<Chunk>& c) {
                               return key < c->entries.front().first;
                             });
  return it == chunks.begin() ? 0 : static_cast<size_t>(it - chunks.begin()) - 1;
}

AppMap::const_iterator AppMap::find(std::string_view id) const {
  if (empty()) return end();
  const size_t c = chunkFor(id);
  const auto& entries = root_->chunks[c]->entries;
  auto it = std::lower_bound(entries.begin(), entries.end(), id, entryBefore);
  if (it == entries.end() || it->first != id) return end();
  return {this, c, static_cast<size_t>(it - entries.begin())};
}

const std::shared_ptr<const App>& AppMap::at(std::string_view id) const {
  auto it = find(id);
  if (it == end()) throw std::out_of_range("AppMap::at: no app " + std::string(id));
  return it->second;
}

bool AppMap::sharesChunk(const AppMap& other, size_t i) const {
  return i < chunkCount() && i < other.chunkCount() && root_->chunks[i] == other.root_->chunks[i];
}

AppMap::Root& AppMap::ownRoot() {
  if (!root_) {
    root_ = std::make_shared<Root>();
  } else if (root_.use_count() > 1) {
    // Shared with another map (an older snapshot): copy the chunk pointers only.
    root_ = std::make_shared<Root>(*root_);
  }
  return *root_;
}

AppMap::Chunk& AppMap::ownChunk(size_t i) {
  std::shared_ptr<Chunk>& c = ownRoot().chunks[i];
  if (c.use_count() > 1) c = std::make_shared<Chunk>(*c);
  return *c;
}

std::shared_ptr<const App>& AppMap::operator[](std::string_view id) {
  Root& root = ownRoot();
  if (root.chunks.empty()) {
    root.chunks.push_back(std::make_shared<Chunk>());
    root.chunks.back()->entries.emplace_back(std::string(id), nullptr);
    root.size = 1;
    return root.chunks.back()->entries.back().second;
  }
  size_t c = chunkFor(id);
  {
    const auto& entries = root.chunks[c]->entries;
    auto it = std::lower_bound(entries.begin(), entries.end(), id, entryBefore);
    if (it != entries.end() && it->first == id) {
      const size_t pos = static_cast<size_t>(it - entries.begin());
      return ownChunk(c).entries[pos].second;
    }
  }
  Chunk& chunk = ownChunk(c);
  auto it = std::lower_bound(chunk.entries.begin(), chunk.entries.end(), id, entryBefore);
  it = chunk.entries.emplace(it, std::string(id), nullptr);
  ++root.size;
  if (chunk.entries.size() <= kMaxChunk) return it->second;
  rebalance(c);
  // The split moved the entry: find it again (the chunks are ours now).
  c = chunkFor(id);
  auto& entries = root_->chunks[c]->entries;
  return std::lower_bound(entries.begin(), entries.end(), id, entryBefore)->second;
}

bool AppMap::insert_or_assign(std::string_view id, std::shared_ptr<const App> app) {
  const size_t before = size();
  (*this)[id] = std::move(app);
  return size() != before;
}

size_t AppMap::erase(std::string_view id) {
  auto found = find(id);
  if (found == end()) return 0;
  const size_t c = found.chunk_;
  const size_t pos = found.pos_;
  Chunk& chunk = ownChunk(c);
  chunk.entries.erase(chunk.entries.begin() + static_cast<std::ptrdiff_t>(pos));
  --root_->size;
  rebalance(c);
  return 1;
}

void AppMap::rebalance(size_t i) {
  auto& chunks = root_->chunks;
  Chunk& chunk = *chunks[i];
  if (chunk.entries.size() > kMaxChunk) {
    auto upper = std::make_shared<Chunk>();
    const auto half = chunk.entries.begin() + static_cast<std::ptrdiff_t>(chunk.entries.size() / 2);
    upper->entries.assign(std::make_move_iterator(half),
                          std::make_move_iterator(chunk.entries.end()));
    chunk.entries.erase(half, chunk.entries.end());
    chunks.insert(chunks.begin() + static_cast<std::ptrdiff_t>(i) + 1, std::move(upper));
    return;
  }
  if (chunk.entries.empty()) {
    chunks.erase(chunks.begin() + static_cast<std::ptrdiff_t>(i));
    if (chunks.empty()) root_.reset();
    return;
  }
  if (chunk.entries.size() >= kMinChunk || chunks.size() == 1) return;
  // Merge with the smaller neighbour when the two fit in one chunk.
  const bool withNext = i + 1 < chunks.size() &&
                        (i == 0 || chunks[i + 1]->entries.size() < chunks[i - 1]->entries.size());
  const size_t left = withNext ? i : i - 1;
  const size_t total = chunks[left]->entries.size() + chunks[left + 1]->entries.size();
  if (total > kMaxChunk) return;
  Chunk& into = ownChunk(left);
  std::shared_ptr<Chunk>& next = chunks[left + 1];
  if (next.use_count() == 1) {  // ours alone: its entries can move
    into.entries.insert(into.entries.end(), std::make_move_iterator(next->entries.begin()),
                        std::make_move_iterator(next->entries.end()));
  } else {
    into.entries.insert(into.entries.end(), next->entries.begin(), next->entries.end());
  }
  chunks.erase(chunks.begin() + static_cast<std::ptrdiff_t>(left) + 1);
}

}  // namespace corral::registry
