#![forbid(unsafe_code)]

use clap::Parser as _;

fn main() {
    // One crypto provider for every TLS user in the process (reqwest, kube, the server).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = attestgate::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("attestgate: error: cannot start the async runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = runtime.block_on(attestgate::cli::run(cli));
    std::process::exit(code);
}
