//! `--help` of every stage command shows examples, and every flag says in a line what it does.

use std::process::Command;

use wit_tests::workspace_binary;

const WIT_COMMANDS: &[&[&str]] = &[
    &["queries", "build"],
    &["queries", "text"],
    &["harvest"],
    &["harvest", "crawl"],
    &["curate"],
    &["fetch"],
    &["dedup"],
    &["decontaminate"],
    &["report"],
    &["build"],
    &["status"],
    &["verify"],
    &["demo-web"],
    &["remove"],
    &["export", "webdataset"],
    &["export", "hf"],
];

const TRAIN_COMMANDS: &[&[&str]] = &[&["train"], &["eval"]];

/// The flags of a short help (`-h`) that have no description: on the flag's line after two
/// spaces, or (when clap wraps) on the next, indented line; a bare `[default: …]` is none.
fn undescribed(help: &str) -> Vec<String> {
    let lines: Vec<&str> = help.lines().collect();
    let described = |text: &str| !text.trim().is_empty() && !text.trim().starts_with('[');
    let mut missing = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let flag = line.trim_start();
        if !flag.starts_with('-') {
            continue;
        }
        let same_line = flag.find("  ").map(|at| &flag[at..]).filter(|rest| described(rest));
        let next_line = lines.get(i + 1).filter(|next| {
            let next_flag = next.trim_start().starts_with('-');
            !next_flag && next.starts_with("          ") && described(next)
        });
        if same_line.is_none() && next_line.is_none() {
            missing.push(flag.trim().to_string());
        }
    }
    missing
}

fn check(binary: &str, command: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let long = Command::new(workspace_binary(binary)).args(command).arg("--help").output().unwrap();
    assert!(long.status.success(), "{binary} {command:?} --help");
    let long = String::from_utf8(long.stdout).unwrap();
    let name = format!("{binary} {}", command.join(" "));
    match long.split_once("Examples:") {
        // Each example is a command line of this very command.
        Some((_, examples)) if examples.lines().any(|l| l.trim_start().starts_with(&name)) => {}
        _ => problems.push(format!("`{name} --help` has no example of `{name}`")),
    }
    let short = Command::new(workspace_binary(binary)).args(command).arg("-h").output().unwrap();
    let short = String::from_utf8(short.stdout).unwrap();
    for flag in undescribed(&short) {
        problems.push(format!("`{name}`: no description for `{flag}`"));
    }
    problems
}

#[test]
fn every_stage_command_has_examples_and_described_flags() {
    let mut problems = Vec::new();
    for command in WIT_COMMANDS {
        problems.extend(check("wit", command));
    }
    for command in TRAIN_COMMANDS {
        problems.extend(check("wit-train", command));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_sees_a_flag_without_description() {
    let help = "Options:\n  -o, --out <OUT>  Output folder\n      --resize-mode <MODE>  [default: border]\n      --bare\n      \
                --wrapped <W>\n          What it does\n";
    assert_eq!(undescribed(help), ["--resize-mode <MODE>  [default: border]", "--bare"]);
}
