// libFuzzer: the overlay codec (dht/codec.h). Anything may come in; what
// decodes must survive its own encoding (encode(decode(x)) decodes to the
// same message), else the codec and the nodes reading it disagree.
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "dht/codec.h"

using namespace sippeer::dht;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Ring ring(160);
  static const Ring small(5);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const Ring* r : {&ring, &small}) {
    const Codec codec(*r);
    auto req = codec.decode_request(text);
    if (auto* d = std::get_if<Decoded<Request>>(&req)) {
      const std::string again = codec.encode(d->message, d->request_address.empty() ? "127.0.0.1:5060" : d->request_address,
                                             d->envelope);
      auto back = codec.decode_request(again);
      auto* b = std::get_if<Decoded<Request>>(&back);
      if (!b || !(b->message == d->message)) std::abort();  // the codec does not read what it writes
    }
    auto resp = codec.decode_response(text);
    if (auto* d = std::get_if<Decoded<Response>>(&resp)) {
      Request answered;
      answered.to = d->message.record ? Target::user(d->message.record->key, d->message.record->aor) : Target::key(Id{});
      (void)codec.encode(d->message, answered, d->envelope);
    }
    (void)codec.parse_target(text);
    (void)Codec::canonical_aor(text);
  }
  return 0;
}
