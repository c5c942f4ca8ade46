//! Where the repository's YAML bytes come from: the working tree, or a Git revision
//! read straight from the object database (no checkout). Both walks apply the same
//! rules — every `*.yaml`/`*.yml`, recursively, skipping hidden (dot) folders and
//! files and symbolic links — and return files sorted by path, so the merge order
//! is deterministic.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

/// Files larger than this are refused without being read.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// One file's content, or why it was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Bytes(Vec<u8>),
    TooLarge(u64),
}

/// A repository file: its path relative to the root, with `/` separators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub content: Content,
}

fn is_yaml(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

fn hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// Read every YAML file under `root` in the working tree. Symbolic links are not
/// followed (no loops, and the same files as Git's tree, where links are skipped).
pub fn read_worktree(root: &Path) -> anyhow::Result<Vec<SourceFile>> {
    let mut out = Vec::new();
    let mut todo: Vec<(PathBuf, String)> = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = todo.pop() {
        let entries = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read folder {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read folder {}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if hidden(&name) {
                continue;
            }
            let path = entry.path();
            let rel_path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let ft = entry
                .file_type()
                .with_context(|| format!("cannot stat {}", path.display()))?;
            if ft.is_dir() {
                todo.push((path, rel_path));
                continue;
            }
            // Symbolic links are skipped, as in a Git tree, so that a working tree and
            // its commit read the same files.
            if !ft.is_file() || !is_yaml(&name) {
                continue;
            }
            let meta = entry
                .metadata()
                .with_context(|| format!("cannot read {}", path.display()))?;
            let content = if meta.len() > MAX_FILE_BYTES {
                Content::TooLarge(meta.len())
            } else {
                Content::Bytes(
                    std::fs::read(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?,
                )
            };
            out.push(SourceFile {
                path: rel_path,
                content,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The YAML blobs under `prefix` (a folder inside the tree, `""` for the top):
/// relative path and blob id, sorted by path, same walk rules as the working tree.
pub fn list_tree(
    repo: &git2::Repository,
    tree: &git2::Tree,
    prefix: &Path,
    rev: &str,
) -> anyhow::Result<Vec<(String, git2::Oid)>> {
    let sub;
    let start = if prefix.as_os_str().is_empty() {
        tree
    } else {
        let entry = tree.get_path(prefix).map_err(|_| {
            anyhow!(
                "folder {} does not exist at revision {rev}",
                prefix.display()
            )
        })?;
        let obj = entry
            .to_object(repo)
            .with_context(|| format!("cannot read {} at revision {rev}", prefix.display()))?;
        sub = obj
            .peel_to_tree()
            .map_err(|_| anyhow!("{} is not a folder at revision {rev}", prefix.display()))?;
        &sub
    };
    let mut out = Vec::new();
    let mut todo: Vec<(git2::Tree, String)> = vec![(start.clone(), String::new())];
    while let Some((t, rel)) = todo.pop() {
        for entry in t.iter() {
            let name = String::from_utf8_lossy(entry.name_bytes()).into_owned();
            if hidden(&name) {
                continue;
            }
            let rel_path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            match entry.kind() {
                Some(git2::ObjectType::Tree) => {
                    let sub = repo
                        .find_tree(entry.id())
                        .with_context(|| format!("cannot read folder {rel_path} at {rev}"))?;
                    todo.push((sub, rel_path));
                }
                // 0o120000 is a symbolic link (its blob is the link target): skipped.
                Some(git2::ObjectType::Blob) if is_yaml(&name) && entry.filemode() != 0o120000 => {
                    out.push((rel_path, entry.id()));
                }
                _ => {}
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Read every YAML file under `prefix` from a Git tree object, straight from the
/// object database. Blobs over the size cap are not loaded.
pub fn read_tree(
    repo: &git2::Repository,
    tree: &git2::Tree,
    prefix: &Path,
    rev: &str,
) -> anyhow::Result<Vec<SourceFile>> {
    let odb = repo.odb().context("cannot open the Git object database")?;
    let mut out = Vec::new();
    for (path, id) in list_tree(repo, tree, prefix, rev)? {
        let (size, _) = odb
            .read_header(id)
            .with_context(|| format!("cannot read {path} at {rev}"))?;
        let content = if size as u64 > MAX_FILE_BYTES {
            Content::TooLarge(size as u64)
        } else {
            let blob = repo
                .find_blob(id)
                .with_context(|| format!("cannot read {path} at {rev}"))?;
            Content::Bytes(blob.content().to_vec())
        };
        out.push(SourceFile { path, content });
    }
    Ok(out)
}

/// The Git repository containing `dir` and `dir`'s path inside its working tree.
pub fn discover(dir: &Path) -> Option<(git2::Repository, PathBuf)> {
    let repo = git2::Repository::discover(dir).ok()?;
    let prefix = match repo.workdir() {
        Some(wd) => {
            let wd = wd.canonicalize().ok()?;
            let d = dir.canonicalize().ok()?;
            d.strip_prefix(&wd).ok()?.to_path_buf()
        }
        None => PathBuf::new(),
    };
    Some((repo, prefix))
}

/// Resolve a revision to a commit, with an error that names the revision.
pub fn resolve_commit<'r>(
    repo: &'r git2::Repository,
    rev: &str,
) -> anyhow::Result<git2::Commit<'r>> {
    let obj = repo
        .revparse_single(rev)
        .map_err(|e| anyhow!("cannot resolve revision `{rev}`: {}", e.message()))?;
    obj.peel_to_commit()
        .map_err(|e| anyhow!("revision `{rev}` is not a commit: {}", e.message()))
}

/// HEAD's commit id and whether the YAML files read from the working tree differ
/// from HEAD's (a file added, removed or changed under the same root, same walk
/// rules). Compares Git blob ids, so HEAD's blobs are not loaded.
pub fn worktree_status(
    repo: &git2::Repository,
    prefix: &Path,
    files: &[SourceFile],
) -> (Option<String>, bool) {
    let Ok(head) = repo.head().and_then(|h| h.peel_to_commit()) else {
        return (None, false);
    };
    let commit = Some(head.id().to_string());
    let committed = match head.tree() {
        Ok(tree) => list_tree(repo, &tree, prefix, "HEAD").unwrap_or_default(),
        Err(_) => return (commit, true),
    };
    if committed.len() != files.len() {
        return (commit, true);
    }
    let odb = repo.odb().ok();
    let dirty = files.iter().zip(&committed).any(|(f, (path, id))| {
        if f.path != *path {
            return true;
        }
        match &f.content {
            Content::Bytes(b) => {
                !git2::Oid::hash_object(git2::ObjectType::Blob, b).is_ok_and(|oid| oid == *id)
            }
            // Not read: compare sizes only.
            Content::TooLarge(n) => odb
                .as_ref()
                .and_then(|o| o.read_header(*id).ok())
                .is_none_or(|(size, _)| size as u64 != *n),
        }
    });
    (commit, dirty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_skips_hidden_and_non_yaml_and_sorts() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("b/target")).unwrap();
        std::fs::create_dir_all(r.join(".hidden")).unwrap();
        std::fs::write(r.join("b/target/x.yml"), "users: []").unwrap();
        std::fs::write(r.join("a.yaml"), "").unwrap();
        std::fs::write(r.join(".hidden/c.yaml"), "").unwrap();
        std::fs::write(r.join(".ci.yaml"), "").unwrap();
        std::fs::write(r.join("notes.txt"), "").unwrap();
        let files = read_worktree(r).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, ["a.yaml", "b/target/x.yml"]);
    }
}
