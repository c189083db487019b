//! Helpers for tern edge plugins, free of any binding code so they test on the host.
//!
//! The one mapping every plugin shares: a namespace tuple against a scope prefix. A scope is
//! written as fields joined by `/` (`live/room`); it covers a namespace whose leading fields are
//! exactly those fields, compared field by field as bytes. So `live/room` covers
//! `("live", "room", "cam1")` but never `("live", "roomX")`, and no namespace field can smuggle a
//! `/` into a match. A namespace with an empty field is a protocol violation; a `.` or `..`
//! field, or one in a scope, is refused.

/// Why a namespace or a scope was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    /// A namespace field is empty (a protocol violation).
    EmptyField {
        /// Index of the field in the tuple.
        index: usize,
    },
    /// A field is `.` or `..`.
    DotField {
        /// Index of the field.
        index: usize,
    },
    /// The namespace has no fields.
    EmptyNamespace,
    /// A scope prefix is empty, has an empty field, or a `.`/`..` field.
    BadScope(String),
}

impl std::fmt::Display for ScopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::EmptyField { index } => write!(f, "namespace field {index} is empty"),
            Self::DotField { index } => write!(f, "namespace field {index} is `.` or `..`"),
            Self::EmptyNamespace => write!(f, "namespace has no fields"),
            Self::BadScope(scope) => write!(f, "scope `{scope}` is not a namespace prefix"),
        }
    }
}

impl std::error::Error for ScopeError {}

fn is_dot(field: &[u8]) -> bool {
    field == b"." || field == b".."
}

/// Check a namespace tuple: at least one field, none empty, none `.` or `..`.
pub fn check_namespace(namespace: &[Vec<u8>]) -> Result<(), ScopeError> {
    if namespace.is_empty() {
        return Err(ScopeError::EmptyNamespace);
    }
    for (index, field) in namespace.iter().enumerate() {
        if field.is_empty() {
            return Err(ScopeError::EmptyField { index });
        }
        if is_dot(field) {
            return Err(ScopeError::DotField { index });
        }
    }
    Ok(())
}

/// A parsed scope prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    fields: Vec<String>,
}

impl Scope {
    /// Parse `a/b/c`. Empty prefixes, empty fields and `.`/`..` fields are refused.
    pub fn parse(prefix: &str) -> Result<Self, ScopeError> {
        let fields: Vec<String> = prefix.split('/').map(str::to_owned).collect();
        if prefix.is_empty() || fields.iter().any(|f| f.is_empty() || is_dot(f.as_bytes())) {
            return Err(ScopeError::BadScope(prefix.to_owned()));
        }
        Ok(Self { fields })
    }

    /// True when the namespace starts with exactly this scope's fields. The namespace must have
    /// passed [`check_namespace`].
    pub fn covers(&self, namespace: &[Vec<u8>]) -> bool {
        namespace.len() >= self.fields.len()
            && self
                .fields
                .iter()
                .zip(namespace)
                .all(|(scope, field)| scope.as_bytes() == field.as_slice())
    }
}

/// True when one of `scopes` covers the namespace. The namespace is checked first: a violation
/// is an error, not a mere "no". Scopes that do not parse cover nothing.
pub fn allowed(scopes: &[String], namespace: &[Vec<u8>]) -> Result<bool, ScopeError> {
    check_namespace(namespace)?;
    Ok(scopes
        .iter()
        .filter_map(|s| Scope::parse(s).ok())
        .any(|scope| scope.covers(namespace)))
}

/// A namespace for logs: fields joined by `/`, bytes other than ASCII letters, digits, `-`,
/// `_` and `.` written as `%XX`.
pub fn display_namespace(namespace: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for (index, field) in namespace.iter().enumerate() {
        if index > 0 {
            out.push('/');
        }
        for &byte in field {
            if byte.is_ascii_alphanumeric() || b"-_.".contains(&byte) {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(fields: &[&str]) -> Vec<Vec<u8>> {
        fields.iter().map(|f| f.as_bytes().to_vec()).collect()
    }

    #[test]
    fn a_scope_covers_its_namespace_and_those_below_it() {
        let scope = Scope::parse("live/room").unwrap();
        assert!(scope.covers(&ns(&["live", "room"])));
        assert!(scope.covers(&ns(&["live", "room", "cam1"])));
        assert!(!scope.covers(&ns(&["live"])));
    }

    #[test]
    fn a_scope_never_covers_a_longer_field() {
        let scope = Scope::parse("live/room").unwrap();
        assert!(!scope.covers(&ns(&["live", "roomX"])));
        assert!(!scope.covers(&ns(&["live", "roo"])));
        // A `/` inside one field is not two fields.
        assert!(
            !Scope::parse("live/room")
                .unwrap()
                .covers(&ns(&["live/room"]))
        );
    }

    #[test]
    fn dot_fields_and_empty_fields_are_refused() {
        assert_eq!(
            allowed(&["live".into()], &ns(&["live", "..", "x"])),
            Err(ScopeError::DotField { index: 1 })
        );
        assert_eq!(
            allowed(&["live".into()], &ns(&["live", ""])),
            Err(ScopeError::EmptyField { index: 1 })
        );
        assert_eq!(
            allowed(&["live".into()], &[]),
            Err(ScopeError::EmptyNamespace)
        );
        for bad in ["", "live/", "/live", "live/../x", "live/./x", "live//x"] {
            assert!(Scope::parse(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(allowed(&["live/..".into()], &ns(&["live", "x"])), Ok(false));
    }

    #[test]
    fn namespaces_display_with_escapes() {
        assert_eq!(display_namespace(&ns(&["live", "a b/c"])), "live/a%20b%2Fc");
    }
}
