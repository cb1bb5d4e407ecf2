// /ring.svg: one element per node, self highlighted, chords to fingers,
// stored counts only where known, and text escaped so the XML stays
// well-formed whatever a URI contains.
#include <gtest/gtest.h>

#include <string>

#include "adaptor/admin/ring_svg.h"

namespace sippeer::adaptor {
namespace {

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

RingPicture five_nodes() {
  RingPicture pic;
  pic.bits = 8;
  pic.walk_complete = true;
  pic.caption = "m = 8 bits";
  const double positions[] = {0.1, 0.3, 0.5, 0.7, 0.9};
  for (int i = 0; i < 5; ++i) {
    PictureNode n;
    n.position = positions[i];
    n.id = std::to_string(10 + i) + "ab";
    n.uri = "sip:" + n.id + "@127.0.0.1:" + std::to_string(5000 + i) + ";node";
    pic.nodes.push_back(n);
  }
  pic.nodes[0].self = true;
  pic.nodes[0].roles = {"self"};
  pic.nodes[0].stored = 7;
  pic.nodes[0].primary = 4;
  pic.nodes[0].replicas = 3;
  pic.nodes[1].roles = {"successor 1", "finger 1-6"};
  pic.nodes[1].finger = true;
  pic.nodes[2].finger = true;
  pic.nodes[4].roles = {"predecessor"};
  pic.nodes[4].replicated_here = 2;
  return pic;
}

TEST(RingSvg, OneNodeElementPerNodeSelfHighlighted) {
  const std::string svg = render_ring_svg(five_nodes());
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_EQ(occurrences(svg, "<g class=\"node"), 5u);
  EXPECT_EQ(occurrences(svg, "<g class=\"node self"), 1u);
  EXPECT_EQ(occurrences(svg, "data-self=\"true\""), 1u);
  EXPECT_EQ(occurrences(svg, "<line class=\"finger\""), 2u);
  EXPECT_NE(svg.find("data-id=\"10ab\""), std::string::npos);
  EXPECT_NE(svg.find("data-nodes=\"5\""), std::string::npos);
}

TEST(RingSvg, StoredCountsOnlyWhereKnown) {
  const std::string svg = render_ring_svg(five_nodes());
  EXPECT_NE(svg.find("10ab \xc2\xb7 7 keys"), std::string::npos);
  EXPECT_NE(svg.find("stored keys: 7 (4 primary, 3 replicas)"), std::string::npos);
  EXPECT_EQ(occurrences(svg, "data-stored=\"unknown\""), 4u);
  EXPECT_NE(svg.find("stored keys: not known to this node (at least 2: its records replicated here)"),
            std::string::npos);
}

TEST(RingSvg, NodesSitAtTheirAngle) {
  RingPicture pic;
  PictureNode top, right;
  top.position = 0;
  top.id = "00";
  top.self = true;
  right.position = 0.25;
  right.id = "40";
  pic.nodes = {top, right};
  const std::string svg = render_ring_svg(pic);
  // Centre (330, 320), radius 200: id 0 at the top, a quarter turn on the right.
  EXPECT_NE(svg.find("<circle cx=\"330.0\" cy=\"120.0\" r=\"9\"/>"), std::string::npos) << svg;
  EXPECT_NE(svg.find("<circle cx=\"530.0\" cy=\"320.0\" r=\"6\"/>"), std::string::npos) << svg;
}

TEST(RingSvg, CrowdedLabelsAlternateInsideTheCircle) {
  RingPicture pic;
  PictureNode self, a, b;
  self.position = 0.75;  // left: label outside, anchored at its end
  self.id = "c0";
  self.self = true;
  a.position = 0.25;     // right: label outside, anchored at its start
  a.id = "40";
  b.position = 0.26;     // crowding a: label inside the circle, anchored at its end
  b.id = "42";
  pic.nodes = {self, a, b};
  const std::string svg = render_ring_svg(pic);
  EXPECT_EQ(occurrences(svg, "text-anchor=\"start\""), 1u) << svg;
  EXPECT_EQ(occurrences(svg, "text-anchor=\"end\""), 2u) << svg;
}

TEST(RingSvg, EscapesText) {
  RingPicture pic = five_nodes();
  pic.nodes[3].uri = "sip:x@h;a=\"<&>\"";
  pic.caption = "a & b <c>";
  const std::string svg = render_ring_svg(pic);
  EXPECT_EQ(svg.find("<&>"), std::string::npos);
  EXPECT_NE(svg.find("&quot;&lt;&amp;&gt;&quot;"), std::string::npos);
  EXPECT_NE(svg.find("a &amp; b &lt;c&gt;"), std::string::npos);
  EXPECT_EQ(xml_escape("it's\x01"), "it&#39;s ");
}

}  // namespace
}  // namespace sippeer::adaptor
