#include "dht/config.h"

#include "dht/id.h"

namespace sippeer::dht {

std::string Config::validate() const {
  if (bits < 3 || bits > Id::kMaxBits) return "bits must be between 3 and 160";
  if (successors < 1 || successors > 64) return "successors must be between 1 and 64";
  if (replicas > successors) return "replicas must not exceed successors";
  if (stabilize_interval < Duration{10}) return "stabilize interval must be at least 10 ms";
  if (predecessor_silence < stabilize_interval)
    return "predecessor silence must be at least one stabilize interval";
  if (max_forwards < 1 || max_forwards > 255) return "max_forwards must be between 1 and 255";
  return {};
}

}  // namespace sippeer::dht
