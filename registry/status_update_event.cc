#include "registry/status_update_event.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <utility>

#include "base/json.h"

namespace corral::registry {
namespace {

// Which top-level member is being read.
enum class Field { kOther, kTaskId, kTaskStatus, kAppId, kHost, kSlaveId, kVersion, kPorts, kIps };

Field fieldNamed(std::string_view k) {
  if (k == "taskId") return Field::kTaskId;
  if (k == "taskStatus") return Field::kTaskStatus;
  if (k == "appId") return Field::kAppId;
  if (k == "host") return Field::kHost;
  if (k == "slaveId") return Field::kSlaveId;
  if (k == "version") return Field::kVersion;
  if (k == "ports") return Field::kPorts;
  if (k == "ipAddresses") return Field::kIps;
  return Field::kOther;
}

// nlohmann's SAX interface. Depth counts the open containers: 1 inside the
// event object, 2 inside one of its arrays, 3 inside an ipAddresses entry.
class StatusUpdateReader {
 public:
  explicit StatusUpdateReader(StatusUpdateEvent* out) : out_(out) {}

  bool null() { return scalar(Kind::kNull); }
  bool boolean(bool) { return scalar(Kind::kOther); }
  bool number_integer(Json::number_integer_t v) { return integer(static_cast<int64_t>(v)); }
  bool number_unsigned(Json::number_unsigned_t v) { return integer(static_cast<int64_t>(v)); }
  bool number_float(Json::number_float_t, const Json::string_t&) { return scalar(Kind::kOther); }
  bool string(Json::string_t& v) {
    string_ = &v;
    return scalar(Kind::kString);
  }
  bool binary(Json::binary_t&) { return scalar(Kind::kOther); }

  bool start_object(size_t) { return open(/*array=*/false); }
  bool start_array(size_t) { return open(/*array=*/true); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(Json::string_t& k) {
    if (depth_ == 1) {
      field_ = fieldNamed(k);
      key_ = std::move(k);
    } else if (depth_ == 3) {
      ipAddressKey_ = k == "ipAddress";
    }
    return true;
  }

  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception& e) {
    error_ = malformedJsonMessage(e.what());
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  enum class Kind { kNull, kString, kOther };

  bool fail(std::string message) {
    error_ = std::move(message);
    return false;
  }
  std::string element(std::string_view suffix) const {
    std::string out = key_;
    out.append(1, '(').append(std::to_string(index_)).append(1, ')').append(suffix);
    return out;
  }

  std::string* stringField() {
    switch (field_) {
      case Field::kTaskId:
        return &out_->taskId;
      case Field::kTaskStatus:
        return &out_->taskStatus;
      case Field::kAppId:
        return &out_->appId;
      case Field::kHost:
        return &out_->host.emplace();
      case Field::kSlaveId:
        return &out_->slaveId.emplace();
      case Field::kVersion:
        return &out_->version.emplace();
      default:
        return nullptr;
    }
  }

  bool integer(int64_t v) {
    if (depth_ == 2 && field_ == Field::kPorts) {
      out_->ports->push_back(static_cast<int>(v));
      ++index_;
      return true;
    }
    return scalar(Kind::kOther);
  }

  bool scalar(Kind kind) {
    if (depth_ == 0) return fail("event data is not a JSON object");
    if (depth_ == 1) {
      if (field_ == Field::kPorts || field_ == Field::kIps) {
        if (kind != Kind::kNull) return fail(key_ + ": expected an array");
        if (field_ == Field::kPorts) out_->ports.emplace();
        if (field_ == Field::kIps) out_->ipAddresses.emplace();
        return true;
      }
      std::string* s = stringField();
      if (s == nullptr) return true;  // a member the catalog does not read
      if (kind == Kind::kString) {
        *s = std::move(*string_);
      } else if (kind == Kind::kNull) {
        s->clear();
      } else {
        return fail(key_ + ": expected a string");
      }
      return true;
    }
    if (depth_ == 2 && field_ == Field::kPorts) return fail(element(": expected an integer"));
    if (depth_ == 2 && field_ == Field::kIps) return fail(element(": expected an object"));
    if (depth_ == 3 && field_ == Field::kIps && ipAddressKey_) {
      if (kind == Kind::kString) {
        if (!string_->empty()) out_->ipAddresses->push_back(std::move(*string_));
      } else if (kind != Kind::kNull) {
        return fail(element("/ipAddress: expected a string"));
      }
    }
    return true;  // inside a member the catalog does not read
  }

  bool open(bool array) {
    if (depth_ == 0 && array) return fail("event data is not a JSON object");
    if (depth_ == 1) {
      index_ = 0;
      if (field_ == Field::kPorts || field_ == Field::kIps) {
        if (!array) return fail(key_ + ": expected an array");
        if (field_ == Field::kPorts) out_->ports.emplace();
        if (field_ == Field::kIps) out_->ipAddresses.emplace();
      } else if (field_ != Field::kOther) {
        return fail(key_ + ": expected a string");
      }
    } else if (depth_ == 2 && field_ == Field::kPorts) {
      return fail(element(": expected an integer"));
    } else if (depth_ == 2 && field_ == Field::kIps) {
      if (array) return fail(element(": expected an object"));
      ipAddressKey_ = false;
    } else if (depth_ == 3 && field_ == Field::kIps && ipAddressKey_) {
      return fail(element("/ipAddress: expected a string"));
    }
    ++depth_;
    return true;
  }

  bool close() {
    --depth_;
    if (depth_ == 2 && field_ == Field::kIps) ++index_;  // an entry ended
    if (depth_ <= 1) field_ = Field::kOther;             // field_'s array (or the event) ended
    return true;
  }

  StatusUpdateEvent* out_;
  size_t depth_ = 0;
  Field field_ = Field::kOther;
  std::string key_;   // of field_
  size_t index_ = 0;  // of the element being read in field_'s array
  bool ipAddressKey_ = false;
  Json::string_t* string_ = nullptr;  // the value scalar() is called for
  std::string error_;
};

}  // namespace

Result<StatusUpdateEvent> readStatusUpdateEvent(std::string_view json) {
  StatusUpdateEvent event;
  StatusUpdateReader reader(&event);
  try {
    bool ok = Json::sax_parse(json.begin(), json.end(), &reader);
    if (!ok) {
      std::string error = reader.error().empty() ? "malformed JSON" : reader.error();
      return makeError(ErrorKind::kInvalid, error);
    }
  } catch (const Json::exception& e) {
    // Like parseJson: nlohmann throws a few errors even to a SAX reader.
    return makeError(ErrorKind::kInvalid, malformedJsonMessage(e.what()));
  }
  return event;
}

}  // namespace corral::registry
