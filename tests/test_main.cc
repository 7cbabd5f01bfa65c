// main() of every GoogleTest binary: runs the tests, then fails the run if any
// Loop was destroyed with libuv handles still open (the lifetime rule in
// base/loop.h; the log names each handle's type).
#include <gtest/gtest.h>

#include "base/loop.h"

namespace {

class LoopLeakCheck : public ::testing::Environment {
 public:
  void TearDown() override {
    EXPECT_EQ(corral::leakedLoopHandles(), 0u)
        << "libuv handles were still open when their Loop was destroyed: their owners must "
           "close them first (lifetime rule, base/loop.h); the log names their types";
  }
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new LoopLeakCheck);
  return RUN_ALL_TESTS();
}
