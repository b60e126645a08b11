//! Turns the anafanafo width tables (`data/*.json`, MIT, see `data/LICENSE`) into static Rust
//! arrays, so the renderer does no parsing at run time and a corrupt table fails the build.
//!
//! Each table becomes a `FontTable` static (see `src/width.rs`): the width of `m`, a direct ASCII
//! array and the sorted code point spans, all in hundredths of a pixel. Every width in the data
//! has at most two decimals, so `hundredths as f64 / 100.0` (one correctly rounded
//! division) yields exactly the `f64` that JavaScript's `JSON.parse` produces; the build checks it.

use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;

/// `(first_code_point, last_code_point, width_in_hundredths)`.
type Span = (u32, u32, u16);

const TABLES: [(&str, &str); 4] = [
    ("VERDANA_11PX_NORMAL", "verdana-11px-normal.json"),
    ("VERDANA_10PX_NORMAL", "verdana-10px-normal.json"),
    ("VERDANA_10PX_BOLD", "verdana-10px-bold.json"),
    ("HELVETICA_11PX_BOLD", "helvetica-11px-bold.json"),
];

fn main() -> Result<(), Box<dyn Error>> {
    let mut generated = String::new();
    for (name, file) in TABLES {
        let path = Path::new("data").join(file);
        println!("cargo::rerun-if-changed={}", path.display());
        let spans = parse_spans(file, &std::fs::read_to_string(&path)?)?;
        let em = width_of(&spans, u32::from('m')).ok_or_else(|| format!("{file}: no 'm'"))?;
        writeln!(
            generated,
            "pub(crate) static {name}: FontTable = FontTable {{"
        )?;
        writeln!(generated, "em: {em},")?;
        // Control characters measure 0; everything else as the spans say, `m` if absent.
        let ascii: Vec<String> = (0..128u32)
            .map(|code_point| match code_point {
                0..=31 | 127 => 0,
                _ => width_of(&spans, code_point).unwrap_or(em),
            })
            .map(|hundredths| hundredths.to_string())
            .collect();
        writeln!(generated, "ascii: [{}],", ascii.join(","))?;
        writeln!(generated, "spans: &[")?;
        for (first, last, hundredths) in &spans {
            writeln!(generated, "({first},{last},{hundredths}),")?;
        }
        writeln!(generated, "],\n}};")?;
    }
    let out = Path::new(&std::env::var("OUT_DIR")?).join("width_tables.rs");
    std::fs::write(out, generated)?;
    Ok(())
}

/// Parses and checks one table: sorted, non-overlapping spans whose widths are exact hundredths.
fn parse_spans(file: &str, json: &str) -> Result<Vec<Span>, Box<dyn Error>> {
    let spans: Vec<(u32, u32, f64)> = serde_json::from_str(json)?;
    let mut previous_last: Option<u32> = None;
    let mut checked = Vec::with_capacity(spans.len());
    for (first, last, width) in spans {
        if first > last || previous_last.is_some_and(|prev| first <= prev) {
            return Err(format!("{file}: span {first}..={last} unsorted or overlapping").into());
        }
        previous_last = Some(last);
        let hundredths = (width * 100.0).round();
        if !(0.0..=f64::from(u16::MAX)).contains(&hundredths) || hundredths / 100.0 != width {
            return Err(
                format!("{file}: width {width} is not a whole number of hundredths").into(),
            );
        }
        // In range by the check above.
        checked.push((first, last, hundredths as u16));
    }
    Ok(checked)
}

fn width_of(spans: &[Span], code_point: u32) -> Option<u16> {
    spans
        .iter()
        .find(|(first, last, _)| (*first..=*last).contains(&code_point))
        .map(|(_, _, hundredths)| *hundredths)
}
