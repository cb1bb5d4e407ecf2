// The reply table (adaptor/sip/reply.h): what each error is answered with.
#include "adaptor/sip/reply.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "adaptor/registrar/registrar.h"

namespace sippeer::adaptor {
namespace {

TEST(ReplyTable, EntryChecksAnswerAsRfc3261Says) {
  EXPECT_EQ(reply_row(Reject::TooManyHops).status, 483);
  EXPECT_EQ(reply_row(Reject::LoopDetected).status, 482);
  EXPECT_EQ(reply_row(Reject::UnsupportedUriScheme).status, 416);
  EXPECT_EQ(reply_row(Reject::BadExtension).status, 420);
  EXPECT_STREQ(reply_row(Reject::BadExtension).header, "Unsupported");
  EXPECT_EQ(reply_row(Reject::NoTransaction).status, 481);
  EXPECT_EQ(reply_row(Reject::UserNotFound).status, 404);
  // The report's own phrase for a user nobody registered (3.4, tests match it).
  EXPECT_STREQ(reply_row(Reject::UserNotFound).phrase, "User not found on P2P/SIP");
}

TEST(ReplyTable, RefusalsThatPassSayWhenToComeBack) {
  for (Reject r : {Reject::NotInRingYet, Reject::RegistrarNotInRingYet, Reject::NodeLeaving, Reject::Overloaded})
    EXPECT_STREQ(reply_row(r).header, "Retry-After") << reply_row(r).phrase;
  EXPECT_EQ(reply_header_line(reply_row(Reject::NodeLeaving)), "Retry-After: 5\r\n");
  // Admission control chooses the overload's Retry-After per refusal.
  EXPECT_EQ(reply_row(Reject::Overloaded).value, nullptr);
  EXPECT_EQ(reply_header_line(reply_row(Reject::Overloaded), "3"), "Retry-After: 3\r\n");
  EXPECT_EQ(reply_header_line(reply_row(Reject::IntervalTooBrief), "60"), "Min-Expires: 60\r\n");
  EXPECT_EQ(reply_header_line(reply_row(Reject::UserNotFound)), "");
}

TEST(ReplyTable, EveryRowIsAnErrorWithAPhraseAndAReason) {
  for (int i = 0; i <= static_cast<int>(Reject::Internal); ++i) {
    const ReplyRow& row = reply_row(static_cast<Reject>(i));
    EXPECT_GE(row.status, 400) << i;
    EXPECT_LT(row.status, 700) << i;
    EXPECT_NE(std::string(row.phrase), "") << i;
    EXPECT_NE(std::string(row.reason), "") << i;
    if (row.value) {
      EXPECT_NE(row.header, nullptr) << i;
    }
  }
}

TEST(ReplyTable, RegistrarErrorsComeFromTheTable) {
  std::set<std::string> phrases;
  for (RegError e : {RegError::BadContact, RegError::BadQValue, RegError::StarWithContacts,
                     RegError::StarWithoutExpiresZero, RegError::IntervalTooBrief, RegError::BadExpires,
                     RegError::MissingHeader, RegError::OutOfOrder, RegError::Internal}) {
    const RegReply r = reg_reply(e);
    const ReplyRow& row = reply_row(reg_reject(e));
    EXPECT_EQ(r.status, row.status);
    EXPECT_STREQ(r.phrase, row.phrase);
    EXPECT_TRUE(phrases.insert(r.phrase).second) << "two registrar errors share the phrase " << r.phrase;
  }
  EXPECT_EQ(reg_reply(RegError::IntervalTooBrief).status, 423);
  EXPECT_EQ(reg_reply(RegError::None).status, 200);
}

}  // namespace
}  // namespace sippeer::adaptor
