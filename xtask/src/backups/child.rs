//! Child processes that die with us. A backup or restore that is killed (`kill -9`, the OOM
//! killer, a closed terminal) must not leave a `pg_restore` behind that commits seconds later
//! into a database whose uploads/ were never swapped: every program backup and restore run
//! (pg_dump, pg_restore, their `--version` checks) is started through [`cmd`], which asks the
//! kernel to SIGKILL the child the moment the thread that started it is gone
//! (`PR_SET_PDEATHSIG`, Linux). The children run on the thread that waits for them, so that
//! thread outlives them.

use std::ffi::OsString;

/// `duct::cmd(program, args)` whose process is killed (SIGKILL) when we die.
pub fn cmd<T, U>(program: T, args: U) -> duct::Expression
where
    T: duct::IntoExecutablePath,
    U: IntoIterator,
    U::Item: Into<OsString>,
{
    duct::cmd(program, args).before_spawn(|command| {
        dies_with_us(command);
        Ok(())
    })
}

/// Makes `command`'s process receive SIGKILL when the spawning thread (ours) dies.
#[cfg(target_os = "linux")]
pub fn dies_with_us(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: getpid before the fork; in the child only async-signal-safe calls (prctl,
    // getppid) before exec.
    let parent = unsafe { libc::getpid() };
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // We may have died between the fork and the prctl: then nobody would ever send
            // the signal, so the child must not start at all.
            if libc::getppid() != parent {
                return Err(std::io::Error::other("the parent process is gone"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
pub fn dies_with_us(_command: &mut std::process::Command) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The effect, not the flag: a child started through `cmd` by a thread that then ends
    /// without waiting for it is killed by the kernel.
    #[test]
    fn a_child_dies_with_the_thread_that_started_it() {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let handle = cmd("sleep", ["30"]).stdout_null().stderr_null().unchecked().start().unwrap();
            tx.send(*handle.pids().first().unwrap()).unwrap();
            // The thread ends without waiting: the kernel kills the child.
            std::mem::forget(handle);
        });
        let pid = rx.recv().unwrap();
        t.join().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Gone, or a zombie waiting to be reaped (by us: reap it).
            let dead = state.is_empty() || state.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z'));
            if dead {
                unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), libc::WNOHANG) };
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the child {pid} outlived the thread that started it");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
