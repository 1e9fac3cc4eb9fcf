//! `waymark-desktop demo-tools [--outbox FILE] [--http ADDR]`: the demo MCP server, as
//! `waymark demo-tools` serves it. The demo agent's server definition points at this executable.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn main(args: &[OsString]) -> ExitCode {
    match parse(args).and_then(serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

struct Args {
    outbox: Option<PathBuf>,
    http: Option<std::net::SocketAddr>,
}

fn parse(args: &[OsString]) -> anyhow::Result<Args> {
    let mut out = Args {
        outbox: std::env::var_os("DEMO_TOOLS_OUTBOX")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        http: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let text = arg.to_string_lossy();
        let (flag, inline) = match text.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(OsString::from(v))),
            None => (text.to_string(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--outbox" => out.outbox = Some(PathBuf::from(value()?)),
            "--http" => {
                let v = value()?;
                let addr = v.to_string_lossy().parse().map_err(|e| {
                    anyhow::anyhow!("--http {}: not an address: {e}", v.to_string_lossy())
                })?;
                out.http = Some(addr);
            }
            other => anyhow::bail!(
                "unknown argument {other:?} (usage: waymark-desktop demo-tools [--outbox FILE] [--http ADDR])"
            ),
        }
    }
    Ok(out)
}

fn serve(args: Args) -> anyhow::Result<()> {
    let outbox = args
        .outbox
        .unwrap_or_else(|| waymark_host::paths::data_dir().join("demo-outbox.jsonl"));
    let config = waymark_demo_tools::DemoToolsConfig::from_env(outbox)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(waymark_demo_tools::serve_until_ctrl_c(config, args.http))?;
    Ok(())
}
