#include "adaptor/registrar/location.h"

#include <ctime>

namespace sippeer::adaptor {

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::vector<Binding> Location::live(const dht::Id& key, const std::string& aor, std::int64_t now_unix) {
  const std::optional<dht::RecordView> sr = storage_.find(key, aor);
  if (!sr) return {};
  return cache_.live(*sr, now_unix);
}

RegisterOutcome Location::apply(const RegistrarPolicy& policy, const sip_t* sip, const std::string& aor,
                                const dht::Id& key, std::int64_t now_unix) const {
  const std::optional<dht::RecordView> found = storage_.find(key, aor);
  if (!found && storage_.size() >= policy.max_records) {
    // A made-up user too many: known ones are still refreshed, and the
    // ring's replicas are stored regardless (dht::Node), as refusing them
    // would lose registrations.
    RegisterOutcome full;
    full.error = RegError::RegistrarFull;
    const RegReply r = reg_reply(full.error);
    full.status = r.status;
    full.phrase = r.phrase;
    return full;
  }
  // A copy: apply_register reads the record as it was, and the caller
  // stores the outcome through the ring.
  const std::optional<dht::Record> existing = found ? std::optional(found->record()) : std::nullopt;
  return apply_register(policy, sip, aor, key, existing ? &*existing : nullptr, now_unix);
}

StoredValues Location::values(const dht::Id& key, const std::string& aor, dht::RecordKind kind) const {
  const std::optional<dht::RecordView> sr = storage_.find(key, aor, kind);
  if (!sr) return {};
  return StoredValues{sr->values().strings(), sr->version()};
}

void Location::each(dht::RecordKind kind, const std::function<void(dht::RecordView)>& fn) const {
  storage_.for_each([&](dht::RecordView sr) {
    if (sr.kind() == kind) fn(sr);
  });
}

std::optional<StoredCredential> Location::credential(const dht::Id& key, const std::string& aor) const {
  const std::optional<dht::RecordView> sr = storage_.find(key, aor, dht::RecordKind::Credential);
  if (!sr || sr->tombstone()) return std::nullopt;
  auto c = parse_credential(sr->values().front());
  if (!c) return std::nullopt;
  return StoredCredential{std::move(*c), sr->version(), sr->expires()};
}

}  // namespace sippeer::adaptor
