// A deterministic discrete-event network for dht::Node.
//
// One event queue ordered by (time, sequence number) drives every node, so
// a run is bit-for-bit repeatable from its seed. Each node gets its own
// Transport, Storage, Observer and Random; the network models latency, loss,
// SIP-style retransmission and transaction timeouts, and (by default) passes
// every message through dht::Codec so byte counts are real and codec bugs
// surface as misrouted or undecodable messages.
//
// Clocks: the network's clock starts at Time{} (0 ms). Nodes are handed
// now() + kNodeEpoch, so no node ever sees Time{}, which a node may use as
// "unset". TraceEntry::at and run_until() use the network's clock.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "dht/codec.h"
#include "dht/config.h"
#include "dht/memory_storage.h"
#include "dht/node.h"
#include "tests/sim/address_index.h"
#include "tests/sim/calendar_queue.h"

namespace sippeer::sim {

inline constexpr dht::Duration kNodeEpoch{1000};

struct NetConfig {
  dht::Duration latency_min{10}, latency_max{30};  // one-way, uniform
  double loss = 0.0;                                // per datagram
  // No answer and no acknowledgement within this: Failure::Unreachable.
  dht::Duration request_timeout{2000};
  // A request the server does not answer inside on_request (it relays it)
  // and still has not answered dht::trying_delay(request_timeout) later is
  // acknowledged with a 100 Trying, as the adaptor does; from the 100's
  // arrival the client waits this long for the final answer, then
  // Failure::NoAnswer. The adaptor uses 8 x request_timeout.
  dht::Duration answer_timeout{16000};
  // Request attempts go out at 0, T1, 2T1, 4T1, ... while before the
  // timeout, and every T2 once acknowledged. The server answers the first
  // copy it gets and re-sends its latest answer (100 or final) for each
  // later copy (RFC 3261 17.2.2). Every request, 100 and final response
  // datagram is lost independently with `loss`.
  dht::Duration retransmit_t1{500};
  dht::Duration retransmit_t2{4000};
  bool encode = true;  // pass every message through dht::Codec
  std::string overlay_domain = "sippeer.net";
  // A safety valve for message storms: once more requests than this are
  // in flight the network stops (overloaded() turns true and run_until
  // returns at once from then on). 0 means no limit.
  std::size_t max_in_flight = 0;
};

// One delivered message. A 100 Trying is a response with status 100.
struct TraceEntry {
  dht::Time at;
  std::string from, to;  // addresses
  bool is_request = true;
  dht::Request request;    // for a response: the request it answers
  dht::Response response;  // responses only
  std::string text;        // encoded text when encode=true
};

class Network {
 public:
  Network(NetConfig net, std::uint64_t seed);
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // Creates a node with its own MemoryStorage, Observer and Random (seeded
  // from the network seed). Not started. Every node must use the same
  // ring width. An address may be reused once its previous node is gone.
  dht::Node& add_node(const dht::NodeRef& self, const dht::Config& cfg);
  // nullptr if unknown. A crashed or departed node stays inspectable.
  dht::Node* node(std::string_view address);
  const dht::Node* node(std::string_view address) const;
  dht::MemoryStorage* storage(std::string_view address);
  const dht::MemoryStorage* storage(std::string_view address) const;

  // Call these from outside node callbacks (or through at()).
  void start_singleton(std::string_view address);
  void join(std::string_view address, std::string_view bootstrap_address);
  // Graceful: the node stays alive until its Observer::on_left, then it is
  // gone for good, exactly like a crashed node.
  void leave(std::string_view address);
  // Silent: in-flight messages to it are dropped, requests to it time out,
  // its own pending transactions are forgotten.
  void crash(std::string_view address);
  bool alive(std::string_view address) const;
  std::vector<std::string> live_addresses() const;

  // Issue a lookup/store from a node at the current time; the callback runs
  // inside the sim loop. A node that is gone answers 503.
  void lookup(const std::string& from, const dht::Target& t, dht::LookupCallback cb);
  void store(const std::string& from, const dht::Record& r, dht::Duration ttl,
             dht::LookupCallback cb);
  // Runs fn at sim time t (not before now()) inside the loop.
  void at(dht::Time t, std::function<void()> fn);

  void run_until(dht::Time t);
  void run_for(dht::Duration d);
  dht::Time now() const { return now_; }
  dht::Time node_now() const { return now_ + kNodeEpoch; }

  // Oracle: every live node that was started is joined (one refused as a
  // duplicate id excepted), and each one's successor and predecessor are
  // the true ones from the set of live joined ids.
  bool ring_consistent() const { return ring_problem().empty(); }
  // Why the ring is not consistent (the first disagreement found), or "".
  std::string ring_problem() const;
  // The live joined nodes in ring order (the ground truth).
  std::vector<dht::NodeRef> ring_members() const;
  // Transfers and leaves the nodes refused as implausible (dht::NodeCounters),
  // summed over every node ever started: in a ring of honest nodes, each is
  // a legitimate message the plausibility rules got wrong.
  std::uint64_t implausible() const;

  // Per delivered message. Set it before the first message is sent: the
  // texts of messages sent without it are not kept.
  std::function<void(const TraceEntry&)> trace;
  // A node's join failed (Observer::on_join_failed). It runs inside that
  // node's call: schedule any retry with at().
  std::function<void(std::string_view address)> on_join_failed;
  // Called with a description and the text for each message that fails to
  // decode or decodes to something else than was encoded.
  std::function<void(const std::string& problem, const std::string& text)> on_codec_problem;

  // Datagrams put on the wire, retransmissions included, and their encoded
  // sizes (SIP text only, no UDP/IP headers; 0 when encode=false).
  std::uint64_t messages_sent() const { return messages_; }
  std::uint64_t bytes_sent() const { return bytes_; }
  // Messages the receiver could not decode; they are dropped like a lost
  // datagram (so the sender times out).
  std::uint64_t decode_failures() const { return decode_failures_; }
  // Messages that decoded to something other than what was encoded (the
  // decoded copy is delivered anyway). Not counted: what SIP cannot carry
  // by design, i.e. lifetimes below a second and a Store's originating node.
  std::uint64_t codec_mismatches() const { return codec_mismatches_; }
  // send_response calls that matched no open transaction: a second answer,
  // an answer for a request whose sender already gave up, a foreign id.
  std::uint64_t stray_responses() const { return stray_responses_; }
  // on_failure calls: all of them, those reported Unreachable although a
  // live node had the request (every 100 Trying lost, or the node neither
  // answered nor relayed), and those reported NoAnswer.
  std::uint64_t timeouts() const { return timeouts_fired_; }
  std::uint64_t live_timeouts() const { return live_timeouts_; }
  std::uint64_t answer_timeouts() const { return answer_timeouts_; }
  std::size_t live_count() const { return live_count_; }
  std::size_t in_flight() const { return in_flight_; }
  bool overloaded() const { return overloaded_; }

 private:
  struct Host;
  struct Flight;
  class Ports;
  enum class EventKind : std::uint8_t { Tick, RequestArrives, AckArrives, ResponseArrives, Action };
  struct Event {
    dht::Time at;
    std::uint64_t seq;
    std::uint32_t ref;  // host, flight or action slot
    std::uint32_t gen;  // host tick generation or flight generation
    EventKind kind;
  };
  struct Timeout {
    dht::Time at;
    std::uint64_t seq;
    std::uint32_t flight;
    std::uint32_t gen;
  };
  // Deadlines are a constant after the send (or the ack), and sends (and
  // acks) happen in time order: a FIFO per kind stays sorted.
  struct TimeoutQueue {
    std::deque<Timeout> fifo;
    dht::Failure why;
  };
  static constexpr std::uint32_t kNoHost = 0xffffffffu;

  // Ports, called by nodes. `upstream` is the inbound request a relayed
  // request proxies (0 for none).
  void send_request(std::uint32_t host, dht::TxnId txn, std::string_view address,
                    const dht::Request& req, dht::InboundId upstream);
  void send_response(std::uint32_t host, dht::InboundId in, const dht::Response& resp);
  void node_left(std::uint32_t host);
  void join_failed(std::uint32_t host);

  // Events.
  void push(dht::Time at, EventKind kind, std::uint32_t ref, std::uint32_t gen);
  bool pop_next(dht::Time limit);
  void dispatch(const Event& e);
  void on_tick(std::uint32_t host, std::uint32_t gen);
  void on_request_arrives(std::uint32_t flight, std::uint32_t gen);
  void on_ack_arrives(std::uint32_t flight, std::uint32_t gen);
  void on_trying_due(std::uint32_t flight, std::uint32_t gen);
  void on_response_arrives(std::uint32_t flight, std::uint32_t gen);
  void on_timeout(const Timeout& t, dht::Failure why);
  void on_action(std::uint32_t slot);
  void reschedule(std::uint32_t host, dht::Time node_deadline, bool after_tick = false);

  // Transactions.
  std::uint32_t alloc_flight();
  Flight* find_flight(dht::InboundId in);
  void finish_flight(std::uint32_t flight, dht::Time completed);
  void fill_envelope(Flight& f, const Host& sender, const Flight* upstream);
  void plan_attempts(Flight& f, dht::Time from, dht::Duration gap, bool doubling, dht::Time until);
  dht::Time plan_reply(Flight& f, int* datagrams);
  void send_ack(std::uint32_t flight);
  // The codec's round trip (encode on), run at the send: `decoded` is what
  // the codec made of the text of `sent`.
  struct CodecCheck {
    std::string problem;  // "" when the copy decodes to what was sent
    bool undecodable = false;
  };
  template <typename Message>
  static CodecCheck round_trip(std::variant<dht::Decoded<Message>, dht::DecodeError> decoded, const char* what,
                               dht::Kind kind, const Message& sent, Message& out);
  bool report(const CodecCheck& check, const std::string& text);
  void emit_trace(const Flight& f, bool is_request, const dht::Response* resp = nullptr,
                  const std::string* text = nullptr);

  Host* find_host(std::string_view address);
  const Host* find_host(std::string_view address) const;
  Host& must_find(std::string_view address);
  dht::Duration draw_latency();
  bool draw_loss();
  std::vector<const Host*> sorted_ring() const;

  NetConfig cfg_;
  std::uint64_t seed_;
  dht::SplitMix64 rng_;
  dht::Time now_{};
  std::uint64_t seq_ = 0;
  std::uint64_t counter_ = 0;  // branches, Call-IDs and tags

  std::unique_ptr<dht::Ring> ring_;
  std::unique_ptr<dht::Codec> codec_;
  std::vector<std::unique_ptr<Host>> hosts_;
  AddressIndex by_address_;
  std::size_t live_count_ = 0;
  std::size_t in_flight_ = 0;
  bool overloaded_ = false;

  CalendarQueue<Event> events_;
  TimeoutQueue unreachable_{{}, dht::Failure::Unreachable};  // request_timeout after the send
  TimeoutQueue no_answer_{{}, dht::Failure::NoAnswer};       // answer_timeout after the ack
  // Relayed requests whose 100 Trying is due trying_delay after arrival
  // (`why` unused): a FIFO too, since the delay is constant.
  TimeoutQueue trying_due_{{}, dht::Failure::NoAnswer};
  std::deque<Flight> flights_;  // deque: a Flight stays put while a node call runs
  std::vector<std::uint32_t> free_flights_;
  std::vector<std::function<void()>> actions_;
  std::vector<std::uint32_t> free_actions_;

  std::uint64_t messages_ = 0, bytes_ = 0, decode_failures_ = 0, codec_mismatches_ = 0,
                stray_responses_ = 0, live_timeouts_ = 0, timeouts_fired_ = 0, answer_timeouts_ = 0;
  std::string text_;  // scratch: the message being encoded (its capacity kept)
};

}  // namespace sippeer::sim
