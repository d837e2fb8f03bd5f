//! `serve`: the reference service on a store, or a demo district in memory.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use medborgarbudget::ballot::BallotKind;
use medborgarbudget::server::{Config, Role, Service, demo};

use super::BadInput;
use super::output;
use super::programmes::{StoreArg, bad, open};

/// The most worker threads the service runs, whatever the machine has.
const MAX_THREADS: usize = 16;

/// What `serve` was asked.
#[derive(Debug)]
pub struct Serve {
    /// The store (ignored with `demo` unless given).
    pub store: Option<StoreArg>,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Start the demo district.
    pub demo: bool,
    /// How many demo residents get codes.
    pub demo_residents: usize,
    /// How the demo's year is set up.
    pub demo_year: demo::DemoYear,
    /// Where the demo's codes go.
    pub codes_file: PathBuf,
    /// Where a new administrator token goes.
    pub token_file: Option<PathBuf>,
}

/// `--demo-stage`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DemoStageArg {
    /// Step 3: residents send in ideas.
    Ideas,
    /// Step 5: voting is open.
    Voting,
    /// Counted; the first funded proposal is under way.
    Results,
}

/// `--demo-ballot`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DemoBallotArg {
    /// Approve up to three proposals.
    Approval,
    /// Approve proposals within the money.
    Knapsack,
    /// Give 10 points.
    Cumulative,
    /// Rank up to three proposals.
    Ranked,
}

/// The demo year the flags ask for.
pub fn demo_year(stage: DemoStageArg, ballot: DemoBallotArg, parts: bool) -> demo::DemoYear {
    demo::DemoYear {
        stage: match stage {
            DemoStageArg::Ideas => demo::DemoStage::Ideas,
            DemoStageArg::Voting => demo::DemoStage::Voting,
            DemoStageArg::Results => demo::DemoStage::Results,
        },
        ballot: match ballot {
            DemoBallotArg::Approval => BallotKind::Approval,
            DemoBallotArg::Knapsack => BallotKind::Knapsack,
            DemoBallotArg::Cumulative => BallotKind::Cumulative,
            DemoBallotArg::Ranked => BallotKind::Ranked,
        },
        parts,
    }
}

/// Writes `text` to `path`, readable by its owner only.
fn write_secret(path: &Path, text: &str) -> Result<(), BadInput> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| BadInput(format!("{}: {e}", path.display())))
}

/// Runs the service until Ctrl-C or SIGTERM.
pub fn serve(args: &Serve) -> Result<(), BadInput> {
    let store = match (&args.store, args.demo) {
        (Some(store), _) => store.clone(),
        (None, true) => StoreArg::Memory,
        (None, false) => StoreArg::default(),
    };
    let (handle, voter) = open(&store)?;
    let service = Service::new(handle, voter, Config::default()).map_err(bad)?;
    let token_file = args.token_file.clone().or_else(|| match &store {
        StoreArg::Sqlite(path) => {
            let mut name = path.clone().into_os_string();
            name.push(".admin-token");
            Some(PathBuf::from(name))
        }
        _ => None,
    });
    if !service.access().has_tokens() || args.demo {
        let (token, _) = service
            .access()
            .issue_token(Role::Administrator, None, "first administrator")
            .map_err(bad)?;
        match &token_file {
            Some(path) if !args.demo => {
                write_secret(path, &format!("{token}\n"))?;
                output::line(format_args!(
                    "an administrator token was made and written to {} (shown nowhere else)",
                    path.display()
                ))?;
            }
            _ => output::line(format_args!("administrator token: {token}"))?,
        }
    }
    if args.demo {
        let made = demo::setup_year(&service, args.demo_residents, args.demo_year).map_err(bad)?;
        let mut text = format!(
            "# Voting codes for the demo district Norrby, {} (programme {}): one per resident, each good for one ballot.\n",
            made.year, made.programme
        );
        for (_, code) in &made.codes {
            text.push_str(code);
            text.push('\n');
        }
        write_secret(&args.codes_file, &text)?;
        let now = match args.demo_year.stage {
            demo::DemoStage::Ideas => "takes ideas",
            demo::DemoStage::Results => "is counted",
            _ => "has voting open",
        };
        output::line(format_args!(
            "demo: Norrby {} {now}; {} voting codes are in {}",
            made.year,
            made.codes.len(),
            args.codes_file.display()
        ))?;
    }
    let threads = std::thread::available_parallelism()
        .map_or(2, std::num::NonZero::get)
        .min(MAX_THREADS);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .map_err(|e| BadInput(format!("starting the service: {e}")))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| BadInput(format!("listening on {}: {e}", args.listen)))?;
        let address = listener.local_addr().unwrap_or(args.listen);
        output::line(format_args!(
            "serving on http://{address}/ (residents' page), http://{address}/openapi.json (the API); Ctrl-C stops"
        ))?;
        service
            .serve(listener, shutdown())
            .await
            .map_err(bad)
    })
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
