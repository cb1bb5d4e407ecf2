// A non-INVITE request that starts no dialog (MESSAGE, OPTIONS, PUBLISH,
// ...) forked at the callee's owner to two or more of its phones without
// nta transactions: one copy per phone, each with a branch of its own, the
// answers collected in ForkTable (fork_table.h says why, and who does what
// the transactions did), one final answer upstream (RFC 3261 16.7).
//
// Only when the caller's side retransmits and every phone can be reached
// the way relay_to_binding reaches one: the request came over UDP, and
// each binding is a plain sip: URI at an IPv4 address over UDP with no
// Path (a phone behind an edge node's flow) and is no alias (an AOR to
// look up in the ring). Anything else forks with transactions
// (proxy_transaction.cpp).

#include "adaptor/log.h"
#include "adaptor/proxy/proxy.h"
#include "adaptor/sip/reject_log.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "proxy";  // see adaptor/log.h

namespace {

std::string to_tag_of(const sip_t* sip) {
  return sip->sip_to && sip->sip_to->a_tag ? sip->sip_to->a_tag : "";
}

std::string phrase_of(const sip_t* sip) {
  return sip->sip_status && sip->sip_status->st_phrase ? sip->sip_status->st_phrase : "";
}

}  // namespace

bool Proxy::fork_lightly(msg_t* msg, sip_t* sip, const std::vector<Binding>& live) {
  if (live.size() < 2 || !may_relay_stateless(sip) || !via_over_udp(sip->sip_via)) return false;
  const std::string key = stateless_branch(sip);
  ForkTable::Fork* fork = forks_.find(key);
  if (fork && fork->answered) {
    // A copy of a request answered here: the same answer again, as the
    // server transaction's Timer J would give it.
    if (!fork->to_tag.empty() && sip->sip_to && !sip->sip_to->a_tag)
      sip_to_tag(msg_home(msg), sip->sip_to, fork->to_tag.c_str());
    if (!fork->sent) {  // made up here (every phone silent or refusing), first said now
      ++counters_.rejected;
      log_rejected(kLogTag, msg, fork->status, fork->phrase.c_str(), "no phone answered the fork");
      fork->sent = true;
    }
    counters_.responses.add(fork->status);
    nta_msg_treply(ctx_.agent, msg, fork->status, fork->phrase.c_str(), TAG_END());
    return true;
  }
  if (!fork) {
    std::vector<std::string> targets;
    targets.reserve(live.size());
    su_home_t home[1] = {SU_HOME_INIT(home)};
    bool plain = true;
    for (const Binding& b : live) {
      // A plain target's host is an IPv4 address, so it is no alias (an
      // alias names a ring domain): one parse of the URI tells both.
      plain = b.path.empty() && plain_udp_target(url_hdup(home, URL_STRING_MAKE(b.uri.c_str())->us_url));
      if (!plain) break;
      targets.push_back(b.uri);
    }
    su_home_deinit(home);
    if (!plain) return false;
    fork = forks_.start(key, std::move(targets), steady_ms());
    if (!fork) return false;  // full: transactions take it
    counters_.forked += fork->targets.size();
    ++counters_.forked_lightly;
  }
  // The first copy, or a retransmission while phones have not answered:
  // to each of those. Their server transactions absorb the repeats.
  const std::string method = sip->sip_request->rq_method_name;  // the last copy is msg itself, sent and gone
  std::size_t left = 0;
  for (bool d : fork->done) left += d ? 0 : 1;
  for (std::size_t i = 0; i < fork->targets.size(); ++i) {
    if (fork->done[i]) continue;
    msg_t* copy = --left == 0 ? msg : msg_copy(msg);
    if (!copy) continue;
    if (copy == msg) msg = nullptr;
    sip_t* csip = sip_object(copy);
    // 16.6 step 2: the binding is the new Request-URI; as relay_to_binding.
    set_request_uri(copy, csip, URL_STRING_MAKE(fork->targets[i].c_str()));
    prepare_relay(copy, csip, /*claim=*/false, /*identity=*/false, /*dns_marker=*/true);
    const std::string branch = ForkTable::branch_of(key, i);
    if (!send_with_branch(copy, "", branch))
      SIPPEER_LOG(Warn) << "proxy: cannot send a forked " << method << " to "
                        << fork->targets[i];
  }
  if (msg) nta_msg_discard(ctx_.agent, msg);  // a copy could not be made
  arm_watch_timer();
  return true;
}

bool Proxy::fork_answer(msg_t* msg, sip_t* sip) {
  if (forks_.size() == 0 || !sip->sip_via->v_branch) return false;
  std::string key;
  const int status = sip->sip_status->st_status;
  using V = ForkTable::Verdict;
  const V verdict = forks_.answer(sip->sip_via->v_branch, status, &key);
  switch (verdict) {
    case V::NotOurs:
      return false;
    case V::Drop:
    case V::Worse:
      nta_msg_discard(ctx_.agent, msg);
      break;
    case V::Provisional:
    case V::Final: {
      if (verdict == V::Final) {
        forks_.answered(key, status, phrase_of(sip), to_tag_of(sip), /*sent=*/true, steady_ms());
        if (auto it = fork_best_.find(key); it != fork_best_.end()) {
          msg_destroy(it->second);
          fork_best_.erase(it);
        }
      }
      counters_.responses.add(status);
      nta_msg_tsend(ctx_.agent, msg, nullptr, TAG_END());  // nta removes our Via and sends by the next
      break;
    }
    case V::Better: {
      msg_t*& best = fork_best_[key];
      if (best) msg_destroy(best);
      best = msg;
      break;
    }
  }
  if (verdict != V::Final && forks_.complete(key)) finish_fork(key);
  return true;
}

void Proxy::finish_fork(const std::string& key) {
  ForkTable::Fork* fork = forks_.find(key);
  if (!fork) return;
  msg_t* best = nullptr;
  if (auto it = fork_best_.find(key); it != fork_best_.end()) {
    best = it->second;
    fork_best_.erase(it);
  }
  // As a transaction's finish_if_done: a phone's answer goes as it came;
  // one made up here (every phone silent, or refusing by ICMP) waits for
  // the caller's next copy, since no request is kept to answer.
  switch (fork->best.decide(/*canceled=*/false, /*ring_only=*/false, best != nullptr)) {
    case BestAnswer::Final::Relay: {
      const sip_t* s = sip_object(best);
      forks_.answered(key, fork->best.status(), phrase_of(s), to_tag_of(s), /*sent=*/true, steady_ms());
      counters_.responses.add(s->sip_status->st_status);
      nta_msg_tsend(ctx_.agent, best, nullptr, TAG_END());
      return;
    }
    case BestAnswer::Final::Status: {
      const int status = fork->best.status() == 503 ? 500 : fork->best.status();  // 16.7 step 6
      forks_.answered(key, status, sip_status_phrase(status) ? sip_status_phrase(status) : "", "", false,
                      steady_ms());
      break;
    }
    default: {  // NoAnswer
      const ReplyRow& row = reply_row(Reject::NoAnswer);
      forks_.answered(key, row.status, row.phrase, "", false, steady_ms());
      break;
    }
  }
  if (best) msg_destroy(best);
}

void Proxy::finish_forks(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) finish_fork(key);
}

}  // namespace sippeer::adaptor
