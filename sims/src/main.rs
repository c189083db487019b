//! `tern-sims --scenario all --seed 1 --out DIR [--scale 0.01]`: run scenarios, write the report.

use std::path::PathBuf;

use anyhow::{Context, bail};
use tern_sims::report;
use tern_sims::scenario::Scenario;

fn main() -> anyhow::Result<()> {
    let mut scenario = "all".to_string();
    let mut seed = 1u64;
    let mut scale = 1.0f64;
    let mut out = PathBuf::from("sims-out");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--scenario" => scenario = value()?,
            "--seed" => seed = value()?.parse().context("--seed")?,
            "--scale" => scale = value()?.parse().context("--scale")?,
            "--out" => out = PathBuf::from(value()?),
            "-h" | "--help" => {
                println!(
                    "tern-sims [--scenario all|baseline|edge-failure|mid-failure|flash-crowd] \
                     [--seed N] [--scale F] [--out DIR]"
                );
                return Ok(());
            }
            other => bail!("unknown argument {other} (see --help)"),
        }
    }
    if !(scale > 0.0 && scale <= 1.0) {
        bail!("--scale must be in (0, 1]");
    }
    let scenarios = Scenario::by_name(&scenario, scale)
        .with_context(|| format!("unknown scenario {scenario}"))?;
    let reports = report::run_all(scenarios, seed, scale);
    report::write(&out, &reports).with_context(|| format!("writing {}", out.display()))?;
    print!("{}", report::text(&reports));
    Ok(())
}
