//! `oneticket admin-key create|list|revoke`: scoped API keys for the admin
//! endpoints. `create` prints the key once; only its SHA-256 is stored.

use anyhow::{Context, bail};
use chrono::Utc;
use service_kit::{Env, Settings};
use store_pg::terminal::ApiKeys;
use uuid::Uuid;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a key and print it (once).
    Create {
        /// A scope it grants: terminals, riders or finance (repeatable).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// A label for people.
        #[arg(long, default_value = "admin")]
        label: String,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id.
    Revoke {
        /// The key id (`admin-key list`).
        key_id: Uuid,
    },
}

pub async fn run(command: Command) -> anyhow::Result<()> {
    let settings = Settings::from_env(&Env::process())?;
    let pool = store_pg::connect(
        settings.database_url.expose(),
        &store_pg::PoolSettings::default(),
    )
    .await
    .context("connecting to Postgres")?;
    let keys = ApiKeys::new(pool);
    match command {
        Command::Create { scopes, label } => {
            let (token, record) =
                fare_validation::auth::create_api_key(&keys, &scopes, &label, Utc::now())
                    .await
                    .context("creating the key")?;
            eprintln!(
                "key {} with scopes {:?}; store it now, it is not shown again",
                record.key_id, record.scopes
            );
            println!("{token}");
        }
        Command::List => {
            for key in keys.list().await? {
                let state = if key.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{}\t{}",
                    key.key_id,
                    key.scopes.join(","),
                    state,
                    key.label
                );
            }
        }
        Command::Revoke { key_id } => {
            if !keys.revoke(key_id, Utc::now()).await? {
                bail!("no key {key_id}");
            }
            println!("revoked {key_id}");
        }
    }
    Ok(())
}
