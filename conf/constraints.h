// Marathon placement constraints: parsing from the app JSON and a pure
// evaluator the scheduler calls for every candidate agent.
//
// JSON: [["hostname","UNIQUE"], ["rack","GROUP_BY","3"], ["zone","LIKE","z[12]"]]
//
// Fields: "hostname" (also "@hostname") is the agent's hostname; any other
// field names an agent attribute ("@zone"/"@region" read the attributes
// "zone"/"region"). Attribute values are compared in their Mesos text form
// (AttributeValue::toString()).
//
// Operators (Marathon semantics):
//   UNIQUE          no two tasks of the app share the field value.
//   CLUSTER [v]     the field must equal v; without v, equal the value of the
//                   tasks already placed (any value for the first task).
//   GROUP_BY [n]    spread evenly over the field's values; n is the number of
//                   distinct values expected (at least). A candidate is
//                   accepted when its value holds no more tasks than the
//                   least-loaded known value.
//   LIKE v          the field fully matches the ECMAScript regex v.
//   UNLIKE v        the field does not fully match v (an absent attribute
//                   satisfies UNLIKE).
//   MAX_PER n       at most n tasks per field value.
//   IS v            the field equals v (numerically for scalar attributes).
// An agent lacking the attribute fails every operator but UNLIKE.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/result.h"
#include "conf/resources.h"

namespace corral::conf {

enum class ConstraintOperator { kUnique, kCluster, kGroupBy, kLike, kUnlike, kMaxPer, kIs };

std::string_view operatorName(ConstraintOperator op);

struct CompiledPattern;  // std::regex, defined in constraints.cc

struct Constraint {
  std::string field;
  ConstraintOperator op = ConstraintOperator::kUnique;
  std::optional<std::string> value;
  // GROUP_BY's expected group count (0 = unspecified) or MAX_PER's limit.
  int count = 0;
  // LIKE/UNLIKE: the compiled value; shared so copies stay cheap.
  std::shared_ptr<const CompiledPattern> pattern;

  // "hostname:UNIQUE", "rack:GROUP_BY:3".
  std::string toString() const;
  // Compares field, operator and value (the pattern follows from the value).
  bool operator==(const Constraint& other) const {
    return field == other.field && op == other.op && value == other.value;
  }
};

// Parses one constraint (a 2- or 3-element array of strings; a numeric value
// is accepted and kept as its decimal text). `path` names the entry in errors,
// e.g. "/constraints(1)". Errors are kInvalid.
Result<Constraint> parseConstraint(const Json& entry, std::string_view path);
// Parses a constraints array; errors name "/constraints(i)". Every problem is
// appended to `errors`; the returned vector holds the valid entries.
std::vector<Constraint> parseConstraints(const Json& array, std::string_view path,
                                         std::vector<Error>& errors);
// Marathon's JSON form: ["field","OP"] or ["field","OP","value"].
Json constraintToJson(const Constraint& constraint);

// What the evaluator knows of an agent.
struct AgentInfo {
  std::string hostname;
  Attributes attributes;
};

// Checks a candidate agent for one more task of `appId`.
//   placed     the agents of the app's tasks already placed (one per task, so
//              an agent repeats when it runs several);
//   allAgents  every agent known (optional), so GROUP_BY knows values that
//              hold no task yet.
// Returns ok, or an error whose message says which constraint refused the
// agent and why, e.g.
//   constraint hostname:UNIQUE: agent 127.0.0.2 already runs a task of /web
Status checkConstraint(const Constraint& constraint, const AgentInfo& candidate,
                       std::span<const AgentInfo> placed, std::span<const AgentInfo> allAgents = {},
                       std::string_view appId = {});
// All constraints; the first refusal wins.
Status checkConstraints(const std::vector<Constraint>& constraints, const AgentInfo& candidate,
                        std::span<const AgentInfo> placed,
                        std::span<const AgentInfo> allAgents = {}, std::string_view appId = {});

}  // namespace corral::conf
