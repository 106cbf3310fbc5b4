//! What a run says when it is interrupted (SIGINT, SIGTERM): how many
//! networks it kept and where, and how to go on. The binary installs the
//! signal handler, which calls [`interrupted`]; a run that keeps results
//! says where with [`Kept::start`] and writes them through [`Kept::write`],
//! so that the handler never exits in the middle of a write.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// What the running command has kept so far, if it keeps anything.
static KEPT: Mutex<Option<KeptState>> = Mutex::new(None);

struct KeptState {
    networks: usize,
    place: PathBuf,
    /// Whether running the same command again resumes (a study does).
    resumable: bool,
}

fn kept() -> MutexGuard<'static, Option<KeptState>> {
    KEPT.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Results being kept in one place, for as long as this lives.
pub struct Kept(());

impl Kept {
    /// `networks` networks are already kept in `place`; `resumable` when
    /// the same command resumes from them.
    pub fn start(place: &Path, networks: usize, resumable: bool) -> Self {
        *kept() = Some(KeptState {
            networks,
            place: place.to_path_buf(),
            resumable,
        });
        Kept(())
    }

    /// Runs `write`, which keeps `networks` more networks, with
    /// interruption held off until it returns.
    pub fn write<E>(
        &self,
        networks: usize,
        write: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), E> {
        let mut state = kept();
        write()?;
        if let Some(state) = state.as_mut() {
            state.networks += networks;
        }
        Ok(())
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        *kept() = None;
    }
}

/// The line an interruption prints.
fn message(state: Option<&KeptState>) -> String {
    match state {
        Some(state) if state.resumable => format!(
            "interrupted: {} networks kept in {}; run the same command to resume",
            state.networks,
            state.place.display()
        ),
        Some(state) => format!(
            "interrupted: {} networks written to {}",
            state.networks,
            state.place.display()
        ),
        None => "interrupted".to_string(),
    }
}

/// Waits for a write in progress, says what was kept, and exits with
/// status 130 (the shell's 128 + SIGINT). The operating system releases
/// the results directory's lock with the process.
pub fn interrupted() -> ! {
    let state = kept();
    eprintln!("{}", message(state.as_ref()));
    std::process::exit(130)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_says_what_was_kept_and_how_to_go_on() {
        let state = |resumable| KeptState {
            networks: 7,
            place: PathBuf::from("results/x"),
            resumable,
        };
        assert_eq!(
            message(Some(&state(true))),
            "interrupted: 7 networks kept in results/x; run the same command to resume"
        );
        assert_eq!(
            message(Some(&state(false))),
            "interrupted: 7 networks written to results/x"
        );
        assert_eq!(message(None), "interrupted");
    }
}
