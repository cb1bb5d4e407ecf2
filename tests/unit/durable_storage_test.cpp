// Credentials on disk (adaptor/registrar/durable_storage.h): what a node
// stored is there after a restart, bindings are not, expired ones are not.
#include <gtest/gtest.h>

#include <filesystem>

#include "adaptor/registrar/durable_storage.h"

namespace sippeer::adaptor {
namespace {

using dht::RecordKind;
using namespace std::chrono_literals;

class DurableStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sippeer-durable-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<DurableStorage> open() {
    std::string err;
    auto s = DurableStorage::open((dir_ / "credentials.db").string(),
                                  {[this] { return dht_now_; }, [this] { return unix_now_; }}, &err);
    EXPECT_TRUE(s) << err;
    return s;
  }
  static dht::StoredRecord record(const std::string& aor, RecordKind kind, std::uint64_t version, dht::Time expires) {
    dht::StoredRecord sr;
    sr.record.key = dht::Id::from_u64(std::hash<std::string>{}(aor));
    sr.record.aor = aor;
    sr.record.kind = kind;
    sr.record.version = version;
    sr.record.bindings = {kind == RecordKind::Credential ? "user=a;realm=r;md5=0123456789abcdef0123456789abcdef"
                                                         : "<sip:a@10.0.0.1>"};
    sr.expires = expires;
    return sr;
  }

  std::filesystem::path dir_;
  dht::Time dht_now_ = dht::Time(1000s);
  std::int64_t unix_now_ = 1'800'000'000;
};

TEST_F(DurableStorageTest, CredentialsSurviveARestartBindingsDoNot) {
  {
    auto s = open();
    s->put(record("sip:alice@x", RecordKind::Credential, 7, dht_now_ + 3600s));
    s->put(record("sip:alice@x", RecordKind::Bindings, 3, dht_now_ + 600s));
    s->put(record("sip:bob@x", RecordKind::Credential, 1, dht_now_ + 3600s));
    EXPECT_TRUE(s->erase(dht::Id::from_u64(std::hash<std::string>{}("sip:bob@x")), "sip:bob@x", RecordKind::Credential));
    EXPECT_EQ(s->size(), 2u);
  }
  // A new process: its dht clock starts again, the wall clock went on.
  dht_now_ = dht::Time(5s);
  unix_now_ += 100;
  auto s = open();
  EXPECT_EQ(s->loaded(), 1u);
  const std::optional<dht::StoredRecord> a =
      stored_copy(s->find(dht::Id::from_u64(std::hash<std::string>{}("sip:alice@x")), "sip:alice@x",
                          RecordKind::Credential));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->record.version, 7u);
  EXPECT_EQ(a->expires, dht_now_ + 3500s);  // the hour less the 100 s that passed
  EXPECT_FALSE(s->find(a->record.key, "sip:alice@x"));  // bindings are soft state
}

// Issue 17: a mailbox of offline messages is hard state too; its values
// (one per message, in order) come back as they were, beside a credential
// of the same AOR, and an emptied mailbox comes back as a tombstone.
TEST_F(DurableStorageTest, MailboxesSurviveARestartInOrder) {
  const dht::Id bob = dht::Id::from_u64(std::hash<std::string>{}("sip:bob@x"));
  {
    auto s = open();
    auto box = record("sip:bob@x", RecordKind::Mailbox, 4, dht_now_ + 3600s);
    box.record.bindings = {"id=0000000000000001;t=1;body=YQ==", "id=0000000000000002;t=2;body=Yg==",
                           "id=0000000000000003;t=3;body=Yw=="};
    s->put(box);
    s->put(record("sip:bob@x", RecordKind::Credential, 9, dht_now_ + 3600s));
    auto empty = record("sip:carol@x", RecordKind::Mailbox, 2, dht_now_ + 3600s);
    empty.record.bindings.clear();
    s->put(empty);
  }
  auto s = open();
  EXPECT_EQ(s->loaded(), 1u);
  EXPECT_EQ(s->loaded_mailboxes(), 2u);
  const std::optional<dht::StoredRecord> box = stored_copy(s->find(bob, "sip:bob@x", RecordKind::Mailbox));
  ASSERT_TRUE(box);
  EXPECT_EQ(box->record.version, 4u);
  ASSERT_EQ(box->record.bindings.size(), 3u);
  EXPECT_EQ(box->record.bindings[2], "id=0000000000000003;t=3;body=Yw==");
  ASSERT_TRUE(s->find(bob, "sip:bob@x", RecordKind::Credential));
  const std::optional<dht::StoredRecord> carol =
      stored_copy(s->find(dht::Id::from_u64(std::hash<std::string>{}("sip:carol@x")), "sip:carol@x",
                          RecordKind::Mailbox));
  ASSERT_TRUE(carol);
  EXPECT_TRUE(carol->record.tombstone());
  EXPECT_TRUE(s->erase(bob, "sip:bob@x", RecordKind::Mailbox));
  s.reset();
  EXPECT_EQ(open()->loaded_mailboxes(), 1u);
}

TEST_F(DurableStorageTest, ExpiredCredentialsAreNotLoadedAndTombstonesAre) {
  {
    auto s = open();
    s->put(record("sip:old@x", RecordKind::Credential, 1, dht_now_ + 10s));
    auto gone = record("sip:gone@x", RecordKind::Credential, 2, dht_now_ + 3600s);
    gone.record.bindings.clear();  // a deleted user: kept so no old copy comes back
    s->put(gone);
  }
  unix_now_ += 60;
  auto s = open();
  EXPECT_EQ(s->loaded(), 1u);
  const std::optional<dht::StoredRecord> g =
      stored_copy(s->find(dht::Id::from_u64(std::hash<std::string>{}("sip:gone@x")), "sip:gone@x",
                          RecordKind::Credential));
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->record.tombstone());
}

TEST_F(DurableStorageTest, AnUnwritablePathIsAnError) {
  std::string err;
  auto s = DurableStorage::open("/nonexistent/dir/credentials.db", {[] { return dht::Time{}; }, [] { return 0; }},
                                &err);
  EXPECT_FALSE(s);
  EXPECT_NE(err.find("/nonexistent/dir/credentials.db"), std::string::npos) << err;
}

}  // namespace
}  // namespace sippeer::adaptor
