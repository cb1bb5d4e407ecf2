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
  sqlite3_finalize(upsert_);
  sqlite3_finalize(delete_);
  sqlite3_close(db_);
}

bool DurableStorage::prepare(std::string* error) {
  // WAL: a reader never waits for the writer, and a crash mid-write
  // leaves the last committed state. synchronous=FULL: a credential is
  // on disk when put() returns, power loss included; credentials change
  // rarely, so the fsync costs nothing that matters.
  for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=2000",
                          kSchema}) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      *error = path_ + ": " + sql + ": " + (msg ? msg : "failed");
      sqlite3_free(msg);
      return false;
    }
  }
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO credentials(aor, ring_key, version, value, expires_unix) VALUES(?,?,?,?,?)"
                         " ON CONFLICT(aor) DO UPDATE SET ring_key=excluded.ring_key, version=excluded.version,"
                         " value=excluded.value, expires_unix=excluded.expires_unix",
                         -1, &upsert_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_, "DELETE FROM credentials WHERE aor=?", -1, &delete_, nullptr) != SQLITE_OK) {
    *error = sqlite_error(db_, path_);
    return false;
  }
  return true;
}

bool DurableStorage::load(std::string* error) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT aor, ring_key, version, value, expires_unix FROM credentials", -1, &st,
                         nullptr) != SQLITE_OK) {
    *error = sqlite_error(db_, path_);
    return false;
  }
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
    sr.record.kind = dht::RecordKind::Credential;
    if (std::string v = text(3); !v.empty()) sr.record.bindings.push_back(std::move(v));
    sr.expires = now + std::chrono::seconds(expires_unix - unix_now);
    memory_.put(std::move(sr));
    ++loaded_;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    *error = sqlite_error(db_, "reading " + path_);
    return false;
  }
  if (expired || bad)
    SIPPEER_LOG(Info) << path_ << ": skipped " << expired << " expired and " << bad << " unreadable credentials";
  return true;
}

void DurableStorage::write(const dht::StoredRecord& rec) {
  const std::int64_t expires_unix =
      clock_.unix_now() + std::chrono::duration_cast<std::chrono::seconds>(rec.expires - clock_.now()).count();
  const std::string key = rec.record.key.to_hex();
  const std::string value = rec.record.bindings.empty() ? std::string() : rec.record.bindings.front();
  sqlite3_reset(upsert_);
  sqlite3_bind_text(upsert_, 1, rec.record.aor.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(upsert_, 2, key.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(upsert_, 3, static_cast<sqlite3_int64>(rec.record.version));
  sqlite3_bind_text(upsert_, 4, value.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(upsert_, 5, expires_unix);
  if (sqlite3_step(upsert_) != SQLITE_DONE) {
    ++write_errors_;
    SIPPEER_LOG(Error) << sqlite_error(db_, path_ + ": cannot write the credential of " + rec.record.aor);
  }
}

void DurableStorage::remove(const dht::Id&, const std::string& aor) {
  sqlite3_reset(delete_);
  sqlite3_bind_text(delete_, 1, aor.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(delete_) != SQLITE_DONE) {
    ++write_errors_;
    SIPPEER_LOG(Error) << sqlite_error(db_, path_ + ": cannot delete the credential of " + aor);
  }
}

const dht::StoredRecord* DurableStorage::find(const dht::Id& key, const std::string& aor,
                                              dht::RecordKind kind) const {
  return memory_.find(key, aor, kind);
}

void DurableStorage::put(dht::StoredRecord rec) {
  if (rec.record.kind == dht::RecordKind::Credential) write(rec);
  memory_.put(std::move(rec));
}

bool DurableStorage::erase(const dht::Id& key, const std::string& aor, dht::RecordKind kind) {
  if (kind == dht::RecordKind::Credential) remove(key, aor);
  return memory_.erase(key, aor, kind);
}

void DurableStorage::for_each(const std::function<void(const dht::StoredRecord&)>& fn) const {
  memory_.for_each(fn);
}

void DurableStorage::for_each_in(const dht::Id& a, const dht::Id& b,
                                 const std::function<void(const dht::StoredRecord&)>& fn) const {
  memory_.for_each_in(a, b, fn);
}

}  // namespace sippeer::adaptor
