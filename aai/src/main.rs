fn main() -> std::process::ExitCode {
    aai::cli::main()
}
