// Offline messages (issue 17; the SIPPEER report's abstract promises
// "offline message delivery"). The user's registrar keeps a MESSAGE for a
// user of a ring domain who has no binding, and delivers it when the user
// next registers:
//
//   alice -> ... -> owner(bob)   MESSAGE sip:bob@example.com, no binding
//                  owner         keeps it in bob's mailbox record (replicated,
//                                on disk), answers 202 Accepted (RFC 3428 7)
//   bob   -> ... -> owner(bob)   REGISTER: 200, then, oldest first,
//                  owner -> bob  MESSAGE with alice's From, Date = when kept;
//                                its 2xx removes it, and the next one goes
//
// What may be kept is mailbox.h's (per user, per sender, body size, age).
// Only ring domains: for any other domain the DNS branch of the phone's
// lookup may reach the user, and a kept copy would arrive twice.
//
// A retransmission of a kept MESSAGE is kept once: the message's id is a
// hash of its transaction (Call-ID, CSeq, From tag, sender), so the second
// copy finds itself in the mailbox and is answered 202 again. Delivery is
// at least once: a phone whose 200 is lost gets the message again at its
// next registration.

#include <cstring>

#include "adaptor/log.h"
#include "adaptor/proxy/proxy_state.h"
#include "adaptor/registrar/mailbox.h"
#include "adaptor/sip/crypto.h"
#include "dht/codec.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "offline";  // see adaptor/log.h

namespace {

// sip_time_t counts seconds from 1900 (NTP), the Unix clock from 1970.
constexpr std::int64_t kNtpToUnix = 2208988800LL;

MailboxLimits limits_of(const Settings& s) {
  MailboxLimits l;
  l.per_user = static_cast<std::size_t>(s.offline_max_per_user);
  l.per_sender = static_cast<std::size_t>(s.offline_max_per_sender);
  l.max_body = static_cast<std::size_t>(s.offline_max_body_bytes);
  l.max_age_s = std::int64_t{s.offline_max_age_days} * 86400;
  return l;
}

dht::Duration max_age(const Settings& s) { return std::chrono::hours(24) * s.offline_max_age_days; }

std::string header_text(su_home_t* home, const void* h) {
  if (!h) return {};
  char* t = sip_header_as_string(home, static_cast<const sip_header_t*>(h));
  return t ? std::string(t) : std::string();
}

// Outcomes after which the message stays for the phone's next REGISTER:
// the phone did not answer, or was busy or briefly unable.
bool worth_retrying(int status) {
  return status == 408 || status == 480 || status == 486 || status >= 500;
}

}  // namespace

bool Proxy::keep_offline(msg_t* msg, sip_t* sip, const dht::Id& key, const std::string& aor) {
  if (sip->sip_request->rq_method != sip_method_message || !ctx_.settings->offline_enabled) return false;
  if (!ring_domain(sip->sip_request->rq_url) || !sip->sip_from || !sip->sip_call_id || !sip->sip_cseq) return false;
  su_home_t* home = msg_home(msg);
  const char* from_url = url_as_string(home, sip->sip_from->a_url);
  const auto sender = from_url ? dht::Codec::canonical_aor(from_url) : std::nullopt;
  if (!sender) return false;
  StoredMessage m;
  // The same MESSAGE (a retransmission, or a copy that took another path
  // after a node failed) gets the same id.
  const std::string tx = std::string(sip->sip_call_id->i_id) + "\n" + std::to_string(sip->sip_cseq->cs_seq) + "\n" +
                         (sip->sip_from->a_tag ? sip->sip_from->a_tag : "") + "\n" + *sender;
  m.id = sha256_hex(tx, 8);
  m.stored_at = unix_now();
  m.sender = *sender;
  const char* display = sip->sip_from->a_display;
  m.from = (display && *display ? std::string(display) + " " : std::string()) + "<" + from_url + ">";
  m.content_type = header_text(home, sip->sip_content_type);
  if (sip->sip_payload) m.body.assign(sip->sip_payload->pl_data, sip->sip_payload->pl_len);

  StoredMailbox box = ctx_.location->mailbox(key, aor);
  for (const auto& v : box.values) {
    if (const auto kept = decode_stored_message(v); kept && kept->id == m.id) {
      counters_.responses.add(202);
      nta_msg_treply(ctx_.agent, msg, SIP_202_ACCEPTED, TAG_END());
      return true;
    }
  }
  const KeepVerdict verdict = keep_message(box.values, m, limits_of(*ctx_.settings), m.stored_at);
  if (verdict != KeepVerdict::Kept) {
    ++counters_.offline_refused;
    reject(msg, Reject::MailboxRefused, {}, aor + " is offline: " + keep_verdict_text(verdict));
    return true;
  }
  const std::size_t waiting = box.values.size();
  dht::Record r{key, aor, std::move(box.values), box.version + 1, dht::RecordKind::Mailbox};
  ctx_.reschedule(ctx_.node->store_here(ctx_.now(), r, max_age(*ctx_.settings)));
  ++counters_.offline_kept;
  SIPPEER_LOG(Info) << aor << " is offline: kept a MESSAGE from " << m.sender << " (" << waiting
                    << " waiting, version " << r.version << ")";
  counters_.responses.add(202);
  nta_msg_treply(ctx_.agent, msg, SIP_202_ACCEPTED, TAG_END());
  return true;
}

void Proxy::deliver_offline(const dht::Id& key, const std::string& aor) {
  if (deliveries_.count(aor)) return;  // one at a time keeps them in order
  const std::int64_t now_s = unix_now();
  const StoredMailbox box = ctx_.location->mailbox(key, aor);
  if (box.values.empty()) return;
  const std::vector<std::string> fresh = fresh_values(box.values, limits_of(*ctx_.settings), now_s);
  if (fresh.empty()) return;  // the record's own expiry drops the rest
  const auto m = decode_stored_message(fresh.front());
  const std::vector<Binding> live = ctx_.location->live(key, aor, now_s);
  if (!m || live.empty()) return;
  const Binding& b = live.front();  // the highest q

  msg_t* msg = nta_msg_create(ctx_.agent, 0);
  sip_t* sip = sip_object(msg);
  su_home_t* home = msg_home(msg);
  const std::string from = m->from + ";tag=" + m->id;
  const std::string call_id = "offline-" + m->id + "@" + ctx_.local_address;
  const std::string to = "<" + aor + ">";
  sip_add_tl(msg, sip, SIPTAG_REQUEST(sip_request_create(home, SIP_METHOD_MESSAGE, URL_STRING_MAKE(b.uri.c_str()), nullptr)),
             SIPTAG_TO_STR(to.c_str()), SIPTAG_FROM_STR(from.c_str()), SIPTAG_CALL_ID_STR(call_id.c_str()),
             SIPTAG_CSEQ(sip_cseq_create(home, 1, SIP_METHOD_MESSAGE)), SIPTAG_MAX_FORWARDS_STR("70"),
             SIPTAG_DATE(sip_date_create(home, static_cast<sip_time_t>(m->stored_at + kNtpToUnix))),
             TAG_END());
  if (!m->content_type.empty()) sip_add_tl(msg, sip, SIPTAG_CONTENT_TYPE_STR(m->content_type.c_str()), TAG_END());
  if (!m->body.empty()) sip_add_tl(msg, sip, SIPTAG_PAYLOAD(sip_payload_create(home, m->body.data(), m->body.size())), TAG_END());
  // A phone reached through its edge node's flow: by the Path it registered.
  std::string route;
  if (!b.path.empty()) {
    sip_add_tl(msg, sip, SIPTAG_ROUTE_STR(b.path.c_str()), TAG_END());
    route = b.path_uri();
  }
  if (!sip->sip_request || !sip->sip_from || !sip->sip_to || !sip->sip_call_id) {
    SIPPEER_LOG(Warn) << aor << ": cannot build the kept MESSAGE " << m->id << " for " << b.uri;
    msg_destroy(msg);
    return;
  }
  // The sender was checked when the message was kept: the edge node of a
  // phone behind a flow must not challenge it again (auth_flow.cpp).
  add_identity(msg, sip);

  auto d = std::make_unique<Delivery>();
  d->proxy = this;
  d->key = key;
  d->aor = aor;
  d->id = m->id;
  d->orq = nta_outgoing_mcreate(ctx_.agent, &Proxy::on_delivery_answer, d.get(),
                                route.empty() ? nullptr : URL_STRING_MAKE(route.c_str()), msg, TAG_END());
  if (!d->orq) {
    SIPPEER_LOG(Warn) << aor << ": could not send the kept MESSAGE " << m->id << " to " << b.uri;
    msg_destroy(msg);
    return;
  }
  SIPPEER_LOG(Debug) << aor << ": delivering kept MESSAGE " << m->id << " to " << b.uri;
  deliveries_[aor] = std::move(d);
}

int Proxy::on_delivery_answer(void* magic, nta_outgoing_t* orq, const sip_t* sip) {
  auto* d = static_cast<Delivery*>(magic);
  const int status = sip && sip->sip_status ? sip->sip_status->st_status : 408;
  if (status < 200) return 0;
  nta_outgoing_destroy(orq);
  d->orq = nullptr;
  d->proxy->delivery_done(d->aor, status);
  return 0;
}

void Proxy::delivery_done(const std::string& aor, int status) {
  auto it = deliveries_.find(aor);
  if (it == deliveries_.end()) return;
  const std::unique_ptr<Delivery> d = std::move(it->second);
  deliveries_.erase(it);
  const bool delivered = status / 100 == 2;
  if (!delivered && worth_retrying(status)) {
    SIPPEER_LOG(Info) << aor << ": kept MESSAGE " << d->id << " not delivered (" << status
                      << "); it waits for the next registration";
    return;
  }
  StoredMailbox box = ctx_.location->mailbox(d->key, aor);
  if (remove_message(box.values, d->id)) {
    // An emptied mailbox is a tombstone, kept as long as a message could
    // be, so that no stale replica brings one back.
    dht::Record r{d->key, aor, std::move(box.values), box.version + 1, dht::RecordKind::Mailbox};
    ctx_.reschedule(ctx_.node->store_here(ctx_.now(), r, max_age(*ctx_.settings)));
  }
  if (delivered) {
    ++counters_.offline_delivered;
    SIPPEER_LOG(Info) << aor << ": delivered kept MESSAGE " << d->id << " (" << status << ")";
  } else {
    SIPPEER_LOG(Warn) << aor << ": kept MESSAGE " << d->id << " refused by the phone (" << status
                      << "); dropped";
  }
  deliver_offline(d->key, aor);
}

}  // namespace sippeer::adaptor
