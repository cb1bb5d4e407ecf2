#include "dht/message.h"

namespace sippeer::dht {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Query: return "query";
    case Kind::Update: return "update";
    case Kind::Unregister: return "unregister";
    case Kind::Transfer: return "transfer";
    case Kind::Store: return "store";
  }
  return "unknown";
}

}  // namespace sippeer::dht
