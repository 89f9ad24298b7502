//! `lectern user create NAME --email E [--role viewer|creator|admin] [--password-stdin]`: makes
//! an account directly in the database, the documented way to make the first admin.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use lectern_api::users::{Role, create_user};
use lectern_config::Config;

use crate::data::{DataDir, new_id};

/// Arguments of `lectern user`.
#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
    /// Data directory (default from the configuration: ./data).
    #[arg(long, global = true)]
    data: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account (prints it as JSON; prints a generated password if none is given).
    Create {
        /// Username: 3-32 of a-z, 0-9, '_', '.', '-'.
        name: String,
        /// Email address.
        #[arg(long)]
        email: String,
        /// viewer, creator or admin.
        #[arg(long, default_value = "viewer", value_parser = ["viewer", "creator", "admin"])]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Runs the command.
pub async fn run(args: UserArgs, config: &Config) -> anyhow::Result<()> {
    let data = args.data.unwrap_or_else(|| config.data_dir.clone());
    let dir = DataDir::open(&data).await?;
    match args.command {
        UserCommand::Create {
            name,
            email,
            role,
            password_stdin,
        } => {
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("cannot read the password from stdin")?;
                (line.trim_end_matches(['\r', '\n']).to_string(), false)
            } else {
                (format!("{}{}", new_id()?, new_id()?), true)
            };
            let user = create_user(&dir.db, &name, &email, &password, Role::parse(&role))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut line = serde_json::to_value(&user)?;
            if generated {
                line["password"] = serde_json::Value::String(password);
            }
            println!("{line}");
            Ok(())
        }
    }
}
