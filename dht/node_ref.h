// Where a node is: its ring id and its transport address.
#pragma once

#include "dht/address.h"
#include "dht/id.h"

namespace sippeer::dht {

struct NodeRef {
  Id id;
  // "host:port" for SIP; any opaque string for the simulator. dht/ never
  // interprets it: it only hands it back to the Transport.
  Address address;

  bool empty() const { return address.empty(); }
  friend bool operator==(const NodeRef&, const NodeRef&) = default;
};

}  // namespace sippeer::dht
