#include "core_cluster/state/log_format.h"

#include <fmt/core.h>

#include "core_cluster/state/crc32c.h"

namespace corral::state {
namespace {

void putU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t getU32(std::string_view data, size_t offset) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v |= static_cast<uint32_t>(static_cast<unsigned char>(data[offset + i])) << (8 * i);
  }
  return v;
}

uint32_t recordCrc(std::string_view lengthBytes, std::string_view payload) {
  return crc32c(payload, crc32c(lengthBytes));
}

Error formatError(std::string message) {
  return makeError(ErrorKind::kInternal, std::move(message));
}

}  // namespace

void appendRecord(std::string& out, std::string_view payload) {
  size_t start = out.size();
  putU32(out, static_cast<uint32_t>(payload.size()));
  uint32_t crc = recordCrc(std::string_view(out).substr(start, 4), payload);
  putU32(out, crc);
  out.append(payload);
}

std::string_view describe(RecordStatus status) {
  switch (status) {
    case RecordStatus::kOk:
      return "ok";
    case RecordStatus::kEnd:
      return "end of file";
    case RecordStatus::kTruncated:
      return "incomplete record";
    case RecordStatus::kBadLength:
      return "implausible record length";
    case RecordStatus::kBadChecksum:
      return "checksum mismatch";
  }
  return "unknown";
}

DecodedRecord decodeRecord(std::string_view data, size_t offset, uint32_t maxPayloadBytes) {
  DecodedRecord r;
  if (offset == data.size()) return r;
  if (data.size() - offset < kRecordHeaderBytes) {
    r.status = RecordStatus::kTruncated;
    return r;
  }
  uint32_t length = getU32(data, offset);
  if (length < kMinPayloadBytes || length > maxPayloadBytes) {
    r.status = RecordStatus::kBadLength;
    return r;
  }
  if (data.size() - offset - kRecordHeaderBytes < length) {
    r.status = RecordStatus::kTruncated;
    return r;
  }
  std::string_view payload = data.substr(offset + kRecordHeaderBytes, length);
  if (recordCrc(data.substr(offset, 4), payload) != getU32(data, offset + 4)) {
    r.status = RecordStatus::kBadChecksum;
    return r;
  }
  r.status = RecordStatus::kOk;
  r.payload = payload;
  r.next = offset + kRecordHeaderBytes + length;
  return r;
}

std::optional<size_t> findValidRecord(std::string_view data, size_t from,
                                      uint32_t maxPayloadBytes) {
  // Most offsets are rejected by the length check alone (ASCII JSON read as a
  // length is far larger than any file), so the scan stays cheap.
  for (size_t offset = from; offset + kRecordHeaderBytes <= data.size(); ++offset) {
    if (decodeRecord(data, offset, maxPayloadBytes).status == RecordStatus::kOk) return offset;
  }
  return std::nullopt;
}

std::string encodeBatchPayload(const std::vector<std::vector<Mutation>>& batches) {
  std::string out = "{\"ops\":[";
  bool first = true;
  for (const auto& batch : batches) {
    for (const auto& m : batch) {
      if (!first) out.push_back(',');
      first = false;
      out += "{\"k\":";
      out += dumpJson(m.key);
      if (m.value) {
        out += ",\"v\":";
        out += dumpJson(*m.value);
      }
      out.push_back('}');
    }
  }
  out += "]}";
  return out;
}

Result<std::vector<Mutation>> decodeBatchPayload(std::string_view payload) {
  auto parsed = parseJson(payload);
  if (!parsed.ok()) return formatError("log record: " + parsed.error().message);
  Json& doc = *parsed;
  if (!doc.is_object()) return formatError("log record: not a JSON object");
  auto ops = doc.find("ops");
  if (ops == doc.end() || !ops->is_array()) return formatError("log record: missing \"ops\" array");
  std::vector<Mutation> batch;
  batch.reserve(ops->size());
  for (auto& op : *ops) {
    if (!op.is_object()) return formatError("log record: op is not an object");
    auto k = op.find("k");
    if (k == op.end() || !k->is_string()) return formatError("log record: op without key");
    Mutation m;
    m.key = k->get<std::string>();
    if (Status s = validateKey(m.key); !s.ok())
      return formatError("log record: " + s.error().message);
    if (auto v = op.find("v"); v != op.end()) m.value = std::move(*v);
    batch.push_back(std::move(m));
  }
  return batch;
}

std::string encodeSnapshotPayload(uint64_t coveredLogSeq, const StateMap& state) {
  std::string out = fmt::format("{{\"format\":{},\"coveredLogSeq\":{},\"state\":{{",
                                kSnapshotFormat, coveredLogSeq);
  bool first = true;
  for (const auto& [key, value] : state) {
    if (!first) out.push_back(',');
    first = false;
    out += dumpJson(key);
    out.push_back(':');
    out += dumpJson(value);
  }
  out += "}}";
  return out;
}

Result<SnapshotContents> decodeSnapshotPayload(std::string_view payload) {
  auto parsed = parseJson(payload);
  if (!parsed.ok()) return formatError("snapshot: " + parsed.error().message);
  Json& doc = *parsed;
  if (!doc.is_object()) return formatError("snapshot: not a JSON object");
  auto format = doc.find("format");
  if (format == doc.end() || !format->is_number_integer() ||
      format->get<int64_t>() != kSnapshotFormat) {
    return formatError(fmt::format("snapshot: unsupported format (want {})", kSnapshotFormat));
  }
  auto covered = doc.find("coveredLogSeq");
  if (covered == doc.end() || !covered->is_number_unsigned()) {
    return formatError("snapshot: missing \"coveredLogSeq\"");
  }
  auto state = doc.find("state");
  if (state == doc.end() || !state->is_object()) return formatError("snapshot: missing \"state\"");
  SnapshotContents out;
  out.coveredLogSeq = covered->get<uint64_t>();
  for (auto it = state->begin(); it != state->end(); ++it) {
    if (Status s = validateKey(it.key()); !s.ok())
      return formatError("snapshot: " + s.error().message);
    out.state.emplace(it.key(), std::move(it.value()));
  }
  return out;
}

}  // namespace corral::state
