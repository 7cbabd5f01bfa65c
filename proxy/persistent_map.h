// An immutable hash map whose updates share everything they do not touch:
// a hash array mapped trie (32 children per level, small leaf buckets).
// `set` and `erase` copy only the nodes on the path to the key, so a new
// version costs O(log32 n) nodes whatever the size of the map, and the old
// version stays valid for whoever still reads it (a worker in the middle of
// a request). Lookup is one hash and at most ~4 levels at a million keys.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace corral::proxy {

// Transparent hashes: a std::string key is found by a std::string_view.
struct StringKeyHash {
  uint64_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
};
struct IntKeyHash {
  uint64_t operator()(uint64_t key) const {  // splitmix64 finalizer: spreads small ints
    key += 0x9e3779b97f4a7c15ULL;
    key = (key ^ (key >> 30)) * 0xbf58476d1ce4e5b9ULL;
    key = (key ^ (key >> 27)) * 0x94d049bb133111ebULL;
    return key ^ (key >> 31);
  }
};

// A batch id no node of any PersistentMap carries yet (see set()).
inline uint64_t newPersistentBatch() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

template <class K, class V, class Hash>
class PersistentMap {
 public:
  PersistentMap() = default;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  template <class Q>
  const V* find(const Q& key) const {
    uint64_t hash = Hash{}(key);
    const Node* node = root_.get();
    for (int level = 0; node; ++level) {
      if (node->leaf) {
        for (const Entry& entry : asLeaf(*node).entries) {
          if (entry.hash == hash && entry.key == key) return &entry.value;
        }
        return nullptr;
      }
      node = asBranch(*node).children[childIndex(hash, level)].get();
    }
    return nullptr;
  }

  // A new map with key -> value; `copiedNodes` (if given) counts the nodes
  // this update had to allocate: the measure of its cost.
  //
  // `batch` (from newPersistentBatch()) lets a series of updates building one new
  // version modify the nodes that series created itself instead of copying
  // them again (Clojure's transients): a bulk load costs O(n), not
  // O(n log n) copies. Nodes of earlier versions are never modified.
  PersistentMap set(K key, V value, size_t* copiedNodes = nullptr, uint64_t batch = 0) const {
    PersistentMap out;
    bool added = false;
    size_t copies = 0;
    uint64_t hash = Hash{}(key);
    out.root_ =
        insert(root_, 0, Entry{hash, std::move(key), std::move(value)}, added, copies, batch);
    out.size_ = size_ + (added ? 1 : 0);
    if (copiedNodes) *copiedNodes += copies;
    return out;
  }

  template <class Q>
  PersistentMap erase(const Q& key, size_t* copiedNodes = nullptr) const {
    PersistentMap out;
    bool removed = false;
    size_t copies = 0;
    out.root_ = remove(root_, 0, Hash{}(key), key, removed, copies);
    out.size_ = size_ - (removed ? 1 : 0);
    if (copiedNodes) *copiedNodes += copies;
    return out;
  }

  template <class F>
  void forEach(F&& visit) const {
    walk(root_.get(), visit);
  }

 private:
  static constexpr int kBits = 5;
  static constexpr size_t kFanout = size_t{1} << kBits;
  static constexpr size_t kLeafCapacity = 8;
  static constexpr int kMaxLevel = 64 / kBits;  // beyond it, a leaf holds every collision

  struct Entry {
    uint64_t hash;
    K key;
    V value;
  };
  // A node is a leaf (a few entries) or a branch (kFanout children inline,
  // so each level costs one memory access).
  struct Node {
    bool leaf = true;
    uint64_t batch = 0;  // the batch that created it (0: none)
  };
  using NodePtr = std::shared_ptr<const Node>;
  struct Leaf : Node {
    std::vector<Entry> entries;
  };
  struct Branch : Node {
    std::array<NodePtr, kFanout> children;
  };

  static const Leaf& asLeaf(const Node& node) { return static_cast<const Leaf&>(node); }
  static const Branch& asBranch(const Node& node) { return static_cast<const Branch&>(node); }

  // A node this batch created and nobody else has seen yet may be changed
  // in place (it was made non-const; only our pointer is const).
  static bool ownedBy(const NodePtr& node, uint64_t batch) {
    return node && batch != 0 && node->batch == batch;
  }
  template <class T>
  static std::shared_ptr<T> editable(const NodePtr& node, uint64_t batch, size_t& copies) {
    if (ownedBy(node, batch))
      return std::const_pointer_cast<T>(std::static_pointer_cast<const T>(node));
    ++copies;
    auto copy = std::make_shared<T>(static_cast<const T&>(*node));
    copy->batch = batch;
    return copy;
  }

  static size_t childIndex(uint64_t hash, int level) {
    return static_cast<size_t>((hash >> (level * kBits)) & (kFanout - 1));
  }

  static NodePtr insert(const NodePtr& node, int level, Entry entry, bool& added, size_t& copies,
                        uint64_t batch) {
    if (!node) {
      ++copies;
      auto leaf = std::make_shared<Leaf>();
      leaf->batch = batch;
      leaf->entries.push_back(std::move(entry));
      added = true;
      return leaf;
    }
    if (!node->leaf) {
      auto branch = editable<Branch>(node, batch, copies);
      size_t index = childIndex(entry.hash, level);
      branch->children[index] =
          insert(branch->children[index], level + 1, std::move(entry), added, copies, batch);
      return branch;
    }
    auto leaf = editable<Leaf>(node, batch, copies);
    for (Entry& existing : leaf->entries) {
      if (existing.hash == entry.hash && existing.key == entry.key) {
        existing.value = std::move(entry.value);
        return leaf;
      }
    }
    added = true;
    leaf->entries.push_back(std::move(entry));
    if (leaf->entries.size() <= kLeafCapacity || level >= kMaxLevel) return leaf;
    // Split the full leaf into a branch at this level.
    ++copies;
    auto branch = std::make_shared<Branch>();
    branch->leaf = false;
    branch->batch = batch;
    for (Entry& e : leaf->entries) {
      size_t index = childIndex(e.hash, level);
      bool ignored = false;
      branch->children[index] =
          insert(branch->children[index], level + 1, std::move(e), ignored, copies, batch);
    }
    return branch;
  }

  template <class Q>
  static NodePtr remove(const NodePtr& node, int level, uint64_t hash, const Q& key, bool& removed,
                        size_t& copies) {
    if (!node) return node;
    if (node->leaf) {
      const auto& entries = asLeaf(*node).entries;
      for (size_t i = 0; i < entries.size(); ++i) {
        if (entries[i].hash == hash && entries[i].key == key) {
          removed = true;
          if (entries.size() == 1) return nullptr;
          auto leaf = editable<Leaf>(node, 0, copies);
          leaf->entries.erase(leaf->entries.begin() + static_cast<std::ptrdiff_t>(i));
          return leaf;
        }
      }
      return node;
    }
    size_t index = childIndex(hash, level);
    NodePtr child = remove(asBranch(*node).children[index], level + 1, hash, key, removed, copies);
    if (!removed) return node;
    auto branch = editable<Branch>(node, 0, copies);
    branch->children[index] = std::move(child);
    for (const NodePtr& c : branch->children) {
      if (c) return branch;
    }
    return nullptr;
  }

  template <class F>
  static void walk(const Node* node, F& visit) {
    if (!node) return;
    if (node->leaf) {
      for (const Entry& e : asLeaf(*node).entries) visit(e.key, e.value);
      return;
    }
    for (const NodePtr& child : asBranch(*node).children) walk(child.get(), visit);
  }

  NodePtr root_;
  size_t size_ = 0;
};

}  // namespace corral::proxy
