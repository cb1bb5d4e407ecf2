// The decoded bindings of the records the proxy routes to.
//
// A stored binding is Contact text (registrar.h); decoding it runs Sofia's
// Contact parser, some 10,000 instructions per binding, and a request to
// a registered user needs its bindings twice (is anyone there, then one
// branch each). The text changes only when the user registers again, so
// the proxy decodes it once per change and reads the cache otherwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "adaptor/registrar/registrar.h"
#include "dht/packed_record.h"

namespace sippeer::adaptor {

class BindingCache {
 public:
  // Past `capacity` AORs the cache starts again empty: a simple bound
  // that costs one decode per AOR afterwards, never a wrong answer.
  explicit BindingCache(std::size_t capacity = 8192) : capacity_(capacity) {}

  // Same result as live_bindings(record, now_unix).
  std::vector<Binding> live(dht::RecordView record, std::int64_t now_unix);

  std::size_t size() const { return by_aor_.size(); }

 private:
  struct Entry {
    std::vector<std::string> raw;  // the record's binding strings when decoded
    std::vector<Binding> sorted;   // all of them decoded, highest q first
  };
  // Found by the stored record's AOR as a view, without a copy.
  struct AorHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Entry, AorHash, std::equal_to<>> by_aor_;
  std::size_t capacity_;
};

}  // namespace sippeer::adaptor
