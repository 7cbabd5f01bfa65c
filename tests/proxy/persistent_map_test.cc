#include "proxy/persistent_map.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

namespace corral::proxy {
namespace {

using Map = PersistentMap<std::string, int, StringKeyHash>;

// Every key of `reference` is found with its value, and nothing else.
void expectSame(const Map& map, const std::map<std::string, int>& reference) {
  EXPECT_EQ(map.size(), reference.size());
  for (const auto& [key, value] : reference) {
    const int* found = map.find(std::string_view(key));
    ASSERT_NE(found, nullptr) << key;
    EXPECT_EQ(*found, value) << key;
  }
  size_t visited = 0;
  map.forEach([&](const std::string& key, int value) {
    ++visited;
    auto it = reference.find(key);
    ASSERT_NE(it, reference.end()) << key;
    EXPECT_EQ(it->second, value);
  });
  EXPECT_EQ(visited, reference.size());
}

// Random sets and erases against std::map, keeping every version: old
// versions never change, batched or not.
TEST(PersistentMap, MatchesAReferenceAndKeepsOldVersions) {
  for (bool batched : {false, true}) {
    std::mt19937 random(batched ? 7 : 8);
    Map map;
    std::map<std::string, int> reference;
    std::vector<std::pair<Map, std::map<std::string, int>>> versions;
    uint64_t batch = batched ? newPersistentBatch() : 0;
    for (int step = 0; step < 20'000; ++step) {
      std::string key = "k" + std::to_string(random() % 3000);
      if (random() % 4 == 0) {
        map = map.erase(std::string_view(key));
        reference.erase(key);
      } else {
        int value = static_cast<int>(random() % 1000);
        map = map.set(key, value, nullptr, batch);
        reference[key] = value;
      }
      if (step % 2000 == 0) {
        versions.emplace_back(map, reference);
        if (batched) batch = newPersistentBatch();  // a published version is frozen
      }
    }
    expectSame(map, reference);
    for (const auto& [old, oldReference] : versions) expectSame(old, oldReference);
    EXPECT_EQ(map.find(std::string_view("absent")), nullptr);
  }
}

TEST(PersistentMap, UpdateCopiesAPathNotTheMap) {
  Map map;
  for (int i = 0; i < 50'000; ++i) map = map.set("k" + std::to_string(i), i);
  size_t copied = 0;
  Map next = map.set("k25000", -1, &copied);
  EXPECT_LE(copied, 6u) << "one node per level";
  EXPECT_EQ(*next.find(std::string_view("k25000")), -1);
  EXPECT_EQ(*map.find(std::string_view("k25000")), 25000);
  copied = 0;
  Map smaller = map.erase(std::string_view("k7"), &copied);
  EXPECT_LE(copied, 6u);
  EXPECT_EQ(smaller.size(), map.size() - 1);
  EXPECT_EQ(smaller.find(std::string_view("k7")), nullptr);
}

TEST(PersistentMap, IntKeys) {
  PersistentMap<int, std::string, IntKeyHash> ports;
  for (int port = 10000; port < 10100; ++port) ports = ports.set(port, std::to_string(port));
  ports = ports.erase(10050);
  EXPECT_EQ(ports.size(), 99u);
  EXPECT_EQ(*ports.find(10099), "10099");
  EXPECT_EQ(ports.find(10050), nullptr);
  EXPECT_EQ(ports.find(9999), nullptr);
}

}  // namespace
}  // namespace corral::proxy
