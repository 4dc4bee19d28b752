//! A password in `DATABASE_URL` / `--database-url` is never shown, whatever the string: a
//! well-formed URL, or one whose password holds unencoded `#`, `?`, `/`, `@`, `:`, `%` or a
//! space (which split the URL in unexpected places), or no URL at all.

use std::time::{Duration, Instant};

use cms_db::url::redact;
use cms_db::DatabaseUrl;
use proptest::prelude::*;
use test_support::project::Project;

/// The first piece of `password` (4 consecutive characters, as written or percent-decoded:
/// the password itself, or any longer piece, contains one) that `text` shows.
fn leaked_piece(text: &str, password: &str) -> Option<String> {
    let decoded = String::from_utf8_lossy(&cms_db::url::percent_decode(password.as_bytes())).into_owned();
    for form in [password.to_string(), decoded] {
        let chars: Vec<char> = form.chars().collect();
        for w in chars.windows(4) {
            let piece: String = w.iter().collect();
            if text.contains(&piece) {
                return Some(piece);
            }
        }
    }
    None
}

fn assert_hidden(text: &str, password: &str, what: &str) {
    if let Some(piece) = leaked_piece(text, password) {
        panic!("{what} shows `{piece}` of the password `{password}`:\n{text}");
    }
}

/// A project folder (the repository's migrations) for the binary to run in (no
/// `DATABASE_URL`), each run within a minute.
fn project() -> Project {
    Project::linked().timeout(Duration::from_secs(60))
}

/// `xtask args` run from the project root itself.
fn xtask(p: &Project, args: &[&str]) -> std::process::Output {
    p.xtask(args).current_dir(p.root()).output().unwrap()
}

/// Port 1 of the loopback: nothing listens there, a connection is refused at once.
const CLOSED: &str = "127.0.0.1:1";

#[test]
fn the_cli_never_shows_a_password_of_a_malformed_url() {
    let p = project();
    let password = "pa#ss?w/o@r:d% SECRET";
    let failing = [
        format!("postgres://u:pa#ssSECRET@{CLOSED}/db"),
        format!("postgres://u:pa?ssSECRET@{CLOSED}/db"),
        format!("postgres://u:pa/ssSECRET@{CLOSED}/db"),
        format!("postgres://u:pa@ssSECRET@{CLOSED}/db"),
        format!("postgres://u:pa:ss SECRET@{CLOSED}/db"),
        format!("postgres://u:pa%ZZssSECRET@{CLOSED}/db"),
        format!("postgres://u:{password}@{CLOSED}/db"),
        format!("postgresql://u:{password}@{CLOSED}/db?sslmode=disable"),
        format!("postgres://u:pa?sslmode=ssSECRET@{CLOSED}/db"),
        format!("postgres://u:pa?ssSECRET=x@{CLOSED}/db"),
        format!("postgres://u@{CLOSED}/db?password=pa#ss&SECRET"),
        format!("postgres://u@{CLOSED}/db?password={password}&sslmode=disable"),
        "postgres://u:paSECRET".to_string(),
        format!("postgres:/u:paSECRET@{CLOSED}/db"),
        format!("mysql://u:paSECRET@{CLOSED}/db"),
    ];
    for url in &failing {
        for args in [vec!["status"], vec!["check"], vec!["backup"]] {
            let mut full = args.clone();
            full.extend(["--database-url", url]);
            let out = xtask(&p, &full);
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(!out.status.success(), "{full:?} succeeded:\n{text}");
            assert!(!text.trim().is_empty(), "{full:?} failed without a word");
            for secret in ["SECRET", "ssSECRET", password] {
                assert_hidden(&text, secret, &format!("{full:?}"));
            }
        }
    }
    // Through the environment too.
    let out = p
        .xtask(&["status"])
        .env("DATABASE_URL", format!("postgres://u:pa#ssSECRET@{CLOSED}/db"))
        .current_dir(p.root())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{text}");
    assert_hidden(&text, "ssSECRET", "status with DATABASE_URL");

    // Taken for a file name (no scheme we know): whatever happens, the password stays hidden.
    for url in [format!("postgres//u:paSECRET@{CLOSED}/db"), "host=h user=u password=paSECRET dbname=d".to_string()] {
        let out = xtask(&p, &["status", "--database-url", &url]);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_hidden(&text, "paSECRET", &format!("status --database-url {url}"));
    }
}

/// A password piece: a character URLs must encode, an encoded one, or letters (Greek, so that
/// no piece of the rest of a URL or of a message can look like the password).
fn password() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("#".to_string()),
        Just("?".to_string()),
        Just("/".to_string()),
        Just("@".to_string()),
        Just(":".to_string()),
        Just("%".to_string()),
        Just(" ".to_string()),
        Just("%40".to_string()),
        Just("%2F".to_string()),
        Just("%25".to_string()),
        Just("%20".to_string()),
        "[α-ω]{1,3}",
    ];
    prop::collection::vec(piece, 2..10)
        .prop_map(|v| v.concat())
        .prop_filter("4 characters or more", |p| p.chars().count() >= 4)
}

/// `password` placed in a URL: the userinfo or a `password=` parameter, with or without
/// port, path and other parameters; or a scheme we do not know.
fn place(placement: usize, user: &str, pw: &str) -> String {
    match placement {
        0 => format!("postgres://{user}:{pw}@{CLOSED}/db"),
        1 => format!("postgresql://{user}:{pw}@{CLOSED}/db?sslmode=disable&connect_timeout=5"),
        2 => format!("postgres://{user}:{pw}@{CLOSED}"),
        3 => format!("postgres://{user}:{pw}@{CLOSED}/db?password={pw}"),
        4 => format!("postgres://{user}@{CLOSED}/db?password={pw}"),
        5 => format!("postgres://{user}@{CLOSED}/db?sslmode=disable&password={pw}&application_name=x"),
        6 => format!("postgres://{user}:{pw}@[::1]:1,{CLOSED}/db"),
        7 => format!("postgres://{user}@localhost/db?password={pw}"),
        8 => format!("postgres:/{user}:{pw}@{CLOSED}/db"),
        _ => format!("mysql://{user}:{pw}@{CLOSED}/db"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn redaction_hides_any_password(pw in password(), placement in 0usize..10, user in "[a-z]{1,6}") {
        let url = place(placement, &user, &pw);
        assert_hidden(&redact(&url), &pw, &format!("redact({url})"));
        match DatabaseUrl::parse(&url) {
            Ok(parsed) => assert_hidden(&format!("{parsed} {parsed:?}"), &pw, &format!("DatabaseUrl {url}")),
            Err(e) => assert_hidden(&e.to_string(), &pw, &format!("the parse error of {url}")),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn connect_errors_hide_any_password(pw in password(), placement in 0usize..7, user in "[a-z]{1,6}") {
        let url = place(placement, &user, &pw);
        let started = Instant::now();
        let err = match cms_db::postgres::connect(&url) {
            Ok(_) => panic!("connected to a closed port with {url}"),
            Err(e) => e.to_string(),
        };
        // connect gives up after its connect timeout (10 s unless the URL says otherwise).
        prop_assert!(started.elapsed() < Duration::from_secs(15), "{url} took {:?}", started.elapsed());
        assert_hidden(&err, &pw, &format!("the connect error of {url}"));
        let other = [cms_db::postgres::is_local(&url).err(), cms_db::postgres::pool_parts(&url, "t").err()];
        for e in other.into_iter().flatten() {
            assert_hidden(&e.to_string(), &pw, &format!("the URL error of {url}"));
        }
    }
}
