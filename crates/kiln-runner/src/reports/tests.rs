//! Report collection against real trees: selection, recorded paths, limits, and a hostile
//! build's tree (escaping globs, links out, directories, FIFOs, bombs).

use std::os::unix::fs::symlink;
use std::path::Path;

use kiln_reports::ReportFileFormat;

use super::*;

const JUNIT: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3">
<testcase classname="tests.test_a" name="test_ok" time="0.1"/>
<testcase classname="tests.test_a" name="test_bad" time="0.2"><failure message="assert 1 == 2">boom</failure></testcase>
<testcase classname="tests.test_a" name="test_skip"><skipped/></testcase>
</testsuite></testsuites>
"#;

fn write(root: &Path, path: &str, contents: &[u8]) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

fn spec(files: &[&str], base: Option<&str>, discard_paths: bool) -> ReportSpec {
    ReportSpec {
        files: files.iter().map(|f| (*f).to_owned()).collect(),
        base_directory: base.map(str::to_owned),
        discard_paths,
        file_format: ReportFileFormat::JunitXml,
    }
}

fn collect_in(root: &Path, spec: &ReportSpec, budget: &mut ReportBudget) -> GroupCollection {
    let dir = confined::open_ambient_dir(root).unwrap();
    collect_group(&dir, "unit", spec, budget, &CancellationToken::new())
}

fn collect(root: &Path, spec: &ReportSpec) -> GroupCollection {
    collect_in(root, spec, &mut ReportBudget::default())
}

fn paths(report: &CollectedReport) -> Vec<&str> {
    report.files.iter().map(|f| f.path.as_str()).collect()
}

fn has_line(collection: &GroupCollection, needle: &str) -> bool {
    collection.log_lines.iter().any(|l| l.contains(needle))
}

#[test]
fn parses_matched_files_and_records_paths_relative_to_the_base() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "out/reports/a/junit.xml", JUNIT.as_bytes());
    write(src.path(), "out/reports/b/junit.xml", JUNIT.as_bytes());
    write(src.path(), "out/reports/notes.txt", b"not a report");
    let got = collect(src.path(), &spec(&["**/*.xml"], Some("out/reports"), false));
    assert_eq!(paths(&got.report), ["a/junit.xml", "b/junit.xml"]);
    assert!(!got.report.missing_files);
    let Ok(ParsedReport::Test(first)) = &got.report.files[0].outcome else {
        panic!("{:?}", got.report.files[0]);
    };
    assert_eq!(first.summary.total, 3);
    assert!(
        has_line(&got, "Found 2 report file(s)"),
        "{:?}",
        got.log_lines
    );
    assert!(
        has_line(
            &got,
            "Parsed report file out/reports/a/junit.xml: 3 test cases (1 failed)"
        ),
        "{:?}",
        got.log_lines
    );
}

#[test]
fn discard_paths_records_names_alone_and_same_names_are_no_conflict() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "a/junit.xml", JUNIT.as_bytes());
    write(src.path(), "b/junit.xml", JUNIT.as_bytes());
    let got = collect(src.path(), &spec(&["*/junit.xml"], None, true));
    assert_eq!(paths(&got.report), ["junit.xml", "junit.xml"]);
    assert!(got.report.files.iter().all(|f| f.outcome.is_ok()));
}

#[test]
fn a_file_that_does_not_parse_names_its_line() {
    let src = tempfile::tempdir().unwrap();
    write(
        src.path(),
        "reports/junit.xml",
        b"<testsuite>\n<testcase name=\"a\">\n</testsuite>\n",
    );
    let got = collect(src.path(), &spec(&["reports/junit.xml"], None, false));
    let err = got.report.files[0].outcome.as_ref().unwrap_err();
    assert!(err.starts_with("line 3: "), "{err}");
    assert!(
        has_line(
            &got,
            "Cannot parse report file reports/junit.xml at line 3: "
        ),
        "{:?}",
        got.log_lines
    );
}

#[test]
fn nothing_matching_is_a_warning_and_an_incomplete_group() {
    let src = tempfile::tempdir().unwrap();
    let got = collect(src.path(), &spec(&["reports/*.xml"], None, false));
    assert!(got.report.missing_files);
    assert!(got.report.files.is_empty());
    assert!(has_line(&got, "Warning: no report files match"));
    let got = collect(src.path(), &spec(&["*.xml"], Some("missing"), false));
    assert!(got.report.missing_files);
    assert!(has_line(
        &got,
        "no report base directory matches \"missing\""
    ));
}

#[test]
fn globs_that_try_to_leave_the_source_directory_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "junit.xml", JUNIT.as_bytes());
    let src_parent = tempfile::tempdir().unwrap();
    let src = src_parent.path().join("src");
    std::fs::create_dir(&src).unwrap();
    write(src_parent.path(), "junit.xml", JUNIT.as_bytes());
    for (files, base) in [
        (&["../junit.xml"][..], None),
        (&["/etc/passwd"][..], None),
        (&["*.xml"][..], Some("..")),
        (&["*.xml"][..], Some("/tmp")),
    ] {
        let got = collect(&src, &spec(files, base, false));
        assert!(got.report.files.is_empty(), "{files:?} {base:?}");
        assert!(got.report.missing_files);
        assert!(has_line(&got, "Warning: "), "{:?}", got.log_lines);
    }
}

#[test]
fn links_out_of_the_source_directory_are_left_out_and_links_inside_are_read() {
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.xml", JUNIT.as_bytes());
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "real/junit.xml", JUNIT.as_bytes());
    std::fs::create_dir_all(src.path().join("reports")).unwrap();
    symlink(
        outside.path().join("secret.xml"),
        src.path().join("reports/out.xml"),
    )
    .unwrap();
    symlink("../../", src.path().join("reports/up")).unwrap();
    symlink("../real/junit.xml", src.path().join("reports/in.xml")).unwrap();
    let got = collect(src.path(), &spec(&["reports/**/*.xml"], None, false));
    assert_eq!(paths(&got.report), ["reports/in.xml"]);
    assert!(got.report.files[0].outcome.is_ok());
    assert!(got.report.missing_files);
    assert!(
        has_line(&got, "Warning: left out of the report: reports/out.xml"),
        "{:?}",
        got.log_lines
    );
}

#[test]
fn directories_and_fifos_matching_a_glob_are_not_report_files() {
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("reports/dir.xml")).unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        src.path().join("reports/fifo.xml"),
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
    )
    .unwrap();
    write(src.path(), "reports/junit.xml", JUNIT.as_bytes());
    let got = collect(src.path(), &spec(&["reports/*.xml"], None, false));
    assert_eq!(paths(&got.report), ["reports/junit.xml"]);
    assert!(has_line(
        &got,
        "Warning: left out of the report: reports/fifo.xml"
    ));
}

#[test]
fn a_file_over_the_limit_is_refused_without_being_parsed() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "big.xml", &vec![b' '; 10_000]);
    let mut budget = ReportBudget {
        read_bytes: 1_000,
        ..ReportBudget::default()
    };
    let got = collect_in(src.path(), &spec(&["big.xml"], None, false), &mut budget);
    let err = got.report.files[0].outcome.as_ref().unwrap_err();
    assert!(err.contains("more than the limit of 1000 bytes"), "{err}");
    assert_eq!(budget.read_bytes, 1_000, "nothing was read");
    assert!(has_line(
        &got,
        "Cannot read report file big.xml: it is 10000 bytes"
    ));
}

#[test]
fn the_build_budget_is_spent_across_files() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "a.xml", JUNIT.as_bytes());
    write(src.path(), "b.xml", JUNIT.as_bytes());
    let mut budget = ReportBudget {
        read_bytes: JUNIT.len() as u64 + 10,
        ..ReportBudget::default()
    };
    let got = collect_in(src.path(), &spec(&["*.xml"], None, false), &mut budget);
    assert!(got.report.files[0].outcome.is_ok());
    assert!(
        got.report.files[1].outcome.is_err(),
        "{:?}",
        got.report.files
    );
    assert!(budget.retained_bytes < MAX_RETAINED_BYTES_PER_BUILD);
    assert_eq!(budget.read_bytes, 10);
    budget.read_bytes = 0;
    let got = collect_in(src.path(), &spec(&["*.xml"], None, false), &mut budget);
    assert!(
        got.report.files.iter().all(|f| f
            .outcome
            .as_ref()
            .is_err_and(|e| e.contains("Kiln's limits"))),
        "{:?}",
        got.report.files
    );
}

#[test]
fn at_most_a_thousand_files_per_group_are_read() {
    let src = tempfile::tempdir().unwrap();
    for i in 0..MAX_FILES_PER_GROUP + 5 {
        write(src.path(), &format!("r/{i:05}.xml"), JUNIT.as_bytes());
    }
    let got = collect(src.path(), &spec(&["r/*.xml"], None, false));
    assert_eq!(got.report.files.len(), MAX_FILES_PER_GROUP);
    assert!(got.report.missing_files);
    assert!(has_line(&got, "Found 1005 report file(s)"));
    assert!(has_line(&got, "only the first 1000"));
}

#[test]
fn an_entity_bomb_is_refused_without_expanding_it() {
    let bomb = br#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol9 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<testsuite name="&lol9;"><testcase name="x"><failure>&lol9;</failure></testcase></testsuite>"#;
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "bomb.xml", bomb);
    let started = std::time::Instant::now();
    let got = collect(src.path(), &spec(&["bomb.xml"], None, false));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let Err(why) = &got.report.files[0].outcome else {
        panic!("{:?}", got.report.files[0]);
    };
    assert!(why.contains("declares entities"), "{why}");
    assert!(has_line(&got, "bomb.xml"), "{:?}", got.log_lines);
}

#[test]
fn names_with_control_characters_are_escaped_in_log_lines() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "evil\n[Container] fake.xml", b"<nope");
    let got = collect(src.path(), &spec(&["*.xml"], None, false));
    assert_eq!(got.report.files.len(), 1);
    assert!(got.log_lines.iter().all(|l| !l.contains('\n')));
    assert!(
        has_line(&got, "evil\\n[Container] fake.xml"),
        "{:?}",
        got.log_lines
    );
}

#[test]
fn a_cancelled_collection_stops_before_reading() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "a.xml", JUNIT.as_bytes());
    let dir = confined::open_ambient_dir(src.path()).unwrap();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let got = collect_group(
        &dir,
        "unit",
        &spec(&["*.xml"], None, false),
        &mut ReportBudget::default(),
        &cancel,
    );
    assert!(got.report.files.is_empty());
    assert!(got.report.missing_files);
}

#[test]
fn coverage_files_are_summarised() {
    let cobertura = br#"<?xml version="1.0" ?>
<coverage line-rate="0.5" branch-rate="0" version="7.0">
<packages><package name="app"><classes>
<class name="m.py" filename="app/m.py" line-rate="0.5"><methods/><lines>
<line number="1" hits="1"/><line number="2" hits="0"/>
</lines></class></classes></package></packages></coverage>
"#;
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "coverage.xml", cobertura);
    let mut cov = spec(&["coverage.xml"], None, false);
    cov.file_format = ReportFileFormat::CoberturaXml;
    let got = collect(src.path(), &cov);
    assert!(
        has_line(
            &got,
            "Parsed report file coverage.xml: 1 files, 50% of lines covered"
        ),
        "{:?}",
        got.log_lines
    );
}
