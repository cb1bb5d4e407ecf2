// A phone's REGISTER (procedures 3.14, 3.16): routed by To to the node that
// owns the AOR's key, applied there by the registrar, replicated by the ring.

#include "adaptor/log.h"
#include "adaptor/proxy/proxy.h"
#include "adaptor/registrar/telephone.h"
#include "adaptor/sip/reject_log.h"
#include "dht/codec.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "reg";  // see adaptor/log.h

void Proxy::handle_register(msg_t* msg, sip_t* sip) {
  su_home_t* home = msg_home(msg);
  const char* to_text = sip->sip_to ? url_as_string(home, sip->sip_to->a_url) : nullptr;
  auto aor = to_text ? dht::Codec::canonical_aor(to_text) : std::nullopt;
  // A gateway's telephone prefix (issue 17, report 6.2.1): "tel:+1-212"
  // is stored as "tel:+1212", the form calls look it up by.
  if (aor && sip->sip_to->a_url->url_type == url_tel) {
    const auto number = global_number(to_text);
    aor = number ? std::optional<std::string>(telephone_aor(*number)) : std::nullopt;
  }
  if (!aor) {
    reject(msg, Reject::InvalidTo);
    return;
  }
  if (!ctx_.node->joined()) {
    ++counters_.rejected;
    counters_.responses.add(send_reject({ctx_.agent, nullptr, kLogTag}, msg, Reject::RegistrarNotInRingYet));
    return;
  }
  // A phone behind a NAT or on a reused TCP connection is reached through
  // this node: say so in a Path for the registrar (proxy_flow.cpp).
  add_path(msg, sip);
  // Third-party registrations are routed by To as well (3.4.1).
  const dht::Id key = ctx_.ring->hash(*aor);
  if (forward_towards_owner(msg, sip, key)) return;
  // We are the registrar for this AOR. The answer is stateless: an nta
  // server transaction costs ~10 KB held for 64*T1 = 32 s and about half
  // the CPU of a REGISTER (docs/BENCHMARKS.md). apply_register answers a
  // retransmission with the same 200 instead of taking it for an
  // out-of-order request, which is all the transaction did for us.
  // Only the registrar holds the credential, so only it challenges.
  if (!authenticate_register(msg, sip, *aor, key)) return;
  RegisterOutcome out = ctx_.location->apply(ctx_.policy, sip, *aor, key, unix_now());
  if (out.status != 200) {
    ++counters_.rejected;
    const std::string min = out.error == RegError::IntervalTooBrief ? std::to_string(out.min_expires) : "";
    counters_.responses.add(send_reject({ctx_.agent, ctx_.fast_reply, kLogTag}, msg, reg_reject(out.error), min, *aor));
    return;
  }
  if (out.record) {
    ++counters_.registrations;
    ctx_.reschedule(ctx_.node->store_here(ctx_.now(), *out.record, out.ttl));
    // One line per registration, refresh or removal that this node stores
    // as the AOR's registrar: what an operator greps for first when a
    // phone "cannot be reached". (bench/ runs at warn: one line per
    // REGISTER is real cost at 20,000 REGISTER/s.)
    SIPPEER_LOG(Info) << *aor << ": " << out.reply_contacts.size()
                      << (out.reply_contacts.size() == 1 ? " binding" : " bindings") << " (version "
                      << out.record->version << ") from " << source_of(msg)
                      << (out.reply_contacts.empty() ? ", unregistered" : "");
  }
  std::string contacts;
  for (const auto& c : out.reply_contacts) contacts += (contacts.empty() ? "" : ", ") + c;
  counters_.responses.add(200);
  if (ctx_.fast_reply) {
    std::string extra = contacts.empty() ? std::string() : "Contact: " + contacts + "\r\n";
    extra += ctx_.fast_reply->date_line();
    if (ctx_.fast_reply->reply(msg, sip, SIP_200_OK, extra)) {
      after_registration(key, *aor, !out.reply_contacts.empty());
      return;
    }
  }
  su_home_t reply_home[1] = {SU_HOME_INIT(reply_home)};
  sip_date_t* now_date = sip_date_create(reply_home, sip_now());
  if (contacts.empty()) {
    nta_msg_treply(ctx_.agent, msg, SIP_200_OK, SIPTAG_DATE(now_date), TAG_END());
  } else {
    nta_msg_treply(ctx_.agent, msg, SIP_200_OK, SIPTAG_CONTACT_STR(contacts.c_str()), SIPTAG_DATE(now_date), TAG_END());
  }
  su_home_deinit(reply_home);
  after_registration(key, *aor, !out.reply_contacts.empty());
}

void Proxy::after_registration(const dht::Id& key, const std::string& aor, bool has_bindings) {
  // Almost no node holds a mailbox or a parked subscription: two counters
  // spare the three lookups per REGISTER.
  const bool subscriptions = ctx_.location->holds_any(dht::RecordKind::Subscriptions);
  // RFC 3680: whoever watches this registration hears of the change.
  if (subscriptions) notify_registration_change(key, aor, true);
  if (!has_bindings) return;
  // Procedure 6.2: subscriptions parked while the user was offline end, so
  // the watchers subscribe to the phone (presence_flow.cpp); messages kept
  // meanwhile go to it (offline_flow.cpp).
  if (subscriptions) deactivate_parked(key, aor);
  if (ctx_.location->holds_any(dht::RecordKind::Mailbox)) deliver_offline(key, aor);
}

}  // namespace sippeer::adaptor
