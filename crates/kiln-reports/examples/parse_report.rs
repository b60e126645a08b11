//! Parses one report file and prints its summary as JSON: `parse_report FORMAT FILE`.
//! Used by bench/reports.sh.

use std::fs::File;
use std::process::ExitCode;

use kiln_reports::{Limits, ParsedReport, ReportFileFormat, parse_report};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [format, path] = args.as_slice() else {
        eprintln!("usage: parse_report FORMAT FILE");
        return ExitCode::from(2);
    };
    let format: ReportFileFormat = match format.parse() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let summary = match parse_report(format, file, &Limits::default()) {
        Ok(ParsedReport::Test(r)) => serde_json::to_string_pretty(&r.summary),
        Ok(ParsedReport::CodeCoverage(r)) => serde_json::to_string_pretty(&r.summary),
        Err(e) => {
            eprintln!("{path} {e}");
            return ExitCode::FAILURE;
        }
    };
    match summary {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
