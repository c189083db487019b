//! `tern watermark`: recover a viewer's id from a capture of a watermarked broadcast, and print
//! the ids of viewers. Both read the watermark plugin's configuration file, so they derive the
//! same code as the relays.

use std::path::{Path, PathBuf};

use tern_watermark::{Code, Params};

/// `tern watermark` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Recover the viewer id from a capture (any container and size ffmpeg reads; re-encoded,
    /// scaled, with groups missing), against the origin's reference recording (`tern origin
    /// --watermark --record FILE`).
    Detect(Detect),
    /// Print the watermark id of each viewer subject.
    Id(Id),
}

/// Options of `tern watermark detect`.
#[derive(Debug, clap::Args)]
pub struct Detect {
    /// The capture.
    pub capture: PathBuf,
    /// The reference recording with both variants (A: first video stream, B: second).
    #[arg(long, value_name = "FILE")]
    pub reference: PathBuf,
    /// The watermark plugin's configuration (JSON: key, group_ms, id_bits, code_length).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The broadcast's group ID base (`tern origin` prints it); without it every codeword
    /// shift is tried.
    #[arg(long, value_name = "ID")]
    pub group_base: Option<u64>,
    /// Candidate viewer subjects: the one whose id was recovered is named.
    #[arg(long = "viewer", value_name = "SUBJECT")]
    pub viewers: Vec<String>,
}

/// Options of `tern watermark id`.
#[derive(Debug, clap::Args)]
pub struct Id {
    /// The watermark plugin's configuration.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Viewer subjects.
    #[arg(required = true)]
    pub subjects: Vec<String>,
}

/// The code a watermark plugin configuration describes.
pub fn code_from(path: &Path) -> anyhow::Result<Code> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", path.display()))?;
    let field = |name: &str| json.get(name);
    let key = field("key")
        .and_then(|k| k.as_str())
        .ok_or_else(|| anyhow::anyhow!("{}: no `key` string", path.display()))?;
    let group_ms = field("group_ms")
        .and_then(|g| g.as_u64())
        .ok_or_else(|| anyhow::anyhow!("{}: no `group_ms` number", path.display()))?;
    let defaults = Params::new(key);
    let number = |name: &str, default: u32| match field(name) {
        None => Ok(default),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| anyhow::anyhow!("{}: `{name}` is not a number", path.display())),
    };
    let params = Params {
        id_bits: number("id_bits", defaults.id_bits)?,
        length: number("code_length", defaults.length)?,
        group_ms,
        ..defaults
    };
    Code::new(params).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Run a `tern watermark` subcommand.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Id(args) => {
            let code = code_from(&args.config)?;
            for subject in &args.subjects {
                println!("{}\t{subject}", code.viewer_id(subject));
            }
            Ok(())
        }
        Command::Detect(args) => detect(&args),
    }
}

fn detect(args: &Detect) -> anyhow::Result<()> {
    use tern::detect;
    let code = code_from(&args.config)?;
    let group_ms = code.params().group_ms;
    let capture =
        detect::decode(&args.capture, 0).map_err(|e| anyhow::anyhow!("capture: {e:#}"))?;
    let a = detect::decode(&args.reference, 0)
        .map_err(|e| anyhow::anyhow!("reference variant A: {e:#}"))?;
    let b = detect::decode(&args.reference, 1).map_err(|e| {
        anyhow::anyhow!("reference variant B (the reference needs two video streams): {e:#}")
    })?;
    let offset = detect::align(&capture, &a)?;
    let mut observations = detect::observe(&capture, &a, &b, offset, group_ms);
    let strength =
        observations.iter().map(|o| o.soft.abs()).sum::<f64>() / observations.len().max(1) as f64;
    eprintln!(
        "tern: {} capture frames at +{offset:.3} s on the reference, {} groups, mean evidence \
         {strength:.2} per group (1 is a clean variant)",
        capture.pts.len(),
        observations.len()
    );
    let (decoded, shift) = match args.group_base {
        Some(base) => {
            for o in &mut observations {
                o.group += base;
            }
            (code.decode(&observations)?, 0)
        }
        None => code.decode_unaligned(&observations)?,
    };
    println!(
        "positions: {} observed, {} erased, {} disagreeing (code of {} bits, shift {shift})",
        decoded.observed,
        decoded.erased,
        decoded.disagreements,
        code.length()
    );
    println!(
        "id: {} score {:.3} runner-up {:.3} margin {:.3}",
        decoded.id,
        decoded.score,
        decoded.runner_up.1,
        decoded.margin()
    );
    for viewer in &args.viewers {
        if code.viewer_id(viewer) == decoded.id {
            println!("viewer: {viewer}");
        }
    }
    anyhow::ensure!(
        decoded.reliable(),
        "no id stands out (margin {:.3} < {}): not this broadcast's watermark, or too little \
         of the capture survived",
        decoded.margin(),
        tern_watermark::Decoded::MIN_MARGIN
    );
    Ok(())
}
