// sippeer-list-bench: what one `sippeer ctl regs --ring` sweep costs the
// node that answers it. A lone node holds N bindings; every page of its
// List (Node::list, the same call a List request from a peer makes) is
// asked for in turn, as the ring walk does. Prints the pages and the time
// for all of them; the node's SIP thread does this work. Run with N as the
// argument (default 100,000); figures in docs/BENCHMARKS.md.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "dht/memory_storage.h"
#include "dht/node.h"

using namespace sippeer::dht;

namespace {

// The node sends nothing: it is alone, and lists itself.
struct NoTransport final : Transport {
  void send_request(TxnId, std::string_view, const Request&) override {}
  void relay_request(TxnId, std::string_view, const Request&, InboundId) override {}
  void send_response(InboundId, const Response&) override {}
};

}  // namespace

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 100'000;
  const Config cfg;
  const Ring ring(cfg.bits);
  NoTransport transport;
  SplitMix64 random(1);
  MemoryStorage storage;
  Observer observer;
  Node node(cfg, NodeRef{ring.hash("10.0.0.1:5060"), "10.0.0.1:5060"}, transport, random, storage, observer);
  const Time now{Duration{1000}};
  node.start_singleton(now);
  for (long i = 0; i < n; ++i) {
    const std::string aor = "sip:user" + std::to_string(i) + "@example.com";
    node.store_here(now, Record{ring.hash(aor), aor, {"<sip:user@10.0.0.2:5062>"}, 1}, Duration{3'600'000});
  }
  const auto start = std::chrono::steady_clock::now();
  std::optional<Id> after;
  long pages = 0;
  std::size_t listed = 0;
  do {
    node.list(now, node.self(), after, RecordKind::Bindings, [&](const LookupResult& page) {
      after = page.list_next;
      listed += page.records.size();
    });
    ++pages;
  } while (after);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%ld bindings: %zu listed in %ld pages, %.3f s (%.1f us per page)\n", n, listed, pages, s,
              s * 1e6 / static_cast<double>(pages));
  return listed == static_cast<std::size_t>(n) ? 0 : 1;
}
