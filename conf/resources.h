// Agent resources and attributes in Mesos flag syntax, plus the pure arithmetic
// an allocator needs (add, subtract, contains, port allocation).
//
//   --resources='cpus:4;mem:4096;disk:10000;ports:[31000-32000]'
//   --resources='cpus(prod):2;cpus:2;gpus:0;labels:{a,b}'
//   --attributes='rack:a;zone:z1;level:3;range:[1-5];tags:{x,y}'
//
// Syntax errors name the 0-based character position and the reason, e.g.
//   resources: position 12: expected ':' after name "mem"
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace corral::conf {

// An inclusive interval [begin, end] of unsigned integers (ports, ids).
struct Range {
  uint64_t begin = 0;
  uint64_t end = 0;
  bool operator==(const Range&) const = default;
};

// A normalised set of integers stored as sorted, disjoint, non-adjacent
// intervals. Value type: every operation keeps it normalised.
class Ranges {
 public:
  Ranges() = default;
  // Any intervals (overlapping, unsorted, reversed bounds are swapped).
  Ranges(std::initializer_list<Range> ranges);
  explicit Ranges(const std::vector<Range>& ranges);

  const std::vector<Range>& intervals() const { return intervals_; }
  bool empty() const { return intervals_.empty(); }
  // Number of integers in the set (saturates at UINT64_MAX for [0-UINT64_MAX]).
  uint64_t size() const;
  bool contains(uint64_t value) const;
  bool contains(const Ranges& other) const;
  // Smallest member; only valid when !empty().
  uint64_t min() const { return intervals_.front().begin; }

  void add(Range range);
  void add(const Ranges& other);
  void subtract(Range range);
  void subtract(const Ranges& other);

  // Removes `value` when present; returns whether it was.
  bool take(uint64_t value);
  // Puts `value` back (no-op when already present).
  void release(uint64_t value) { add(Range{value, value}); }
  // Removes and returns the `n` lowest members; when fewer than `n` are free
  // the set is unchanged and an error is returned.
  Result<std::vector<uint64_t>> allocate(size_t n);

  Ranges& operator+=(const Ranges& other) {
    add(other);
    return *this;
  }
  Ranges& operator-=(const Ranges& other) {
    subtract(other);
    return *this;
  }
  bool operator==(const Ranges&) const = default;

  // Mesos text form: "[31000-32000,33000-33000]"; "[]" when empty.
  std::string toString() const;

 private:
  std::vector<Range> intervals_;
};

Ranges operator+(Ranges a, const Ranges& b);
Ranges operator-(Ranges a, const Ranges& b);

enum class ValueType { kScalar, kRanges, kSet, kText };

// One `name(role):value` entry of --resources.
struct Resource {
  std::string name;
  std::string role = "*";  // Mesos' default role
  ValueType type = ValueType::kScalar;
  double scalar = 0;             // kScalar; rounded to 3 decimals like Mesos
  Ranges ranges;                 // kRanges
  std::vector<std::string> set;  // kSet; sorted, unique

  bool empty() const;
  std::string toString() const;  // "cpus(prod):2"
  bool operator==(const Resource&) const = default;
};

// A bag of resources keyed by (name, role, type). Scalars add up, ranges and
// sets are unioned. Subtraction removes entries that become empty; it never
// goes below zero (scalars clamp at 0), so check contains() first.
class Resources {
 public:
  Resources() = default;

  const std::vector<Resource>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }

  // Sum of a scalar over every role (0 when absent).
  double scalar(std::string_view name) const;
  double cpus() const { return scalar("cpus"); }
  double mem() const { return scalar("mem"); }
  double disk() const { return scalar("disk"); }
  double gpus() const { return scalar("gpus"); }
  // Union of a ranges resource over every role.
  Ranges ranges(std::string_view name) const;
  Ranges ports() const { return ranges("ports"); }
  // The entry for (name, role), or nullptr.
  const Resource* find(std::string_view name, std::string_view role = "*") const;
  // Only the entries whose role is `role`.
  Resources forRole(std::string_view role) const;

  void add(const Resource& resource);
  void add(const Resources& other);
  void subtract(const Resource& resource);
  void subtract(const Resources& other);
  // True when every entry of `other` fits in the matching (name, role) entry.
  bool contains(const Resources& other) const;

  Resources& operator+=(const Resources& other) {
    add(other);
    return *this;
  }
  Resources& operator-=(const Resources& other) {
    subtract(other);
    return *this;
  }
  // Equal when both hold the same entries, whatever their order.
  bool operator==(const Resources& other) const;

  // Mesos flag syntax, entries in insertion order: "cpus:4;mem:4096;ports:[31000-32000]".
  std::string toString() const;

  // Convenience builders.
  static Resources scalarOf(std::string_view name, double value, std::string_view role = "*");
  static Resources rangesOf(std::string_view name, Ranges value, std::string_view role = "*");

 private:
  Resource* findMutable(std::string_view name, std::string_view role, ValueType type);
  std::vector<Resource> entries_;
};

Resources operator+(Resources a, const Resources& b);
Resources operator-(Resources a, const Resources& b);

// Parses --resources. Names: letters, digits, '_', '-', '.', '/'; roles the
// same plus '*'. Values: a number (scalar), "[a-b,c-d]" (ranges) or "{x,y}"
// (set). Whitespace around tokens is allowed. Repeated (name, role) entries
// are merged; a name used with two value types is an error. Scalars must be
// finite and >= 0; "ports" ranges must lie in 0-65535.
Result<Resources> parseResources(std::string_view text);

// One attribute value: text, scalar, ranges or set.
struct AttributeValue {
  ValueType type = ValueType::kText;
  std::string text;              // kText
  double scalar = 0;             // kScalar
  Ranges ranges;                 // kRanges
  std::vector<std::string> set;  // kSet; in the given order

  // Mesos text form ("a", "3", "[1-5]", "{x,y}"), what LIKE/UNLIKE/IS match.
  std::string toString() const;
  bool operator==(const AttributeValue&) const = default;
};

using Attributes = std::map<std::string, AttributeValue, std::less<>>;

// Parses --attributes. A value is a scalar when it is a plain decimal number
// ("3", "-1.5"), ranges for "[..]", a set for "{..}", text otherwise (letters,
// digits, '_', '-', '.', '/'). A repeated name is an error.
Result<Attributes> parseAttributes(std::string_view text);

// Mesos flag syntax of attributes (sorted by name).
std::string attributesToString(const Attributes& attributes);

}  // namespace corral::conf
