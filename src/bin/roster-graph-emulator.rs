//! `roster-graph-emulator`: the Graph emulator as a standalone server.

fn main() {
    eprintln!("roster-graph-emulator: not built yet");
    std::process::exit(1);
}
