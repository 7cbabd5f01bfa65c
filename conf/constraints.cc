#include "conf/constraints.h"

#include <fmt/format.h>

#include <charconv>
#include <climits>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

namespace corral::conf {

struct CompiledPattern {
  std::regex regex;
};

namespace {

struct OperatorName {
  ConstraintOperator op;
  std::string_view name;
};

constexpr OperatorName kOperators[] = {
    {ConstraintOperator::kUnique, "UNIQUE"},
    {ConstraintOperator::kCluster, "CLUSTER"},
    {ConstraintOperator::kGroupBy, "GROUP_BY"},
    {ConstraintOperator::kLike, "LIKE"},
    {ConstraintOperator::kUnlike, "UNLIKE"},
    {ConstraintOperator::kMaxPer, "MAX_PER"},
    {ConstraintOperator::kIs, "IS"},
};

Error invalid(std::string_view path, std::string message) {
  return makeError(ErrorKind::kInvalid, std::move(message), std::string(path));
}

// A positive int in decimal text, or nullopt.
std::optional<int> positiveInt(std::string_view s) {
  int v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < 1) return std::nullopt;
  return v;
}

bool isHostnameField(std::string_view field) { return field == "hostname" || field == "@hostname"; }

std::string_view attributeName(std::string_view field) {
  if (field == "@zone") return "zone";
  if (field == "@region") return "region";
  return field;
}

// The field's value on an agent in Mesos text form; nullopt when absent.
std::optional<std::string> fieldValue(const AgentInfo& agent, std::string_view field,
                                      const AttributeValue** attribute = nullptr) {
  if (isHostnameField(field)) return agent.hostname;
  auto it = agent.attributes.find(attributeName(field));
  if (it == agent.attributes.end()) return std::nullopt;
  if (attribute != nullptr) *attribute = &it->second;
  return it->second.toString();
}

std::string whose(std::string_view appId) {
  return appId.empty() ? std::string("the app") : std::string(appId);
}

}  // namespace

std::string_view operatorName(ConstraintOperator op) {
  for (const OperatorName& o : kOperators) {
    if (o.op == op) return o.name;
  }
  return "?";
}

std::string Constraint::toString() const {
  std::string out = field + ":" + std::string(operatorName(op));
  if (value) out += ":" + *value;
  return out;
}

Result<Constraint> parseConstraint(const Json& entry, std::string_view path) {
  if (!entry.is_array() || entry.size() < 2 || entry.size() > 3) {
    return invalid(path, fmt::format("must be an array [field, operator] or [field, operator, "
                                     "value], got {}",
                                     dumpJson(entry)));
  }
  Constraint c;
  if (!entry[0].is_string() || entry[0].get_ref<const std::string&>().empty()) {
    return invalid(path,
                   fmt::format("field must be a non-empty string, got {}", dumpJson(entry[0])));
  }
  c.field = entry[0].get<std::string>();
  if (!entry[1].is_string()) {
    return invalid(path, fmt::format("operator must be a string, got {}", dumpJson(entry[1])));
  }
  const std::string& opText = entry[1].get_ref<const std::string&>();
  bool known = false;
  for (const OperatorName& o : kOperators) {
    if (o.name == opText) {
      c.op = o.op;
      known = true;
    }
  }
  if (!known) {
    return invalid(path, fmt::format("unknown constraint operator \"{}\"; expected one of UNIQUE, "
                                     "CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS",
                                     opText));
  }
  if (entry.size() == 3) {
    const Json& v = entry[2];
    if (v.is_string()) {
      c.value = v.get<std::string>();
    } else if (v.is_number_integer()) {
      c.value = v.dump();
    } else if (!v.is_null()) {
      return invalid(path, fmt::format("value must be a string, got {}", dumpJson(v)));
    }
  }
  // An empty value is no value, except where a regex may legitimately be empty.
  if (c.value && c.value->empty() && c.op != ConstraintOperator::kLike &&
      c.op != ConstraintOperator::kUnlike) {
    c.value.reset();
  }
  std::string name(operatorName(c.op));
  switch (c.op) {
    case ConstraintOperator::kUnique:
      if (c.value) {
        return invalid(path, fmt::format("UNIQUE takes no value, got \"{}\"", *c.value));
      }
      break;
    case ConstraintOperator::kCluster:
      break;
    case ConstraintOperator::kGroupBy:
      if (c.value) {
        auto n = positiveInt(*c.value);
        if (!n) {
          return invalid(
              path, fmt::format("GROUP_BY value must be a positive integer, got \"{}\"", *c.value));
        }
        c.count = *n;
      }
      break;
    case ConstraintOperator::kMaxPer: {
      if (!c.value) return invalid(path, "MAX_PER requires a value");
      auto n = positiveInt(*c.value);
      if (!n) {
        return invalid(
            path, fmt::format("MAX_PER value must be a positive integer, got \"{}\"", *c.value));
      }
      c.count = *n;
      break;
    }
    case ConstraintOperator::kLike:
    case ConstraintOperator::kUnlike:
      if (!c.value) return invalid(path, name + " requires a regular expression value");
      try {
        auto compiled = std::make_shared<CompiledPattern>();
        compiled->regex = std::regex(*c.value, std::regex::ECMAScript);
        c.pattern = std::move(compiled);
      } catch (const std::exception& e) {
        return invalid(path, fmt::format("{} value \"{}\" is not a valid regular expression: {}",
                                         name, *c.value, e.what()));
      }
      break;
    case ConstraintOperator::kIs:
      if (!c.value) return invalid(path, "IS requires a value");
      break;
  }
  return c;
}

std::vector<Constraint> parseConstraints(const Json& array, std::string_view path,
                                         std::vector<Error>& errors) {
  std::vector<Constraint> out;
  if (array.is_null()) return out;
  if (!array.is_array()) {
    errors.push_back(invalid(path, fmt::format("must be an array, got {}", dumpJson(array))));
    return out;
  }
  for (size_t i = 0; i < array.size(); ++i) {
    std::string entryPath = fmt::format("{}({})", path, i);
    auto c = parseConstraint(array[i], entryPath);
    if (!c) {
      errors.push_back(c.error());
      continue;
    }
    for (const Constraint& prior : out) {
      if (prior == *c) {
        errors.push_back(invalid(entryPath, "duplicate constraint " + c->toString()));
      }
    }
    out.push_back(std::move(*c));
  }
  return out;
}

Json constraintToJson(const Constraint& constraint) {
  Json out = Json::array({constraint.field, std::string(operatorName(constraint.op))});
  if (constraint.value) out.push_back(*constraint.value);
  return out;
}

// ---------------------------------------------------------------- evaluation

Status checkConstraint(const Constraint& c, const AgentInfo& candidate,
                       std::span<const AgentInfo> placed, std::span<const AgentInfo> allAgents,
                       std::string_view appId) {
  const AttributeValue* attribute = nullptr;
  std::optional<std::string> mine = fieldValue(candidate, c.field, &attribute);
  bool hostField = isHostnameField(c.field);
  auto refuse = [&](const std::string& why) -> Status {
    return makeError(ErrorKind::kConflict, fmt::format("constraint {}: {}", c.toString(), why), "");
  };
  // "agent h" or "agent h has rack:a".
  auto has = [&]() {
    if (hostField) return fmt::format("agent {}", candidate.hostname);
    return fmt::format("agent {} has {}:{}", candidate.hostname, c.field, mine.value_or(""));
  };

  if (!mine) {
    if (c.op == ConstraintOperator::kUnlike) return Status::Ok();
    return refuse(fmt::format("agent {} has no attribute \"{}\"", candidate.hostname,
                              attributeName(c.field)));
  }

  // Tasks per field value among the placed tasks (agents lacking it are ignored).
  std::map<std::string, int, std::less<>> counts;
  for (const AgentInfo& agent : placed) {
    if (auto v = fieldValue(agent, c.field)) ++counts[*v];
  }
  auto countOf = [&](const std::string& v) {
    auto it = counts.find(v);
    return it == counts.end() ? 0 : it->second;
  };

  switch (c.op) {
    case ConstraintOperator::kUnique:
      if (countOf(*mine) > 0) {
        if (hostField) return refuse(has() + " already runs a task of " + whose(appId));
        return refuse(has() + ", already used by a task of " + whose(appId));
      }
      return Status::Ok();

    case ConstraintOperator::kCluster:
      if (c.value) {
        if (*mine != *c.value) {
          return refuse(hostField ? fmt::format("{} is not {}", has(), *c.value)
                                  : fmt::format("{}, not {}", has(), *c.value));
        }
        return Status::Ok();
      }
      for (const auto& [value, n] : counts) {
        if (value != *mine) {
          return refuse(
              fmt::format("{}, but tasks of {} run on {}:{}", has(), whose(appId), c.field, value));
        }
      }
      return Status::Ok();

    case ConstraintOperator::kGroupBy: {
      int own = countOf(*mine);
      if (own == 0) return Status::Ok();
      int groups = static_cast<int>(counts.size());
      if (groups < c.count) {
        return refuse(fmt::format("{} with {} task(s) of {}; only {} of {} groups are used yet",
                                  has(), own, whose(appId), groups, c.count));
      }
      int minCount = INT_MAX;
      std::string minValue;
      for (const auto& [value, n] : counts) {
        if (n < minCount) {
          minCount = n;
          minValue = value;
        }
      }
      for (const AgentInfo& agent : allAgents) {
        auto v = fieldValue(agent, c.field);
        if (v && countOf(*v) == 0) {
          minCount = 0;
          minValue = *v;
          break;
        }
      }
      if (own > minCount) {
        return refuse(fmt::format("{} with {} task(s) of {}, while {}:{} has {}", has(), own,
                                  whose(appId), c.field, minValue, minCount));
      }
      return Status::Ok();
    }

    case ConstraintOperator::kLike:
    case ConstraintOperator::kUnlike: {
      bool matches = false;
      if (c.pattern) {
        matches = std::regex_match(*mine, c.pattern->regex);
      } else {
        // Built by hand without parseConstraint: compile on the fly.
        try {
          matches = std::regex_match(*mine, std::regex(c.value.value_or("")));
        } catch (const std::exception& e) {
          return refuse(fmt::format("invalid regular expression: {}", e.what()));
        }
      }
      if (c.op == ConstraintOperator::kLike && !matches) {
        return refuse(fmt::format("{}, which does not match \"{}\"", has(), c.value.value_or("")));
      }
      if (c.op == ConstraintOperator::kUnlike && matches) {
        return refuse(fmt::format("{}, which matches \"{}\"", has(), c.value.value_or("")));
      }
      return Status::Ok();
    }

    case ConstraintOperator::kMaxPer: {
      int own = countOf(*mine);
      if (own >= c.count) {
        return refuse(fmt::format("{}, which already holds {} task(s) of {} (max {})", has(), own,
                                  whose(appId), c.count));
      }
      return Status::Ok();
    }

    case ConstraintOperator::kIs: {
      const std::string want = c.value.value_or("");
      bool equal = *mine == want;
      if (!equal && attribute != nullptr && attribute->type == ValueType::kScalar) {
        double v = 0;
        auto [ptr, ec] = std::from_chars(want.data(), want.data() + want.size(), v);
        equal = ec == std::errc() && ptr == want.data() + want.size() &&
                std::fabs(v - attribute->scalar) < 1e-9;
      }
      if (!equal) {
        return refuse(hostField ? fmt::format("{} is not {}", has(), want)
                                : fmt::format("{}, not {}", has(), want));
      }
      return Status::Ok();
    }
  }
  return Status::Ok();
}

Status checkConstraints(const std::vector<Constraint>& constraints, const AgentInfo& candidate,
                        std::span<const AgentInfo> placed, std::span<const AgentInfo> allAgents,
                        std::string_view appId) {
  for (const Constraint& c : constraints) {
    Status s = checkConstraint(c, candidate, placed, allAgents, appId);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace corral::conf
