//! Small file systems of a test's own (tmpfs mounts and loop-mounted ext4 images, so root
//! only): a disk that fills up, a file system or a file that turns read-only.

use super::postgres::REQUIRE_SERVICES;

/// A tmpfs of `size` at `dir` (root only; `None` when this process cannot mount and the run
/// does not require it).
pub fn mount_tmpfs(dir: &std::path::Path, size: &str) -> Option<()> {
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    mounted_or_skipped(mounted, "a tmpfs")
}

/// `Some` when `what` was mounted; otherwise a failure when the run requires every lane, or
/// a note that the test is skipped.
fn mounted_or_skipped(mounted: bool, what: &str) -> Option<()> {
    match mounted {
        true => Some(()),
        false if std::env::var_os(REQUIRE_SERVICES).is_some() => {
            panic!("this test needs to mount {what} (run as root, with loop devices for an image)")
        }
        false => {
            crate::support::announce(&format!("note: test SKIPPED: cannot mount {what}"));
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

/// An ext4 file system at `dir`, on a loop device over the image file `image` of `size`
/// (root only; `None` when this process cannot, and the run does not require it). tmpfs
/// ignores the immutable flag for files already open; ext4 refuses their writes.
pub fn mount_ext4(dir: &std::path::Path, image: &std::path::Path, size: &str) -> Option<()> {
    let made = std::process::Command::new("truncate")
        .args(["-s", size])
        .arg(image)
        .status()
        .is_ok_and(|s| s.success())
        && std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(image)
            .status()
            .is_ok_and(|s| s.success());
    let mounted = made
        && std::process::Command::new("mount")
            .args(["-o", "loop"])
            .arg(image)
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
    mounted_or_skipped(mounted, "an ext4 image (e2fsprogs)")
}

/// Sets or clears the immutable flag of `files` (`chattr`): even descriptors already open can
/// no longer write them.
pub fn set_immutable(files: &[std::path::PathBuf], immutable: bool) {
    let flag = if immutable { "+i" } else { "-i" };
    let status = std::process::Command::new("chattr")
        .arg(flag)
        .args(files)
        .status()
        .unwrap();
    assert!(status.success(), "chattr {flag} failed");
}
