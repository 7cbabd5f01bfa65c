// On-disk format of the state log and snapshot: bytes in, values out, no I/O.
//
// A file is a sequence of records, each
//   [u32 length][u32 crc32c][payload: `length` bytes of JSON]
// with integers little-endian and the checksum taken over the 4 length bytes
// followed by the payload (so a damaged length is caught too).
//
// Log record payload (one committed unit; a group commit concatenates the ops
// of its batches, which is the same as applying them in order):
//   {"ops":[{"k":"/apps/a","v":{...}},{"k":"/tasks/t1"}]}   no "v" = delete
// Snapshot file: a single record
//   {"format":1,"coveredLogSeq":N,"state":{"/apps/a":{...},...}}
// where every log with sequence <= N is already folded into "state".
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "core_cluster/state/state_store.h"

namespace corral::state {

inline constexpr size_t kRecordHeaderBytes = 8;
// The smallest JSON document a writer produces ("{}"); shorter lengths, in
// particular the zeros a crash can leave at the end of a file, are invalid.
inline constexpr uint32_t kMinPayloadBytes = 2;
inline constexpr int kSnapshotFormat = 1;
// Upper bound for any record length limit. It keeps the top byte of a valid
// length below 0x20, a control character that JSON output always escapes, so
// no payload can contain something that parses as a valid record: a valid
// record found after damage really is a later record (see findValidRecord).
inline constexpr uint32_t kMaxRecordBytesLimit = 256u << 20;

// Appends one framed record to out.
void appendRecord(std::string& out, std::string_view payload);

enum class RecordStatus {
  kOk,           // a complete record with a valid checksum
  kEnd,          // offset is exactly the end of data
  kTruncated,    // fewer bytes left than the header or the declared length
  kBadLength,    // declared length below kMinPayloadBytes or above the limit
  kBadChecksum,  // complete, but the checksum does not match
};
std::string_view describe(RecordStatus status);

struct DecodedRecord {
  RecordStatus status = RecordStatus::kEnd;
  std::string_view payload;  // valid when status == kOk
  size_t next = 0;           // offset after the record when status == kOk
};

DecodedRecord decodeRecord(std::string_view data, size_t offset, uint32_t maxPayloadBytes);

// The first offset >= from where a valid record (kOk) starts, if any. Used to
// tell a torn tail (nothing valid after the damage) from mid-file corruption.
std::optional<size_t> findValidRecord(std::string_view data, size_t from, uint32_t maxPayloadBytes);

// Serialises the batches as one log record payload.
std::string encodeBatchPayload(const std::vector<std::vector<Mutation>>& batches);
Result<std::vector<Mutation>> decodeBatchPayload(std::string_view payload);

struct SnapshotContents {
  uint64_t coveredLogSeq = 0;
  StateMap state;
};
std::string encodeSnapshotPayload(uint64_t coveredLogSeq, const StateMap& state);
Result<SnapshotContents> decodeSnapshotPayload(std::string_view payload);

}  // namespace corral::state
