//! The spool directory: feed bodies too large to keep in a database row.

use std::io;
use std::path::{Path, PathBuf};

use uuid::Uuid;

/// The file in the spool directory that names it.
const ID_FILE: &str = "spool-id";

/// `INGEST_SPOOL_DIR`, with the id it is known by in `ingest_jobs.spool`.
///
/// The id is made once and kept in the directory, so a restarted process
/// finds its unfinished jobs again; processes that share a directory
/// share its jobs too.
pub struct Spool {
    dir: PathBuf,
    id: String,
}

impl Spool {
    /// Creates the directory and its id if they do not exist yet.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let id_file = dir.join(ID_FILE);
        let id = match std::fs::read_to_string(&id_file) {
            Ok(id) if Uuid::parse_str(id.trim()).is_ok() => id.trim().to_owned(),
            Ok(_) | Err(_) => {
                let id = Uuid::new_v4().to_string();
                // Write then rename, so a crash never leaves half an id.
                let partial = dir.join(format!("{ID_FILE}.partial"));
                std::fs::write(&partial, &id)?;
                std::fs::rename(&partial, &id_file)?;
                id
            }
        };
        Ok(Self {
            dir: dir.to_owned(),
            id,
        })
    }

    /// The spool of a process that serves no public listener, so never
    /// receives a feed: nothing is created on disk.
    pub fn unused(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            id: String::new(),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the body of ingest `job` is spooled.
    pub fn path_of(&self, job: Uuid) -> PathBuf {
        self.dir.join(format!("{job}.json"))
    }

    /// The ingest id a spool file's name stands for.
    pub fn job_of(path: &Path) -> Option<Uuid> {
        let name = path.file_name()?.to_str()?.strip_suffix(".json")?;
        Uuid::parse_str(name).ok()
    }
}

/// A spooled body that is deleted when dropped, unless [`SpoolFile::keep`]
/// says its job was recorded: a refused, malformed or cut-off upload
/// leaves nothing behind.
pub struct SpoolFile {
    path: PathBuf,
    keep: bool,
}

impl SpoolFile {
    pub fn new(path: PathBuf) -> Self {
        Self { path, keep: false }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for SpoolFile {
    fn drop(&mut self) {
        if !self.keep {
            match std::fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot delete a spool file")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_directory_keeps_its_id_across_opens() {
        let dir = std::env::temp_dir().join(format!("spool-{}", Uuid::new_v4()));

        let first = Spool::open(&dir).expect("open");
        let again = Spool::open(&dir).expect("open");

        assert_eq!(first.id(), again.id());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_spool_file_names_its_job() {
        let job = Uuid::now_v7();
        let dir = std::env::temp_dir();
        let spool = Spool {
            dir: dir.clone(),
            id: "x".into(),
        };

        assert_eq!(Spool::job_of(&spool.path_of(job)), Some(job));
        assert_eq!(Spool::job_of(&dir.join(ID_FILE)), None);
    }
}
