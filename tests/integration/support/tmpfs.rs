//! Small file systems of a test's own (tmpfs mounts, so root only): a disk that fills up, a
//! file system that turns read-only.

use super::postgres::REQUIRE_SERVICES;

/// A tmpfs of `size` at `dir` (root only; `None` when this process cannot mount and the run
/// does not require it).
pub fn mount_tmpfs(dir: &std::path::Path, size: &str) -> Option<()> {
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .output();
    match mounted {
        Ok(out) if out.status.success() => Some(()),
        other if std::env::var_os(REQUIRE_SERVICES).is_some() => {
            panic!("the disk-full test needs to mount a tmpfs (run as root): {other:?}")
        }
        _ => {
            crate::support::announce("note: disk-full test SKIPPED: cannot mount a tmpfs");
            None
        }
    }
}

pub fn remount(dir: &std::path::Path, options: &str) {
    let status = std::process::Command::new("mount")
        .args(["-o", &format!("remount,{options}")])
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success(), "remount {options} failed");
}

pub struct Unmount(pub std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}
