// Provisioning of users (issue 13), the SIP-thread side: `sippeer ctl
// user add|passwd|del` (POST /users) writes a credential into the ring
// from any node: it is stored at the AOR's responsible node, which
// replicates it and keeps it on disk. GET /users reads what this node
// stores (snapshot.cpp gathers it, admin/users.cpp renders it).
#include <chrono>

#include "adaptor/admin/json.h"
#include "adaptor/log.h"
#include "adaptor/node/daemon.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "auth";  // see adaptor/log.h

void Daemon::change_user(const std::string& op, const std::string& aor_text, const std::string& password,
                         std::function<void(int, std::string)> done) {
  const auto aor = dht::Codec::canonical_aor(aor_text);
  const auto parts = aor ? aor_parts(*aor, settings_.auth_realm) : std::nullopt;
  if (!parts) return done(400, json_error("not a SIP AOR: " + aor_text));
  if (op != "add" && op != "passwd" && op != "set" && op != "del")
    return done(400, json_error("op must be add, passwd, set or del"));
  if (op != "del" && password.empty()) return done(400, json_error("missing password"));
  if (!node_->joined()) return done(503, json_error("this node has not joined a ring yet"));
  const dht::Id key = ring_->hash(*aor);
  const std::string a = *aor;
  const AorParts p = *parts;
  const dht::Duration ttl = std::chrono::hours(24) * settings_.auth_credential_ttl_days;
  // First ask whether the user exists (add must not overwrite, passwd and
  // del need someone to change), then store the new version.
  reschedule(node_->lookup(
      now(), dht::Target::user(key, a),
      [this, op, a, p, key, ttl, password, done](const dht::LookupResult& r) {
        if (r.status != 200 && r.status != 404) return done(503, json_error("lookup failed: " + std::to_string(r.status)));
        const bool exists = r.status == 200 && r.record && !r.record->tombstone();
        if (op == "add" && exists) return done(409, json_error(a + " exists; use passwd to change its password"));
        if ((op == "passwd" || op == "del") && !exists) return done(404, json_error("no such user: " + a));
        dht::Record rec{key, a, {}, credential_version_now(), dht::RecordKind::Credential};
        if (op != "del") rec.bindings = {encode_credential(Credential::from_password(p.user, p.realm, password))};
        reschedule(node_->store(now(), rec, ttl, [op, a, p, rec, done](const dht::LookupResult& s) {
          if (s.status != 200) return done(503, json_error("store failed: " + std::to_string(s.status)));
          SIPPEER_LOG(Info) << "auth: user " << a << (op == "del" ? " deleted" : op == "add" ? " added" : " password set")
                            << " (version " << rec.version << ")";
          done(200, json_text(Json{{"aor", a}, {"user", p.user}, {"realm", p.realm}, {"op", op},
                                   {"version", rec.version}}));
        }));
      },
      dht::RecordKind::Credential));
}

}  // namespace sippeer::adaptor
