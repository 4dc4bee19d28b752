//! `cargo xtask migrate | status | check` through the real binary, on a temporary project
//! root, with good and bad input.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;

fn repo_migrations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite")
}

/// A temporary project root with a copy of the project's SQLite migrations.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("migrations/sqlite");
        fs::create_dir_all(dst.join("meta")).unwrap();
        for entry in fs::read_dir(repo_migrations()).unwrap() {
            let p = entry.unwrap().path();
            if p.is_file() {
                fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
            }
        }
        fs::copy(repo_migrations().join("meta/_journal.json"), dst.join("meta/_journal.json")).unwrap();
        Project { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn migrations(&self) -> PathBuf {
        self.root().join("migrations/sqlite")
    }

    fn db(&self) -> PathBuf {
        self.root().join("data/sqlite.db")
    }

    /// The xtask binary with this root, no inherited DATABASE_URL, run from `/`.
    fn xtask(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("xtask").unwrap();
        cmd.env("CMS_PROJECT_ROOT", self.root()).env_remove("DATABASE_URL").current_dir("/").args(args);
        cmd
    }

    fn journal(&self) -> serde_json::Value {
        serde_json::from_str(&fs::read_to_string(self.migrations().join("meta/_journal.json")).unwrap()).unwrap()
    }

    fn write_journal(&self, j: &serde_json::Value) {
        fs::write(self.migrations().join("meta/_journal.json"), serde_json::to_string_pretty(j).unwrap()).unwrap();
    }

    fn tags(&self) -> Vec<String> {
        self.journal()["entries"].as_array().unwrap().iter().map(|e| e["tag"].as_str().unwrap().to_string()).collect()
    }

    fn db_bytes(&self) -> Option<Vec<u8>> {
        fs::read(self.db()).ok()
    }
}

fn stderr_of(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().failure().get_output().stderr.clone()).unwrap()
}

#[test]
fn fresh_project_migrates_with_no_configuration_from_any_directory() {
    let p = Project::new();
    let out = p.xtask(&["migrate"]).assert().success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("from default"), "{out}");
    for tag in p.tags() {
        assert!(
            out.lines().any(|l| l.contains("applied") && l.contains(&tag) && l.contains(" ms")),
            "{tag} missing in:\n{out}"
        );
    }
    assert!(p.db().exists());
    p.xtask(&["migrate"]).assert().success().stdout(predicate::str::contains("nothing to migrate"));
    p.xtask(&["check", "--no-pending"]).assert().success().stdout(predicate::str::starts_with("ok:"));
}

#[test]
fn dry_run_prints_sql_and_changes_nothing() {
    let p = Project::new();
    let out = p.xtask(&["migrate", "--dry-run"]).assert().success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("CREATE TABLE `teams`"), "{out}");
    assert!(out.contains("-- 0000_initial (in a transaction"), "{out}");
    assert!(out.contains("nothing was changed"));
    assert!(!p.db().exists(), "a dry run must not create the database");
}

#[test]
fn status_json_and_check_gate() {
    let p = Project::new();
    let tags = p.tags();
    // Apply all but the last.
    let mut j = p.journal();
    let all = j.clone();
    j["entries"].as_array_mut().unwrap().pop();
    p.write_journal(&j);
    let last = p.migrations().join(format!("{}.sql", tags.last().unwrap()));
    let aside = p.root().join("aside.sql");
    fs::rename(&last, &aside).unwrap();
    p.xtask(&["migrate", "-q"]).assert().success().stdout("");
    fs::rename(&aside, &last).unwrap();
    p.write_journal(&all);

    let out = p.xtask(&["status", "--json"]).assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let states: Vec<&str> = v["entries"].as_array().unwrap().iter().map(|e| e["state"].as_str().unwrap()).collect();
    assert_eq!(states.len(), tags.len());
    assert!(states[..tags.len() - 1].iter().all(|s| *s == "applied"));
    assert_eq!(states[tags.len() - 1], "pending");
    assert_eq!(v["summary"]["pending"], 1);
    assert_eq!(v["dialect"], "sqlite");

    p.xtask(&["status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("pending").and(predicate::str::contains(tags.last().unwrap().as_str())));
    p.xtask(&["check"]).assert().success();
    let err = stderr_of(&mut p.xtask(&["check", "--no-pending"]));
    assert!(err.contains("1 migration(s) pending") && err.contains("cargo xtask migrate"), "{err}");
}

#[test]
fn edited_and_deleted_applied_migrations_fail_check_and_migrate() {
    let p = Project::new();
    p.xtask(&["migrate"]).assert().success();
    let tags = p.tags();
    let edited = p.migrations().join(format!("{}.sql", tags[1]));
    let original = fs::read_to_string(&edited).unwrap();

    fs::write(&edited, original.replace('\n', "\r\n")).unwrap();
    let err = stderr_of(&mut p.xtask(&["check"]));
    assert!(
        err.contains(&format!(
            "migration {} was applied but its file has changed: only its line endings differ",
            tags[1]
        )),
        "{err}"
    );

    fs::write(&edited, format!("{original}\n-- an edit\n")).unwrap();
    let before = p.db_bytes();
    let err = stderr_of(&mut p.xtask(&["migrate"]));
    assert!(err.contains(&format!("migration {} was applied but its file has changed;", tags[1])), "{err}");
    assert_eq!(p.db_bytes(), before);
    p.xtask(&["status"]).assert().success().stdout(predicate::str::contains("modified"));

    fs::write(&edited, &original).unwrap();
    fs::remove_file(p.migrations().join(format!("{}.sql", tags[2]))).unwrap();
    let err = stderr_of(&mut p.xtask(&["migrate"]));
    assert!(
        err.contains(&format!("migration {} was applied but its file {}.sql is missing", tags[2], tags[2])),
        "{err}"
    );

    // Entry and file both gone: the database remembers it.
    let mut j = p.journal();
    j["entries"].as_array_mut().unwrap().remove(2);
    p.write_journal(&j);
    let err = stderr_of(&mut p.xtask(&["check"]));
    assert!(err.contains("that no journal entry matches"), "{err}");
}

#[test]
fn invalid_sql_in_the_middle_names_file_statement_and_message() {
    let p = Project::new();
    let mut j = p.journal();
    let n = j["entries"].as_array().unwrap().len();
    j["entries"].as_array_mut().unwrap().push(serde_json::json!({"idx": n, "version": "6", "when": 1_900_000_000_000i64, "tag": "9999_broken", "breakpoints": true}));
    p.write_journal(&j);
    fs::write(p.migrations().join("9999_broken.sql"), "CREATE TABLE ok1 (x);\n--> statement-breakpoint\nCREATE TABLE ok2 (x);\n--> statement-breakpoint\nCREAT TABLE nope (x);\n--> statement-breakpoint\nCREATE TABLE ok3 (x);\n").unwrap();
    let err = stderr_of(&mut p.xtask(&["migrate"]));
    assert!(err.contains("migration 9999_broken failed at statement 3 (line 5 of 9999_broken.sql)"), "{err}");
    assert!(err.contains("syntax error"), "{err}");
    let out = p.xtask(&["status", "--json"]).assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["summary"]["applied"], n);
    assert_eq!(v["summary"]["pending"], 1);
    let conn = table_names(&p.db());
    assert!(!conn.contains("ok1") && !conn.contains("ok2"), "{conn}");
}

/// The names in sqlite_master, read without changing the file.
fn table_names(db: &Path) -> String {
    let mut names = String::new();
    let conn = cms_db::sqlite::open_read_only(db).unwrap().unwrap();
    let mut st = conn.prepare("SELECT name FROM sqlite_master").unwrap();
    for n in st.query_map([], |r| r.get::<_, String>(0)).unwrap() {
        names.push_str(&n.unwrap());
        names.push(' ');
    }
    names
}

#[test]
fn journal_problems_are_reported_and_refused() {
    let p = Project::new();
    let tags = p.tags();
    let mut j = p.journal();
    {
        let e = j["entries"].as_array_mut().unwrap();
        e[1]["idx"] = e[0]["idx"].clone();
        e[3]["tag"] = e[2]["tag"].clone();
    }
    p.write_journal(&j);
    fs::write(p.migrations().join("0042_stray.sql"), "CREATE TABLE stray (x);").unwrap();
    let err = stderr_of(&mut p.xtask(&["check"]));
    assert!(err.contains("journal lists idx 0 more than once"), "{err}");
    assert!(err.contains(&format!("journal lists tag {} more than once", tags[2])), "{err}");
    assert!(err.contains("not greater than the previous entry"), "{err}");
    assert!(err.contains("0042_stray.sql is not listed in meta/_journal.json and will never run"), "{err}");
    let err = stderr_of(&mut p.xtask(&["migrate"]));
    assert!(err.contains("nothing was applied"), "{err}");
    assert!(!p.db().exists());
}

#[test]
fn entry_without_file_is_refused() {
    let p = Project::new();
    let tags = p.tags();
    fs::remove_file(p.migrations().join(format!("{}.sql", tags[3]))).unwrap();
    let err = stderr_of(&mut p.xtask(&["migrate"]));
    assert!(err.contains(&format!("journal entry {} has no file", tags[3])), "{err}");
    let err = stderr_of(&mut p.xtask(&["check"]));
    assert!(err.contains(&format!("journal entry {} has no file", tags[3])), "{err}");
}

#[test]
fn malformed_or_missing_journal() {
    let p = Project::new();
    fs::write(
        p.migrations().join("meta/_journal.json"),
        "{\"version\": \"7\", \"dialect\": \"sqlite\", \"entries\": [",
    )
    .unwrap();
    for cmd in ["migrate", "status", "check"] {
        let err = stderr_of(&mut p.xtask(&[cmd]));
        assert!(err.contains("_journal.json") && err.contains("is not a valid Drizzle journal"), "{cmd}: {err}");
    }
    fs::remove_file(p.migrations().join("meta/_journal.json")).unwrap();
    let err = stderr_of(&mut p.xtask(&["migrate"]));
    assert!(err.contains("_journal.json: cannot be read"), "{err}");
    assert!(!p.db().exists());
}

#[test]
fn migrations_path_that_does_not_exist() {
    let p = Project::new();
    let err = stderr_of(&mut p.xtask(&["migrate", "--migrations", "no/such/folder"]));
    assert!(err.contains("no/such/folder") && err.contains("does not exist"), "{err}");
}

#[test]
fn journal_of_the_other_dialect() {
    let p = Project::new();
    let pg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/postgresql");
    let err = stderr_of(&mut p.xtask(&["migrate", "--migrations", pg.to_str().unwrap()]));
    assert!(err.contains("is a postgresql journal but DATABASE_URL is a sqlite database"), "{err}");
    assert!(!p.db().exists());
}

#[test]
fn unknown_scheme_is_refused_without_the_password() {
    let p = Project::new();
    let err = stderr_of(p.xtask(&["migrate"]).env("DATABASE_URL", "mysql://root:hunter2@db/app"));
    assert!(err.contains("unknown database URL scheme `mysql`") && err.contains("from DATABASE_URL"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn unreachable_postgres_fails_in_bounded_time_without_the_password() {
    let p = Project::new();
    // Nothing listens on port 1: refused at once.
    let started = Instant::now();
    let pg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/postgresql");
    let pg = pg.to_str().unwrap();
    let err = stderr_of(&mut p.xtask(&[
        "status",
        "--migrations",
        pg,
        "--database-url",
        "postgres://app:s3cret@127.0.0.1:1/cms",
    ]));
    assert!(err.contains("cannot connect to PostgreSQL at postgres://app:***@127.0.0.1:1/cms"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // A server that accepts and never answers: bounded by connect_timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _hold = std::thread::spawn(move || {
        let mut conns = Vec::new();
        while let Ok((s, _)) = listener.accept() {
            conns.push(s);
        }
    });
    let started = Instant::now();
    let url = format!("postgresql://app:s3cret@127.0.0.1:{port}/cms?connect_timeout=2");
    let err = stderr_of(p.xtask(&["migrate", "--migrations", pg]).env("DATABASE_URL", &url));
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    assert!(err.contains("cannot connect to PostgreSQL") && !err.contains("s3cret"), "{err}");
}

#[test]
fn read_only_database_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let p = Project::new();
    p.xtask(&["migrate"]).assert().success();
    let mut j = p.journal();
    let n = j["entries"].as_array().unwrap().len();
    j["entries"].as_array_mut().unwrap().push(serde_json::json!({"idx": n, "version": "6", "when": 1_900_000_000_000i64, "tag": "9999_more", "breakpoints": true}));
    p.write_journal(&j);
    fs::write(p.migrations().join("9999_more.sql"), "CREATE TABLE more (x);").unwrap();
    let before = p.db_bytes();
    fs::set_permissions(p.db(), fs::Permissions::from_mode(0o444)).unwrap();
    let err = stderr_of(&mut p.xtask(&["migrate"]));
    assert!(err.contains("read-only") && err.contains("sqlite.db"), "{err}");
    assert_eq!(p.db_bytes(), before);
    // Looking still works on a read-only file.
    p.xtask(&["status"]).assert().success().stdout(predicate::str::contains("9999_more"));
}

#[test]
fn dotenv_and_flag_choose_the_database() {
    let p = Project::new();
    fs::write(p.root().join(".env"), "DATABASE_URL=file:data/from-dotenv.db\n").unwrap();
    p.xtask(&["migrate"]).assert().success().stdout(predicate::str::contains("from .env"));
    assert!(p.root().join("data/from-dotenv.db").exists());
    p.xtask(&["migrate", "--database-url", "file:other.db"])
        .assert()
        .success()
        .stdout(predicate::str::contains("from --database-url"));
    assert!(p.root().join("other.db").exists());
}

#[test]
fn out_of_order_needs_the_flag() {
    let p = Project::new();
    let full = p.journal();
    let mut j = full.clone();
    let removed = j["entries"].as_array_mut().unwrap().remove(2);
    p.write_journal(&j);
    let tag = removed["tag"].as_str().unwrap().to_string();
    let file = p.migrations().join(format!("{tag}.sql"));
    let body = fs::read(&file).unwrap();
    fs::remove_file(&file).unwrap();
    p.xtask(&["migrate"]).assert().success();
    fs::write(&file, body).unwrap();
    p.write_journal(&full);
    p.xtask(&["status"]).assert().success().stdout(predicate::str::contains("out of order"));
    let err = stderr_of(&mut p.xtask(&["migrate"]));
    assert!(err.contains(&format!("migration {tag} is pending but the later migration")), "{err}");
    p.xtask(&["migrate", "--allow-out-of-order"]).assert().success().stdout(predicate::str::contains(tag.as_str()));
    p.xtask(&["check", "--no-pending"]).assert().success();
}

/// A copy of the binary outside every project (its own folder holds no migrations/), run from
/// a folder outside every project with no CMS_PROJECT_ROOT or CARGO_MANIFEST_DIR.
fn xtask_outside_any_project(dir: &Path, args: &[&str]) -> Command {
    let bin = dir.join("bin/xtask");
    if !bin.exists() {
        fs::create_dir_all(dir.join("bin")).unwrap();
        fs::copy(assert_cmd::cargo::cargo_bin("xtask"), &bin).unwrap();
    }
    let mut cmd = Command::new(&bin);
    cmd.env_remove("CMS_PROJECT_ROOT")
        .env_remove("CARGO_MANIFEST_DIR")
        .env_remove("DATABASE_URL")
        .current_dir(dir.join("work"))
        .args(args);
    cmd
}

#[test]
fn absolute_paths_work_outside_any_project_and_writers_refuse() {
    let p = Project::new();
    let outside = tempfile::tempdir().unwrap();
    fs::create_dir_all(outside.path().join("work")).unwrap();
    let db = p.root().join("elsewhere.db");
    let url = format!("file:{}", db.display());
    let migrations = p.migrations().display().to_string();
    let folder = format!("migrations:{migrations}");
    p.xtask(&["--database-url", &url, "migrate", "--no-backup"]).assert().success();

    // Reading commands: every path given absolute, no project around.
    xtask_outside_any_project(outside.path(), &["--database-url", &url, "status", "--migrations", &migrations])
        .assert()
        .success()
        .stdout(predicate::str::contains("applied"));
    xtask_outside_any_project(outside.path(), &["diff", "--from", &folder, "--to", &url, "--exit-code"])
        .assert()
        .success();

    // Without --migrations the default folder needs a project: said, not guessed.
    let err = stderr_of(&mut xtask_outside_any_project(outside.path(), &["--database-url", &url, "status"]));
    assert!(err.contains("CMS_PROJECT_ROOT") && err.contains("--migrations DIR"), "{err}");

    // Writers refuse before touching anything.
    for args in [&["--database-url", &url, "backup"][..], &["--database-url", &url, "seed"][..]] {
        let err = stderr_of(&mut xtask_outside_any_project(outside.path(), args));
        assert!(err.contains("cannot find the project root"), "{args:?}: {err}");
    }
    let left: Vec<_> = fs::read_dir(outside.path().join("work")).unwrap().collect();
    assert!(left.is_empty(), "nothing written in the working folder: {left:?}");
}
