#include "core_cluster/api/label_selector.h"

#include <algorithm>

namespace corral::api {

namespace {

bool termChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  void skipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }
  bool atEnd() {
    skipSpace();
    return pos_ >= text_.size();
  }
  // Consumes `token` when it comes next.
  bool take(std::string_view token) {
    skipSpace();
    if (text_.substr(pos_, token.size()) != token) return false;
    pos_ += token.size();
    last_ = token;
    return true;
  }
  // A set operator is a word: "in" must not swallow the start of "index".
  bool takeWord(std::string_view word) {
    skipSpace();
    size_t end = pos_ + word.size();
    if (text_.substr(pos_, word.size()) != word) return false;
    if (end < text_.size() && (termChar(text_[end]) || text_[end] == '\\')) return false;
    pos_ = end;
    last_ = word;
    return true;
  }
  // The token the last successful take()/takeWord() consumed.
  std::string_view lastTaken() const { return last_; }
  Result<std::string> term(const std::string& what) {
    skipSpace();
    std::string out;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '\\') {
        if (pos_ + 1 >= text_.size()) return fail("a backslash must escape a character");
        out.push_back(text_[pos_ + 1]);
        pos_ += 2;
      } else if (termChar(c)) {
        out.push_back(c);
        ++pos_;
      } else {
        break;
      }
    }
    if (out.empty()) return fail("expected " + what);
    return out;
  }
  Error fail(const std::string& what) const {
    return makeError(ErrorKind::kInvalid, "invalid label selector '" + std::string(text_) +
                                              "' at offset " + std::to_string(pos_) + ": " + what +
                                              " (forms: key, key==value, key!=value, "
                                              "key in (a,b), key notin (a,b); comma-separated)");
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  std::string_view last_;
};

Result<std::vector<std::string>> valueSet(Scanner& s) {
  if (!s.take("(")) return s.fail("expected '(' to open the value set");
  std::vector<std::string> values;
  if (s.take(")")) return values;
  while (true) {
    auto v = s.term("a value");
    if (!v.ok()) return v.error();
    values.push_back(std::move(*v));
    if (s.take(")")) return values;
    if (!s.take(",")) return s.fail("expected ',' or ')' in the value set");
  }
}

Result<LabelRequirement> requirement(Scanner& s) {
  using Op = LabelRequirement::Op;
  LabelRequirement r;
  auto key = s.term("a label key");
  if (!key.ok()) return key.error();
  r.key = std::move(*key);
  if (s.take("==") || s.take("!=")) {
    r.op = s.lastTaken() == "==" ? Op::kEquals : Op::kNotEquals;
    auto v = s.term("a value after " + std::string(s.lastTaken()));
    if (!v.ok()) return v.error();
    r.values.push_back(std::move(*v));
  } else if (s.takeWord("notin") || s.takeWord("in")) {
    r.op = s.lastTaken() == "in" ? Op::kIn : Op::kNotIn;
    auto set = valueSet(s);
    if (!set.ok()) return set.error();
    r.values = std::move(*set);
  }
  return r;
}

}  // namespace

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  using Op = LabelRequirement::Op;
  for (const auto& r : requirements) {
    auto it = labels.find(r.key);
    if (it == labels.end()) return false;
    const std::string& v = it->second;
    bool inSet = std::find(r.values.begin(), r.values.end(), v) != r.values.end();
    switch (r.op) {
      case Op::kExists:
        break;
      case Op::kEquals:
      case Op::kIn:
        if (!inSet) return false;
        break;
      case Op::kNotEquals:
      case Op::kNotIn:
        if (inSet) return false;
        break;
    }
  }
  return true;
}

Result<LabelSelector> parseLabelSelector(std::string_view text) {
  Scanner s(text);
  LabelSelector sel;
  if (s.atEnd()) return s.fail("expected a label key");
  while (true) {
    auto r = requirement(s);
    if (!r.ok()) return r.error();
    sel.requirements.push_back(std::move(*r));
    if (s.atEnd()) return sel;
    if (!s.take(",")) return s.fail("expected ',' between requirements");
  }
}

}  // namespace corral::api
