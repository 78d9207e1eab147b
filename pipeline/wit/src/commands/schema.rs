//! `wit schema [KIND]`: the data contract, as a table per record kind.

use std::process::ExitCode;

use anyhow::{bail, Result};
use wit_contract::RecordKind;

pub fn run(kind: Option<&str>) -> Result<ExitCode> {
    let kinds = match kind {
        None => RecordKind::ALL.to_vec(),
        Some(name) => match RecordKind::from_name(name) {
            Some(kind) => vec![kind],
            None => {
                let known: Vec<&str> = RecordKind::ALL.iter().map(|k| k.name()).collect();
                bail!("unknown record kind {name:?}; known kinds: {}", known.join(", "))
            }
        },
    };
    for (i, kind) in kinds.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!("{kind}");
        for field in kind.schema().fields() {
            let null = if field.is_nullable() { "nullable" } else { "required" };
            println!("  {:<16} {:<28} {null}", field.name(), field.data_type().to_string());
        }
    }
    Ok(ExitCode::SUCCESS)
}
