//! `oneticket audit`: rebuild every ledger balance from its transfers, check
//! conservation and every constraint, check that every settled account-day
//! is what the ledger holds for it, and exit non-zero naming what is wrong.

use std::process::ExitCode;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(args: Args) -> ExitCode {
    let outcome = crate::runtime().and_then(|rt| rt.block_on(audit(args)));
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the audit; `Ok(true)` when it passes.
async fn audit(_args: Args) -> anyhow::Result<bool> {
    let url = crate::migrate_cmd::database_url()?;
    let pool = store_pg::connect(url.expose(), &store_pg::PoolSettings::default())
        .await
        .with_context(|| format!("connecting to {}", url.redacted()))?;
    let report = store_pg::audit(&pool).await.context("running the audit")?;
    // Settlement: every settled account-day's recorded rider debits equal
    // the net wallet outflow of the ledger transfers carrying its reference.
    let settled = store_pg::settlement::audit_settlement(&pool)
        .await
        .context("auditing settlement")?;
    println!("settlement audit: {} findings", settled.len());
    for finding in &settled {
        println!("  FAIL {finding:?}");
    }
    {
        println!(
            "audit: {} accounts, {} transfers replayed, {} findings",
            report.accounts_checked,
            report.transfers_replayed,
            report.findings.len()
        );
        for finding in &report.findings {
            println!("  FAIL {finding:?}");
        }
        println!(
            "{}",
            if report.findings.is_empty() && settled.is_empty() {
                "audit passed"
            } else {
                "audit FAILED"
            }
        );
    }
    Ok(report.findings.is_empty() && settled.is_empty())
}
