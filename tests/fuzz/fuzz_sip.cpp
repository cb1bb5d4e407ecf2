// libFuzzer: a SIP message from the wire through Sofia's parser with our
// message class (adaptor/sip/sip_parser.h, the RFC 4475 repairs), then,
// for a REGISTER, the registrar's apply_register (adaptor/registrar) over
// an empty and over a stored record. Bad input must give an error or a
// status, never a crash.
#include <cstdint>
#include <cstring>
#include <string>

#include <sofia-sip/msg_buffer.h>

#include "adaptor/registrar/registrar.h"
#include "adaptor/sip/sip_parser.h"
#include "adaptor/sip/sofia.h"
#include "dht/codec.h"

using namespace sippeer;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 65536) return 0;
  msg_t* msg = msg_create(adaptor::sip_message_class(), 0);
  if (!msg) return 0;
  // One datagram: the whole input is the message.
  void* space = msg_buf_alloc(msg, size + 1);
  if (!space) {
    msg_destroy(msg);
    return 0;
  }
  std::memcpy(space, data, size);
  msg_buf_commit(msg, size, 1);
  const int n = msg_extract(msg);
  sip_t* sip = sip_object(msg);
  if (n > 0 && sip && sip->sip_request && sip->sip_request->rq_method == sip_method_register && sip->sip_to) {
    su_home_t* home = msg_home(msg);
    const char* to = url_as_string(home, sip->sip_to->a_url);
    const auto aor = to ? dht::Codec::canonical_aor(to) : std::nullopt;
    if (aor) {
      adaptor::RegistrarPolicy policy;
      const dht::Id key = dht::Ring(160).hash(*aor);
      adaptor::RegisterOutcome first = adaptor::apply_register(policy, sip, *aor, key, nullptr, 1'800'000'000);
      if (first.record) (void)adaptor::apply_register(policy, sip, *aor, key, &*first.record, 1'800'000'100);
    }
  }
  msg_destroy(msg);
  return 0;
}
