#include "dht/message.h"

namespace sippeer::dht {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Query: return "query";
    case Kind::Update: return "update";
    case Kind::Unregister: return "unregister";
    case Kind::Transfer: return "transfer";
    case Kind::Store: return "store";
    case Kind::List: return "list";
  }
  return "unknown";
}

const char* reason_phrase(int code) {
  switch (code) {
    case status::kOk: return "OK";
    case status::kRedirect: return "Moved Temporarily";
    case status::kBadRequest: return "Bad Request";
    case status::kForbidden: return "Forbidden";
    case status::kNotFound: return "User not found on P2P/SIP";
    case status::kTimeout: return "Request Timeout";
    case status::kLoopDetected: return "Loop Detected";
    case status::kTooManyHops: return "Too Many Hops";
    case status::kUnavailable: return "Service Unavailable";
    case status::kDuplicateId: return "Duplicate Node Identifier";
    default: break;
  }
  switch (code / 100) {
    case 1: return "Trying";
    case 2: return "OK";
    case 3: return "Redirect";
    case 4: return "Client Error";
    case 5: return "Server Error";
    default: return "Global Failure";
  }
}

}  // namespace sippeer::dht
