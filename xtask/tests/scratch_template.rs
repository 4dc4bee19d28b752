//! A Drizzle folder that relies on objects it does not create (Supabase's `auth.users`) replays
//! when scratch databases are copies of a template that holds them (`CMS_SCRATCH_TEMPLATE`),
//! and fails with a clear message otherwise. Real PostgreSQL with password authentication.

use std::path::Path;

use assert_cmd::Command;
use test_support::fixture;

fn xtask(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("xtask").unwrap();
    cmd.env("CMS_PROJECT_ROOT", root)
        .env_remove("DATABASE_URL")
        .env_remove("CMS_SCRATCH_TEMPLATE")
        .current_dir("/")
        .args(args);
    cmd
}

#[test]
fn a_folder_that_references_auth_users_replays_from_a_template() {
    let Some(template) = test_support::pg::database() else { return };
    let Some(dev) = test_support::pg::database() else { return };
    template
        .client()
        .batch_execute("CREATE SCHEMA auth; CREATE TABLE auth.users (id uuid PRIMARY KEY, email text)")
        .unwrap();
    let folder = fixture::folder(
        "postgresql",
        "7",
        &[(
            "0000_profiles",
            1_700_000_000_000,
            "CREATE TABLE \"profiles\" (\n\t\"id\" uuid PRIMARY KEY NOT NULL,\n\t\"name\" text\n);\n--> statement-breakpoint\nALTER TABLE \"profiles\" ADD CONSTRAINT \"profiles_id_users_id_fk\" FOREIGN KEY (\"id\") REFERENCES \"auth\".\"users\"(\"id\") ON DELETE cascade ON UPDATE no action;",
        )],
    );
    let root = tempfile::tempdir().unwrap();
    let args = ["lint", "--all", "--migrations", &folder.path().display().to_string(), "--dev-url", dev.url()];

    // From an empty template0 the folder cannot replay: said, with the file.
    let out = xtask(root.path(), &args).env("DATABASE_URL", dev.url()).assert().failure().get_output().clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("auth") && err.contains("0000_profiles"), "{err}");

    // A copy of the template holds auth.users: the folder replays, the lint passes.
    let out = xtask(root.path(), &args)
        .env("DATABASE_URL", dev.url())
        .env("CMS_SCRATCH_TEMPLATE", template.name())
        .assert()
        .success()
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("0 error(s)"), "{text}");

    // A template that does not exist is named in the error.
    let out = xtask(root.path(), &args)
        .env("DATABASE_URL", dev.url())
        .env("CMS_SCRATCH_TEMPLATE", "no_such_template_db")
        .assert()
        .failure()
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("no_such_template_db") && err.contains("CMS_SCRATCH_TEMPLATE"), "{err}");
}
