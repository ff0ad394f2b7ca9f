//! Compiles the C++ shim against the Kea headers installed here and links
//! the Kea libraries it uses. What differs between Kea versions is found in
//! those headers and libraries, not in a table of versions:
//!
//! - `KEA_HOOKS_VERSION` (hooks/hooks.h): Kea loads only a hook built for
//!   exactly its own; from 3.0 its headers need C++20.
//! - `dhcpsrv/cfg_globals.h`: kea-dev 2.2.0 forgets it, so `cpp/compat`
//!   supplies a stand-in, used only where the real one is missing.
//! - the library names: Kea 3.0 renamed `libkea-dhcp++` to `libkea-dhcp`.
//! - `getOfferLft` in `dhcpsrv/network.h` (Kea 2.6+): a DISCOVER may write a
//!   lease for the offer, which the shim must recognise (`AAE_KEA_OFFER_LIFETIME`).
//!
//! `KEA_INCLUDE_DIR` and `KEA_LIB_DIR` override where they are looked for.

use std::path::{Path, PathBuf};

/// The Kea libraries the shim calls into, each with the names it has had.
const LIBRARIES: &[&[&str]] = &[
    &["kea-dhcpsrv"],
    &["kea-hooks"],
    &["kea-dhcp++", "kea-dhcp"],
    &["kea-stats"],
    &["kea-log"],
    &["kea-asiolink"],
    &["kea-cc"],
    &["kea-exceptions"],
];

fn main() {
    println!("cargo:rerun-if-env-changed=KEA_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=KEA_LIB_DIR");
    let include = PathBuf::from(
        std::env::var("KEA_INCLUDE_DIR").unwrap_or_else(|_| "/usr/include/kea".into()),
    );
    let hooks_h = include.join("hooks/hooks.h");
    let Ok(hooks) = std::fs::read_to_string(&hooks_h) else {
        fail(&format!(
            "Kea's headers are not in {} (no hooks/hooks.h): install kea-dev and libboost-dev \
             (`bash ci/setup`), or set KEA_INCLUDE_DIR",
            include.display()
        ));
    };
    let Some(version) = hooks_version(&hooks) else {
        fail(&format!(
            "{} does not define KEA_HOOKS_VERSION as aae expects (`const int KEA_HOOKS_VERSION \
             = N;`): a Kea this tree does not know yet; check what its hooks API changed",
            hooks_h.display()
        ));
    };
    let lib_dir = PathBuf::from(
        std::env::var("KEA_LIB_DIR").unwrap_or_else(|_| "/usr/lib/x86_64-linux-gnu".into()),
    );

    let mut build = cxx_build::bridge("src/kea/ffi.rs");
    build.file("cpp/shim.cc");
    if !include.join("dhcpsrv/cfg_globals.h").is_file() {
        build.include("cpp/compat");
    }
    let mut openssl = false;
    let network_h = include.join("dhcpsrv/network.h");
    if std::fs::read_to_string(&network_h).is_ok_and(|h| h.contains("getOfferLft")) {
        build.define("AAE_KEA_OFFER_LIFETIME", None);
        // cfgmgr.h reaches Kea's TLS headers (3.0), which include OpenSSL's
        // when Kea was built with it; kea-dev does not pull libssl-dev in.
        let config_h = std::fs::read_to_string(include.join("config.h")).unwrap_or_default();
        // ... and Boost.Asio's inline TLS code then needs OpenSSL's libraries
        // (Kea's own libraries link them already).
        openssl = config_h.contains("#define WITH_OPENSSL");
        if openssl && !Path::new("/usr/include/openssl/conf.h").is_file() {
            fail(
                "this Kea was built with OpenSSL and its dhcpsrv/cfgmgr.h includes OpenSSL's headers, \
                 which are missing: install libssl-dev",
            );
        }
    }
    println!("cargo:rerun-if-changed={}", network_h.display());
    build
        .include(&include)
        // Kea 3.0's headers use C++20; Debian builds 2.x as C++17.
        .std(if version >= 30000 { "c++20" } else { "c++17" })
        // Kea's headers are not warning-clean with a modern g++; ours are.
        .flag_if_supported("-Wno-deprecated-declarations")
        .flag_if_supported("-Wno-unused-parameter")
        .compile("aae_shim");

    for names in LIBRARIES {
        let Some(name) = names.iter().find(|n| has_library(&lib_dir, n)) else {
            fail(&format!(
                "none of {} is in {}: install kea-dev (or set KEA_LIB_DIR); a Kea that renamed \
                 it again needs its new name in aae/build.rs",
                names
                    .iter()
                    .map(|n| format!("lib{n}.so"))
                    .collect::<Vec<_>>()
                    .join(", "),
                lib_dir.display()
            ));
        };
        println!("cargo:rustc-link-lib=dylib={name}");
    }
    if openssl {
        println!("cargo:rustc-link-lib=dylib=ssl");
        println!("cargo:rustc-link-lib=dylib=crypto");
    }
    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    // A symbol missing from the list above fails here, not when Kea loads us.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,defs");

    for f in [
        "src/kea/ffi.rs",
        "cpp/shim.cc",
        "cpp/shim.h",
        "cpp/compat/dhcpsrv/cfg_globals.h",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-changed={}", hooks_h.display());
}

/// `N` of `const int KEA_HOOKS_VERSION = N;`.
fn hooks_version(header: &str) -> Option<u32> {
    header.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("const int KEA_HOOKS_VERSION")?;
        rest.trim()
            .strip_prefix('=')?
            .trim()
            .strip_suffix(';')?
            .trim()
            .parse()
            .ok()
    })
}

fn has_library(dir: &Path, name: &str) -> bool {
    dir.join(format!("lib{name}.so")).exists()
}

fn fail(why: &str) -> ! {
    eprintln!("error: {why}");
    panic!("{why}");
}
