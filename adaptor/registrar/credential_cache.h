// The credentials an edge node fetched from the ring to check its phones'
// calls (issue 13): bounded (least recently used dropped first), each kept
// for auth.cache_ttl_s, and dropped at once when a check with it fails, so
// a changed password (a new record version) is fetched on the phone's next
// try. A user the ring has no credential for is remembered too, for the
// same time, so calls from foreign domains cost one lookup per TTL.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>

#include "adaptor/registrar/credential.h"

namespace sippeer::adaptor {

class CredentialCache {
 public:
  struct Entry {
    std::optional<Credential> credential;  // nullopt: the ring has none
    std::uint64_t version = 0;
    std::int64_t fetched_s = 0;
  };
  CredentialCache(std::size_t capacity, std::int64_t ttl_s) : capacity_(capacity), ttl_s_(ttl_s) {}

  // The entry for `aor` if it is younger than the TTL.
  const Entry* find(const std::string& aor, std::int64_t now_s);
  void put(const std::string& aor, Entry e);
  void drop(const std::string& aor);
  std::size_t size() const { return map_.size(); }
  void configure(std::size_t capacity, std::int64_t ttl_s);

 private:
  std::size_t capacity_;
  std::int64_t ttl_s_;
  std::list<std::string> order_;  // most recently used first
  struct Slot {
    Entry entry;
    std::list<std::string>::iterator at;
  };
  std::unordered_map<std::string, Slot> map_;
};

}  // namespace sippeer::adaptor
