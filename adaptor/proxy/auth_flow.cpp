// Digest authentication of phones (issue 13): the AOR's registrar
// challenges REGISTER (401), the phone's edge node challenges its
// out-of-dialog requests (407). The decisions are the Authenticator's
// (adaptor/registrar/authenticator.h); this file finds the credential,
// answers, and lets what passed go on.
//
// A request one node has checked crosses the ring with
//
//   P2P-Identity: ts=<unix seconds>;mac=<HMAC-SHA256 hex>
//
// over its From AOR, Call-ID, CSeq and the time, keyed by overlay.secret
// (RFC 3325's P-Asserted-Identity, for a trust domain that is the ring), so
// the next nodes do not challenge it again. Without overlay.secret the
// key is empty and the header is a formality, as is every other promise a
// ring without admission makes: the daemon warns about that at start.

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdlib>

#include "adaptor/log.h"
#include "adaptor/proxy/proxy.h"
#include "adaptor/registrar/credential.h"
#include "adaptor/sip/crypto.h"
#include "dht/codec.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "auth";  // see adaptor/log.h
constexpr const char* kIdentityHeader = "P2P-Identity";

namespace {

// The Authorization values as text, from the parsed scheme and params:
// Sofia's sip_header_as_string drops the last parameter of a long value
// (cnonce, measured with libsofia-sip-ua 1.12.11), so it is not used here.
template <class H>
std::vector<std::string> header_values(const H* first) {
  std::vector<std::string> out;
  for (const H* h = first; h; h = h->au_next) {
    std::string v = h->au_scheme ? h->au_scheme : "";
    for (const msg_param_t* p = h->au_params; p && *p; ++p) v += std::string(p == h->au_params ? " " : ", ") + *p;
    out.push_back(std::move(v));
  }
  return out;
}

std::string join_challenges(const std::vector<std::string>& values, const char* header) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : std::string("\r\n") + header + ": ") + v;
  return out;
}

std::string request_id(const sip_t* sip) {
  return std::string(sip->sip_call_id && sip->sip_call_id->i_id ? sip->sip_call_id->i_id : "") + " " +
         std::to_string(sip->sip_cseq ? sip->sip_cseq->cs_seq : 0) + " " +
         (sip->sip_request ? sip->sip_request->rq_method_name : "");
}

std::string ip_of(const std::string& host_port) { return host_port.substr(0, host_port.rfind(':')); }

}  // namespace

bool Proxy::auth_on() const { return ctx_.auth && ctx_.settings->auth_mode != "off"; }

std::string Proxy::phone_source(msg_t* msg, const sip_t* sip) const {
  // The address that sent the phone's request: the packet's source, or,
  // for a request a ring node forwarded, the bottom Via (with the received
  // address the edge node added), since the failure limit is per phone:
  // counting the edge node would let one cracker block every phone behind
  // it. A ring node is one we know, or one whose P2P-Identity checks out
  // (the edge need not be in our routing state).
  const std::string from = source_of(msg);
  const sip_via_t* v = sip->sip_via;
  if (!v || !v->v_next || !(knows_node(from) || has_valid_identity(sip))) return ip_of(from);
  while (v->v_next) v = v->v_next;
  if (v->v_received) return v->v_received;
  return v->v_host ? v->v_host : ip_of(from);
}

// ------------------------------------------------------------- REGISTER

bool Proxy::authenticate_register(msg_t* msg, sip_t* sip, const std::string& aor, const dht::Id& key) {
  if (!auth_on()) return true;
  const auto parts = aor_parts(aor, ctx_.settings->auth_realm);
  if (!parts) {
    reject(msg, Reject::InvalidTo);
    return false;
  }
  const auto stored = ctx_.location->credential(key, aor);
  std::optional<Credential> credential;
  if (stored) credential = stored->credential;
  const std::int64_t now_s = unix_now();
  const std::string source = phone_source(msg, sip);
  if (!credential && ctx_.settings->auth_mode == "email" && !sip->sip_authorization) {
    sign_up(msg, aor, *parts, key, source);
    return false;
  }
  AuthQuestion q;
  q.method = "REGISTER";
  q.authorizations = header_values(sip->sip_authorization);
  q.realm = parts->realm;
  q.aor = aor;
  q.source = source;
  const std::string id = request_id(sip);
  q.request_id = id;
  const AuthOutcome out = ctx_.auth->check(q, credential, now_s);
  if (out.verdict == AuthVerdict::Ok) {
    if (stored) renew_credential(*stored, key, aor);
    return true;
  }
  answer_refusal(msg, out, /*proxy=*/false, aor, source);
  return false;
}

void Proxy::renew_credential(const StoredCredential& stored, const dht::Id& key, const std::string& aor) {
  // Report 5.2: a credential lives a month from its last use. Renewed at
  // most once a day, so signing in costs a replica write once a day.
  const dht::Duration ttl = std::chrono::hours(24) * ctx_.settings->auth_credential_ttl_days;
  const dht::Time now = ctx_.now();
  if (stored.expires - now > ttl - std::chrono::hours(24)) return;
  dht::Record r{key, aor, {encode_credential(stored.credential)}, stored.version + 1, dht::RecordKind::Credential};
  ctx_.reschedule(ctx_.node->store_here(now, r, ttl));
}

void Proxy::answer_refusal(msg_t* msg, const AuthOutcome& out, bool proxy, const std::string& aor,
                           const std::string& source) {
  ++counters_.rejected;
  Replier via{ctx_.agent, ctx_.fast_reply, kLogTag};
  switch (out.verdict) {
    case AuthVerdict::Challenge: {
      via.tag = nullptr;  // every sign-in starts so: not worth a log line
      const Reject r = proxy ? Reject::ProxyAuthRequired : Reject::Unauthorized;
      SIPPEER_LOG(Debug) << aor << ": challenged (" << out.why << ") from " << source;
      counters_.responses.add(send_reject(via, msg, r, join_challenges(out.challenges, reply_row(r).header)));
      return;
    }
    case AuthVerdict::Blocked:
      via.tag = nullptr;  // said once, when the limit was reached
      counters_.responses.add(
          send_reject(via, msg, Reject::AuthBlocked, std::to_string(ctx_.settings->auth_failure_window_s)));
      return;
    default:
      break;
  }
  if (out.newly_blocked)
    SIPPEER_LOG(Warn) << aor << " from " << source << ": " << ctx_.settings->auth_max_failures
                      << " failed sign-ins within " << ctx_.settings->auth_failure_window_s
                      << " s; refusing the source and the AOR until the window ends";
  counters_.responses.add(send_reject(via, msg, Reject::BadCredentials, {}, aor + ": " + out.why));
}

// ------------------------------------------------------------ the edge

bool Proxy::needs_edge_auth(msg_t* msg, const sip_t* sip) const {
  if (!auth_on()) return false;
  switch (sip->sip_request->rq_method) {
    case sip_method_invite:
    case sip_method_message:
    case sip_method_subscribe:
    case sip_method_refer:
    case sip_method_options:
    case sip_method_publish:
      break;
    default:
      return false;  // ACK and CANCEL never (RFC 3261 22.1), BYE and the rest are in a dialog
  }
  if (sip->sip_to && sip->sip_to->a_tag) return false;  // in a dialog: its INVITE was checked
  // OPTIONS to a node itself is a keep-alive ping, not a call.
  if (sip->sip_request->rq_method == sip_method_options && !sip->sip_request->rq_url->url_user) return false;
  if (!sip->sip_from) return false;  // reject_early answers it
  (void)msg;
  return !has_valid_identity(sip);
}

std::string Proxy::identity_mac(const sip_t* sip, std::int64_t ts) const {
  const char* from = sip->sip_from ? url_as_string(nullptr, sip->sip_from->a_url) : nullptr;
  const auto aor = from ? dht::Codec::canonical_aor(from) : std::nullopt;
  if (from) su_free(nullptr, const_cast<char*>(from));
  std::string input = std::string(kIdentityHeader) + "\n" + aor.value_or("") + "\n" + request_id(sip) + "\n" +
                      std::to_string(ts);
  // One keyed context for the proxy's life: building one per message
  // costs an algorithm fetch each time (docs/BENCHMARKS.md, overlay.secret).
  if (!identity_mac_) identity_mac_ = std::make_unique<HmacSha256>(ctx_.identity_key);
  return identity_mac_->hex(input);
}

bool Proxy::has_valid_identity(const sip_t* sip) const {
  for (const sip_unknown_t* u = sip->sip_unknown; u; u = u->un_next) {
    if (!u->un_name || strcasecmp(u->un_name, kIdentityHeader) != 0 || !u->un_value) continue;
    const std::string v = u->un_value;
    const auto ts_at = v.find("ts="), mac_at = v.find("mac=");
    if (ts_at == std::string::npos || mac_at == std::string::npos) return false;
    const std::int64_t ts = std::atoll(v.c_str() + ts_at + 3);
    const std::string mac = v.substr(mac_at + 4, 64);
    if (std::llabs(unix_now() - ts) > ctx_.settings->overlay_auth_window_s) return false;
    const std::string want = identity_mac(sip, ts);
    return mac.size() == want.size() && CRYPTO_memcmp(mac.data(), want.data(), mac.size()) == 0;
  }
  return false;
}

void Proxy::add_identity(msg_t* msg, sip_t* sip) {
  remove_unknown_header(msg, sip, kIdentityHeader);
  const std::int64_t ts = unix_now();
  const std::string h = std::string(kIdentityHeader) + ": ts=" + std::to_string(ts) + ";mac=" + identity_mac(sip, ts);
  msg_header_insert(msg, reinterpret_cast<msg_pub_t*>(sip), msg_header_make(msg_home(msg), sip_unknown_class, h.c_str()));
}

void Proxy::start_edge_auth(msg_t* msg, sip_t* sip) {
  su_home_t* home = msg_home(msg);
  const char* from_text = url_as_string(home, sip->sip_from->a_url);
  const auto aor = from_text ? dht::Codec::canonical_aor(from_text) : std::nullopt;
  const auto parts = aor ? aor_parts(*aor, ctx_.settings->auth_realm) : std::nullopt;
  if (!parts) {
    reject(msg, Reject::BadCredentials, {}, "From is not a SIP AOR");
    return;
  }
  const std::int64_t now_s = unix_now();
  if (const CredentialCache::Entry* e = ctx_.credential_cache->find(*aor, now_s)) {
    finish_edge_auth(msg, sip, *aor, *parts, e->credential);
    return;
  }
  // Park the request while the ring is asked (procedure 3.15 with
  // P2P-Record-Kind: credential); the answer may come at once, when this
  // node owns the From AOR's key.
  const std::uint64_t id = next_auth_id_++;
  auth_pending_[id] = msg;
  const std::weak_ptr<int> alive = alive_;
  const dht::Id key = ctx_.ring->hash(*aor);
  const std::string from_aor = *aor;
  const AorParts p = *parts;
  ctx_.reschedule(ctx_.node->lookup(
      ctx_.now(), dht::Target::user(key, from_aor),
      [this, alive, id, from_aor, p](const dht::LookupResult& r) {
        if (alive.expired()) return;
        auto it = auth_pending_.find(id);
        if (it == auth_pending_.end()) return;
        msg_t* m = it->second;
        auth_pending_.erase(it);
        if (r.status != 200 && r.status != 404) {
          reject(m, Reject::ServiceUnavailable, {}, "credential lookup failed: " + std::to_string(r.status));
          return;
        }
        CredentialCache::Entry e;
        e.fetched_s = unix_now();
        if (r.status == 200 && r.record && !r.record->bindings.empty()) {
          e.credential = parse_credential(r.record->bindings.front());
          e.version = r.record->version;
        }
        ctx_.credential_cache->put(from_aor, e);
        finish_edge_auth(m, sip_object(m), from_aor, p, e.credential);
      },
      dht::RecordKind::Credential));
}

void Proxy::finish_edge_auth(msg_t* msg, sip_t* sip, const std::string& aor, const AorParts& parts,
                             const std::optional<Credential>& credential) {
  const std::string source = phone_source(msg, sip);
  if (!credential) {
    // Not a user of ours (a call from a foreign domain comes in), unless
    // its domain is one whose users all have credentials.
    const auto& listed = ctx_.settings->auth_domains.empty() ? ctx_.settings->p2p_domains : ctx_.settings->auth_domains;
    const std::string host = aor_parts(aor)->realm;
    const bool ours = std::any_of(listed.begin(), listed.end(),
                                  [&](const std::string& d) { return strcasecmp(d.c_str(), host.c_str()) == 0; });
    if (!ours) {
      route_phone_request(msg, sip);
      return;
    }
    reject(msg, Reject::UnknownUser, {}, aor + " from " + source);
    return;
  }
  AuthQuestion q;
  q.method = sip->sip_request->rq_method_name;
  q.authorizations = header_values(sip->sip_proxy_authorization);
  q.realm = parts.realm;
  q.aor = aor;
  q.source = source;
  const std::string id = request_id(sip);
  q.request_id = id;
  const AuthOutcome out = ctx_.auth->check(q, credential, unix_now());
  if (out.verdict != AuthVerdict::Ok) {
    // A failed check may be an old copy: fetch it again next time.
    if (out.verdict == AuthVerdict::Forbidden) ctx_.credential_cache->drop(aor);
    answer_refusal(msg, out, /*proxy=*/true, aor, source);
    return;
  }
  // RFC 3261 22.3: the credentials for our realm end here.
  for (sip_proxy_authorization_t* a = sip->sip_proxy_authorization; a;) {
    sip_proxy_authorization_t* next = a->au_next;
    const char* realm = msg_header_find_param(a->au_common, "realm");
    if (realm && (parts.realm == realm || "\"" + parts.realm + "\"" == realm))
      msg_header_remove(msg, reinterpret_cast<msg_pub_t*>(sip), reinterpret_cast<msg_header_t*>(a));
    a = next;
  }
  route_phone_request(msg, sip);
}

// ---------------------------------------------------------------- e-mail

void Proxy::sign_up(msg_t* msg, const std::string& aor, const AorParts& parts, const dht::Id& key,
                    const std::string& source) {
  // Report 5.2: the password is mailed (unless this source has started
  // too many sign-ups), then the phone is challenged like any other; it
  // signs in once its user has put the mailed password in.
  const std::int64_t now_s = unix_now();
  if (ctx_.sign_up) ctx_.sign_up(aor, parts, key, source);
  answer_refusal(msg, ctx_.auth->challenge(parts.realm, now_s), false, aor, source);
}

}  // namespace sippeer::adaptor
