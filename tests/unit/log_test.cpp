// Log lines: level, the file's subsystem tag, and no tag said twice.
#include "adaptor/log.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace sippeer::adaptor {
namespace {

constexpr const char* kLogTag = "proxy";  // as an adaptor .cpp declares it

std::string logged(const std::function<void()>& fn) {
  testing::internal::CaptureStderr();
  fn();
  return testing::internal::GetCapturedStderr();
}

TEST(Log, LinesCarryTheFileTag) {
  const std::string out = logged([] { SIPPEER_LOG(Warn) << "next hop " << 7 << " did not answer"; });
  EXPECT_NE(out.find(" warn  [proxy] next hop 7 did not answer\n"), std::string::npos) << out;
}

TEST(Log, APrefixEqualToTheTagIsNotRepeated) {
  const std::string out = logged([] {
    SIPPEER_LOG(Warn) << "proxy: 404 for INVITE";
    SIPPEER_LOG(Warn) << "ring: joined";  // another word stays
  });
  EXPECT_NE(out.find("[proxy] 404 for INVITE\n"), std::string::npos) << out;
  EXPECT_NE(out.find("[proxy] ring: joined\n"), std::string::npos) << out;
}

TEST(Log, NoTagNoBrackets) {
  const std::string out = logged([] { log_line(LogLevel::Error, "", "plain"); });
  EXPECT_NE(out.find(" error plain\n"), std::string::npos) << out;
  EXPECT_EQ(out.find('['), std::string::npos) << out;
}

TEST(Log, LevelsBelowTheThresholdAreSkipped) {
  const LogLevel before = log_level();
  set_log_level(LogLevel::Warn);
  const std::string out = logged([] { SIPPEER_LOG(Info) << "quiet"; });
  set_log_level(before);
  EXPECT_EQ(out, "");
}

TEST(Log, JournalGetsEachLinesPriority) {
  set_log_priority_prefix(true);
  const std::string out = logged([] {
    SIPPEER_LOG(Error) << "e";
    SIPPEER_LOG(Warn) << "w";
    SIPPEER_LOG(Info) << "i";
  });
  set_log_priority_prefix(false);
  EXPECT_EQ(out.rfind("<3>", 0), 0u) << out;
  EXPECT_NE(out.find("\n<4>"), std::string::npos) << out;
  EXPECT_NE(out.find("\n<6>"), std::string::npos) << out;
  EXPECT_EQ(logged([] { SIPPEER_LOG(Error) << "plain"; }).find('<'), std::string::npos);
}

TEST(Log, JournalStreamMustNameThisVeryStream) {
  EXPECT_TRUE(journal_stream_is("8:12345", 8, 12345));
  EXPECT_FALSE(journal_stream_is("8:12345", 8, 12346));  // stderr was redirected elsewhere
  EXPECT_FALSE(journal_stream_is("8:12345x", 8, 12345));
  EXPECT_FALSE(journal_stream_is("", 8, 12345));
  EXPECT_FALSE(journal_stream_is(nullptr, 8, 12345));
}

}  // namespace
}  // namespace sippeer::adaptor
