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
    /// Creates the directory and its id if they do not exist yet. Several
    /// processes may open one directory at once (replicas sharing a
    /// volume): the first id linked into place is everyone's.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let id_file = dir.join(ID_FILE);
        let read_id = || -> io::Result<Option<String>> {
            match std::fs::read_to_string(&id_file) {
                Ok(id) if Uuid::parse_str(id.trim()).is_ok() => Ok(Some(id.trim().to_owned())),
                Ok(_) => Ok(None),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        };
        if let Some(id) = read_id()? {
            return Ok(Self {
                dir: dir.to_owned(),
                id,
            });
        }
        // Write a whole id under a name of our own, then link it into
        // place: linking fails if another process's id got there first,
        // and a crash never leaves half an id.
        let id = Uuid::new_v4().to_string();
        let partial = dir.join(format!("{ID_FILE}.{id}.partial"));
        std::fs::write(&partial, &id)?;
        let linked = match std::fs::hard_link(&partial, &id_file) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // An unreadable id left by an older version: replace it.
                if read_id()?.is_none() {
                    std::fs::rename(&partial, &id_file)?;
                }
                Ok(())
            }
            // A filesystem without hard links: a plain rename, which only
            // a process opening the empty directory at the same moment
            // could overwrite.
            Err(_) => std::fs::rename(&partial, &id_file),
        };
        std::fs::remove_file(&partial).ok();
        linked?;
        let id = read_id()?.ok_or_else(|| io::Error::other("the spool id cannot be read"))?;
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

    /// Where the body of ingest `job` is spooled once it is accepted.
    pub fn path_of(&self, job: Uuid) -> PathBuf {
        self.dir.join(format!("{job}.json"))
    }

    /// Where the body of ingest `job` is written while it arrives: a name
    /// no job is ever applied from, so the orphan sweep can tell an upload
    /// in flight from an accepted body.
    pub fn receiving_path_of(&self, job: Uuid) -> PathBuf {
        self.dir.join(format!("{job}.json{RECEIVING}"))
    }

    /// Where the bytes of resumable upload `upload` are kept until it is
    /// complete: uploads expire, so the orphan sweep deletes such a file
    /// only when no upload names it.
    pub fn upload_path_of(&self, upload: Uuid) -> PathBuf {
        self.dir.join(format!("{upload}.upload"))
    }

    /// A file for the body of `job`, not accepted yet.
    pub fn file_for(&self, job: Uuid) -> SpoolFile {
        SpoolFile {
            path: self.receiving_path_of(job),
            accepted: self.path_of(job),
            keep: false,
        }
    }

    /// The ingest id a spool file's name stands for, and whether it is an
    /// upload still arriving (or cut off by a crash).
    pub fn job_of(path: &Path) -> Option<(Uuid, bool)> {
        let name = path.file_name()?.to_str()?;
        let (name, receiving) = match name.strip_suffix(RECEIVING) {
            Some(name) => (name, true),
            None => (name, false),
        };
        let id = Uuid::parse_str(name.strip_suffix(".json")?).ok()?;
        Some((id, receiving))
    }

    /// The resumable upload a spool file's name stands for, if it is one.
    pub fn upload_of(path: &Path) -> Option<Uuid> {
        let name = path.file_name()?.to_str()?;
        Uuid::parse_str(name.strip_suffix(".upload")?).ok()
    }
}

/// The suffix of a body still arriving.
const RECEIVING: &str = ".receiving";

/// A spooled body that is deleted when dropped, unless [`SpoolFile::keep`]
/// says its job was recorded: a refused, malformed or cut-off upload
/// leaves nothing behind.
pub struct SpoolFile {
    /// Where the body is now.
    path: PathBuf,
    /// Where [`SpoolFile::publish`] moves it.
    accepted: PathBuf,
    keep: bool,
}

impl SpoolFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Gives the complete body its accepted name, where the applier looks
    /// for it. Done before the job is recorded, so a recorded job always
    /// finds its body; a crash in between leaves a file no job names, which
    /// the orphan sweep deletes.
    pub fn publish(&mut self) -> io::Result<()> {
        std::fs::rename(&self.path, &self.accepted)?;
        self.path = self.accepted.clone();
        Ok(())
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

/// Deletes a spool file; one already gone is no error.
pub fn remove_file(path: &std::path::Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot delete a spool file");
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
    fn processes_opening_one_directory_at_once_agree_on_its_id() {
        let dir = std::env::temp_dir().join(format!("spool-{}", Uuid::new_v4()));

        let ids: Vec<String> = std::thread::scope(|scope| {
            let opening: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| Spool::open(&dir).expect("open").id().to_owned()))
                .collect();
            opening
                .into_iter()
                .map(|open| open.join().expect("joined"))
                .collect()
        });

        assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .expect("read")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(left, [ID_FILE], "no partial id is left behind");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_spool_file_names_its_job_and_whether_it_is_still_arriving() {
        let job = Uuid::now_v7();
        let dir = std::env::temp_dir();
        let spool = Spool {
            dir: dir.clone(),
            id: "x".into(),
        };

        assert_eq!(Spool::job_of(&spool.path_of(job)), Some((job, false)));
        assert_eq!(
            Spool::job_of(&spool.receiving_path_of(job)),
            Some((job, true))
        );
        assert_eq!(Spool::job_of(&dir.join(ID_FILE)), None);
        assert_eq!(Spool::job_of(&spool.upload_path_of(job)), None);
        assert_eq!(Spool::upload_of(&spool.upload_path_of(job)), Some(job));
        assert_eq!(Spool::upload_of(&spool.path_of(job)), None);
    }

    #[test]
    fn a_published_body_is_kept_and_an_unkept_one_deleted() {
        let dir = std::env::temp_dir().join(format!("spool-{}", Uuid::new_v4()));
        let spool = Spool::open(&dir).expect("open");
        let (kept, dropped) = (Uuid::now_v7(), Uuid::now_v7());
        for job in [kept, dropped] {
            let mut file = spool.file_for(job);
            std::fs::write(file.path(), b"[]").expect("write");
            file.publish().expect("publish");
            if job == kept {
                file.keep();
            }
        }

        assert!(spool.path_of(kept).exists());
        assert!(!spool.receiving_path_of(kept).exists());
        assert!(!spool.path_of(dropped).exists());
        std::fs::remove_dir_all(&dir).ok();
    }
}
