//! Child processes in tests: waiting for a condition by polling it, a process paused at the
//! binary's test hook, children killed on drop, commands with a time limit, and processes
//! looked up in `/proc`.

use std::fs;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long an awaited condition may take before the test fails, unless the test says otherwise.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// Polls `ready` until it holds; fails the test after `within`. Tests wait for conditions,
/// never for a fixed time.
#[track_caller]
pub fn wait_until(what: &str, within: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ready() {
        assert!(Instant::now() < deadline, "gave up after {within:?} waiting until {what}");
        // The pause between two checks of the condition, not a wait for it.
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A child process, killed (and reaped) when dropped: a test that fails leaves none behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `cmd` (stdin closed, stdout and stderr captured), which must finish within `limit`:
/// it is killed and the test fails otherwise. `what` names it in that failure.
pub fn output_within(mut cmd: Command, limit: Duration, what: &str) -> Output {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {} s", limit.as_secs());
        }
        // The pause between two checks of the child, not a wait for it.
        std::thread::sleep(Duration::from_millis(50));
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

/// A process stopped at a named point of the binary's test hook: started with
/// `CMS_TEST_PAUSE_AT=<point>` and `CMS_TEST_PAUSE_FILE=<marker>`, it writes its pid to the
/// marker and waits there until the marker is deleted. Killed on drop if the test ends early.
pub struct Paused {
    child: Option<Child>,
    marker: PathBuf,
}

impl Paused {
    /// Spawns `cmd` (the hook's variables set to `point` and `marker`; stdin closed, stdout and
    /// stderr captured) and returns once it is paused there. Fails the test when it ends before
    /// (with what it printed), or is not there after [`DEADLINE`].
    pub fn start(cmd: &mut Command, point: &str, marker: PathBuf) -> Paused {
        cmd.env("CMS_TEST_PAUSE_AT", point)
            .env("CMS_TEST_PAUSE_FILE", &marker)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut paused = Paused { child: Some(cmd.spawn().unwrap()), marker };
        wait_until(&format!("{cmd:?} pauses at {point}"), DEADLINE, || {
            if let Some(status) = paused.child().try_wait().unwrap() {
                let out = paused.printed();
                panic!("{cmd:?} ended ({status}) before reaching {point}:\n{out}");
            }
            paused.marker.exists()
        });
        paused
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("the paused process")
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the paused process").id()
    }

    /// Lets it go on past the pause point.
    pub fn resume(&self) {
        fs::remove_file(&self.marker).unwrap();
    }

    /// Lets it go on (unless [`Paused::resume`] did already) and waits for it to succeed; its
    /// stdout.
    pub fn resume_and_finish(mut self) -> String {
        if self.marker.exists() {
            self.resume();
        }
        let out = self.child.take().expect("the paused process").wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{}: {stdout}{}", out.status, String::from_utf8_lossy(&out.stderr));
        stdout
    }

    /// `kill -9`, and the exit reaped.
    pub fn kill9(mut self) {
        let child = self.child();
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{status}");
    }

    /// `kill -9`, the exit reaped; what it had printed (stdout, then stderr).
    pub fn kill9_output(mut self) -> String {
        let child = self.child();
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{status}");
        self.printed()
    }

    /// What the process printed, once it has ended: stdout, then stderr.
    fn printed(&mut self) -> String {
        let child = self.child();
        let mut out = String::new();
        if let Some(mut s) = child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(mut s) = child.stderr.take() {
            let _ = s.read_to_string(&mut out);
        }
        out
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Processes whose parent is `parent` and whose name is `comm`, with their command lines.
pub fn children_named(parent: u32, comm: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else { continue };
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let name = head.split_once('(').map(|(_, n)| n).unwrap_or_default();
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if name == comm && ppid == Some(parent) {
            let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
            out.push((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    out
}

/// Whether `pid` is still a live `comm` (not gone, not a zombie, not a reused pid).
pub fn alive(pid: u32, comm: &str) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let Some((head, rest)) = stat.rsplit_once(')') else { return false };
    let name = head.split_once('(').map(|(_, n)| n).unwrap_or_default();
    name == comm && !rest.trim_start().starts_with('Z')
}
