#include "tests/sim/sim_network.h"

#include <algorithm>
#include <stdexcept>
#include <tuple>
#include <variant>

namespace sippeer::sim {

using dht::Duration;
using dht::kNever;
using dht::Time;

// One object serves as a node's Transport and Observer: both only forward
// to the network with the node's index.
class Network::Ports final : public dht::Transport, public dht::Observer {
 public:
  Ports(Network& net, std::uint32_t host) : net_(net), host_(host) {}
  void send_request(dht::TxnId txn, std::string_view address, const dht::Request& req) override {
    net_.send_request(host_, txn, address, req, 0);
  }
  void relay_request(dht::TxnId txn, std::string_view address, const dht::Request& req,
                     dht::InboundId in) override {
    net_.send_request(host_, txn, address, req, in);
  }
  void send_response(dht::InboundId in, const dht::Response& resp) override {
    net_.send_response(host_, in, resp);
  }
  void on_left() override { net_.node_left(host_); }
  void on_join_failed() override { net_.join_failed(host_); }

 private:
  Network& net_;
  std::uint32_t host_;
};

struct Network::Host {
  Host(Network& net, std::uint32_t idx, const dht::NodeRef& self, const dht::Config& cfg,
       std::uint64_t seed)
      : index(idx), ports(net, idx), random(seed), node(cfg, self, ports, random, storage, ports) {}

  const dht::Address& address() const { return node.self().address; }

  std::uint32_t index;
  Ports ports;
  dht::SplitMix64 random;
  dht::MemoryStorage storage;
  dht::Node node;  // last: it holds references to the members above
  bool alive = true;
  bool started = false;  // start_singleton or join was called
  Time tick_at = kNever;
  std::uint32_t tick_gen = 0;
};

// One client transaction: a request, its copies on the wire and the answer.
// Slots are reused, so their strings and vectors keep their capacity and a
// steady-state run allocates little per message.
struct Network::Flight {
  struct Attempt {
    Time sent;
    Time arrives;  // kNever when the datagram is lost
  };
  std::uint32_t gen = 1;  // never 0, so no InboundId is 0
  bool in_use = false;
  bool delivered = false;  // the server has the request
  bool answered = false;   // the server has sent its final answer
  bool acked = false;      // the client has a 100 Trying: it waits for the answer
  std::uint32_t client = kNoHost, server = kNoHost;
  dht::TxnId txn = 0;
  Time deadline;  // for an answer or an ack: request_timeout after the send
  // With encode on, the copies as decoded from the text: the codec runs
  // once, when the message is sent, so a flight never holds two copies.
  // What it got wrong is kept and reported when the datagram arrives, as
  // the receiver would find it (a lost one is never reported).
  dht::Request request;
  dht::Response response;
  dht::Envelope env;
  std::size_t request_bytes = 0, response_bytes = 0;  // encoded sizes (0 without encode)
  // Every message is encoded into the network's one scratch buffer; its
  // text is copied here only for a trace or a codec problem's report.
  std::string request_text, response_text;
  CodecCheck request_check, response_check;
  std::vector<Attempt> attempts;
};

namespace {

dht::InboundId inbound_id(std::uint32_t flight, std::uint32_t gen) {
  return (dht::InboundId{gen} << 32) | flight;
}

bool event_later(const auto& a, const auto& b) {
  return std::tie(a.at, a.seq) > std::tie(b.at, b.seq);
}

std::string via_value(const dht::Envelope& env) {
  return "SIP/2.0/UDP " + env.via_address + ";branch=" + env.branch;
}

// Lower-case hex of `v` after `prefix`, written over `out`: the envelope's
// strings are rewritten for every message, and assigning in place keeps
// their buffers where building new strings freed and allocated each time.
void set_hex(std::string& out, std::string_view prefix, std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  char digits[16];
  std::size_t n = 0;
  do {
    digits[15 - n++] = kDigits[v & 0xf];
    v >>= 4;
  } while (v != 0);
  out.assign(prefix);
  out.append(digits + 16 - n, n);
}

// SIP carries lifetimes in whole seconds (Expires), so a decoded ttl may
// lose the milliseconds.
bool same_ttl(Duration a, Duration b) { return (a - b).count() > -1000 && (a - b).count() < 1000; }

// Names the fields a decoded copy got wrong, for on_codec_problem; what
// the SIP form cannot carry by design is not wrong.
std::string differing_fields(const dht::Request& sent, const dht::Request& got) {
  std::string out;
  auto note = [&out](bool differs, const char* name) {
    if (differs) out += out.empty() ? name : std::string(", ") + name;
  };
  note(sent.kind != got.kind, "kind");
  // A Store's From is the user, not the originating node (message.h).
  note(sent.from != got.from && sent.kind != dht::Kind::Store, "from");
  note(sent.to != got.to, "to");
  note(sent.contacts != got.contacts, "contacts");
  note(sent.record != got.record, "record");
  note(!same_ttl(sent.ttl, got.ttl), "ttl");
  bool records_differ = sent.records.size() != got.records.size();
  for (std::size_t i = 0; !records_differ && i < sent.records.size(); ++i)
    records_differ = sent.records[i].record != got.records[i].record ||
                     !same_ttl(sent.records[i].ttl, got.records[i].ttl);
  note(records_differ, "records");
  note(sent.leaving != got.leaving, "leaving");
  note(sent.owner_hop != got.owner_hop, "owner_hop");
  note(sent.max_forwards != got.max_forwards, "max_forwards");
  return out;
}

std::string differing_fields(const dht::Response& sent, const dht::Response& got) {
  std::string out;
  auto note = [&out](bool differs, const char* name) {
    if (differs) out += out.empty() ? name : std::string(", ") + name;
  };
  note(sent.status != got.status, "status");
  note(sent.contacts != got.contacts, "contacts");
  note(sent.record != got.record, "record");
  note(!same_ttl(sent.ttl, got.ttl), "ttl");
  note(sent.hops != got.hops, "hops");
  return out;
}

}  // namespace

Network::Network(NetConfig net, std::uint64_t seed)
    : cfg_(std::move(net)), seed_(seed), rng_(seed) {}

Network::~Network() = default;

// ---- nodes ----

dht::Node& Network::add_node(const dht::NodeRef& self, const dht::Config& cfg) {
  if (!ring_) {
    ring_ = std::make_unique<dht::Ring>(cfg.bits);
    codec_ = std::make_unique<dht::Codec>(*ring_, cfg_.overlay_domain);
  } else if (ring_->bits() != cfg.bits) {
    throw std::invalid_argument("all simulated nodes must share one ring width");
  }
  if (const Host* old = find_host(self.address); old && old->alive)
    throw std::invalid_argument("address in use by a live node: " + self.address);
  auto idx = static_cast<std::uint32_t>(hosts_.size());
  // Each node's jitter stream differs from every other and from the network's.
  dht::SplitMix64 mix(seed_ ^ (0xd1b54a32d192ed03ull * (idx + 1)));
  hosts_.push_back(std::make_unique<Host>(*this, idx, self, cfg, mix.next_u64()));
  by_address_.set(self.address, idx);
  ++live_count_;
  return hosts_.back()->node;
}

Network::Host* Network::find_host(std::string_view address) {
  const std::uint32_t idx = by_address_.find(address);
  return idx == AddressIndex::kNone ? nullptr : hosts_[idx].get();
}

const Network::Host* Network::find_host(std::string_view address) const {
  const std::uint32_t idx = by_address_.find(address);
  return idx == AddressIndex::kNone ? nullptr : hosts_[idx].get();
}

Network::Host& Network::must_find(std::string_view address) {
  Host* h = find_host(address);
  if (!h) throw std::invalid_argument("no simulated node at " + std::string(address));
  return *h;
}

dht::Node* Network::node(std::string_view address) {
  Host* h = find_host(address);
  return h ? &h->node : nullptr;
}

const dht::Node* Network::node(std::string_view address) const {
  const Host* h = find_host(address);
  return h ? &h->node : nullptr;
}

dht::MemoryStorage* Network::storage(std::string_view address) {
  Host* h = find_host(address);
  return h ? &h->storage : nullptr;
}

const dht::MemoryStorage* Network::storage(std::string_view address) const {
  const Host* h = find_host(address);
  return h ? &h->storage : nullptr;
}

void Network::start_singleton(std::string_view address) {
  Host& h = must_find(address);
  if (!h.alive) return;
  h.started = true;
  reschedule(h.index, h.node.start_singleton(node_now()));
}

void Network::join(std::string_view address, std::string_view bootstrap_address) {
  Host& h = must_find(address);
  if (!h.alive) return;
  h.started = true;
  reschedule(h.index, h.node.join(node_now(), bootstrap_address));
}

void Network::leave(std::string_view address) {
  Host& h = must_find(address);
  if (h.alive) reschedule(h.index, h.node.leave(node_now()));
}

void Network::crash(std::string_view address) {
  Host& h = must_find(address);
  if (!h.alive) return;
  h.alive = false;
  --live_count_;
}

void Network::node_left(std::uint32_t host) {
  Host& h = *hosts_[host];
  if (!h.alive) return;
  h.alive = false;
  --live_count_;
}

void Network::join_failed(std::uint32_t host) {
  if (on_join_failed) on_join_failed(hosts_[host]->address());
}

bool Network::alive(std::string_view address) const {
  const Host* h = find_host(address);
  return h && h->alive;
}

std::vector<std::string> Network::live_addresses() const {
  std::vector<std::string> out;
  out.reserve(live_count_);
  for (const auto& h : hosts_)
    if (h->alive) out.push_back(h->address().str());
  return out;
}

void Network::lookup(const std::string& from, const dht::Target& t, dht::LookupCallback cb) {
  at(now_, [this, from, t, cb = std::move(cb)] {
    Host* h = find_host(from);
    if (!h || !h->alive) return cb(dht::LookupResult{dht::status::kUnavailable, {}, {}, 0});
    reschedule(h->index, h->node.lookup(node_now(), t, cb));
  });
}

void Network::store(const std::string& from, const dht::Record& r, Duration ttl,
                    dht::LookupCallback cb) {
  at(now_, [this, from, r, ttl, cb = std::move(cb)] {
    Host* h = find_host(from);
    if (!h || !h->alive) return cb(dht::LookupResult{dht::status::kUnavailable, {}, {}, 0});
    reschedule(h->index, h->node.store(node_now(), r, ttl, cb));
  });
}

// ---- the event loop ----

void Network::at(Time t, std::function<void()> fn) {
  std::uint32_t slot;
  if (free_actions_.empty()) {
    slot = static_cast<std::uint32_t>(actions_.size());
    actions_.emplace_back();
  } else {
    slot = free_actions_.back();
    free_actions_.pop_back();
  }
  actions_[slot] = std::move(fn);
  push(std::max(t, now_), EventKind::Action, slot, 0);
}

void Network::push(Time at, EventKind kind, std::uint32_t ref, std::uint32_t gen) {
  events_.push(Event{at, seq_++, ref, gen, kind});
}

bool Network::pop_next(Time limit) {
  TimeoutQueue* due = nullptr;
  for (TimeoutQueue* q : {&unreachable_, &no_answer_, &trying_due_})
    if (!q->fifo.empty() && (!due || event_later(due->fifo.front(), q->fifo.front()))) due = q;
  const Event* next = events_.peek();
  if (due && (!next || !event_later(due->fifo.front(), *next))) {
    if (due->fifo.front().at > limit) return false;
    Timeout t = due->fifo.front();
    due->fifo.pop_front();
    now_ = t.at;
    if (due == &trying_due_) on_trying_due(t.flight, t.gen);
    else on_timeout(t, due->why);
    return true;
  }
  if (!next || next->at > limit) return false;
  Event e = events_.take();
  now_ = e.at;
  dispatch(e);
  return true;
}

void Network::run_until(Time t) {
  while (!overloaded_ && pop_next(t)) {
  }
  if (t > now_ && !overloaded_) now_ = t;
}

void Network::run_for(Duration d) { run_until(now_ + d); }

void Network::dispatch(const Event& e) {
  switch (e.kind) {
    case EventKind::Tick: return on_tick(e.ref, e.gen);
    case EventKind::RequestArrives: return on_request_arrives(e.ref, e.gen);
    case EventKind::AckArrives: return on_ack_arrives(e.ref, e.gen);
    case EventKind::ResponseArrives: return on_response_arrives(e.ref, e.gen);
    case EventKind::Action: return on_action(e.ref);
  }
}

void Network::on_action(std::uint32_t slot) {
  // Moved out first: the action may queue more actions and reuse the slot.
  std::function<void()> fn = std::move(actions_[slot]);
  actions_[slot] = nullptr;
  free_actions_.push_back(slot);
  fn();
}

void Network::on_tick(std::uint32_t host, std::uint32_t gen) {
  Host& h = *hosts_[host];
  if (!h.alive || gen != h.tick_gen) return;  // stale: superseded by an earlier deadline
  h.tick_at = kNever;
  reschedule(host, h.node.tick(node_now()), /*after_tick=*/true);
}

void Network::reschedule(std::uint32_t host, Time node_deadline, bool after_tick) {
  Host& h = *hosts_[host];
  if (!h.alive || node_deadline == kNever) return;
  // A node whose tick asks to be ticked again at once would spin the loop
  // without time passing; the driver's clock has 1 ms granularity.
  Time floor = after_tick ? now_ + Duration{1} : now_;
  Time at = std::max(node_deadline - kNodeEpoch, floor);
  if (at >= h.tick_at) return;
  h.tick_at = at;
  push(at, EventKind::Tick, host, ++h.tick_gen);
}

// ---- transactions ----

std::uint32_t Network::alloc_flight() {
  std::uint32_t idx;
  if (free_flights_.empty()) {
    idx = static_cast<std::uint32_t>(flights_.size());
    flights_.emplace_back();
  } else {
    idx = free_flights_.back();
    free_flights_.pop_back();
  }
  Flight& f = flights_[idx];
  f.in_use = true;
  f.delivered = f.answered = f.acked = false;
  if (++in_flight_ > cfg_.max_in_flight && cfg_.max_in_flight != 0) overloaded_ = true;
  return idx;
}

Network::Flight* Network::find_flight(dht::InboundId in) {
  const auto idx = static_cast<std::uint32_t>(in);
  const auto gen = static_cast<std::uint32_t>(in >> 32);
  if (idx >= flights_.size()) return nullptr;
  Flight& f = flights_[idx];
  return f.in_use && f.gen == gen ? &f : nullptr;
}

void Network::finish_flight(std::uint32_t idx, Time completed) {
  Flight& f = flights_[idx];
  // Retransmissions stop once the client has its answer or gives up, so
  // only the copies sent before then were ever on the wire.
  std::uint64_t copies = 0;
  for (const auto& a : f.attempts)
    if (a.sent < completed || copies == 0) ++copies;
  messages_ += copies;
  bytes_ += copies * f.request_bytes;
  f.in_use = false;
  --in_flight_;
  if (++f.gen == 0) f.gen = 1;
  free_flights_.push_back(idx);
}

Duration Network::draw_latency() {
  auto span = (cfg_.latency_max - cfg_.latency_min).count();
  if (span <= 0) return cfg_.latency_min;
  return cfg_.latency_min +
         Duration{static_cast<Duration::rep>(rng_.next_u64() % static_cast<std::uint64_t>(span + 1))};
}

bool Network::draw_loss() {
  if (cfg_.loss <= 0.0) return false;
  return static_cast<double>(rng_.next_u64() >> 11) * 0x1.0p-53 < cfg_.loss;
}

// `out` gets the decoded copy (the sent one if it does not decode: never
// delivered, but kept whole).
template <typename Message>
Network::CodecCheck Network::round_trip(std::variant<dht::Decoded<Message>, dht::DecodeError> decoded,
                                        const char* what, dht::Kind kind, const Message& sent, Message& out) {
  if (auto* err = std::get_if<dht::DecodeError>(&decoded)) {
    out = sent;
    return {std::string(what) + ": " + dht::decode_error_name(*err), true};
  }
  out = std::move(std::get<dht::Decoded<Message>>(decoded).message);
  std::string diff = differing_fields(sent, out);
  if (diff.empty()) return {};
  return {std::string(dht::kind_name(kind)) + " " + what + " decodes with different " + diff, false};
}

void Network::send_request(std::uint32_t host, dht::TxnId txn, std::string_view address,
                           const dht::Request& req, dht::InboundId upstream) {
  const Flight* up = upstream ? find_flight(upstream) : nullptr;
  if (up && up->server != host) up = nullptr;  // not a request this node received
  std::uint32_t idx = alloc_flight();
  Flight& f = flights_[idx];
  const Host* to = find_host(address);
  f.client = host;
  f.server = to ? to->index : kNoHost;
  f.txn = txn;
  f.deadline = now_ + cfg_.request_timeout;
  f.request_text.clear();
  f.request_bytes = 0;
  f.request_check = {};
  if (cfg_.encode) {
    fill_envelope(f, *hosts_[host], up);
    codec_->encode_into(text_, req, address, f.env);
    f.request_bytes = text_.size();
    f.request_check = round_trip(codec_->decode_request(text_), "request", req.kind, req, f.request);
    if (trace || !f.request_check.problem.empty()) f.request_text = text_;
  } else {
    f.request = req;
  }
  f.attempts.clear();
  plan_attempts(f, now_, cfg_.retransmit_t1, /*doubling=*/true, f.deadline);
  Time first = kNever;
  for (const auto& a : f.attempts) first = std::min(first, a.arrives);
  if (f.server != kNoHost && first < f.deadline)
    push(first, EventKind::RequestArrives, idx, f.gen);
  unreachable_.fifo.push_back(Timeout{f.deadline, seq_++, idx, f.gen});
}

void Network::fill_envelope(Flight& f, const Host& sender, const Flight* upstream) {
  ++counter_;
  dht::Envelope& env = f.env;
  env.via_address = sender.address();
  set_hex(env.branch, "z9hG4bK", counter_);
  env.to_tag.clear();
  env.more_vias.clear();
  if (!upstream) {
    set_hex(env.call_id, "", counter_ * 0x9e3779b97f4a7c15ull);
    env.call_id += '@';
    env.call_id += sender.address();
    env.cseq = 1;
    set_hex(env.from_tag, "", counter_);
    return;
  }
  // Proxied on: the upstream Vias stay below ours and the dialog
  // identifiers travel unchanged, as through a SIP proxy.
  env.more_vias.push_back(via_value(upstream->env));
  env.more_vias.insert(env.more_vias.end(), upstream->env.more_vias.begin(),
                       upstream->env.more_vias.end());
  env.call_id = upstream->env.call_id;
  env.cseq = upstream->env.cseq;
  env.from_tag = upstream->env.from_tag;
}

// Copies of the request at `from` and then every `gap` (doubling, for
// T1) while before `until`; each is lost or delayed independently.
void Network::plan_attempts(Flight& f, Time from, Duration gap, bool doubling, Time until) {
  Time sent = from;
  do {
    f.attempts.push_back({sent, draw_loss() ? kNever : sent + draw_latency()});
    if (gap <= Duration{0}) break;
    sent = doubling && sent != from ? from + (sent - from) * 2 : sent + gap;
  } while (sent < until);
}

// A reply (100 or final) goes out once now, and again for every later copy
// of the request that reaches us while the client still retransmits.
Time Network::plan_reply(Flight& f, int* datagrams) {
  *datagrams = 1;
  Time best = draw_loss() ? kNever : now_ + draw_latency();
  for (const auto& a : f.attempts) {
    if (a.arrives == kNever || a.arrives <= now_) continue;
    if (a.sent >= best) break;
    ++*datagrams;
    if (!draw_loss()) best = std::min(best, a.arrives + draw_latency());
  }
  return best;
}

void Network::send_ack(std::uint32_t idx) {
  Flight& f = flights_[idx];
  std::size_t size = 0;
  if (cfg_.encode) {
    codec_->encode_into(text_, dht::Response{100, {}, std::nullopt, Duration{0}, 0}, f.request, f.env);
    size = text_.size();
  }
  int datagrams = 0;
  Time arrives = plan_reply(f, &datagrams);
  messages_ += static_cast<std::uint64_t>(datagrams);
  bytes_ += static_cast<std::uint64_t>(datagrams) * size;
  if (arrives < f.deadline) push(arrives, EventKind::AckArrives, idx, f.gen);
}

void Network::send_response(std::uint32_t host, dht::InboundId in, const dht::Response& resp) {
  Flight* found = find_flight(in);
  if (!found || found->server != host || !found->delivered || found->answered) {
    ++stray_responses_;
    return;
  }
  Flight& f = *found;
  f.answered = true;
  f.response_text.clear();
  f.response_bytes = 0;
  f.response_check = {};
  if (cfg_.encode) {
    set_hex(f.env.to_tag, "", in);
    codec_->encode_into(text_, resp, f.request, f.env);
    f.response_bytes = text_.size();
    f.response_check = round_trip(codec_->decode_response(text_), "response", f.request.kind, resp, f.response);
    if (trace || !f.response_check.problem.empty()) f.response_text = text_;
  } else {
    f.response = resp;
  }
  int datagrams = 0;
  Time arrives = plan_reply(f, &datagrams);
  messages_ += static_cast<std::uint64_t>(datagrams);
  bytes_ += static_cast<std::uint64_t>(datagrams) * f.response_bytes;
  // Too late is sorted out on arrival: the client's timeout, if earlier,
  // has closed the transaction by then.
  if (arrives != kNever) push(arrives, EventKind::ResponseArrives, static_cast<std::uint32_t>(in), f.gen);
}

// Counts and reports what the codec got wrong in a copy that has just
// arrived; false when it did not decode (the receiver drops it like a
// lost datagram).
bool Network::report(const CodecCheck& check, const std::string& text) {
  ++(check.undecodable ? decode_failures_ : codec_mismatches_);
  if (on_codec_problem) on_codec_problem(check.problem, text);
  return !check.undecodable;
}

void Network::on_request_arrives(std::uint32_t idx, std::uint32_t gen) {
  Flight& f = flights_[idx];
  if (!f.in_use || f.gen != gen) return;
  Host& h = *hosts_[f.server];
  if (!h.alive) return;
  if (!f.request_check.problem.empty() && !report(f.request_check, f.request_text)) return;
  f.delivered = true;
  if (trace) emit_trace(f, true);
  Time d = h.node.on_request(node_now(), inbound_id(idx, gen), f.request);
  // Relayed: a 100 Trying if the answer is slow.
  if (!f.answered)
    trying_due_.fifo.push_back(Timeout{now_ + dht::trying_delay(cfg_.request_timeout), seq_++, idx, gen});
  reschedule(f.server, d);
}

void Network::on_trying_due(std::uint32_t idx, std::uint32_t gen) {
  Flight& f = flights_[idx];
  if (!f.in_use || f.gen != gen || f.answered) return;
  send_ack(idx);
}

void Network::on_ack_arrives(std::uint32_t idx, std::uint32_t gen) {
  Flight& f = flights_[idx];
  if (!f.in_use || f.gen != gen || f.acked) return;
  f.acked = true;
  if (trace) {
    const dht::Response trying{100, {}, std::nullopt, Duration{0}, 0};
    std::string text = cfg_.encode ? codec_->encode(trying, f.request, f.env) : std::string();
    emit_trace(f, false, &trying, &text);
  }
  const Time deadline = now_ + cfg_.answer_timeout;
  no_answer_.fifo.push_back(Timeout{deadline, seq_++, idx, f.gen});
  // Proceeding (RFC 3261 17.1.2.2): retransmit every T2 instead.
  std::erase_if(f.attempts, [this](const Flight::Attempt& a) { return a.sent > now_; });
  if (cfg_.retransmit_t2 > Duration{0} && now_ + cfg_.retransmit_t2 < deadline)
    plan_attempts(f, now_ + cfg_.retransmit_t2, cfg_.retransmit_t2, /*doubling=*/false, deadline);
}

void Network::on_response_arrives(std::uint32_t idx, std::uint32_t gen) {
  Flight& f = flights_[idx];
  if (!f.in_use || f.gen != gen) return;
  const std::uint32_t client = f.client;
  Host& h = *hosts_[client];
  if (!h.alive) return finish_flight(idx, now_);
  // Undecodable: as if lost, the client's timeout reports it.
  if (!f.response_check.problem.empty() && !report(f.response_check, f.response_text)) return;
  if (trace) emit_trace(f, false);
  // The flight is freed only after the call: the node reads f.response.
  Time d = h.node.on_response(node_now(), f.txn, f.response);
  finish_flight(idx, now_);
  reschedule(client, d);
}

void Network::on_timeout(const Timeout& t, dht::Failure why) {
  Flight& f = flights_[t.flight];
  if (!f.in_use || f.gen != t.gen) return;  // answered in time
  if (why == dht::Failure::Unreachable && f.acked) return;  // the answer timeout governs
  ++timeouts_fired_;
  if (why == dht::Failure::NoAnswer) ++answer_timeouts_;
  else if (f.delivered && hosts_[f.server]->alive) ++live_timeouts_;
  const std::uint32_t client = f.client;
  Host& h = *hosts_[client];
  if (!h.alive) return finish_flight(t.flight, now_);
  Time d = h.node.on_failure(node_now(), f.txn, why);
  finish_flight(t.flight, now_);
  reschedule(client, d);
}

void Network::emit_trace(const Flight& f, bool is_request, const dht::Response* resp,
                         const std::string* text) {
  TraceEntry e;
  e.at = now_;
  const dht::Address& client = hosts_[f.client]->address();
  const dht::Address& server = hosts_[f.server]->address();
  e.from = is_request ? client : server;
  e.to = is_request ? server : client;
  e.is_request = is_request;
  e.request = f.request;
  if (!is_request) e.response = resp ? *resp : f.response;
  e.text = text ? *text : is_request ? f.request_text : f.response_text;
  trace(e);
}

// ---- the oracle ----

std::vector<const Network::Host*> Network::sorted_ring() const {
  std::vector<const Host*> ring;
  ring.reserve(live_count_);
  for (const auto& h : hosts_)
    if (h->alive && h->node.joined()) ring.push_back(h.get());
  std::sort(ring.begin(), ring.end(),
            [](const Host* a, const Host* b) { return a->node.self().id < b->node.self().id; });
  return ring;
}

std::uint64_t Network::implausible() const {
  std::uint64_t n = 0;
  for (const auto& h : hosts_) n += h->node.counters().implausible;
  return n;
}

std::vector<dht::NodeRef> Network::ring_members() const {
  std::vector<dht::NodeRef> out;
  for (const Host* h : sorted_ring()) out.push_back(h->node.self());
  return out;
}

namespace {

std::string describe(const std::optional<dht::NodeRef>& n) {
  return n ? n->address.str() : std::string("none");
}

}  // namespace

std::string Network::ring_problem() const {
  using State = dht::NodeStatus::State;
  for (const auto& h : hosts_) {
    if (!h->alive || !h->started || h->node.joined()) continue;
    State s = h->node.status().state;
    if (s != State::Duplicate)  // a duplicate id is kept out by design (3.13)
      return h->address() + " is " + dht::state_name(s) + ", not in the ring";
  }
  std::vector<const Host*> ring = sorted_ring();
  const std::size_t n = ring.size();
  if (n == 0) return "no node has joined";
  for (std::size_t i = 0; i < n; ++i) {
    const dht::NodeRef& self = ring[i]->node.self();
    const dht::NodeRef& succ = ring[(i + 1) % n]->node.self();
    const dht::NodeRef& pred = ring[(i + n - 1) % n]->node.self();
    dht::NodeStatus s = ring[i]->node.status();
    std::optional<dht::NodeRef> have_succ;
    if (!s.successors.empty()) have_succ = s.successors.front();
    if (have_succ != succ)
      return self.address + " has successor " + describe(have_succ) + ", not " + succ.address;
    const bool pred_ok = n == 1 ? (!s.predecessor || *s.predecessor == self) : s.predecessor == pred;
    if (!pred_ok)
      return self.address + " has predecessor " + describe(s.predecessor) + ", not " + pred.address;
  }
  return {};
}

}  // namespace sippeer::sim
