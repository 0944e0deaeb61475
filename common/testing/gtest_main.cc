// main() of every test binary (clawos_test): gtest's, with one change. A run
// in which every test was skipped exits 77, which ctest reports as "Skipped"
// (SKIP_RETURN_CODE) with the reasons printed above, never as "Passed".
#include <gtest/gtest.h>

#include <cstdio>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
  const ::testing::UnitTest* run = ::testing::UnitTest::GetInstance();
  if (rc == 0 && run->test_to_run_count() > 0 &&
      run->skipped_test_count() == run->test_to_run_count()) {
    std::printf("SKIPPED: every test in this binary was skipped (the reasons are above)\n");
    return 77;
  }
  return rc;
}
