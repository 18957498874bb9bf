//! The realistic mode's EC2 basic monitoring (`serve.py`'s `basic_monitoring`), exercised in
//! process by `tests/py/basic_monitoring.py` with moto's own Python: its periods are real
//! 5-minute ones reported minutes after they end, which no test can wait for through the
//! server, so the script gives its instances spells that began an hour ago.

#[test]
fn each_instance_reports_its_cpu_for_the_periods_it_ran_once_they_are_reported() {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new(sbx_moto::python())
        .arg(manifest.join("tests/py/basic_monitoring.py"))
        .arg(manifest.join("src"))
        .output()
        .unwrap_or_else(|e| panic!("moto's Python could not be run: {e}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success() && stdout.trim() == "OK",
        "the script failed:\n{stdout}\n{stderr}"
    );
}
