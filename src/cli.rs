//! Command-line parsing for the examples that take more than `--addr`, in the style of Go's
//! `flag` package: `-name value`, `--name value` and `--name=value`, flags first, then
//! positional arguments.
//!
//! As in Go, parsing stops at the first argument that is not a flag, or after `--`, so a
//! command line can end with another program's own arguments:
//!
//! ```text
//! cargo run --example command -- --addr 127.0.0.1:8082 -- sh -c 'tr a-z A-Z'
//! cargo run --example filewatch -- --poll-ms 500 notes.txt
//! ```
//!
//! ```
//! use gorilla_axum::cli::Flags;
//!
//! let args = ["--addr=127.0.0.1:9000", "--poll-ms", "250", "notes.txt"];
//! let parsed = Flags::new("127.0.0.1:8080")
//!     .value("poll-ms")
//!     .parse_from(args.iter().map(|s| s.to_string()))
//!     .unwrap();
//! assert_eq!(parsed.addr.port(), 9000);
//! assert_eq!(parsed.get("poll-ms"), Some("250"));
//! assert_eq!(parsed.args, ["notes.txt"]);
//! ```

use std::{net::SocketAddr, str::FromStr};

/// The error [`Flags::parse_from`] returns for `-h`, `-help`, `--help`.
pub const HELP: &str = "help requested";

/// Which flags a program accepts. `--addr HOST:PORT` is always one of them (Go's
/// `flag.String("addr", ...)`); [`value`](Self::value) adds more.
#[derive(Debug, Clone)]
pub struct Flags {
    default_addr: String,
    values: Vec<&'static str>,
}

/// The result of [`Flags::parse_from`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The `--addr` value, or the default.
    pub addr: SocketAddr,
    /// The other flags that were given, by name (without dashes), in command-line order.
    pub values: Vec<(String, String)>,
    /// Positional arguments: everything from the first non-flag argument, or after `--`.
    pub args: Vec<String>,
}

impl Flags {
    /// Accepts `--addr`, defaulting to `default_addr`.
    pub fn new(default_addr: &str) -> Self {
        Flags {
            default_addr: default_addr.to_owned(),
            values: Vec::new(),
        }
    }

    /// Also accepts the flag `--name VALUE`.
    pub fn value(mut self, name: &'static str) -> Self {
        self.values.push(name);
        self
    }

    /// Parses `args` (the command line without the program name). The error is a one-line
    /// explanation for the user.
    pub fn parse_from<I>(&self, args: I) -> Result<Parsed, String>
    where
        I: IntoIterator<Item = String>,
    {
        let mut args = args.into_iter();
        let mut addr = self.default_addr.clone();
        let mut values = Vec::new();
        let mut positional = Vec::new();
        while let Some(arg) = args.next() {
            if arg == "--" {
                break;
            }
            // Go's flag package: `-x` and `--x` are the same; a lone `-` is an argument.
            let Some(flag) = arg
                .strip_prefix("--")
                .or_else(|| arg.strip_prefix('-'))
                .filter(|f| !f.is_empty())
            else {
                positional.push(arg);
                break;
            };
            let (name, inline) = match flag.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (flag, None),
            };
            if name == "h" || name == "help" {
                return Err(HELP.to_owned());
            }
            if name != "addr" && !self.values.contains(&name) {
                return Err(format!("flag provided but not defined: -{name}"));
            }
            let value = match inline.or_else(|| args.next()) {
                Some(value) => value,
                None => return Err(format!("flag needs an argument: -{name}")),
            };
            if name == "addr" {
                addr = value;
            } else {
                values.push((name.to_owned(), value));
            }
        }
        positional.extend(args);
        let addr = addr.parse().map_err(|_| {
            format!(
                "invalid value {addr:?} for flag -addr: expected HOST:PORT, e.g. {}",
                self.default_addr
            )
        })?;
        Ok(Parsed {
            addr,
            values,
            args: positional,
        })
    }

    /// Parses the process's command line; on an error prints it with `usage` and exits with
    /// status 2, as Go's `flag.Parse` does (`-h` and `--help` print the usage and exit 0).
    pub fn parse_or_exit(&self, usage: &str) -> Parsed {
        match self.parse_from(std::env::args().skip(1)) {
            Ok(parsed) => parsed,
            Err(err) if err == HELP => {
                eprintln!("usage: {usage}");
                std::process::exit(0)
            }
            Err(err) => exit_usage(&err, usage),
        }
    }
}

impl Parsed {
    /// The last value given for flag `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of flag `name` parsed as `T`, `default` when absent; a value that does not
    /// parse is an error naming the flag.
    pub fn get_parsed<T: FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .map_err(|_| format!("invalid value {value:?} for flag -{name}")),
        }
    }
}

/// Prints `err` and `usage` to stderr and exits with status 2 (Go's usage exit status).
pub fn exit_usage(err: &str, usage: &str) -> ! {
    eprintln!("{err}");
    eprintln!("usage: {usage}");
    std::process::exit(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: &Flags, args: &[&str]) -> Result<Parsed, String> {
        flags.parse_from(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_forms() {
        let flags = Flags::new("127.0.0.1:8080").value("poll-ms");
        let p = parse(&flags, &[]).unwrap();
        assert_eq!(p.addr, "127.0.0.1:8080".parse().unwrap());
        assert!(p.args.is_empty() && p.values.is_empty());

        for args in [
            &["--addr", "127.0.0.1:1"][..],
            &["-addr", "127.0.0.1:1"],
            &["--addr=127.0.0.1:1"],
            &["-addr=127.0.0.1:1"],
        ] {
            assert_eq!(parse(&flags, args).unwrap().addr.port(), 1, "{args:?}");
        }
        let p = parse(&flags, &["-poll-ms=5", "--poll-ms", "7"]).unwrap();
        assert_eq!(p.get("poll-ms"), Some("7"));
        assert_eq!(p.get_parsed("poll-ms", 0u64), Ok(7));
        assert_eq!(p.get_parsed("other", 3u64), Ok(3));
    }

    #[test]
    fn positional_arguments_end_flag_parsing() {
        let flags = Flags::new("127.0.0.1:8080");
        let p = parse(&flags, &["--addr", "127.0.0.1:2", "cat", "-n", "--addr"]).unwrap();
        assert_eq!(p.args, ["cat", "-n", "--addr"]);
        let p = parse(&flags, &["--", "--addr", "x"]).unwrap();
        assert_eq!(p.addr.port(), 8080);
        assert_eq!(p.args, ["--addr", "x"]);
        let p = parse(&flags, &["-", "x"]).unwrap();
        assert_eq!(p.args, ["-", "x"]);
    }

    #[test]
    fn errors_name_the_flag() {
        let flags = Flags::new("127.0.0.1:8080").value("poll-ms");
        assert!(parse(&flags, &["--nope"]).unwrap_err().contains("-nope"));
        assert_eq!(parse(&flags, &["-h"]).unwrap_err(), HELP);
        assert_eq!(parse(&flags, &["--help"]).unwrap_err(), HELP);
        assert!(
            parse(&flags, &["--addr"])
                .unwrap_err()
                .contains("needs an argument")
        );
        assert!(
            parse(&flags, &["--addr", "nowhere"])
                .unwrap_err()
                .contains("-addr")
        );
        let p = parse(&flags, &["--poll-ms", "soon"]).unwrap();
        assert!(
            p.get_parsed("poll-ms", 1u64)
                .unwrap_err()
                .contains("-poll-ms")
        );
    }
}
