#pragma once
namespace sippeer::adaptor {
inline constexpr const char* kVersion = "0.1.0";
}
