// GET /ring.svg: the ring drawn as one node knows it, as a self-contained
// SVG (no scripts, no external assets, well-formed XML so that it can be
// served alone or inlined in the status page).
//
// Nodes sit on a circle at angle = id / 2^m * 360 degrees, clockwise from
// the top; this node is highlighted and its fingers are chords from it.
// Every node is one <g class="node" data-id="..."> so a test (or a
// stylesheet) can find them.
#pragma once

#include "adaptor/xml.h"  // xml_escape, used with the picture

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace sippeer::adaptor {

struct PictureNode {
  double position = 0;       // id / 2^m, in [0, 1)
  std::string id;            // full id, hex
  std::string uri;           // sip:<id>@host:port;node
  std::vector<std::string> roles;  // "self", "predecessor", "successor 2", "finger 3-7", "ring walk"
  bool self = false;
  bool finger = false;       // a chord is drawn to it from self
  // Records it keeps, when this node knows (only for itself): the
  // picture never invents a figure for another node.
  std::optional<std::size_t> stored;
  std::size_t primary = 0, replicas = 0;  // the split of `stored`
  // Records owned by it that this node keeps a replica of: a lower bound
  // on what it stores, known from here.
  std::size_t replicated_here = 0;
};

struct RingPicture {
  int bits = 160;
  std::vector<PictureNode> nodes;  // each node once, in any order
  bool walk_complete = false;      // the ring walk came back round
  std::string caption;             // one line under the title
};

std::string render_ring_svg(const RingPicture& picture);


}  // namespace sippeer::adaptor
