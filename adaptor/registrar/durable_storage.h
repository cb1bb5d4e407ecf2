// dht::Storage with credentials kept on disk (issue 13): if every node of a
// LAN loses power, no account is lost. Mailboxes of offline messages
// (issue 17) are hard state too and are kept the same way.
//
// Reads are served from memory (a dht::MemoryStorage holds every record);
// every put or erase of a credential or mailbox record is also written, before it
// returns, to an SQLite database under state_dir (WAL, synchronous=FULL),
// and the database is read back at start. Bindings stay in memory only:
// they are soft state that phones refresh, and a disk write per REGISTER
// would cost far more than the 10% (docs/BENCHMARKS.md).
//
// dht::Time counts from the process start, so an expiry is written as
// Unix seconds and turned back into dht::Time by the reader's clock.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "dht/memory_storage.h"

struct sqlite3;
struct sqlite3_stmt;

namespace sippeer::adaptor {

class DurableStorage final : public dht::Storage {
 public:
  struct Clock {
    std::function<dht::Time()> now;          // the daemon's dht clock
    std::function<std::int64_t()> unix_now;  // wall clock, seconds
  };
  // Opens or creates the database at `path`. nullptr with *error set when
  // it cannot (the caller stops: a node that cannot keep credentials must
  // not pretend to).
  static std::unique_ptr<DurableStorage> open(const std::string& path, Clock clock, std::string* error);
  ~DurableStorage() override;

  std::optional<dht::RecordView> find(const dht::Id& key, std::string_view aor,
                                      dht::RecordKind kind = dht::RecordKind::Bindings) const override;
  using dht::Storage::put;
  void put(const dht::Record& rec, dht::Time expires) override;
  bool erase(const dht::Id& key, std::string_view aor,
             dht::RecordKind kind = dht::RecordKind::Bindings) override;
  std::size_t size() const override { return memory_.size(); }
  std::size_t count(dht::RecordKind kind) const override { return memory_.count(kind); }
  void for_each(const std::function<void(dht::RecordView)>& fn) const override;
  void for_each_unordered(const std::function<void(dht::RecordView)>& fn) const override {
    memory_.for_each_unordered(fn);
  }
  void visit_in(const dht::Id& a, const dht::Id& b,
                const std::function<bool(dht::RecordView)>& fn) const override;

  dht::Time expiry_floor() const override { return memory_.expiry_floor(); }
  void set_expiry_floor(dht::Time floor) override { memory_.set_expiry_floor(floor); }

  std::size_t loaded() const { return loaded_; }          // credentials read at start
  std::size_t loaded_mailboxes() const { return loaded_mailboxes_; }
  std::uint64_t write_errors() const { return write_errors_; }
  const std::string& path() const { return path_; }

 private:
  DurableStorage(std::string path, Clock clock) : path_(std::move(path)), clock_(std::move(clock)) {}
  bool prepare(std::string* error);
  bool load(std::string* error);
  bool load_table(int table, std::string* error);
  void write(int table, const dht::Record& rec, dht::Time expires);
  void remove(int table, std::string_view aor);

  static constexpr int kTableCount = 2;  // credentials, mailboxes

  std::string path_;
  Clock clock_;
  dht::MemoryStorage memory_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* upsert_[kTableCount] = {};
  sqlite3_stmt* delete_[kTableCount] = {};
  std::size_t loaded_ = 0;
  std::size_t loaded_mailboxes_ = 0;
  std::uint64_t write_errors_ = 0;
};

}  // namespace sippeer::adaptor
