// Where a node is: its ring id and its transport address.
#pragma once

#include <string>

#include "dht/id.h"

namespace sippeer::dht {

struct NodeRef {
  Id id;
  // "host:port" for SIP; any opaque string for the simulator. dht/ never
  // interprets it: it only hands it back to the Transport.
  std::string address;

  bool empty() const { return address.empty(); }
  friend bool operator==(const NodeRef&, const NodeRef&) = default;
};

}  // namespace sippeer::dht
