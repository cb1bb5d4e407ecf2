// The default Storage: an ordered in-memory map, so a ring interval is one
// or two range scans.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "dht/ports.h"

namespace sippeer::dht {

class MemoryStorage final : public Storage {
 public:
  const StoredRecord* find(const Id& key, const std::string& aor) const override;
  void put(StoredRecord rec) override;
  bool erase(const Id& key, const std::string& aor) override;
  std::size_t size() const override { return size_; }
  void for_each(const std::function<void(const StoredRecord&)>& fn) const override;
  void for_each_in(const Id& a, const Id& b,
                   const std::function<void(const StoredRecord&)>& fn) const override;

 private:
  // Keyed by ring key, then AOR: two AORs may share a key on a small ring.
  std::map<Id, std::map<std::string, StoredRecord>> map_;
  std::size_t size_ = 0;
};

}  // namespace sippeer::dht
