#include "conf/resources.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>

namespace corral::conf {

namespace {

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kMaxPort = 65535;

double roundScalar(double v) { return std::round(v * 1000.0) / 1000.0; }
long long scalarUnits(double v) { return std::llround(v * 1000.0); }

std::string formatScalar(double v) { return fmt::format("{}", v); }

}  // namespace

// ---------------------------------------------------------------- Ranges

Ranges::Ranges(std::initializer_list<Range> ranges) {
  for (const Range& r : ranges) add(r);
}

Ranges::Ranges(const std::vector<Range>& ranges) {
  for (const Range& r : ranges) add(r);
}

uint64_t Ranges::size() const {
  uint64_t total = 0;
  for (const Range& r : intervals_) {
    uint64_t span = r.end - r.begin;
    if (span == kMaxU64 || total > kMaxU64 - span - 1) return kMaxU64;
    total += span + 1;
  }
  return total;
}

bool Ranges::contains(uint64_t value) const { return contains(Ranges{Range{value, value}}); }

bool Ranges::contains(const Ranges& other) const {
  for (const Range& r : other.intervals_) {
    // The last interval starting at or before r.begin must cover all of r.
    auto it = std::upper_bound(intervals_.begin(), intervals_.end(), r.begin,
                               [](uint64_t v, const Range& x) { return v < x.begin; });
    if (it == intervals_.begin()) return false;
    --it;
    if (it->end < r.end) return false;
  }
  return true;
}

void Ranges::add(Range range) {
  if (range.begin > range.end) std::swap(range.begin, range.end);
  std::vector<Range> out;
  out.reserve(intervals_.size() + 1);
  bool placed = false;
  auto push = [&out](Range r) {
    if (!out.empty()) {
      Range& last = out.back();
      bool touches = last.end == kMaxU64 || r.begin <= last.end + 1;
      if (touches) {
        last.end = std::max(last.end, r.end);
        return;
      }
    }
    out.push_back(r);
  };
  for (const Range& r : intervals_) {
    if (!placed && range.begin < r.begin) {
      push(range);
      placed = true;
    }
    push(r);
  }
  if (!placed) push(range);
  intervals_ = std::move(out);
}

void Ranges::add(const Ranges& other) {
  for (const Range& r : other.intervals_) add(r);
}

void Ranges::subtract(Range range) {
  if (range.begin > range.end) std::swap(range.begin, range.end);
  std::vector<Range> out;
  out.reserve(intervals_.size() + 1);
  for (const Range& r : intervals_) {
    if (r.end < range.begin || r.begin > range.end) {
      out.push_back(r);
      continue;
    }
    if (r.begin < range.begin) out.push_back(Range{r.begin, range.begin - 1});
    if (r.end > range.end) out.push_back(Range{range.end + 1, r.end});
  }
  intervals_ = std::move(out);
}

void Ranges::subtract(const Ranges& other) {
  for (const Range& r : other.intervals_) subtract(r);
}

bool Ranges::take(uint64_t value) {
  if (!contains(value)) return false;
  subtract(Range{value, value});
  return true;
}

Result<std::vector<uint64_t>> Ranges::allocate(size_t n) {
  uint64_t available = size();
  if (available < n) {
    return makeError(
        ErrorKind::kConflict,
        fmt::format("cannot allocate {} values from {}: only {} free", n, toString(), available));
  }
  std::vector<uint64_t> out;
  out.reserve(n);
  for (const Range& r : intervals_) {
    for (uint64_t v = r.begin; out.size() < n; ++v) {
      out.push_back(v);
      if (v == r.end) break;
    }
    if (out.size() == n) break;
  }
  for (uint64_t v : out) subtract(Range{v, v});
  return out;
}

std::string Ranges::toString() const {
  std::string out = "[";
  for (size_t i = 0; i < intervals_.size(); ++i) {
    if (i > 0) out += ',';
    out += fmt::format("{}-{}", intervals_[i].begin, intervals_[i].end);
  }
  out += ']';
  return out;
}

Ranges operator+(Ranges a, const Ranges& b) { return a += b; }
Ranges operator-(Ranges a, const Ranges& b) { return a -= b; }

// ---------------------------------------------------------------- Resource(s)

namespace {

std::string setToString(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += items[i];
  }
  out += '}';
  return out;
}

void mergeSet(std::vector<std::string>& into, const std::vector<std::string>& from) {
  std::set<std::string> all(into.begin(), into.end());
  all.insert(from.begin(), from.end());
  into.assign(all.begin(), all.end());
}

}  // namespace

bool Resource::empty() const {
  switch (type) {
    case ValueType::kScalar:
      return scalarUnits(scalar) <= 0;
    case ValueType::kRanges:
      return ranges.empty();
    case ValueType::kSet:
      return set.empty();
    case ValueType::kText:
      return true;
  }
  return true;
}

std::string Resource::toString() const {
  std::string out = name;
  if (role != "*") out += "(" + role + ")";
  out += ':';
  switch (type) {
    case ValueType::kScalar:
      out += formatScalar(scalar);
      break;
    case ValueType::kRanges:
      out += ranges.toString();
      break;
    case ValueType::kSet:
      out += setToString(set);
      break;
    case ValueType::kText:
      break;
  }
  return out;
}

double Resources::scalar(std::string_view name) const {
  double total = 0;
  for (const Resource& r : entries_) {
    if (r.type == ValueType::kScalar && r.name == name) total += r.scalar;
  }
  return roundScalar(total);
}

Ranges Resources::ranges(std::string_view name) const {
  Ranges out;
  for (const Resource& r : entries_) {
    if (r.type == ValueType::kRanges && r.name == name) out.add(r.ranges);
  }
  return out;
}

const Resource* Resources::find(std::string_view name, std::string_view role) const {
  for (const Resource& r : entries_) {
    if (r.name == name && r.role == role) return &r;
  }
  return nullptr;
}

Resources Resources::forRole(std::string_view role) const {
  Resources out;
  for (const Resource& r : entries_) {
    if (r.role == role) out.entries_.push_back(r);
  }
  return out;
}

Resource* Resources::findMutable(std::string_view name, std::string_view role, ValueType type) {
  for (Resource& r : entries_) {
    if (r.name == name && r.role == role && r.type == type) return &r;
  }
  return nullptr;
}

void Resources::add(const Resource& resource) {
  if (resource.empty()) return;
  Resource* mine = findMutable(resource.name, resource.role, resource.type);
  if (mine == nullptr) {
    entries_.push_back(resource);
    if (resource.type == ValueType::kScalar) entries_.back().scalar = roundScalar(resource.scalar);
    return;
  }
  switch (resource.type) {
    case ValueType::kScalar:
      mine->scalar = roundScalar(mine->scalar + resource.scalar);
      break;
    case ValueType::kRanges:
      mine->ranges.add(resource.ranges);
      break;
    case ValueType::kSet:
      mergeSet(mine->set, resource.set);
      break;
    case ValueType::kText:
      break;
  }
}

void Resources::add(const Resources& other) {
  for (const Resource& r : other.entries_) add(r);
}

void Resources::subtract(const Resource& resource) {
  Resource* mine = findMutable(resource.name, resource.role, resource.type);
  if (mine == nullptr) return;
  switch (resource.type) {
    case ValueType::kScalar:
      mine->scalar = std::max(0.0, roundScalar(mine->scalar - resource.scalar));
      break;
    case ValueType::kRanges:
      mine->ranges.subtract(resource.ranges);
      break;
    case ValueType::kSet: {
      std::vector<std::string> left;
      for (const std::string& s : mine->set) {
        if (std::find(resource.set.begin(), resource.set.end(), s) == resource.set.end()) {
          left.push_back(s);
        }
      }
      mine->set = std::move(left);
      break;
    }
    case ValueType::kText:
      break;
  }
  if (mine->empty()) {
    entries_.erase(entries_.begin() + (mine - entries_.data()));
  }
}

void Resources::subtract(const Resources& other) {
  for (const Resource& r : other.entries_) subtract(r);
}

bool Resources::contains(const Resources& other) const {
  for (const Resource& want : other.entries_) {
    if (want.empty()) continue;
    const Resource* have = nullptr;
    for (const Resource& r : entries_) {
      if (r.name == want.name && r.role == want.role && r.type == want.type) have = &r;
    }
    if (have == nullptr) return false;
    switch (want.type) {
      case ValueType::kScalar:
        if (scalarUnits(have->scalar) < scalarUnits(want.scalar)) return false;
        break;
      case ValueType::kRanges:
        if (!have->ranges.contains(want.ranges)) return false;
        break;
      case ValueType::kSet:
        for (const std::string& s : want.set) {
          if (std::find(have->set.begin(), have->set.end(), s) == have->set.end()) return false;
        }
        break;
      case ValueType::kText:
        break;
    }
  }
  return true;
}

bool Resources::operator==(const Resources& other) const {
  if (entries_.size() != other.entries_.size()) return false;
  for (const Resource& r : entries_) {
    bool found = false;
    for (const Resource& o : other.entries_) {
      if (o == r) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

std::string Resources::toString() const {
  std::string out;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (i > 0) out += ';';
    out += entries_[i].toString();
  }
  return out;
}

Resources Resources::scalarOf(std::string_view name, double value, std::string_view role) {
  Resources out;
  Resource r;
  r.name = std::string(name);
  r.role = std::string(role);
  r.type = ValueType::kScalar;
  r.scalar = value;
  out.add(r);
  return out;
}

Resources Resources::rangesOf(std::string_view name, Ranges value, std::string_view role) {
  Resources out;
  Resource r;
  r.name = std::string(name);
  r.role = std::string(role);
  r.type = ValueType::kRanges;
  r.ranges = std::move(value);
  out.add(r);
  return out;
}

Resources operator+(Resources a, const Resources& b) { return a += b; }
Resources operator-(Resources a, const Resources& b) { return a -= b; }

// ---------------------------------------------------------------- parsing

namespace {

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == '/';
}

bool isSetItemChar(char c) { return isNameChar(c) || c == ':' || c == '@' || c == '*'; }

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string describeChar(char c) {
  if (c >= 0x20 && c < 0x7f) return fmt::format("'{}'", c);
  return fmt::format("byte 0x{:02x}", static_cast<unsigned char>(c));
}

// A cursor over flag text that produces positioned errors.
class Cursor {
 public:
  Cursor(std::string_view text, std::string_view what) : text_(text), what_(what) {}

  size_t pos() const { return pos_; }
  bool atEnd() const { return pos_ >= text_.size(); }
  char peek() const { return atEnd() ? '\0' : text_[pos_]; }
  void advance() { ++pos_; }
  void skipSpace() {
    while (!atEnd() && isSpace(text_[pos_])) ++pos_;
  }
  bool consume(char c) {
    if (peek() != c || atEnd()) return false;
    ++pos_;
    return true;
  }
  std::string_view takeWhile(bool (*pred)(char)) {
    size_t start = pos_;
    while (!atEnd() && pred(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  // What is at the cursor, for messages.
  std::string found() const { return atEnd() ? "end of input" : describeChar(text_[pos_]); }

  Error error(size_t at, std::string_view reason) const {
    return makeError(ErrorKind::kInvalid, fmt::format("{}: position {}: {}", what_, at, reason),
                     std::string(what_));
  }
  Error error(std::string_view reason) const { return error(pos_, reason); }

  // Unsigned integer (ranges bounds).
  Result<uint64_t> parseUnsigned() {
    size_t start = pos_;
    std::string_view digits = takeWhile([](char c) { return c >= '0' && c <= '9'; });
    if (digits.empty()) return error(start, "expected an unsigned integer, found " + found());
    uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec != std::errc() || ptr != digits.data() + digits.size()) {
      return error(start, fmt::format("integer {} is out of range", digits));
    }
    return v;
  }

  // Decimal number: -?digits(.digits)?([eE][+-]?digits)?
  Result<double> parseNumber() {
    size_t start = pos_;
    size_t p = pos_;
    auto digitsAt = [&](size_t& q) {
      size_t s = q;
      while (q < text_.size() && text_[q] >= '0' && text_[q] <= '9') ++q;
      return q > s;
    };
    if (p < text_.size() && (text_[p] == '-' || text_[p] == '+')) ++p;
    bool intPart = digitsAt(p);
    bool fracPart = false;
    if (p < text_.size() && text_[p] == '.') {
      ++p;
      fracPart = digitsAt(p);
    }
    if (!intPart && !fracPart) return error(start, "expected a number, found " + found());
    if (p < text_.size() && (text_[p] == 'e' || text_[p] == 'E')) {
      size_t q = p + 1;
      if (q < text_.size() && (text_[q] == '-' || text_[q] == '+')) ++q;
      if (digitsAt(q)) p = q;
    }
    std::string_view lexeme = text_.substr(start, p - start);
    std::string_view forParse = lexeme;
    if (!forParse.empty() && forParse.front() == '+') forParse.remove_prefix(1);
    double v = 0;
    auto [ptr, ec] = std::from_chars(forParse.data(), forParse.data() + forParse.size(), v);
    if (ec != std::errc() || ptr != forParse.data() + forParse.size() || !std::isfinite(v)) {
      return error(start, fmt::format("number {} is out of range", lexeme));
    }
    pos_ = p;
    return v;
  }

  // "[a-b,c-d]" with the cursor on '['.
  Result<Ranges> parseRanges(std::string_view name, uint64_t maxValue) {
    advance();  // '['
    Ranges out;
    skipSpace();
    if (consume(']')) return out;
    while (true) {
      skipSpace();
      size_t start = pos_;
      auto begin = parseUnsigned();
      if (!begin) return begin.error();
      uint64_t end = *begin;
      skipSpace();
      if (consume('-')) {
        skipSpace();
        auto e = parseUnsigned();
        if (!e) return e.error();
        end = *e;
      }
      if (*begin > end) {
        return error(start,
                     fmt::format("range {}-{} of \"{}\" ends before it begins", *begin, end, name));
      }
      if (end > maxValue) {
        return error(start,
                     fmt::format("range {}-{} of \"{}\" exceeds {}", *begin, end, name, maxValue));
      }
      out.add(Range{*begin, end});
      skipSpace();
      if (consume(']')) return out;
      if (!consume(',')) {
        return error(
            fmt::format("expected ',' or ']' in ranges of \"{}\", found {}", name, found()));
      }
    }
  }

  // "{a,b}" with the cursor on '{'.
  Result<std::vector<std::string>> parseSet(std::string_view name) {
    advance();  // '{'
    std::vector<std::string> out;
    skipSpace();
    if (consume('}')) return out;
    while (true) {
      skipSpace();
      std::string_view item = takeWhile(isSetItemChar);
      if (item.empty()) {
        return error(fmt::format("expected a set item in \"{}\", found {}", name, found()));
      }
      out.emplace_back(item);
      skipSpace();
      if (consume('}')) return out;
      if (!consume(',')) {
        return error(fmt::format("expected ',' or '}}' in set of \"{}\", found {}", name, found()));
      }
    }
  }

 private:
  std::string_view text_;
  std::string_view what_;
  size_t pos_ = 0;
};

const char* typeName(ValueType t) {
  switch (t) {
    case ValueType::kScalar:
      return "scalar";
    case ValueType::kRanges:
      return "ranges";
    case ValueType::kSet:
      return "set";
    case ValueType::kText:
      return "text";
  }
  return "?";
}

// Names whose value type is fixed by Mesos.
bool requiredType(std::string_view name, ValueType* type) {
  if (name == "cpus" || name == "mem" || name == "disk" || name == "gpus") {
    *type = ValueType::kScalar;
    return true;
  }
  if (name == "ports") {
    *type = ValueType::kRanges;
    return true;
  }
  return false;
}

bool isRoleChar(char c) { return isNameChar(c) || c == '*'; }

}  // namespace

Result<Resources> parseResources(std::string_view text) {
  Cursor in(text, "resources");
  Resources out;
  std::map<std::string, ValueType, std::less<>> typeOfName;
  in.skipSpace();
  if (in.atEnd()) return in.error("empty resource list");
  while (true) {
    in.skipSpace();
    if (in.atEnd()) break;
    if (in.consume(';')) continue;  // empty entry, as Mesos tokenizes
    size_t entryStart = in.pos();
    std::string_view name = in.takeWhile(isNameChar);
    if (name.empty()) return in.error("expected a resource name, found " + in.found());
    Resource r;
    r.name = std::string(name);
    in.skipSpace();
    if (in.consume('(')) {
      in.skipSpace();
      std::string_view role = in.takeWhile(isRoleChar);
      if (role.empty()) {
        return in.error(fmt::format("expected a role for \"{}\", found {}", name, in.found()));
      }
      r.role = std::string(role);
      in.skipSpace();
      if (!in.consume(')')) {
        return in.error(fmt::format("expected ')' after role \"{}\", found {}", role, in.found()));
      }
      in.skipSpace();
    }
    if (!in.consume(':')) {
      return in.error(fmt::format("expected ':' after name \"{}\"", name));
    }
    in.skipSpace();
    size_t valueStart = in.pos();
    bool isPorts = r.name == "ports";
    if (in.peek() == '[') {
      auto ranges = in.parseRanges(name, isPorts ? kMaxPort : kMaxU64);
      if (!ranges) return ranges.error();
      r.type = ValueType::kRanges;
      r.ranges = std::move(*ranges);
    } else if (in.peek() == '{') {
      auto set = in.parseSet(name);
      if (!set) return set.error();
      r.type = ValueType::kSet;
      mergeSet(r.set, *set);
    } else {
      if (in.atEnd() || in.peek() == ';') {
        return in.error(fmt::format("expected a value for \"{}\"", name));
      }
      auto v = in.parseNumber();
      if (!v) return v.error();
      if (*v < 0) {
        return in.error(valueStart, fmt::format("value of \"{}\" must be non-negative, got {}",
                                                name, formatScalar(*v)));
      }
      r.type = ValueType::kScalar;
      r.scalar = roundScalar(*v);
    }
    ValueType required;
    if (requiredType(r.name, &required) && required != r.type) {
      return in.error(valueStart, fmt::format("\"{}\" must be {}, got {}", name, typeName(required),
                                              typeName(r.type)));
    }
    auto seen = typeOfName.find(r.name);
    if (seen != typeOfName.end() && seen->second != r.type) {
      return in.error(entryStart, fmt::format("\"{}\" was {} before, now {}", name,
                                              typeName(seen->second), typeName(r.type)));
    }
    typeOfName.emplace(r.name, r.type);
    out.add(r);
    in.skipSpace();
    if (in.atEnd()) break;
    if (!in.consume(';')) {
      return in.error(
          fmt::format("expected ';' after the value of \"{}\", found {}", name, in.found()));
    }
  }
  return out;
}

// ---------------------------------------------------------------- attributes

std::string AttributeValue::toString() const {
  switch (type) {
    case ValueType::kText:
      return text;
    case ValueType::kScalar:
      return formatScalar(scalar);
    case ValueType::kRanges:
      return ranges.toString();
    case ValueType::kSet:
      return setToString(set);
  }
  return {};
}

namespace {

bool isPlainNumber(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  size_t digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  if (digits == 0) return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t frac = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++frac;
    if (frac == 0) return false;
  }
  return i == s.size();
}

bool isValueChar(char c) { return c != ';' && !isSpace(c); }

}  // namespace

Result<Attributes> parseAttributes(std::string_view text) {
  Cursor in(text, "attributes");
  Attributes out;
  while (true) {
    in.skipSpace();
    if (in.atEnd()) break;
    if (in.consume(';')) continue;
    size_t entryStart = in.pos();
    std::string_view name = in.takeWhile(isNameChar);
    if (name.empty()) return in.error("expected an attribute name, found " + in.found());
    in.skipSpace();
    if (!in.consume(':')) return in.error(fmt::format("expected ':' after name \"{}\"", name));
    in.skipSpace();
    AttributeValue value;
    if (in.peek() == '[' && !in.atEnd()) {
      auto ranges = in.parseRanges(name, kMaxU64);
      if (!ranges) return ranges.error();
      value.type = ValueType::kRanges;
      value.ranges = std::move(*ranges);
    } else if (in.peek() == '{' && !in.atEnd()) {
      auto set = in.parseSet(name);
      if (!set) return set.error();
      value.type = ValueType::kSet;
      value.set = std::move(*set);
    } else {
      size_t valueStart = in.pos();
      std::string_view token = in.takeWhile(isValueChar);
      if (token.empty()) return in.error(fmt::format("expected a value for \"{}\"", name));
      if (isPlainNumber(token)) {
        double v = 0;
        auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
        if (ec != std::errc() || !std::isfinite(v)) {
          return in.error(valueStart, fmt::format("number {} is out of range", token));
        }
        value.type = ValueType::kScalar;
        value.scalar = v;
      } else {
        for (size_t i = 0; i < token.size(); ++i) {
          if (!isNameChar(token[i])) {
            return in.error(valueStart + i,
                            fmt::format("invalid character {} in the value of \"{}\"",
                                        describeChar(token[i]), name));
          }
        }
        value.type = ValueType::kText;
        value.text = std::string(token);
      }
    }
    if (out.count(name) != 0) {
      return in.error(entryStart, fmt::format("attribute \"{}\" is given twice", name));
    }
    out.emplace(std::string(name), std::move(value));
    in.skipSpace();
    if (in.atEnd()) break;
    if (!in.consume(';')) {
      return in.error(
          fmt::format("expected ';' after the value of \"{}\", found {}", name, in.found()));
    }
  }
  return out;
}

std::string attributesToString(const Attributes& attributes) {
  std::string out;
  for (const auto& [name, value] : attributes) {
    if (!out.empty()) out += ';';
    out += name + ":" + value.toString();
  }
  return out;
}

}  // namespace corral::conf
