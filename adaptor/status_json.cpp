// GET /status and GET /lookup bodies, built in the SIP thread.
#include <ctime>

#include "adaptor/daemon.h"
#include "adaptor/registrar.h"
#include "adaptor/json.h"

namespace sippeer::adaptor {

namespace {

std::string node_json(const dht::Codec& codec, const dht::Ring& ring, const dht::NodeRef& n) {
  return "{\"id\":" + json_string(ring.hex(n.id)) + ",\"uri\":" + json_string(codec.node_uri(n)) + "}";
}

}  // namespace

std::string Daemon::status_json() const {
  const dht::NodeStatus s = node_->status();
  const auto& c = *codec_;
  std::string j = "{\"node\":{\"id\":" + json_string(ring_->hex(s.self.id)) +
                  ",\"uri\":" + json_string(c.node_uri(s.self)) +
                  ",\"address\":" + json_string(local_address_) + "}";
  j += ",\"state\":" + json_string(dht::state_name(s.state));
  j += std::string(",\"joined\":") + (s.state == dht::NodeStatus::State::Joined ? "true" : "false");
  j += ",\"discovery\":" + json_string(discovery_method_);
  j += ",\"predecessor\":" + (s.predecessor ? node_json(c, *ring_, *s.predecessor) : std::string("null"));
  j += ",\"successors\":[";
  for (std::size_t i = 0; i < s.successors.size(); ++i)
    j += (i ? "," : "") + node_json(c, *ring_, s.successors[i]);
  j += "],\"fingers\":[";
  for (std::size_t i = 0; i < s.fingers.size(); ++i) {
    const auto& f = s.fingers[i];
    j += (i ? "," : "") + std::string("{\"index\":") + std::to_string(f.index) +
         ",\"start\":" + json_string(ring_->hex(f.start)) + ",\"node\":" +
         (f.node.empty() ? std::string("null") : node_json(c, *ring_, f.node)) + "}";
  }
  j += "],\"stored\":{\"primary\":" + std::to_string(s.primary_records) +
       ",\"replicas\":" + std::to_string(s.replica_records) + "}";
  if (s.duplicate_of) j += ",\"duplicate_of\":" + node_json(c, *ring_, *s.duplicate_of);
  const auto& k = node_->counters();
  j += ",\"counters\":{\"requests_sent\":" + std::to_string(k.requests_sent) +
       ",\"requests_received\":" + std::to_string(k.requests_received) +
       ",\"requests_forwarded\":" + std::to_string(k.requests_forwarded) +
       ",\"nodes_failed\":" + std::to_string(k.nodes_failed) +
       ",\"stabilize_rounds\":" + std::to_string(k.stabilize_rounds) +
       ",\"bad_messages\":" + std::to_string(k.bad_messages + transport_->counters().bad_requests) + "}";
  return j + "}";
}

void Daemon::lookup_aor(const std::string& aor, std::function<void(int, std::string)> done) {
  auto canonical = dht::Codec::canonical_aor(aor);
  if (!canonical) {
    done(400, "{\"error\":" + json_string("not a SIP URI: " + aor) + "}");
    return;
  }
  const dht::Id key = ring_->hash(*canonical);
  const std::string a = *canonical;
  const dht::Codec* codec = codec_.get();
  const dht::Ring* ring = ring_.get();
  reschedule(node_->lookup(now(), dht::Target::user(key, a), [done, a, key, codec, ring](const dht::LookupResult& r) {
    std::string j = "{\"aor\":" + json_string(a) + ",\"key\":" + json_string(ring->hex(key)) +
                    ",\"status\":" + std::to_string(r.status) + ",\"node\":" +
                    (r.owner ? "{\"id\":" + json_string(ring->hex(r.owner->id)) + ",\"uri\":" +
                                   json_string(codec->node_uri(*r.owner)) + "}"
                             : std::string("null")) +
                    ",\"hops\":" + std::to_string(r.hops) + ",\"bindings\":[";
    if (r.record) {
      // Registrar bindings in their public form (expires = seconds left,
      // never the p2p-* internals); anything else as stored.
      const auto now_unix = static_cast<std::int64_t>(std::time(nullptr));
      bool first = true;
      for (const auto& raw : r.record->bindings) {
        std::string shown = raw;
        if (auto b = decode_binding(raw)) {
          if (b->expires_at <= now_unix) continue;
          dht::Record one;
          one.bindings = {raw};
          const auto pub = reply_contacts(one, now_unix);
          if (!pub.empty()) shown = pub.front();
        }
        j += (first ? "" : ",") + json_string(shown);
        first = false;
      }
    }
    j += "]}";
    done(r.status == 200 ? 200 : (r.status == 404 ? 404 : 503), j);
  }));
}

}  // namespace sippeer::adaptor
