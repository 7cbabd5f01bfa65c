// CRC-32C (Castagnoli), as used by iSCSI, ext4 and most storage logs.
#pragma once

#include <cstdint>
#include <string_view>

namespace corral::state {

// Extends crc (the value returned by a previous call, 0 to start) with data.
uint32_t crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace corral::state
