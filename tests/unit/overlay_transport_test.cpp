// OverlayTransport (adaptor/node/overlay_transport.cpp) between real
// nta agents on loopback, each feeding a real dht::Node: the overlay's
// messages as SIP REGISTERs, their answers (stateless or through a server
// transaction), timeouts, overlay.secret's signatures, and the 400 for a
// REGISTER the codec cannot read. No daemon: one su_root drives every peer.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "adaptor/node/overlay_auth.h"
#include "adaptor/node/overlay_transport.h"
#include "adaptor/sip/sofia.h"
#include "dht/memory_storage.h"
#include "tests/unit/loopback_udp.h"

namespace sippeer::adaptor {
namespace {

using Clock = std::chrono::steady_clock;

struct Events : dht::Observer {
  bool joined = false, join_failed = false;
  void on_joined() override { joined = true; }
  void on_join_failed() override { join_failed = true; }
};

// One overlay node: an nta agent on 127.0.0.1, its transport and its node.
struct Peer {
  Peer(su_root_t* root, const std::string& secret, Clock::time_point epoch) : root_(root), epoch_(epoch) {
    agent = nta_agent_create(root, URL_STRING_MAKE("sip:127.0.0.1:0;transport=udp"), &Peer::on_message, this,
                             NTATAG_UA(0), NTATAG_SERVER_RPORT(1), NTATAG_CLIENT_RPORT(1), NTATAG_PASS_408(1),
                             NTATAG_SIP_T1X64(4000), TAG_END());
    if (!agent) return;
    const sip_contact_t* m = nta_agent_contact(agent);
    address = std::string("127.0.0.1:") + (m && m->m_url->url_port ? m->m_url->url_port : "0");
    auth = std::make_unique<OverlayAuth>(secret, "", 30);
    transport = std::make_unique<OverlayTransport>(agent, root, codec, address, dht::Duration{300}, *auth);
    dht::Config cfg;
    cfg.bits = 160;
    cfg.stabilize_interval = dht::Duration{200};
    cfg.successors = 4;
    cfg.replicas = 1;
    node = std::make_unique<dht::Node>(cfg, dht::NodeRef{ring.hash(address), address}, *transport, random, storage,
                                       events);
    transport->bind(node.get(), [this] { return now(); }, [](dht::Time) {});
  }
  ~Peer() {
    node.reset();
    transport.reset();
    if (agent) nta_agent_destroy(agent);
  }
  dht::Time now() const { return dht::Time{std::chrono::duration_cast<dht::Duration>(Clock::now() - epoch_)}; }
  static int on_message(void* magic, nta_agent_t* a, msg_t* msg, sip_t* sip) {
    auto* self = static_cast<Peer*>(magic);
    if (sip && sip->sip_request && sip->sip_request->rq_method == sip_method_register) {
      self->transport->on_request(msg, sip);
    } else {
      nta_msg_discard(a, msg);
    }
    return 0;
  }

  su_root_t* root_;
  Clock::time_point epoch_;
  dht::Ring ring{160};
  dht::Codec codec{ring};
  dht::SplitMix64 random{7};
  dht::MemoryStorage storage;
  Events events;
  nta_agent_t* agent = nullptr;
  std::string address;
  std::unique_ptr<OverlayAuth> auth;
  std::unique_ptr<OverlayTransport> transport;
  std::unique_ptr<dht::Node> node;
};

class OverlayTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    su_init();
    root = su_root_create(nullptr);
    ASSERT_TRUE(root);
  }
  void TearDown() override {
    peers.clear();
    su_root_destroy(root);
    su_deinit();
  }
  Peer& add(const std::string& secret = "") {
    peers.push_back(std::make_unique<Peer>(root, secret, epoch));
    EXPECT_NE(peers.back()->agent, nullptr);
    return *peers.back();
  }
  // Runs the loop (and every node's timers) until `done` or `ms` pass.
  bool run_until(const std::function<bool()>& done, int ms = 3000) {
    const auto end = Clock::now() + std::chrono::milliseconds(ms);
    while (Clock::now() < end) {
      if (done()) return true;
      su_root_step(root, 10);
      for (auto& p : peers) p->node->tick(p->now());
    }
    return done();
  }
  dht::LookupResult lookup_from(Peer& p, const dht::Target& t, dht::RecordKind want = dht::RecordKind::Bindings) {
    std::optional<dht::LookupResult> out;
    p.node->lookup(p.now(), t, [&](const dht::LookupResult& r) { out = r; }, want);
    run_until([&] { return out.has_value(); });
    return out.value_or(dht::LookupResult{0, std::nullopt, std::nullopt, 0});
  }

  su_root_t* root = nullptr;
  Clock::time_point epoch = Clock::now();
  std::vector<std::unique_ptr<Peer>> peers;
};

TEST_F(OverlayTransportTest, TwoNodesJoinStoreAndLookUpOverSip) {
  Peer& a = add();
  Peer& b = add();
  a.node->start_singleton(a.now());
  b.node->join(b.now(), a.address);
  ASSERT_TRUE(run_until([&] { return b.events.joined && a.node->status().predecessor &&
                                     a.node->status().predecessor->address == b.address; }));
  EXPECT_EQ(b.node->status().successors.front().address, a.address);
  EXPECT_GT(b.transport->counters().sent_by_kind[static_cast<int>(dht::Kind::Query)], 0u);
  EXPECT_GT(a.transport->counters().received_by_kind[static_cast<int>(dht::Kind::Update)], 0u);
  EXPECT_GT(a.transport->counters().stateless_answers, 0u);

  // A record stored from one node is found from the other, whichever owns it.
  const std::string aor = "sip:alice@example.com";
  const dht::Record rec{a.ring.hash(aor), aor, {"<sip:alice@192.0.2.7:5060>;expires=60"}, 3};
  std::optional<dht::LookupResult> stored;
  b.node->store(b.now(), rec, dht::Duration{60000}, [&](const dht::LookupResult& r) { stored = r; });
  ASSERT_TRUE(run_until([&] { return stored.has_value(); }));
  EXPECT_EQ(stored->status, 200);
  const dht::LookupResult found = lookup_from(a, dht::Target::user(rec.key, aor));
  ASSERT_EQ(found.status, 200);
  ASSERT_TRUE(found.record);
  EXPECT_EQ(found.record->bindings, rec.bindings);
  EXPECT_EQ(found.record->version, 3u);
  // Both hold it: the owner and its one replica.
  EXPECT_TRUE(run_until([&] { return a.storage.find(rec.key, aor) && b.storage.find(rec.key, aor); }));

  // A record of another kind comes back with its values: a mailbox's kept
  // messages, asked of its owner from the other node.
  const std::string away = "sip:carol@example.com";
  const dht::Record box{a.ring.hash(away), away, {"id=0123456789abcdef;t=1;sender=YQ==;from=YQ==;type=dA==;body=aGk="},
                        2, dht::RecordKind::Mailbox};
  Peer& owner = a.node->owns(box.key) ? a : b;
  Peer& other = &owner == &a ? b : a;
  owner.node->store_here(owner.now(), box, dht::Duration{60000});
  const dht::LookupResult kept = lookup_from(other, dht::Target::user(box.key, away), dht::RecordKind::Mailbox);
  ASSERT_EQ(kept.status, 200);
  ASSERT_TRUE(kept.record);
  EXPECT_EQ(kept.record->kind, dht::RecordKind::Mailbox);
  EXPECT_EQ(kept.record->bindings, box.bindings);
}

TEST_F(OverlayTransportTest, AListAnswerCarriesItsRecordsInTheBody) {
  Peer& a = add("ring-key");
  Peer& b = add("ring-key");
  a.node->start_singleton(a.now());
  for (int i = 0; i < 30; ++i) {
    const std::string aor = "sip:u" + std::to_string(i) + "@example.com";
    a.node->store_here(a.now(), dht::Record{a.ring.hash(aor), aor, {"<sip:u@192.0.2.9>"}, 1}, dht::Duration{60000});
  }
  b.node->join(b.now(), a.address);
  // Until A takes B as its predecessor (a singleton is its own), which
  // settles what A owns.
  ASSERT_TRUE(run_until([&] {
    const auto pred = a.node->status().predecessor;
    return b.events.joined && pred && pred->address == b.address;
  }));
  // Ids come from random ports, so A's range may hold none of the 30 (the
  // test failed now and then): add records A owns until it has ten.
  std::size_t mine = 0;
  a.storage.for_each([&](dht::RecordView sr) { mine += a.node->owns(sr.key()); });
  for (int i = 30; mine < 10 && i < 1'000'000; ++i) {
    const std::string aor = "sip:u" + std::to_string(i) + "@example.com";
    if (!a.node->owns(a.ring.hash(aor))) continue;
    a.node->store_here(a.now(), dht::Record{a.ring.hash(aor), aor, {"<sip:u@192.0.2.9>"}, 1}, dht::Duration{60000});
    ++mine;
  }
  std::size_t listed = 0;
  std::optional<dht::Id> after;
  for (int page = 0; page < 20; ++page) {
    std::optional<dht::LookupResult> r;
    b.node->list(b.now(), a.node->self(), after, dht::RecordKind::Bindings, [&](const dht::LookupResult& x) { r = x; });
    ASSERT_TRUE(run_until([&] { return r.has_value(); }));
    ASSERT_EQ(r->status, 200);
    listed += r->records.size();
    after = r->list_next;
    if (!after) break;
  }
  // A owns the keys in (B, A]; the rest were handed to B when it joined.
  std::size_t owned = 0;
  a.storage.for_each([&](dht::RecordView sr) { owned += a.node->owns(sr.key()); });
  EXPECT_EQ(listed, owned);
  EXPECT_GT(listed, 0u);
  EXPECT_EQ(b.transport->counters().unsigned_responses, 0u);  // the signed bodies checked
}

TEST_F(OverlayTransportTest, ASilentPeerIsAFailureWithinTheTimeout) {
  // A UDP port nobody reads: the join query is never answered.
  const LoopbackUdp silent;
  ASSERT_NE(silent.port(), 0);
  Peer& b = add();
  const auto t0 = Clock::now();
  b.node->join(b.now(), silent.address());
  ASSERT_TRUE(run_until([&] { return b.events.join_failed; }, 3000));
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(1500));  // 300 ms, not Timer F's 32 s
  EXPECT_GE(b.transport->counters().timeouts, 1u);
  EXPECT_EQ(b.transport->pending_outgoing(), 0u);
}

// A request its next hop acknowledged with a 100 Trying waits for the
// chain behind that hop: 8 request timeouts (here 2.4 s), not one (300
// ms), and the hop is not taken for dead. nta keeps every 100 to itself
// unless the request asks for it (NTATAG_PASS_100): without that, an
// acknowledged request failed at its first timeout, as Unreachable.
class AcknowledgedRequestTest : public OverlayTransportTest {
 protected:
  // A peer played by hand on a raw socket: it acknowledges the List it
  // gets with a 100 at once, and answers `final_status` (0: never) after
  // `delay_ms`.
  void list_from_slow_peer(int final_status, int delay_ms, std::optional<dht::LookupResult>* out) {
    LoopbackUdp slow;
    ASSERT_NE(slow.port(), 0);
    Peer& a = add();
    a.node->start_singleton(a.now());
    const dht::NodeRef at{a.ring.hash(slow.address()), slow.address()};
    a.node->list(a.now(), at, std::nullopt, dht::RecordKind::Bindings, [out](const dht::LookupResult& r) { *out = r; });
    std::string text;
    ASSERT_TRUE(run_until([&] { return !(text = slow.receive()).empty(); }, 1000));
    auto decoded = a.codec.decode_request(text);
    ASSERT_TRUE(std::holds_alternative<dht::Decoded<dht::Request>>(decoded)) << text;
    auto& req = std::get<dht::Decoded<dht::Request>>(decoded);
    dht::Envelope env = req.envelope;
    env.to_tag = "slow";
    const int agent_port = std::stoi(a.address.substr(a.address.rfind(':') + 1));
    ASSERT_TRUE(slow.send_to(agent_port, a.codec.encode(dht::Response{100, {}, std::nullopt, dht::Duration{0}, 0},
                                                         req.message, env)));
    const auto t0 = Clock::now();
    run_until([&] { return out->has_value() || Clock::now() - t0 > std::chrono::milliseconds(delay_ms); },
              delay_ms + 100);
    if (final_status && !out->has_value()) {
      const dht::Response page{final_status, {{at, std::nullopt}}, std::nullopt, dht::Duration{0}, 1};
      ASSERT_TRUE(slow.send_to(agent_port, a.codec.encode(page, req.message, env)));
    }
    ASSERT_TRUE(run_until([&] { return out->has_value(); }, 3000));
    EXPECT_EQ(a.transport->pending_outgoing(), 0u);
    failed_peers = a.node->counters().nodes_failed;
  }
  std::uint64_t failed_peers = 0;
};

TEST_F(AcknowledgedRequestTest, ItsAnswerMayComeAfterTheRequestTimeout) {
  std::optional<dht::LookupResult> result;
  list_from_slow_peer(200, 1200, &result);  // 4 request timeouts after the 100
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(failed_peers, 0u);
}

TEST_F(AcknowledgedRequestTest, WithoutAnAnswerItFailsAtEightTimeouts) {
  std::optional<dht::LookupResult> result;
  const auto t0 = Clock::now();
  list_from_slow_peer(0, 1200, &result);
  ASSERT_TRUE(result);
  EXPECT_NE(result->status, 200);
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(2300));  // 8 x 300 ms after the 100
}

TEST_F(OverlayTransportTest, ANodeWithAnotherSecretIsRefused) {
  Peer& a = add("ring-key");
  Peer& b = add("another-key");
  a.node->start_singleton(a.now());
  b.node->join(b.now(), a.address);
  ASSERT_TRUE(run_until([&] { return b.events.join_failed || b.events.joined; }));
  EXPECT_TRUE(b.events.join_failed);
  EXPECT_FALSE(a.node->status().predecessor && a.node->status().predecessor->address == b.address);
  EXPECT_GE(a.transport->counters().unsigned_requests, 1u);
}

TEST_F(OverlayTransportTest, ARegisterTheCodecCannotReadIsAnswered400) {
  Peer& a = add();
  a.node->start_singleton(a.now());
  const LoopbackUdp phone;
  ASSERT_NE(phone.port(), 0);
  const std::string from = phone.address();
  // To names a node whose id is not hex: the codec says bad-id.
  const std::string text = "REGISTER sip:" + a.address + " SIP/2.0\r\nVia: SIP/2.0/UDP " + from +
                           ";branch=z9hG4bKbad1\r\nMax-Forwards: 70\r\nFrom: <sip:12@" + from +
                           ";node>;tag=x\r\nTo: <sip:zz@" + a.address +
                           ";node>\r\nCall-ID: bad1@t\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
  ASSERT_TRUE(phone.send_to(std::stoi(a.address.substr(a.address.rfind(':') + 1)), text));
  std::string answer;
  run_until([&] { return !(answer = phone.receive()).empty(); });
  EXPECT_EQ(answer.rfind("SIP/2.0 400", 0), 0u) << answer;
  EXPECT_NE(answer.find("bad-id"), std::string::npos) << answer;
  EXPECT_EQ(a.transport->counters().bad_requests, 1u);
}

}  // namespace
}  // namespace sippeer::adaptor
