// sippeer-mac-bench: what overlay.secret adds to one overlay message
// (issue 14), against what the message costs anyway: a Transfer as the
// codec writes it is encoded, signed, checked and decoded many times, and
// each step's time per message is printed with the ratios. Run by
// bench/secret.sh; figures in docs/BENCHMARKS.md.
#include <chrono>
#include <cstdio>
#include <string>

#include "adaptor/node/overlay_auth.h"
#include "dht/codec.h"
#include "dht/ring.h"

using namespace sippeer;
using Clock = std::chrono::steady_clock;

namespace {

double ns_per(Clock::duration d, int n) { return std::chrono::duration<double, std::nano>(d).count() / n; }

}  // namespace

int main() {
  constexpr int kN = 100'000;
  const dht::Ring ring(160);
  const dht::Codec codec(ring);
  dht::Request req;
  req.kind = dht::Kind::Transfer;
  req.from = dht::NodeRef{ring.hash("127.0.0.51:5060"), "127.0.0.51:5060"};
  dht::Record rec;
  rec.aor = "sip:alice@example.com";
  rec.key = ring.hash(rec.aor);
  rec.bindings = {"<sip:alice@192.0.2.7:5060>;p2p-until=1796444499;p2p-callid=\"a84b4c76e66710@192.0.2.7\";p2p-cseq=314"};
  rec.version = 7;
  req.to = dht::Target::user(rec.key, rec.aor);
  req.record = rec;
  req.ttl = dht::Duration{3'600'000};
  dht::Envelope env;
  env.via_address = "127.0.0.51:5060";
  env.branch = "z9hG4bK5f0c1a2b3c4d5e6f";
  env.call_id = "9279a68e5ffc3e3a@127.0.0.51:5060";
  env.from_tag = "0c211cc7de";

  std::string text;
  auto t0 = Clock::now();
  for (int i = 0; i < kN; ++i) text = codec.encode(req, "127.0.0.52:5060", env);
  const double encode = ns_per(Clock::now() - t0, kN);

  adaptor::OverlayAuth sender("bench-secret-0123456789abcdef", "", 30, 2 * kN);
  adaptor::OverlayAuth receiver("bench-secret-0123456789abcdef", "", 30, 2 * kN);
  std::string signed_text;
  t0 = Clock::now();
  for (int i = 0; i < kN; ++i) signed_text = sender.sign_request(text, 1'796'444'499);
  const double sign = ns_per(Clock::now() - t0, kN);

  // Checking needs a fresh nonce each time (a repeated one is a
  // retransmission or a replay): sign a chunk untimed, check it timed.
  constexpr int kChunk = 1000;
  std::vector<std::string> chunk(kChunk);
  int ok = 0;
  std::size_t decoded = 0;
  Clock::duration checking{}, decoding{};
  for (int done = 0; done < kN; done += kChunk) {
    for (auto& c : chunk) c = sender.sign_request(text, 1'796'444'499);
    t0 = Clock::now();
    for (const auto& c : chunk) ok += adaptor::mac_ok(receiver.check_request(c, 1'796'444'499));
    checking += Clock::now() - t0;
    t0 = Clock::now();
    for (const auto& c : chunk) decoded += codec.decode_request(c).index() == 0;
    decoding += Clock::now() - t0;
  }
  const double check = ns_per(checking, kN);
  const double decode = ns_per(decoding, kN);

  std::printf("overlay message: a Transfer of one binding, %zu bytes unsigned, %zu signed (%d runs)\n", text.size(),
              signed_text.size(), kN);
  std::printf("  %-34s %8.0f ns\n", "codec encode (sender)", encode);
  std::printf("  %-34s %8.0f ns   %.2f x encode\n", "sign, P2P-Auth (sender)", sign, sign / encode);
  std::printf("  %-34s %8.0f ns\n", "codec decode (receiver)", decode);
  std::printf("  %-34s %8.0f ns   %.2f x decode\n", "check MAC + nonce (receiver)", check, check / decode);
  std::printf("  accepted %d of %d, decoded %zu\n", ok, kN, decoded);
  std::printf("{\"bench\": \"mac\", \"bytes\": %zu, \"encode_ns\": %.0f, \"sign_ns\": %.0f, \"decode_ns\": %.0f, "
              "\"check_ns\": %.0f}\n",
              text.size(), encode, sign, decode, check);
  return ok == kN && decoded == static_cast<std::size_t>(kN) ? 0 : 1;
}
