#include "adaptor/registrar/durable_storage.h"

#include <sqlite3.h>

#include "adaptor/log.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "store";  // see adaptor/log.h

namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS credentials ("
    " aor TEXT PRIMARY KEY,"
    " ring_key TEXT NOT NULL,"       // hex of the AOR's key
    " version INTEGER NOT NULL,"
    " value TEXT NOT NULL,"          // the record value, '' for a deleted user
    " expires_unix INTEGER NOT NULL)";
// Offline messages (issue 17): the same columns; value holds the record's
// values (adaptor/registrar/mailbox.h, never a newline of their own) one per
// line, '' for an emptied mailbox.
constexpr const char* kMailboxSchema =
    "CREATE TABLE IF NOT EXISTS mailboxes ("
    " aor TEXT PRIMARY KEY,"
    " ring_key TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " value TEXT NOT NULL,"
    " expires_unix INTEGER NOT NULL)";

constexpr const char* kTables[] = {"credentials", "mailboxes"};

// Which table keeps a kind, or -1 for soft state kept in memory only.
int table_of(dht::RecordKind kind) {
  switch (kind) {
    case dht::RecordKind::Credential: return 0;
    case dht::RecordKind::Mailbox: return 1;
    default: return -1;
  }
}

std::string joined(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : "\n") + v;
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::string sqlite_error(sqlite3* db, const std::string& what) {
  return what + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
}

}  // namespace

std::unique_ptr<DurableStorage> DurableStorage::open(const std::string& path, Clock clock, std::string* error) {
  std::unique_ptr<DurableStorage> s(new DurableStorage(path, std::move(clock)));
  if (sqlite3_open_v2(path.c_str(), &s->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    *error = sqlite_error(s->db_, "cannot open " + path);
    return nullptr;
  }
  if (!s->prepare(error) || !s->load(error)) return nullptr;
  return s;
}

DurableStorage::~DurableStorage() {
  for (int t = 0; t < kTableCount; ++t) {
    sqlite3_finalize(upsert_[t]);
    sqlite3_finalize(delete_[t]);
  }
  sqlite3_close(db_);
}

bool DurableStorage::prepare(std::string* error) {
  // WAL: a reader never waits for the writer, and a crash mid-write
  // leaves the last committed state. synchronous=FULL: a credential is
  // on disk when put() returns, power loss included; credentials change
  // rarely, so the fsync costs nothing that matters.
  for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=2000",
                          kSchema, kMailboxSchema}) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      *error = path_ + ": " + sql + ": " + (msg ? msg : "failed");
      sqlite3_free(msg);
      return false;
    }
  }
  for (int t = 0; t < kTableCount; ++t) {
    const std::string table = kTables[t];
    const std::string upsert = "INSERT INTO " + table +
                               "(aor, ring_key, version, value, expires_unix) VALUES(?,?,?,?,?)"
                               " ON CONFLICT(aor) DO UPDATE SET ring_key=excluded.ring_key, version=excluded.version,"
                               " value=excluded.value, expires_unix=excluded.expires_unix";
    const std::string del = "DELETE FROM " + table + " WHERE aor=?";
    if (sqlite3_prepare_v2(db_, upsert.c_str(), -1, &upsert_[t], nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(db_, del.c_str(), -1, &delete_[t], nullptr) != SQLITE_OK) {
      *error = sqlite_error(db_, path_);
      return false;
    }
  }
  return true;
}

bool DurableStorage::load(std::string* error) {
  for (int t = 0; t < kTableCount; ++t)
    if (!load_table(t, error)) return false;
  return true;
}

bool DurableStorage::load_table(int table, std::string* error) {
  sqlite3_stmt* st = nullptr;
  const std::string sql = std::string("SELECT aor, ring_key, version, value, expires_unix FROM ") + kTables[table];
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    *error = sqlite_error(db_, path_);
    return false;
  }
  const dht::RecordKind kind = table == 0 ? dht::RecordKind::Credential : dht::RecordKind::Mailbox;
  const std::int64_t unix_now = clock_.unix_now();
  const dht::Time now = clock_.now();
  std::size_t expired = 0, bad = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const auto text = [&](int col) {
      const unsigned char* t = sqlite3_column_text(st, col);
      return std::string(t ? reinterpret_cast<const char*>(t) : "");
    };
    auto key = dht::Id::from_hex(text(1));
    const std::int64_t expires_unix = sqlite3_column_int64(st, 4);
    if (!key) {
      ++bad;
      continue;
    }
    if (expires_unix <= unix_now) {
      ++expired;
      continue;
    }
    dht::StoredRecord sr;
    sr.record.key = *key;
    sr.record.aor = text(0);
    sr.record.version = static_cast<std::uint64_t>(sqlite3_column_int64(st, 2));
    sr.record.kind = kind;
    sr.record.bindings = split_lines(text(3));
    sr.expires = now + std::chrono::seconds(expires_unix - unix_now);
    memory_.put(std::move(sr));
    if (table == 0) ++loaded_;
    else ++loaded_mailboxes_;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    *error = sqlite_error(db_, "reading " + path_);
    return false;
  }
  if (expired || bad)
    SIPPEER_LOG(Info) << path_ << ": skipped " << expired << " expired and " << bad << " unreadable "
                      << kTables[table];
  return true;
}

void DurableStorage::write(int table, const dht::Record& rec, dht::Time expires) {
  const std::int64_t expires_unix =
      clock_.unix_now() + std::chrono::duration_cast<std::chrono::seconds>(expires - clock_.now()).count();
  const std::string key = rec.key.to_hex();
  const std::string value = joined(rec.bindings);
  sqlite3_stmt* upsert = upsert_[table];
  sqlite3_reset(upsert);
  sqlite3_bind_text(upsert, 1, rec.aor.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(upsert, 2, key.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(upsert, 3, static_cast<sqlite3_int64>(rec.version));
  sqlite3_bind_text(upsert, 4, value.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(upsert, 5, expires_unix);
  if (sqlite3_step(upsert) != SQLITE_DONE) {
    ++write_errors_;
    SIPPEER_LOG(Error) << sqlite_error(db_, path_ + ": cannot write the " + dht::record_kind_name(rec.kind) +
                                                " of " + rec.aor);
  }
}

void DurableStorage::remove(int table, std::string_view aor) {
  sqlite3_stmt* del = delete_[table];
  sqlite3_reset(del);
  sqlite3_bind_text(del, 1, aor.data(), static_cast<int>(aor.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(del) != SQLITE_DONE) {
    ++write_errors_;
    SIPPEER_LOG(Error) << sqlite_error(db_, path_ + ": cannot delete from " + kTables[table] + " the record of " +
                                                std::string(aor));
  }
}

std::optional<dht::RecordView> DurableStorage::find(const dht::Id& key, std::string_view aor,
                                                    dht::RecordKind kind) const {
  return memory_.find(key, aor, kind);
}

void DurableStorage::put(const dht::Record& rec, dht::Time expires) {
  if (const int t = table_of(rec.kind); t >= 0) write(t, rec, expires);
  memory_.put(rec, expires);
}

bool DurableStorage::erase(const dht::Id& key, std::string_view aor, dht::RecordKind kind) {
  if (const int t = table_of(kind); t >= 0) remove(t, aor);
  return memory_.erase(key, aor, kind);
}

void DurableStorage::for_each(const std::function<void(dht::RecordView)>& fn) const {
  memory_.for_each(fn);
}

void DurableStorage::visit_in(const dht::Id& a, const dht::Id& b,
                              const std::function<bool(dht::RecordView)>& fn) const {
  memory_.visit_in(a, b, fn);
}

}  // namespace sippeer::adaptor
