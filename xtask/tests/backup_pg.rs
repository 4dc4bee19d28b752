//! backup and restore on a real PostgreSQL (test-support's throwaway cluster), with real
//! pg_dump and pg_restore.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use predicates::prelude::*;
use test_support::backups::{self, temp_files, Writer};
use test_support::process::{alive, children_named, wait_until, DEADLINE};
use test_support::project::Project;
use test_support::{pg, rows};

/// The repository's migrations, on the database at `url` (a test database the test holds).
fn project(url: &str) -> Project {
    Project::linked().with_database_url(url)
}

fn archives_in(p: &Project) -> Vec<PathBuf> {
    backups::archives(&p.root().join("backups"))
}

/// Every row of every application table, as text.
fn dump(client: &mut postgres::Client) -> String {
    rows::postgres(client, &[])
}

#[test]
fn postgres_round_trip_with_a_safety_backup() {
    let Some(db) = test_support::pg::database() else { return };
    let p = project(db.url());
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--seed", "5"]).assert().success();
    fs::create_dir_all(p.root().join("uploads")).unwrap();
    fs::write(p.root().join("uploads/a.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]).unwrap();
    let rows = dump(&mut db.client());
    let files = backups::uploads(p.root());

    p.xtask(&["backup"]).assert().success().stdout(predicate::str::contains("postgresql, 6 migration(s)"));
    let archive = archives_in(&p).pop().unwrap();
    p.xtask(&["backup", "verify", "latest"]).assert().success();
    p.xtask(&["backup", "list"]).assert().success().stdout(predicate::str::contains("postgresql"));

    {
        let mut c = db.client();
        c.batch_execute("DELETE FROM posts; UPDATE pages SET slug = slug || '-changed'").unwrap();
    }
    fs::remove_file(p.root().join("uploads/a.jpg")).unwrap();
    assert_ne!(dump(&mut db.client()), rows);

    // Refused while another session is connected.
    let holder = db.client();
    p.xtask(&["restore", "latest", "--yes"]).assert().failure().stderr(predicate::str::contains("in use"));
    drop(holder);
    p.xtask(&["restore", archive.to_str().unwrap(), "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("pre-restore"));
    assert_eq!(dump(&mut db.client()), rows);
    assert_eq!(backups::uploads(p.root()), files);
    p.xtask(&["check", "--no-pending"]).assert().success();
    // The safety backup holds the changed state.
    let safety = archives_in(&p).into_iter().find(|a| a.to_string_lossy().contains("pre-restore")).unwrap();
    p.xtask(&["backup", "verify", safety.to_str().unwrap()]).assert().success();
}

#[test]
fn postgres_backup_during_continuous_writes_restores_a_committed_prefix() {
    let Some(db) = test_support::pg::database() else { return };
    let p = project(db.url());
    p.xtask(&["migrate", "-q"]).assert().success();
    let mut setup = db.client();
    setup.batch_execute("CREATE TABLE writes (n bigint PRIMARY KEY, payload text NOT NULL)").unwrap();
    drop(setup);
    let mut client = db.client();
    let insert = client.prepare("INSERT INTO writes (n, payload) VALUES ($1, $2)").unwrap();
    let payload = "x".repeat(100);
    let writer = Writer::start(move |n| {
        client.execute(&insert, &[&n, &payload]).unwrap();
    });
    let (before, after) = writer.around(500, || {
        p.xtask(&["backup", "--quiet"]).assert().success();
    });
    // pg_dump does not stop the writer (how fast it writes meanwhile is for benchmarks, not
    // for a test).
    assert!(after > before, "the writer kept committing while the backup ran ({before} -> {after})");

    p.xtask(&["restore", "latest", "--yes"]).assert().success();
    let mut c = db.client();
    let row = c.query_one("SELECT count(*), min(n), max(n) FROM writes", &[]).unwrap();
    let (count, min, max): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((min, count), (1, max), "a prefix 1..=k without gaps");
    assert!(count >= before && count <= after, "{before} <= {count} <= {after}");
}

#[test]
fn a_failing_pg_restore_changes_nothing() {
    let Some(db) = test_support::pg::database() else { return };
    let p = project(db.url());
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--seed", "2"]).assert().success();
    p.xtask(&["backup", "--quiet"]).assert().success();
    // A view made after the backup (the restore drops it first), and a collation in the dumped
    // schema `drizzle`: a kind of object the restore does not drop, so the dump's
    // `DROP SCHEMA drizzle` fails part-way, after the view's drop.
    let mut c = db.client();
    c.batch_execute(
        "DELETE FROM posts; CREATE VIEW v_pages AS SELECT * FROM pages; CREATE COLLATION drizzle.after_backup FROM \"C\";",
    )
    .unwrap();
    let rows = dump(&mut c);
    drop(c);
    p.xtask(&["restore", "latest", "--yes"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("database is unchanged").and(predicate::str::contains("drizzle")));
    let mut c = db.client();
    assert_eq!(dump(&mut c), rows);
    let views: i64 = c.query_one("SELECT count(*) FROM pg_views WHERE viewname = 'v_pages'", &[]).unwrap().get(0);
    assert_eq!(views, 1, "the view's drop was undone with the rest: one transaction");
}

/// `pg_dump` and `pg_restore` stand-ins that record each call (arguments and the
/// `PGPASSWORD` they were given) and then run the real tool.
struct Spy {
    dir: tempfile::TempDir,
}

impl Spy {
    fn new() -> Spy {
        let dir = tempfile::tempdir().unwrap();
        for tool in ["pg_dump", "pg_restore"] {
            let real = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(|d| d.join(tool))
                .find(|p| p.is_file())
                .unwrap_or_else(|| panic!("{tool} is not on PATH"));
            let script = format!(
                "#!/bin/sh\n\
                 {{ printf 'call %s\\n' {tool}; for a in \"$@\"; do printf 'arg %s\\n' \"$a\"; done; \
                 printf 'env %s\\n' \"${{PGPASSWORD-(unset)}}\"; }} >> '{log}'\n\
                 exec '{real}' \"$@\"\n",
                log = dir.path().join("calls").display(),
                real = real.display()
            );
            let path = dir.path().join(tool);
            fs::write(&path, script).unwrap();
            fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        }
        Spy { dir }
    }

    /// `PATH` with the stand-ins first.
    fn path(&self) -> std::ffi::OsString {
        let mut dirs = vec![self.dir.path().to_path_buf()];
        dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        std::env::join_paths(dirs).unwrap()
    }

    /// Each call: the tool, its arguments, and its PGPASSWORD (`None` when unset).
    fn calls(&self) -> Vec<(String, Vec<String>, Option<String>)> {
        let text = fs::read_to_string(self.dir.path().join("calls")).unwrap_or_default();
        let mut calls = Vec::new();
        for line in text.lines() {
            if let Some(tool) = line.strip_prefix("call ") {
                calls.push((tool.to_string(), Vec::new(), None));
            } else if let Some(arg) = line.strip_prefix("arg ") {
                calls.last_mut().unwrap().1.push(arg.to_string());
            } else if let Some(env) = line.strip_prefix("env ") {
                calls.last_mut().unwrap().2 = (env != "(unset)").then(|| env.to_string());
            }
        }
        calls
    }
}

#[test]
fn backup_verify_restore_and_reset_with_a_password_that_needs_percent_encoding() {
    let Some(db) = test_support::pg::database() else { return };
    let config: postgres::Config = db.url().parse().unwrap();
    let password = config.get_password().map(|p| String::from_utf8(p.to_vec()).unwrap());
    if std::env::var_os("TEST_POSTGRES_URL").is_none() {
        // The throwaway cluster authenticates by password (scram-sha-256), and the role's
        // password holds `@ : / %` and a space, percent-encoded in the URL.
        assert_eq!(password.as_deref(), Some(test_support::pg::TEST_PASSWORD));
        assert!(db.url().contains("p%40ss%3Aw%2Frd%25%20x"), "{}", db.url());
        let mut wrong = config.clone();
        wrong.password("p%40ss%3Aw%2Frd%25%20x");
        assert!(wrong.connect(postgres::NoTls).is_err(), "the still-encoded password must be refused");
    }
    let spy = Spy::new();
    let p = project(db.url());
    let xtask = |args: &[&str]| {
        let mut cmd = p.xtask(args);
        cmd.env("PATH", spy.path()).env_remove("PGPASSWORD").env_remove("PGPASSFILE");
        cmd
    };
    xtask(&["migrate", "-q"]).assert().success();
    xtask(&["seed", "--seed", "3"]).assert().success();
    let rows = dump(&mut db.client());

    xtask(&["backup"]).assert().success();
    xtask(&["backup", "verify", "latest"]).assert().success();
    db.client().batch_execute("DELETE FROM posts; UPDATE pages SET slug = slug || '-changed'").unwrap();
    assert_ne!(dump(&mut db.client()), rows);
    xtask(&["restore", "latest", "--yes"]).assert().success().stdout(predicate::str::contains("pre-restore"));
    assert_eq!(dump(&mut db.client()), rows);
    // reset-complete takes its safety backup with pg_dump too.
    xtask(&["reset-complete", "--yes", "--no-images", "--seed", "1"]).assert().success();
    let safety = archives_in(&p).into_iter().find(|a| a.to_string_lossy().contains("pre-reset"));
    let safety = safety.expect("reset-complete took no safety backup");
    xtask(&["backup", "verify", safety.to_str().unwrap()]).assert().success();

    let calls = spy.calls();
    let connecting: Vec<_> =
        calls.iter().filter(|(_, args, _)| args.iter().any(|a| a.starts_with("--dbname="))).collect();
    let tools: Vec<&str> = connecting.iter().map(|(tool, _, _)| tool.as_str()).collect();
    assert_eq!(tools, ["pg_dump", "pg_dump", "pg_restore", "pg_dump"], "backup, pre-restore, restore, pre-reset");
    for (tool, args, env) in connecting {
        // The decoded password, in the environment only.
        assert_eq!(env, &password, "{tool}'s PGPASSWORD");
        if let Some(pw) = &password {
            let encoded = test_support::pg::percent_encode(pw);
            for a in args {
                assert!(
                    !a.contains(pw.as_str()) && !a.contains(&encoded),
                    "{tool} has the password on its command line: {a}"
                );
            }
        }
    }
}

#[test]
fn a_killed_backups_pg_dump_dies_with_it_and_the_next_backup_removes_its_temp() {
    let Some(db) = test_support::pg::database() else { return };
    let p = project(db.url());
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--seed", "4"]).assert().success();
    // pg_dump waits for a lock the test holds, so it is running when the backup is killed.
    let mut blocker = db.client();
    blocker.batch_execute("BEGIN; LOCK TABLE posts IN ACCESS EXCLUSIVE MODE").unwrap();
    let mut backup = p
        .xtask_command(&["backup"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut pg_dump = None;
    wait_until("the backup starts pg_dump --format=custom", DEADLINE, || {
        pg_dump = children_named(backup.id(), "pg_dump").into_iter().find(|(_, c)| c.contains("--format=custom"));
        pg_dump.is_some()
    });
    let (pg_dump, cmdline) = pg_dump.unwrap();
    let mut watcher = db.client();
    wait_until("pg_dump waits for the lock", DEADLINE, || pg::sessions_waiting_for_a_lock(&mut watcher, "pg_dump") > 0);
    let pid = backup.id();
    backup.kill().unwrap();
    backup.wait().unwrap();
    // It dies with the backup instead of finishing its dump once the lock is free.
    wait_until(&format!("pg_dump {pg_dump} dies with the killed backup ({cmdline})"), Duration::from_secs(20), || {
        !alive(pg_dump, "pg_dump")
    });
    blocker.batch_execute("ROLLBACK").unwrap();
    drop(blocker);
    wait_until("the killed pg_dump's session ends", DEADLINE, || pg::sessions_of(&mut watcher, "pg_dump") == 0);
    let left = temp_files(&p.root().join("backups"));
    assert!(left.iter().any(|n| n.starts_with(&format!(".snapshot.dump.tmp-{pid}-"))), "{left:?}");
    // The next backup removes the killed one's temp and says so.
    p.xtask(&["backup"]).assert().success().stdout(
        predicate::str::contains(format!(
            "removed {} leftover temp file(s) of killed runs (pid {pid}): freed",
            left.len()
        ))
        .and(predicate::str::contains("backup backups/")),
    );
    assert!(temp_files(&p.root().join("backups")).is_empty(), "{:?}", temp_files(&p.root().join("backups")));
    p.xtask(&["backup", "verify", "latest"]).assert().success();
}

#[test]
fn restore_refuses_a_database_in_use_before_any_safety_backup_or_staging() {
    let Some(db) = test_support::pg::database() else { return };
    let p = project(db.url());
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--seed", "6"]).assert().success();
    p.xtask(&["backup", "--quiet"]).assert().success();
    let archives = archives_in(&p);
    let rows = dump(&mut db.client());
    let holder = db.client();
    let out = p.xtask(&["restore", "latest", "--yes"]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    for fact in
        ["the database is in use by", "other session(s)", "Stop them", "run the restore again", "nothing was changed"]
    {
        assert!(stderr.contains(fact), "must say {fact:?}: {stderr}");
    }
    // Refused first: no archive read, no safety backup taken, nothing staged.
    assert!(!stdout.contains("verified") && !stdout.contains("safety backup"), "{stdout}");
    assert_eq!(archives_in(&p), archives, "no safety backup");
    let staged: Vec<_> = fs::read_dir(p.root().join("backups"))
        .unwrap()
        .chain(fs::read_dir(p.root()).unwrap())
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".restore-"))
        .map(|e| e.path())
        .collect();
    assert!(staged.is_empty(), "{staged:?}");
    assert!(temp_files(&p.root().join("backups")).is_empty());
    assert_eq!(dump(&mut db.client()), rows);
    drop(holder);
    p.xtask(&["restore", "latest", "--yes"]).assert().success();
}
