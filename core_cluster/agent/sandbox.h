// Reading files out of a task sandbox for the agent API, without escaping it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "base/result.h"
#include "core_cluster/agent/task_types.h"

namespace corral::agent {

inline constexpr size_t kMaxSandboxRead = 1 << 20;

// Reads up to `length` bytes (capped at kMaxSandboxRead) of `relativePath` inside `sandboxDir`.
// offset nullopt = the tail: the last `length` bytes. Rejects absolute paths, "..", and paths
// that resolve (through symlinks) outside the sandbox; only regular files are read.
// Errors are kNotFound (no such file) or kInvalid (bad path).
Result<SandboxChunk> readSandboxFile(const std::string& sandboxDir, const std::string& relativePath,
                                     std::optional<uint64_t> offset, size_t length);

}  // namespace corral::agent
