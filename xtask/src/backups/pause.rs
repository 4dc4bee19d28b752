//! Test hook: with `CMS_TEST_PAUSE_AT=<point>` and `CMS_TEST_PAUSE_FILE=<file>` in the
//! environment, the process writes its pid to the file at that point and waits until the file
//! is deleted, so a test can act (or `kill -9` it) at exactly that point. Points: backup's
//! `backup:after-snapshot` and `backup:writing-archive`, restore's `restore:verified`,
//! `restore:after-intent`, `restore:before-pg-restore`, `restore:after-database-swap` and
//! `restore:after-old-uploads-aside`.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

pub fn pause_point(point: &str) {
    if std::env::var("CMS_TEST_PAUSE_AT").ok().as_deref() != Some(point) {
        return;
    }
    let Some(marker) = std::env::var_os("CMS_TEST_PAUSE_FILE").map(PathBuf::from) else { return };
    if fs::write(&marker, std::process::id().to_string()).is_err() {
        return;
    }
    while marker.exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
}
