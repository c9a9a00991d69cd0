//! Command-line compatibility with the Python server: absl flagfiles, absl booleans and the
//! Python flag names.
//!
//! [`normalize`] rewrites an argument list before clap sees it:
//! * `--flagfile=PATH` (also `--flagfile PATH`) is replaced by the flags in that file: one flag per
//!   line, `#` and `//` comment lines and blank lines skipped, nested flagfiles expanded (cycles
//!   refused), relative paths resolved against the working directory as absl does;
//! * Python names map to Osprey's (`--engine_path` → `--model`, `--image_size` → `--imgsz`, …);
//! * absl booleans `--flag`, `--noflag`, `--flag=true|t|1|yes|false|f|0|no` become `--flag=true|false`.
//!
//! Later flags win, as in absl, because clap keeps the last occurrence.

use std::path::{Path, PathBuf};

/// A flag-level problem, reported before anything starts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FlagError {
    /// A flagfile could not be read.
    #[error("cannot read flagfile {path}: {detail}")]
    Unreadable {
        /// Path as given.
        path: String,
        /// Reason.
        detail: String,
    },
    /// Flagfiles include each other.
    #[error("flagfile {0} includes itself (directly or through another flagfile)")]
    Cycle(String),
    /// A line of a flagfile is not a flag.
    #[error("{path}:{line}: expected a flag like --name=value, got {text:?}")]
    BadLine {
        /// Flagfile.
        path: String,
        /// 1-based line number.
        line: usize,
        /// The offending text.
        text: String,
    },
    /// A boolean flag has a value absl would not accept.
    #[error("--{flag}={value}: expected true, false, t, f, 1, 0, yes or no")]
    BadBool {
        /// Flag name.
        flag: String,
        /// Value given.
        value: String,
    },
}

/// Python flag → Osprey flag.
pub const ALIASES: &[(&str, &str)] = &[
    ("engine_path", "model"),
    ("image_size", "imgsz"),
    ("half_precision", "half"),
    ("server_ip", "host"),
    ("server_port", "port"),
    ("log_response", "log-responses"),
    ("generate_metrics", "generate-metrics"),
    ("max_image_data_bytes", "max-image-bytes"),
    ("max_content_length", "max-body-bytes"),
];

/// Boolean flags (Osprey names) that take absl-style values.
pub const BOOLEANS: &[&str] = &[
    "half",
    "log-responses",
    "generate-metrics",
    "fallback-to-cpu",
];

/// Nesting limit for flagfiles.
const MAX_DEPTH: usize = 16;

fn canonical(name: &str) -> String {
    ALIASES
        .iter()
        .find(|(old, _)| *old == name)
        .map(|(_, new)| (*new).to_string())
        .unwrap_or_else(|| name.to_string())
}

/// Parses an absl boolean value.
pub fn parse_bool(flag: &str, value: &str) -> Result<bool, FlagError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" | "y" => Ok(true),
        "false" | "f" | "0" | "no" | "n" => Ok(false),
        _ => Err(FlagError::BadBool {
            flag: flag.to_string(),
            value: value.to_string(),
        }),
    }
}

/// Reads the flags of one flagfile (not expanded).
pub fn parse_flagfile(path: &Path, text: &str) -> Result<Vec<String>, FlagError> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        if !line.starts_with('-') {
            return Err(FlagError::BadLine {
                path: path.display().to_string(),
                line: n + 1,
                text: line.to_string(),
            });
        }
        out.push(line.to_string());
    }
    Ok(out)
}

fn expand(
    args: &[String],
    depth: usize,
    stack: &mut Vec<PathBuf>,
    out: &mut Vec<String>,
) -> Result<(), FlagError> {
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let file = if let Some(p) = arg
            .strip_prefix("--flagfile=")
            .or_else(|| arg.strip_prefix("-flagfile="))
        {
            Some(p.to_string())
        } else if arg == "--flagfile" || arg == "-flagfile" {
            i += 1;
            args.get(i).cloned()
        } else {
            None
        };
        match file {
            Some(p) => {
                let path = PathBuf::from(&p);
                let key = path.canonicalize().unwrap_or_else(|_| path.clone());
                if stack.contains(&key) || depth >= MAX_DEPTH {
                    return Err(FlagError::Cycle(p));
                }
                let text = std::fs::read_to_string(&path).map_err(|e| FlagError::Unreadable {
                    path: p.clone(),
                    detail: e.to_string(),
                })?;
                let inner = parse_flagfile(&path, &text)?;
                stack.push(key);
                expand(&inner, depth + 1, stack, out)?;
                stack.pop();
            }
            None => out.push(arg.clone()),
        }
        i += 1;
    }
    Ok(())
}

/// Expands `--flagfile=` arguments (nested, `//` and `#` comments, later flags win) and
/// leaves every other argument as it is (for the uploader, whose flag names are its own).
pub fn expand_flagfiles(args: &[String]) -> Result<Vec<String>, FlagError> {
    let mut expanded = Vec::new();
    expand(args, 0, &mut Vec::new(), &mut expanded)?;
    Ok(expanded)
}

/// Expands flagfiles and rewrites Python names and absl booleans (see the module docs).
/// `args` excludes the program name and subcommand.
pub fn normalize(args: &[String]) -> Result<Vec<String>, FlagError> {
    let mut expanded = Vec::new();
    expand(args, 0, &mut Vec::new(), &mut expanded)?;
    let mut out = Vec::with_capacity(expanded.len());
    for arg in expanded {
        let Some(body) = arg.strip_prefix("--").or_else(|| {
            arg.strip_prefix('-')
                .filter(|b| !b.starts_with('-') && b.len() > 1 && b.contains(['_', '=']))
        }) else {
            out.push(arg);
            continue;
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let canon = canonical(name);
        if BOOLEANS.contains(&canon.as_str()) {
            let v = match value {
                Some(v) => parse_bool(&canon, v)?,
                None => true,
            };
            out.push(format!("--{canon}={v}"));
            continue;
        }
        if let Some(stripped) = name.strip_prefix("no") {
            let canon_neg = canonical(stripped);
            if value.is_none() && BOOLEANS.contains(&canon_neg.as_str()) {
                out.push(format!("--{canon_neg}=false"));
                continue;
            }
        }
        out.push(match value {
            Some(v) => format!("--{canon}={v}"),
            None => format!("--{canon}"),
        });
    }
    Ok(out)
}

impl osprey_base::Kinded for FlagError {
    fn kind(&self) -> osprey_base::ErrorKind {
        match self {
            FlagError::Unreadable { .. } => osprey_base::ErrorKind::NotFound,
            _ => osprey_base::ErrorKind::InvalidArgument,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn python_names_and_booleans() {
        let out = normalize(&s(&[
            "--engine_path=m.onnx",
            "--image_size=320",
            "--half_precision=t",
            "--nolog_response",
            "--generate_metrics",
            "--server_port",
            "8080",
        ]))
        .expect("ok");
        assert_eq!(
            out,
            s(&[
                "--model=m.onnx",
                "--imgsz=320",
                "--half=true",
                "--log-responses=false",
                "--generate-metrics=true",
                "--port",
                "8080"
            ])
        );
        assert!(matches!(
            normalize(&s(&["--half_precision=maybe"])),
            Err(FlagError::BadBool { .. })
        ));
    }

    #[test]
    fn flagfiles_nest_comment_and_later_flags_win() {
        let dir = std::env::temp_dir().join(format!("osprey-flags-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        let inner = dir.join("inner.txt");
        std::fs::write(&inner, "// inner\n--image_size=640\n").expect("write");
        let outer = dir.join("outer.txt");
        std::fs::write(
            &outer,
            format!(
                "# comment\n\n--image_size=320\n--flagfile={}\n--server_port=1234\n",
                inner.display()
            ),
        )
        .expect("write");
        let out = normalize(&s(&[
            &format!("--flagfile={}", outer.display()),
            "--server_port=9",
        ]))
        .expect("ok");
        assert_eq!(
            out,
            s(&["--imgsz=320", "--imgsz=640", "--port=1234", "--port=9"])
        );
        std::fs::write(&inner, format!("--flagfile={}\n", outer.display())).expect("write");
        assert!(matches!(
            normalize(&s(&[&format!("--flagfile={}", outer.display())])),
            Err(FlagError::Cycle(_))
        ));
        std::fs::write(&inner, "image_size=3\n").expect("write");
        assert!(matches!(
            normalize(&s(&[&format!("--flagfile={}", inner.display())])),
            Err(FlagError::BadLine { line: 1, .. })
        ));
        assert!(matches!(
            normalize(&s(&["--flagfile=/nonexistent/flags.txt"])),
            Err(FlagError::Unreadable { .. })
        ));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn osprey_names_pass_through() {
        let out =
            normalize(&s(&["--listen", "127.0.0.1:0", "--half", "--models-dir=m"])).expect("ok");
        assert_eq!(
            out,
            s(&["--listen", "127.0.0.1:0", "--half=true", "--models-dir=m"])
        );
    }
}
