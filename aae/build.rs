//! Compiles the C++ shim against Kea's headers and links the Kea libraries
//! it uses. `KEA_INCLUDE_DIR` overrides the header location.

fn main() {
    let kea_include =
        std::env::var("KEA_INCLUDE_DIR").unwrap_or_else(|_| "/usr/include/kea".to_owned());
    println!("cargo:rerun-if-env-changed=KEA_INCLUDE_DIR");
    if !std::path::Path::new(&kea_include)
        .join("hooks/hooks.h")
        .is_file()
    {
        panic!(
            "Kea headers not found in {kea_include}: run `bash ci/setup` (kea-dev, libboost-dev)"
        );
    }

    cxx_build::bridge("src/kea/ffi.rs")
        .file("cpp/shim.cc")
        // compat first: it supplies the one header kea-dev 2.2.0 forgets.
        .include("cpp/compat")
        .include(&kea_include)
        .std("c++17")
        // Kea's headers are not warning-clean with a modern g++; ours are.
        .flag_if_supported("-Wno-deprecated-declarations")
        .flag_if_supported("-Wno-unused-parameter")
        .compile("aae_shim");

    for lib in [
        "kea-dhcpsrv",
        "kea-hooks",
        "kea-dhcp++",
        "kea-stats",
        "kea-log",
        "kea-asiolink",
        "kea-cc",
        "kea-exceptions",
    ] {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
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
}
