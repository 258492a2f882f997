//! The shipped documentation and packaging stay true to the code.
//!
//! - `man/*.8` are `mandoc -T lint -W warning` clean.
//! - `man/stateflowd.8` documents exactly the options `stateflowd --help`
//!   lists (short and long forms paired as clap pairs them, and whether
//!   each takes a value), in OPTIONS and in the SYNOPSIS; `stateflowctl.8`
//!   documents exactly its usage line's options and commands, which are the
//!   daemon's control commands. A failure names every option that differs.
//! - `scripts/check-port` passes, and catches the drift it exists for.
//! - Every `pf-rules/*.conf` passes [`PfConfChecker`], a checker of the
//!   pf.conf subset the examples use (no pf.conf parser runs on Linux):
//!   known statement keywords, known rule words and state options, macros
//!   defined before use, balanced brackets and quotes, no tabs.

use super::harness::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

// ---------------------------------------------------------------- mandoc

#[test]
fn man_pages_are_mandoc_lint_clean() {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("man"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "8"))
        .collect();
    pages.sort();
    let names: Vec<_> = pages
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["stateflowctl.8", "stateflowd.8"]);
    for page in &pages {
        let out = Command::new("mandoc")
            .args(["-T", "lint", "-W", "warning"])
            .arg(page)
            .output()
            .expect("mandoc is not installed (sh scripts/setup installs it)");
        let msgs = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && msgs.trim().is_empty(),
            "{}: mandoc -T lint -W warning:\n{msgs}",
            page.display()
        );
    }
}

// ------------------------------------------------- --help vs man page

/// One option as documented: its short letter, its long name, and whether
/// it takes a value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Opt {
    short: Option<char>,
    long: Option<String>,
    takes_value: bool,
}

impl std::fmt::Display for Opt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names = Vec::new();
        if let Some(c) = self.short {
            names.push(format!("-{c}"));
        }
        if let Some(l) = &self.long {
            names.push(format!("--{l}"));
        }
        write!(
            f,
            "{}{}",
            names.join(", "),
            if self.takes_value { " <value>" } else { "" }
        )
    }
}

impl Opt {
    /// The name the SYNOPSIS uses: the short form when there is one.
    fn synopsis_key(&self) -> String {
        match (self.short, &self.long) {
            (Some(c), _) => format!("-{c}"),
            (None, Some(l)) => format!("--{l}"),
            (None, None) => String::new(),
        }
    }
}

/// Options from clap's `--help`: lines such as
/// `  -r, --read <FILE>   text` and `      --any-ttl   text`.
fn parse_help(help: &str) -> BTreeSet<Opt> {
    let mut opts = BTreeSet::new();
    for line in help.lines() {
        let t = line.trim_start();
        if !t.starts_with('-') || line.len() == t.len() {
            continue;
        }
        // The option part ends at the first run of two spaces.
        let head = t.split("  ").next().unwrap_or("");
        let mut o = Opt {
            short: None,
            long: None,
            takes_value: head.contains('<'),
        };
        for part in head.split(", ") {
            let name = part.split([' ', '<', '=']).next().unwrap_or("");
            if let Some(l) = name.strip_prefix("--") {
                o.long = Some(l.to_string());
            } else if let Some(s) = name.strip_prefix('-') {
                o.short = s.chars().next();
            }
        }
        opts.insert(o);
    }
    opts
}

/// The lines of one `.Sh` section.
fn section<'a>(man: &'a str, name: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in man.lines() {
        if let Some(s) = line.strip_prefix(".Sh ") {
            inside = s.trim() == name;
            continue;
        }
        if inside {
            out.push(line);
        }
    }
    out
}

/// The mdoc tokens of a macro line, with `\-` unescaped.
fn tokens(line: &str) -> Vec<String> {
    line.split_whitespace()
        .map(|t| t.replace("\\-", "-"))
        .collect()
}

/// Options documented by `.It Fl …` entries of a section: short and long
/// forms on the same `.It` line are one option.
fn parse_man_items(lines: &[&str]) -> BTreeSet<Opt> {
    let mut opts = BTreeSet::new();
    for line in lines {
        let Some(rest) = line.strip_prefix(".It Fl ") else {
            continue;
        };
        let toks = tokens(&format!("Fl {rest}"));
        let mut o = Opt {
            short: None,
            long: None,
            takes_value: toks.iter().any(|t| t == "Ar"),
        };
        for w in toks.windows(2) {
            if w[0] != "Fl" {
                continue;
            }
            if let Some(l) = w[1].strip_prefix('-') {
                o.long = Some(l.to_string());
            } else {
                o.short = w[1].chars().next();
            }
        }
        opts.insert(o);
    }
    opts
}

/// Option names in `.Op Fl …` lines of the SYNOPSIS (`Fl ADdhV` is five).
fn parse_synopsis(lines: &[&str]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in lines {
        let toks = tokens(line);
        for w in toks.windows(2) {
            if w[0] != "Fl" {
                continue;
            }
            if w[1].starts_with('-') {
                names.insert(format!("-{}", w[1]));
            } else {
                for c in w[1].chars() {
                    names.insert(format!("-{c}"));
                }
            }
        }
    }
    names
}

/// A readable report of what differs between two sets, or None.
fn differences<T: Ord + std::fmt::Display>(
    a_name: &str,
    a: &BTreeSet<T>,
    b_name: &str,
    b: &BTreeSet<T>,
) -> Option<String> {
    let only_a: Vec<String> = a.difference(b).map(|x| format!("  {x}")).collect();
    let only_b: Vec<String> = b.difference(a).map(|x| format!("  {x}")).collect();
    if only_a.is_empty() && only_b.is_empty() {
        return None;
    }
    Some(format!(
        "in {a_name} but not in {b_name}:\n{}\nin {b_name} but not in {a_name}:\n{}",
        only_a.join("\n"),
        only_b.join("\n")
    ))
}

/// Positional arguments from clap's `Arguments:` block (`  [EXPR]...`),
/// lowercased.
fn parse_help_positionals(help: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut inside = false;
    for line in help.lines() {
        if !line.starts_with(' ') {
            inside = line.trim_end() == "Arguments:";
            continue;
        }
        if inside {
            let head = line.split_whitespace().next().unwrap_or("");
            let name: String = head
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            if !name.is_empty() {
                names.insert(name.to_ascii_lowercase());
            }
        }
    }
    names
}

/// Positional arguments in the SYNOPSIS: an `Ar` not introduced by `Fl`
/// on its line (`.Op Ar expression`, `.Ar command`).
fn parse_synopsis_positionals(lines: &[&str]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in lines {
        let toks = tokens(line);
        if toks.iter().any(|t| t == "Fl") {
            continue;
        }
        for w in toks.windows(2) {
            if w[0] == "Ar" {
                names.insert(w[1].to_ascii_lowercase());
            }
        }
    }
    names
}

fn stateflowd_help() -> String {
    let out = run(&["--help"]);
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn help_parser_reads_clap_layout() {
    let help = "Options:\n  -r, --read <FILE>   Read\n      --any-ttl   Accept\n  -A, --all-states   All\n      --ifindex <NAME=INDEX,...>  x\n";
    let got: Vec<String> = parse_help(help).iter().map(|o| o.to_string()).collect();
    assert_eq!(
        got,
        [
            "--any-ttl",
            "--ifindex <value>",
            "-A, --all-states",
            "-r, --read <value>"
        ]
    );
    let man =
        ".It Fl r Ar file , Fl \\-read Ar file\n.It Fl \\-any-ttl\n.It Fl A , Fl -all-states\n";
    let lines: Vec<&str> = man.lines().collect();
    let got: Vec<String> = parse_man_items(&lines)
        .iter()
        .map(|o| o.to_string())
        .collect();
    assert_eq!(got, ["--any-ttl", "-A, --all-states", "-r, --read <value>"]);
    let a = parse_help("  -r, --read <FILE>  x\n      --debug  y\n");
    let b = parse_man_items(&[
        ".It Fl r Ar file , Fl \\-read Ar file",
        ".It Fl \\-debugging",
    ]);
    assert_eq!(
        differences("help", &a, "man", &b).unwrap(),
        "in help but not in man:\n  --debug\nin man but not in help:\n  --debugging"
    );
    assert_eq!(differences("help", &a, "man", &a), None);
    let h = "Usage: x [OPTIONS] [EXPRESSION]...\n\nArguments:\n  [EXPRESSION]...  BPF\n\nOptions:\n  -r <F>  x\n";
    assert_eq!(
        parse_help_positionals(h).into_iter().collect::<Vec<_>>(),
        ["expression"]
    );
    assert_eq!(
        parse_synopsis_positionals(&[".Op Fl r Ar file", ".Op Ar expression"])
            .into_iter()
            .collect::<Vec<_>>(),
        ["expression"]
    );
    let syn = parse_synopsis(&[".Op Fl ADd", ".Op Fl \\-any-ttl", ".Op Fl c Ar socket"]);
    assert_eq!(
        syn.into_iter().collect::<Vec<_>>(),
        ["--any-ttl", "-A", "-D", "-c", "-d"]
    );
}

#[test]
fn stateflowd_man_page_documents_exactly_the_help_options() {
    let help_text = stateflowd_help();
    let help = parse_help(&help_text);
    assert!(
        help.len() >= 30,
        "--help parsed to only {} options",
        help.len()
    );
    let man = read("man/stateflowd.8");
    let documented = parse_man_items(&section(&man, "OPTIONS"));
    if let Some(d) = differences(
        "`stateflowd --help`",
        &help,
        "man/stateflowd.8 OPTIONS",
        &documented,
    ) {
        panic!("{d}\n(add or fix one `.It Fl` entry per option)");
    }
    let synopsis = parse_synopsis(&section(&man, "SYNOPSIS"));
    let want: BTreeSet<String> = help.iter().map(Opt::synopsis_key).collect();
    if let Some(d) = differences(
        "`stateflowd --help`",
        &want,
        "man/stateflowd.8 SYNOPSIS",
        &synopsis,
    ) {
        panic!("{d}");
    }
    // Positional arguments (a trailing filter expression, say).
    let help_pos = parse_help_positionals(&help_text);
    let man_pos = parse_synopsis_positionals(&section(&man, "SYNOPSIS"));
    if let Some(d) = differences(
        "`stateflowd --help` Arguments",
        &help_pos,
        "man/stateflowd.8 SYNOPSIS positional `Ar`s",
        &man_pos,
    ) {
        panic!("{d}\n(name the argument as --help does, in lower case)");
    }
}

/// stateflowctl's usage line: `usage: stateflowctl [-c SOCKET] a|b|c`.
fn stateflowctl_usage() -> (BTreeSet<Opt>, BTreeSet<String>) {
    let out = Command::new(env!("CARGO_BIN_EXE_stateflowctl"))
        .arg("-h")
        .output()
        .unwrap();
    assert!(out.status.success(), "stateflowctl -h failed");
    let usage = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = usage
        .lines()
        .find(|l| l.starts_with("usage: stateflowctl"))
        .unwrap_or_else(|| panic!("no usage line in {usage:?}"));
    // -h worked just now, so it is an option whether or not usage says so.
    let mut opts = BTreeSet::from([Opt {
        short: Some('h'),
        long: None,
        takes_value: false,
    }]);
    let mut commands = BTreeSet::new();
    for group in line.split('[').skip(1) {
        let inner = group.split(']').next().unwrap_or("");
        let mut words = inner.split_whitespace();
        if let Some(flag) = words.next().and_then(|f| f.strip_prefix('-')) {
            opts.insert(Opt {
                short: flag.chars().next(),
                long: None,
                takes_value: words.next().is_some(),
            });
        }
    }
    let last = line.split_whitespace().last().unwrap_or("");
    for c in last.split('|') {
        commands.insert(c.to_string());
    }
    (opts, commands)
}

#[test]
fn stateflowctl_man_page_documents_exactly_its_options_and_commands() {
    let (opts, commands) = stateflowctl_usage();
    let man = read("man/stateflowctl.8");
    let documented = parse_man_items(&section(&man, "DESCRIPTION"));
    if let Some(d) = differences(
        "`stateflowctl` usage",
        &opts,
        "man/stateflowctl.8",
        &documented,
    ) {
        panic!("{d}");
    }
    let man_cmds: BTreeSet<String> = section(&man, "COMMANDS")
        .iter()
        .filter_map(|l| l.strip_prefix(".It Cm "))
        .map(|c| c.trim().to_string())
        .collect();
    if let Some(d) = differences(
        "`stateflowctl` usage",
        &commands,
        "man/stateflowctl.8 COMMANDS",
        &man_cmds,
    ) {
        panic!("{d}");
    }
    // The daemon answers exactly these (its `help` reply lists them).
    let daemon: BTreeSet<String> = stateflowd::daemon::control::COMMANDS
        .iter()
        .map(|(c, _)| c.to_string())
        .collect();
    if let Some(d) = differences(
        "the daemon's control commands",
        &daemon,
        "man/stateflowctl.8 COMMANDS",
        &man_cmds,
    ) {
        panic!("{d}");
    }
}

// ------------------------------------------------------------- the port

#[test]
fn port_is_consistent() {
    let out = Command::new("sh")
        .arg(root().join("scripts/check-port"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.starts_with("check-port: ok"),
        "scripts/check-port failed:\n{stdout}{stderr}"
    );
}

#[test]
fn port_checker_catches_drift() {
    // A copy of what the checker reads, then four kinds of drift at once.
    let tmp = TempDir::new("check-port");
    for item in [
        "Cargo.toml",
        "Cargo.lock",
        "src",
        "benches",
        "scripts",
        "port",
        "man",
        "pf-rules",
        "README.md",
        "CHANGELOG.md",
        "LICENSE",
    ] {
        let ok = Command::new("cp")
            .arg("-R")
            .arg(root().join(item))
            .arg(tmp.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "copying {item}");
    }
    let t = tmp.path();
    let edit = |rel: &str, f: &dyn Fn(String) -> String| {
        let p = t.join(rel);
        let s = std::fs::read_to_string(&p).unwrap();
        let n = f(s.clone());
        assert_ne!(s, n, "{rel}: the edit changed nothing");
        std::fs::write(&p, n).unwrap();
    };
    edit("port/net/stateflowd/pkg/PLIST", &|s| {
        s.replace("@man man/man8/stateflowctl.8\n", "")
    });
    edit("port/net/stateflowd/crates.inc", &|s| {
        s.replace("clap\t4.6.9", "clap\t4.6.8")
    });
    edit("port/net/stateflowd/pkg/stateflowd.rc", &|s| {
        s.replace("rc_cmd $1", "if then\nrc_cmd $1")
    });
    std::fs::write(t.join("pf-rules/extra.conf"), "set skip on lo\n").unwrap();

    let out = Command::new("sh")
        .arg(t.join("scripts/check-port"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "drift not caught:\n{stderr}");
    for want in [
        "installed but missing from PLIST: @man man/man8/stateflowctl.8",
        "crates.inc is not in step with Cargo.lock",
        "-MODCARGO_CRATES +=\tclap\t4.6.8",
        "+MODCARGO_CRATES +=\tclap\t4.6.9",
        "stateflowd.rc: not valid sh",
        "installed but missing from PLIST: share/examples/stateflowd/extra.conf",
    ] {
        assert!(
            stderr.contains(want),
            "check-port did not say {want:?}:\n{stderr}"
        );
    }
}

// ------------------------------------------------------- pf.conf checker

/// Statement keywords of pf.conf(5) a pasted example may start with.
const STATEMENTS: &[&str] = &[
    "pass",
    "block",
    "match",
    "set",
    "table",
    "anchor",
    "load",
    "include",
    "antispoof",
    "queue",
];

/// `set` options (OpenBSD and FreeBSD).
const SET_OPTIONS: &[&str] = &[
    "block-policy",
    "debug",
    "fingerprints",
    "hostid",
    "limit",
    "loginterface",
    "optimization",
    "reassemble",
    "ruleset-optimization",
    "skip",
    "state-defaults",
    "state-policy",
    "syncookies",
    "timeout",
    "keepcounters",
];

/// State options inside `keep state ( … )` and after `set state-defaults`.
const STATE_OPTIONS: &[&str] = &[
    "max",
    "no-sync",
    "pflow",
    "sloppy",
    "source-track",
    "max-src-nodes",
    "max-src-states",
    "max-src-conn",
    "max-src-conn-rate",
    "overload",
    "if-bound",
    "floating",
    "tcp.first",
    "tcp.opening",
    "tcp.established",
    "tcp.closing",
    "tcp.finwait",
    "tcp.closed",
    "udp.first",
    "udp.single",
    "udp.multiple",
    "icmp.first",
    "icmp.error",
    "other.first",
    "other.single",
    "other.multiple",
    "adaptive.start",
    "adaptive.end",
];

/// Words that may appear after a state option (its arguments).
const STATE_OPTION_ARGS: &[&str] = &["rule", "global", "flush"];

/// Words of pass/block/match rules (pf.conf(5) PARAMETERS).
const RULE_WORDS: &[&str] = &[
    "in",
    "out",
    "log",
    "quick",
    "on",
    "inet",
    "inet6",
    "proto",
    "from",
    "to",
    "port",
    "any",
    "all",
    "self",
    "keep",
    "modulate",
    "synproxy",
    "state",
    "no",
    "flags",
    "tag",
    "tagged",
    "label",
    "user",
    "group",
    "icmp-type",
    "icmp6-type",
    "allow-opts",
    "once",
    "rdomain",
    "rtable",
    "received-on",
    "nat-to",
    "rdr-to",
    "binat-to",
    "af-to",
    "route-to",
    "reply-to",
    "dup-to",
    "divert-to",
    "divert-packet",
    "divert-reply",
    "egress",
    "urpf-failed",
    "no-route",
    "set",
    "prio",
    "tos",
    "queue",
    "scrub",
    "max-mss",
    "min-ttl",
    "no-df",
    "random-id",
    "reassemble",
    "tcp",
    "fragment",
    "drop",
    "return",
    "return-rst",
    "return-icmp",
    "return-icmp6",
    "probability",
    "os",
];

/// Protocol names after `proto` (protocols(5) entries pf users write).
const PROTOCOLS: &[&str] = &[
    "tcp", "udp", "icmp", "icmp6", "pfsync", "carp", "vrrp", "esp", "ah", "gre", "ospf", "igmp",
    "pim", "ipencap", "ipv6", "sctp",
];

/// Service names after `port` (services(5)).
const SERVICES: &[&str] = &[
    "ssh",
    "domain",
    "www",
    "http",
    "https",
    "ntp",
    "smtp",
    "submission",
    "imaps",
    "snmp",
    "bgp",
    "isakmp",
    "ipsec-nat-t",
    "bootps",
    "bootpc",
    "syslog",
];

/// Keywords whose next word is a free-form name (an interface, a tag, a
/// label, a table option …) rather than a keyword.
const NAME_TAKERS: &[&str] = &[
    "on",
    "tag",
    "tagged",
    "label",
    "user",
    "group",
    "queue",
    "received-on",
    "rtable",
    "rdomain",
    "prio",
    "tos",
];

/// Table options.
const TABLE_WORDS: &[&str] = &["const", "persist", "counters", "file"];

fn is_address_or_number(t: &str) -> bool {
    t.starts_with(|c: char| c.is_ascii_digit()) || t.contains(':') || t.contains('/')
}

/// A checker of the pf.conf subset our examples use. It is not pfctl: it
/// does not know every grammar rule, the order of rule parameters, or
/// whether addresses and interfaces exist. It does catch what breaks a
/// pasted example: an unknown statement, a misspelt rule word or state
/// option, a macro used before it is defined, unbalanced brackets or
/// quotes, a tab (which a shell turns into completion when pasted).
#[derive(Default)]
struct PfConfChecker {
    macros: BTreeSet<String>,
    errors: Vec<String>,
}

/// Splits a statement into tokens: quoted strings whole, brackets and
/// commas apart.
fn pf_tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                let mut q = String::from('"');
                for d in chars.by_ref() {
                    q.push(d);
                    if d == '"' {
                        break;
                    }
                }
                out.push(q);
            }
            '{' | '}' | '(' | ')' | ',' | '=' | '!' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

impl PfConfChecker {
    fn err(&mut self, line: usize, msg: String) {
        self.errors.push(format!("line {line}: {msg}"));
    }

    /// Checks a whole file; returns the errors found.
    fn check(text: &str) -> Vec<String> {
        let mut c = PfConfChecker::default();
        let mut stmt = String::new();
        let mut start = 0;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            if raw.contains('\t') {
                c.err(n, "tab character".into());
            }
            if raw.ends_with(' ') {
                c.err(n, "trailing blank".into());
            }
            // Strip a comment (a '#' outside quotes).
            let mut in_q = false;
            let mut code = String::new();
            for ch in raw.chars() {
                if ch == '"' {
                    in_q = !in_q;
                }
                if ch == '#' && !in_q {
                    break;
                }
                code.push(ch);
            }
            if in_q {
                c.err(n, "unbalanced quote".into());
            }
            if stmt.is_empty() {
                start = n;
            }
            let code = code.trim_end();
            if let Some(cont) = code.strip_suffix('\\') {
                stmt.push_str(cont);
                stmt.push(' ');
                continue;
            }
            stmt.push_str(code);
            let s = std::mem::take(&mut stmt);
            if !s.trim().is_empty() {
                c.statement(start, &s);
            }
        }
        if !stmt.trim().is_empty() {
            c.err(start, "file ends in a continued line".into());
        }
        c.errors
    }

    fn statement(&mut self, n: usize, s: &str) {
        let toks = pf_tokens(s);
        let mut depth: BTreeMap<char, i32> = BTreeMap::new();
        for t in &toks {
            match t.as_str() {
                "{" => *depth.entry('{').or_default() += 1,
                "}" => *depth.entry('{').or_default() -= 1,
                "(" => *depth.entry('(').or_default() += 1,
                ")" => *depth.entry('(').or_default() -= 1,
                _ => {}
            }
            if depth.values().any(|d| *d < 0) {
                self.err(n, format!("'{t}' closes nothing"));
                return;
            }
        }
        if depth.values().any(|d| *d != 0) {
            self.err(n, "unbalanced braces or parentheses".into());
            return;
        }
        for t in &toks {
            if t.starts_with('<') != t.ends_with('>') {
                self.err(n, format!("unbalanced table brackets in '{t}'"));
            }
            // Macros, also inside quoted macro values.
            for part in t.split('$').skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !self.macros.contains(&name) {
                    self.err(n, format!("macro ${name} used before it is defined"));
                }
            }
        }
        let first = toks[0].as_str();
        if toks.get(1).is_some_and(|t| t == "=") {
            let ok_name = first.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && first.starts_with(|c: char| c.is_ascii_alphabetic());
            if !ok_name || STATEMENTS.contains(&first) {
                self.err(n, format!("'{first}' is not a macro name"));
            }
            if toks.len() != 3 || !toks[2].starts_with('"') {
                self.err(
                    n,
                    format!("macro {first}: the value must be one quoted string"),
                );
            }
            self.macros.insert(first.to_string());
            return;
        }
        match first {
            "set" => self.set(n, &toks[1..]),
            "table" => self.table(n, &toks[1..]),
            "pass" | "block" | "match" => self.rule(n, &toks[1..]),
            w if STATEMENTS.contains(&w) => {}
            w => self.err(n, format!("unknown keyword '{w}'")),
        }
    }

    fn set(&mut self, n: usize, toks: &[String]) {
        let Some(opt) = toks.first() else {
            return self.err(n, "set without an option".into());
        };
        if !SET_OPTIONS.contains(&opt.as_str()) {
            return self.err(n, format!("unknown set option '{opt}'"));
        }
        if opt == "state-defaults" {
            self.state_options(n, &toks[1..]);
        }
    }

    fn table(&mut self, n: usize, toks: &[String]) {
        let Some(name) = toks.first() else {
            return self.err(n, "table without a name".into());
        };
        if !(name.starts_with('<') && name.ends_with('>') && name.len() > 2) {
            self.err(n, format!("table name '{name}' is not <name>"));
        }
        let mut in_list = false;
        for t in &toks[1..] {
            match t.as_str() {
                "{" => in_list = true,
                "}" => in_list = false,
                "," | "!" => {}
                w if in_list && (is_address_or_number(w) || w.starts_with('$')) => {}
                w if !in_list && TABLE_WORDS.contains(&w) => {}
                w if w.starts_with('"') => {}
                w => self.err(n, format!("unexpected '{w}' in a table definition")),
            }
        }
    }

    /// A comma-separated list of state options (in `( … )` or after
    /// `set state-defaults`).
    fn state_options(&mut self, n: usize, toks: &[String]) {
        let mut expect_option = true;
        for t in toks {
            match t.as_str() {
                "," => expect_option = true,
                w if expect_option => {
                    if !STATE_OPTIONS.contains(&w) {
                        self.err(n, format!("unknown state option '{w}'"));
                    }
                    expect_option = false;
                }
                w if is_address_or_number(w)
                    || STATE_OPTION_ARGS.contains(&w)
                    || (w.starts_with('<') && w.ends_with('>')) => {}
                w => self.err(n, format!("unexpected '{w}' in state options")),
            }
        }
        if expect_option {
            self.err(n, "state option list ends with a comma or is empty".into());
        }
    }

    fn rule(&mut self, n: usize, toks: &[String]) {
        let mut i = 0;
        // What the previous keyword makes the next word: a protocol, a
        // port, or a free name; a `{ … }` list keeps that meaning.
        let mut want: Option<&str> = None;
        let mut in_list = false;
        while i < toks.len() {
            let t = toks[i].as_str();
            i += 1;
            match t {
                "{" => {
                    in_list = true;
                    continue;
                }
                "}" => {
                    in_list = false;
                    want = None;
                    continue;
                }
                "," | "!" | "=" | "(" | ")" => continue,
                "state" => {
                    // keep|modulate|synproxy state ( options )
                    if toks.get(i).is_some_and(|x| x == "(") {
                        let close = toks[i..]
                            .iter()
                            .position(|x| x == ")")
                            .map(|p| p + i)
                            .unwrap_or(toks.len());
                        self.state_options(n, &toks[i + 1..close]);
                        i = close + 1;
                    }
                    want = None;
                    continue;
                }
                _ => {}
            }
            let is_value = t.starts_with('$')
                || t.starts_with('"')
                || t.starts_with('<')
                || is_address_or_number(t);
            let ok = match want {
                _ if is_value => true,
                Some("proto") => PROTOCOLS.contains(&t),
                Some("port") => SERVICES.contains(&t),
                Some(_) => true,
                None => RULE_WORDS.contains(&t),
            };
            if !ok {
                let what = match want {
                    Some("proto") => "protocol",
                    Some("port") => "port name",
                    _ => "rule word",
                };
                self.err(n, format!("unknown {what} '{t}'"));
            }
            if !in_list {
                want = if t == "proto" || t == "port" || NAME_TAKERS.contains(&t) {
                    Some(if t == "proto" || t == "port" {
                        t
                    } else {
                        "name"
                    })
                } else {
                    None
                };
            }
        }
    }
}

fn pf_rule_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("pf-rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    v.sort();
    v
}

#[test]
fn pf_rule_examples_pass_the_checker() {
    let files = pf_rule_files();
    assert!(files.len() >= 4, "{files:?}");
    let readme = read("pf-rules/README.md");
    let mut all = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            readme.contains(&name),
            "pf-rules/README.md does not list {name}"
        );
        let text = std::fs::read_to_string(f).unwrap();
        for e in PfConfChecker::check(&text) {
            all.push(format!("{name}: {e}"));
        }
    }
    assert!(all.is_empty(), "{}", all.join("\n"));
}

#[test]
fn pf_rule_examples_cover_what_the_issue_asks() {
    let text: String = pf_rule_files()
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    for want in [
        "keep state (pflow)",
        "set state-defaults pflow",
        "match in ",
        " tagged ",
        "proto pfsync keep state (no-sync)",
        "syncdev em2",
        "syncpeer",
        "version 1400",
        "version 1301",
        "version 1500",
    ] {
        assert!(text.contains(want), "no example shows {want:?}");
    }
}

#[test]
fn pf_checker_finds_each_kind_of_mistake() {
    let cases: &[(&str, &str)] = &[
        (
            "pass out keep sate (pflow)\n",
            "line 1: unknown rule word 'sate'",
        ),
        (
            "pass out keep state (plfow)\n",
            "unknown state option 'plfow'",
        ),
        (
            "set state-defaults pflow, nosync\n",
            "unknown state option 'nosync'",
        ),
        (
            "set state-default pflow\n",
            "unknown set option 'state-default'",
        ),
        (
            "pass on $ext_if\n",
            "macro $ext_if used before it is defined",
        ),
        ("pass proto tcp to { 1.2.3.4\n", "unbalanced braces"),
        ("pass proto tpc\n", "unknown protocol 'tpc'"),
        ("pass proto tcp to port sshh\n", "unknown port name 'sshh'"),
        ("pas out all\n", "unknown keyword 'pas'"),
        ("pass\tout\n", "tab character"),
        ("ext_if = em0\n", "the value must be one quoted string"),
        ("pass out label \"x\n", "unbalanced quote"),
        ("pass out keep state (pflow,)\n", "ends with a comma"),
        ("table <t { 1.2.3.4 }\n", "unbalanced table brackets"),
        ("pass out \\\n", "file ends in a continued line"),
    ];
    for (text, want) in cases {
        let errs = PfConfChecker::check(text);
        assert!(
            errs.iter().any(|e| e.contains(want)),
            "{text:?}: expected {want:?}, got {errs:?}"
        );
    }
    // And what is right stays quiet: a macro, a table, a continued rule.
    let good = "if = \"em0\"\ntable <p> const { 10.0.0.1 10.0.0.2 }\n\
                pass in on $if proto { tcp udp } from ! <p> \\\n    to ($if) port { ssh 53 } keep state (max-src-conn 10, pflow)\n";
    assert_eq!(PfConfChecker::check(good), Vec::<String>::new());
}
