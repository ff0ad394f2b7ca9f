// The C++ half of the Kea border. It turns Kea's callout arguments into the
// plain values declared in src/kea/ffi.rs and hands them to Rust; it holds no
// decisions of its own. Every function Rust calls here either reports failure
// through cxx's Result (C++ exception -> Rust Err) or catches everything
// itself, so nothing unwinds into Rust.

#pragma once

#include "rust/cxx.h"

#include <hooks/library_handle.h>

#include <cstdint>
#include <memory>
#include <string>

namespace aae {
namespace ffi {

int32_t hooks_version() noexcept;
uint8_t server_family() noexcept;
std::unique_ptr<std::string> parameters_json(isc::hooks::LibraryHandle& handle);
void register_callouts(isc::hooks::LibraryHandle& handle, uint8_t family);
struct WalkPage;
WalkPage walk_page(uint8_t family, rust::Slice<const uint8_t> from, uint32_t limit);
bool lease_by_address(uint8_t family, rust::Slice<const uint8_t> ip);

void log_register(rust::Str id) noexcept;
void log_unregister(rust::Str id) noexcept;
bool log_enabled(uint8_t severity) noexcept;
void log_write(uint8_t severity, rust::Str id, rust::Str text) noexcept;

void stats_timer_start(uint32_t interval_ms);
void stats_timer_stop() noexcept;
void stat_set(rust::Str name, int64_t value) noexcept;
void stat_set_text(rust::Str name, rust::Str value) noexcept;
void stat_del(rust::Str name) noexcept;

} // namespace ffi
} // namespace aae
