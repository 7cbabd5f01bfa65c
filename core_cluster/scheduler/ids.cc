#include "core_cluster/scheduler/ids.h"

#include <random>

namespace corral::scheduler {

std::string uuid4() {
  static std::mt19937_64 rng(std::random_device{}());
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) s.push_back('-');
    s.push_back(kHex[rng() & 15]);
  }
  return s;
}

std::string newTaskId(const std::string& appId) {
  std::string out;
  for (char c : appId.substr(1)) out.push_back(c == '/' ? '_' : c);
  return out + "." + uuid4();
}

}  // namespace corral::scheduler
