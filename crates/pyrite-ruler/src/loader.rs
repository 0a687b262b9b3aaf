//! Rule files from a local directory (`--ruler.rules-dir`): files at its top belong to
//! the tenant `anonymous`, files in a sub-directory to the tenant it is named after.
//! Each file is a namespace of its tenant, named after the file. A file is read and
//! checked as `promtool check rules` does ([`pyrite_rules::RuleFile::parse`], templates
//! by [`crate::template::check`]).
//!
//! The invariant: loading is all or nothing — one broken file refuses the whole
//! directory, with every problem of every file, so a reload never runs half a change.

use std::path::{Path, PathBuf};

use pyrite_rules::{RuleFile, RuleGroup};

/// The tenant of files at the top of the rules directory.
pub const ANONYMOUS: &str = "anonymous";

/// One rule group as loaded, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedGroup {
    pub tenant: String,
    /// The namespace: the file's name.
    pub namespace: String,
    /// The file as the group's APIs and its evaluation instants know it: the path
    /// read, as Prometheus knows a rule file by the path it was given.
    pub file: String,
    pub group: RuleGroup,
}

/// Why a rules directory was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

/// Every group of every file under `dir`, tenants in name order, each tenant's files in
/// name order, each file's groups in file order. Hidden files are skipped.
pub fn load_dir(dir: &Path) -> Result<Vec<LoadedGroup>, LoadError> {
    let mut groups = Vec::new();
    let mut problems = Vec::new();
    let mut tenants = vec![(ANONYMOUS.to_string(), dir.to_path_buf())];
    for entry in sorted_entries(dir)? {
        if entry.is_dir() {
            if let Some(name) = visible_name(&entry) {
                tenants.push((name, entry));
            }
        }
    }
    tenants.sort();
    for (tenant, tenant_dir) in tenants {
        for path in sorted_entries(&tenant_dir)? {
            if !path.is_file() || visible_name(&path).is_none() {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|source| LoadError::Io {
                path: path.clone(),
                source,
            })?;
            let file = path.display().to_string();
            match RuleFile::parse(&bytes, &crate::template::check) {
                Ok(parsed) => groups.extend(parsed.groups.into_iter().map(|group| LoadedGroup {
                    tenant: tenant.clone(),
                    namespace: visible_name(&path).unwrap_or_default(),
                    file: file.clone(),
                    group,
                })),
                Err(e) => problems.extend(e.0.into_iter().map(|p| format!("{file}: {p}"))),
            }
        }
    }
    if problems.is_empty() {
        Ok(groups)
    } else {
        Err(LoadError::Invalid(problems))
    }
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let io = |source| LoadError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    paths.sort();
    Ok(paths)
}

/// A path's last component, unless it is hidden (a leading dot, as editors' swap files).
fn visible_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    (!name.starts_with('.')).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n";

    #[test]
    fn files_at_the_top_are_anonymous_and_directories_are_tenants() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.yml"), GOOD).unwrap();
        std::fs::write(dir.path().join(".b.yml.swp"), "not yaml: [").unwrap();
        std::fs::create_dir(dir.path().join("team-a")).unwrap();
        std::fs::write(dir.path().join("team-a/a.yaml"), GOOD.replace("name: g", "name: h")).unwrap();
        let groups = load_dir(dir.path()).unwrap();
        let found: Vec<(&str, &str, &str)> = groups
            .iter()
            .map(|g| (g.tenant.as_str(), g.namespace.as_str(), g.group.name.as_str()))
            .collect();
        assert_eq!(found, [("anonymous", "b.yml", "g"), ("team-a", "a.yaml", "h")]);
        assert_eq!(groups[0].file, dir.path().join("b.yml").display().to_string());
    }

    #[test]
    fn one_broken_file_refuses_the_directory_with_every_problem() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.yml"), GOOD).unwrap();
        std::fs::write(
            dir.path().join("bad.yml"),
            "groups:\n- name: g\n  rules:\n  - record: 'bad name'\n    expr: up\n  - alert: A\n    expr: up\n    annotations: {x: '{{ nosuch }}'}\n",
        )
        .unwrap();
        let LoadError::Invalid(problems) = load_dir(dir.path()).unwrap_err() else {
            panic!("an invalid directory")
        };
        let file = dir.path().join("bad.yml").display().to_string();
        assert_eq!(
            problems,
            [
                format!("{file}: group \"g\", rule 1, \"bad name\": invalid recording rule name: bad name"),
                format!("{file}: group \"g\", rule 2, \"A\": annotation \"x\": template: __alert_A:1: function \"nosuch\" not defined"),
            ]
        );
    }
}
