//! `osprey users …` and `osprey keys …`: the auth database from the command line (the server
//! may be running: SQLite WAL, and the server reads users and keys at each request).

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use osprey_auth::{AuthStore, Role};
use osprey_config::Settings;

/// Where the auth database is.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    /// The auth database (default: from --config, else data/auth.sqlite).
    #[arg(long, global = true)]
    pub auth_db: Option<PathBuf>,
    /// The server's TOML configuration, to find the database as the server does.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
}

impl DbArgs {
    fn open(&self) -> anyhow::Result<AuthStore> {
        let path = match &self.auth_db {
            Some(p) => p.clone(),
            None => {
                let file = match &self.config {
                    Some(p) => Settings::from_toml(
                        &std::fs::read_to_string(p)
                            .with_context(|| format!("reading {}", p.display()))?,
                    )
                    .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                    None => Settings::default(),
                };
                let (env, _) = Settings::from_env(|k| std::env::var(k).ok());
                let s = file.merge(env);
                let events = s
                    .events_db
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("data/events.sqlite"));
                s.security
                    .and_then(|x| x.auth_db)
                    .unwrap_or_else(|| events.with_file_name("auth.sqlite"))
            }
        };
        AuthStore::open(&path).with_context(|| format!("opening {}", path.display()))
    }
}

/// `osprey users`.
#[derive(Debug, clap::Args)]
pub struct UsersArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    cmd: UsersCmd,
}

#[derive(Debug, clap::Subcommand)]
enum UsersCmd {
    /// Add a user (the password is asked for, or read from standard input).
    Add {
        /// Login name.
        name: String,
        /// viewer, operator, admin or detect.
        #[arg(long)]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Remove a user (their sessions end).
    Remove {
        /// Login name.
        name: String,
    },
    /// Set a user's password (their sessions end).
    Passwd {
        /// Login name.
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's role.
    Role {
        /// Login name.
        name: String,
        /// The new role.
        role: Role,
    },
}

/// `osprey keys`.
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    cmd: KeysCmd,
}

#[derive(Debug, clap::Subcommand)]
enum KeysCmd {
    /// Create an API key; it is printed once and stored only as a hash.
    Create {
        /// What the key is for (e.g. frigate).
        name: String,
        /// viewer, operator, admin or detect.
        #[arg(long)]
        role: Role,
        /// Expiry: 30d, 12h, 90m, 3600s.
        #[arg(long, value_parser = parse_duration)]
        expires: Option<i64>,
        /// Requests a minute this key may make.
        #[arg(long)]
        rate_per_min: Option<u32>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id (or its osk_ prefix).
    Revoke {
        /// The key's id.
        id: String,
    },
}

fn parse_duration(v: &str) -> Result<i64, String> {
    let v = v.trim();
    let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{v:?} is not like 30d, 12h, 90m or 3600s"))?;
    let mult = match unit {
        "d" => 86_400,
        "h" => 3600,
        "m" => 60,
        "s" | "" => 1,
        _ => return Err(format!("{v:?}: the unit is d, h, m or s")),
    };
    if n <= 0 {
        return Err(format!("{v:?} is not in the future"));
    }
    Ok(n * mult)
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if from_stdin || !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let a = rpassword::prompt_password("Password: ").context("reading the password")?;
    let b = rpassword::prompt_password("Again: ").context("reading the password")?;
    if a != b {
        bail!("the two passwords differ");
    }
    Ok(a)
}

fn ts(t: Option<i64>) -> String {
    t.map(|t| osprey_base::rfc3339(t as f64))
        .unwrap_or_else(|| "-".into())
}

/// Runs `osprey users …`.
#[allow(clippy::print_stdout)]
pub fn users(args: UsersArgs) -> anyhow::Result<ExitCode> {
    let store = args.db.open()?;
    match args.cmd {
        UsersCmd::Add {
            name,
            role,
            password_stdin,
        } => {
            let pw = read_password(password_stdin)?;
            store.add_user(&name, &pw, role)?;
            println!("added user {name} ({role})");
        }
        UsersCmd::List => {
            println!("{:<24} {:<9} {:<26} last login", "name", "role", "created");
            for u in store.users()? {
                println!(
                    "{:<24} {:<9} {:<26} {}",
                    u.name,
                    u.role,
                    ts(Some(u.created)),
                    ts(u.last_login)
                );
            }
        }
        UsersCmd::Remove { name } => {
            store.remove_user(&name)?;
            println!("removed user {name}");
        }
        UsersCmd::Passwd {
            name,
            password_stdin,
        } => {
            let pw = read_password(password_stdin)?;
            store.update_user(&name, Some(&pw), None)?;
            println!("password of {name} changed; their sessions ended");
        }
        UsersCmd::Role { name, role } => {
            store.update_user(&name, None, Some(role))?;
            println!("{name} is now {role}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `osprey keys …`.
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub fn keys(args: KeysArgs) -> anyhow::Result<ExitCode> {
    let store = args.db.open()?;
    match args.cmd {
        KeysCmd::Create {
            name,
            role,
            expires,
            rate_per_min,
        } => {
            let k = store.create_key(&name, role, expires, rate_per_min)?;
            eprintln!(
                "created key {} for {name} ({role}), expires {}; it is shown only now:",
                k.info.prefix,
                ts(k.info.expires)
            );
            println!("{}", k.key);
        }
        KeysCmd::List => {
            println!(
                "{:<17} {:<20} {:<9} {:<26} {:<26} last used",
                "id", "name", "role", "created", "expires"
            );
            for k in store.keys()? {
                println!(
                    "{:<17} {:<20} {:<9} {:<26} {:<26} {}",
                    k.prefix,
                    k.name,
                    k.role,
                    ts(Some(k.created)),
                    ts(k.expires),
                    ts(k.last_used)
                );
            }
        }
        KeysCmd::Revoke { id } => {
            store.revoke_key(&id)?;
            println!("revoked key {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::parse_duration("30d"), Ok(30 * 86_400));
        assert_eq!(super::parse_duration("90m"), Ok(5400));
        assert_eq!(super::parse_duration("3600"), Ok(3600));
        assert!(super::parse_duration("0d").is_err());
        assert!(super::parse_duration("5y").is_err());
        assert!(super::parse_duration("d").is_err());
    }
}
