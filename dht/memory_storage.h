// The default Storage: the records in a hash index (record_index.h), so
// that finding one (every REGISTER, Store, Transfer and lookup does, often
// twice) is one hash probe, and their ring order kept lazily beside it, so
// that a ring interval is one or two binary searches and a walk.
//
// Why lazily: the order is read only when the ring changes (a hand-over,
// a replica resync, a leave) or someone lists records, while a ring node
// inserts a record per new AOR at every copy. Keeping a tree in order on
// each insert was 12-16 % of a ring node's CPU at 12,000 new AORs/s (perf,
// issue 15: cache misses in the descent); appending to a vector is not.
// The order is merged when asked for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dht/ports.h"
#include "dht/record_index.h"

namespace sippeer::dht {

class MemoryStorage final : public Storage {
 public:
  std::optional<RecordView> find(const Id& key, std::string_view aor,
                                 RecordKind kind = RecordKind::Bindings) const override;
  using Storage::put;
  void put(const Record& rec, Time expires) override;
  bool erase(const Id& key, std::string_view aor, RecordKind kind = RecordKind::Bindings) override;
  std::size_t size() const override { return records_.size(); }
  std::size_t count(RecordKind kind) const override { return counts_[static_cast<std::size_t>(kind)]; }
  void for_each(const std::function<void(RecordView)>& fn) const override;
  void for_each_unordered(const std::function<void(RecordView)>& fn) const override;
  void visit_in(const Id& a, const Id& b, const std::function<bool(RecordView)>& fn) const override;
  Time expiry_floor() const override { return expiry_floor_; }
  void set_expiry_floor(Time floor) override { expiry_floor_ = floor; }

 private:
  // A record's place in the ring order: by key, then AOR (two AORs may
  // share a key on a small ring), then kind. The key's top 64 bits are
  // copied here so that sorting and searching SHA-1 keys rarely reads
  // the record itself.
  struct Entry {
    std::uint64_t high;
    const unsigned char* rec;  // the record's block (packed_record.h)
  };
  static bool before(const Entry& x, const Entry& y);
  // The order, brought up to date: the records added since it was last
  // read are sorted and merged in; after an erase it is built anew.
  const std::vector<Entry>& ordered() const;
  // Drops the order, to be rebuilt at the next read (see order_lost_).
  void lose_order();

  // Owns the records. A record stays in its block unless a replacement
  // outgrows it (then the order is lost), so the order can point at blocks.
  RecordIndex records_;
  mutable std::vector<Entry> order_;  // every record when last read, in ring order
  // Records put since then, in no order: their blocks alone, 8 bytes each
  // (a node that is never asked for its order, such as the only one,
  // keeps one per record it holds).
  mutable std::vector<const unsigned char*> added_;
  // An erase leaves order_ pointing at a freed record: it is dropped and
  // rebuilt at the next read. Erasing is rare (expiry, handed-over ranges),
  // and so is a replacement too large for its block (a binding added).
  mutable bool order_lost_ = false;
  Time expiry_floor_ = kNever;  // empty: nothing expires
  std::size_t counts_[4] = {};  // per RecordKind
};

}  // namespace sippeer::dht
