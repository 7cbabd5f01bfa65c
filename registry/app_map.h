// AppMap: the apps of a catalog snapshot, by id, in id order, as a map whose
// copies share their storage.
//
// Every registry snapshot holds the whole catalog, and the next snapshot is
// the last one plus a few changed apps. With a std::map that meant copying
// (and later freeing) one node per app on every change: at 10,000 apps that
// copy and free were most of an event's cost. Here the entries live in
// sorted chunks of at most kMaxChunk apps behind shared pointers: copying a
// map shares everything, and changing one app copies its chunk and the small
// table of chunk pointers (n / kMinChunk pointers at worst), never the apps.
// A shared chunk or table is never written: a write copies it first (copy on
// write), so a snapshot read on other threads never changes under them.
//
// The interface is the part of std::map the registry's consumers use: find,
// count, at, ordered iteration with `->first` / `->second`, size, plus
// operator[], insert_or_assign and erase for whoever builds a snapshot.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corral::registry {

struct App;

class AppMap {
 public:
  using Entry = std::pair<std::string, std::shared_ptr<const App>>;
  // A chunk splits in two above kMaxChunk entries; neighbours below
  // kMinChunk are merged, so the chunk table stays about n / kMinChunk long.
  static constexpr size_t kMaxChunk = 128;
  static constexpr size_t kMinChunk = 32;

  class const_iterator {
   public:
    using value_type = Entry;
    using reference = const Entry&;
    using pointer = const Entry*;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::forward_iterator_tag;

    const_iterator() = default;
    reference operator*() const;
    pointer operator->() const { return &**this; }
    const_iterator& operator++();
    const_iterator operator++(int) {
      const_iterator before = *this;
      ++*this;
      return before;
    }
    bool operator==(const const_iterator& o) const { return chunk_ == o.chunk_ && pos_ == o.pos_; }

   private:
    friend class AppMap;
    const_iterator(const AppMap* map, size_t chunk, size_t pos)
        : map_(map), chunk_(chunk), pos_(pos) {}
    const AppMap* map_ = nullptr;
    size_t chunk_ = 0;
    size_t pos_ = 0;
  };
  using iterator = const_iterator;

  AppMap() = default;

  size_t size() const { return root_ ? root_->size : 0; }
  bool empty() const { return size() == 0; }
  const_iterator begin() const { return {this, 0, 0}; }
  const_iterator end() const { return {this, chunkCount(), 0}; }

  const_iterator find(std::string_view id) const;
  size_t count(std::string_view id) const { return find(id) != end() ? 1 : 0; }
  // Throws std::out_of_range when absent, like std::map::at.
  const std::shared_ptr<const App>& at(std::string_view id) const;

  // Inserts a null entry when absent; the reference is valid until the next write.
  std::shared_ptr<const App>& operator[](std::string_view id);
  // True when inserted, false when an existing entry was replaced.
  bool insert_or_assign(std::string_view id, std::shared_ptr<const App> app);
  size_t erase(std::string_view id);

  // Number of chunks (tests and benchmarks: the sharing is observable).
  size_t chunkCount() const { return root_ ? root_->chunks.size() : 0; }
  // True when both maps use the same storage for chunk `i` (tests).
  bool sharesChunk(const AppMap& other, size_t i) const;

 private:
  struct Chunk {
    std::vector<Entry> entries;  // sorted by id, never empty in a map
  };
  struct Root {
    std::vector<std::shared_ptr<Chunk>> chunks;  // in id order
    size_t size = 0;
  };

  // The chunk that holds `id`, or would: the last one whose first id <= id.
  size_t chunkFor(std::string_view id) const;
  // Makes the root and chunk `i` this map's own (copies them if shared).
  Root& ownRoot();
  Chunk& ownChunk(size_t i);
  // Splits a chunk grown past kMaxChunk, merges one shrunk below kMinChunk.
  void rebalance(size_t i);

  std::shared_ptr<Root> root_;  // null: empty
};

}  // namespace corral::registry
