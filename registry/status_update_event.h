// The fields of a Marathon status_update_event that the catalog uses, read
// straight from the event's text.
//
// Every task replacement is two of these events, and a burst is a thousand.
// Built as an nlohmann tree, each event cost a dozen allocations for fields
// nobody reads (message, timestamp, eventType, ...) and then a second tree to
// hand the task fields to parseTask. This reader walks the text once (SAX),
// keeps only the fields below and checks their types as parseTask does.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace corral::registry {

struct StatusUpdateEvent {
  std::string taskId;
  std::string taskStatus;
  std::string appId;  // as sent (may be relative)
  // Present in the event (null counts as present and empty), else unset:
  // an update replaces only the fields it carries.
  std::optional<std::string> host;
  std::optional<std::string> slaveId;
  std::optional<std::string> version;
  std::optional<std::vector<int>> ports;
  std::optional<std::vector<std::string>> ipAddresses;  // each entry's ipAddress
};

// An error names the field ("ports(1): expected an integer") or says the
// text is not JSON (with the byte offset) or not an object. Missing ids are
// the caller's to judge.
Result<StatusUpdateEvent> readStatusUpdateEvent(std::string_view json);

}  // namespace corral::registry
