//! The TOML file layer: unknown keys, types and positions, each error naming the file and key.

use std::ops::Range;
use std::path::Path;

use toml::de::{DeTable, DeValue};

use super::{Config, ConfigError, KEYS, Origin, Origins, closest};

/// Parses `text` (read from `path`) over the defaults and records which keys it set.
pub(super) fn parse(path: &Path, text: &str, origins: &mut Origins) -> Result<Config, ConfigError> {
    let document = DeTable::parse(text).map_err(|e| {
        let (line, column) = line_column(text, e.span().map_or(0, |span| span.start));
        ConfigError::Syntax {
            file: path.to_owned(),
            line,
            column,
            message: e.message().to_owned(),
        }
    })?;
    check_keys(path, document.get_ref(), origins)?;
    toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |span| span.start);
        let (line, column) = line_column(text, at);
        let key = key_path(document.get_ref(), at).map_or_else(String::new, |path| path.join("."));
        ConfigError::InvalidValue {
            file: path.to_owned(),
            key,
            line,
            column,
            message: friendly(e.message()),
        }
    })
}

/// Refuses keys that are not settings (in file order) and records the ones that are.
fn check_keys(
    path: &Path,
    document: &DeTable<'_>,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let unknown = |key: String, suggestion: Option<&str>| ConfigError::UnknownKey {
        file: path.to_owned(),
        key,
        suggestion: suggestion.map(str::to_owned),
    };
    let tables: Vec<&str> = KEYS
        .iter()
        .filter_map(|key| key.split_once('.').map(|(table, _)| table))
        .collect();

    for (key, value) in in_file_order(document) {
        let name: &str = key.get_ref();
        if name == "upstreams" {
            origins.insert("upstreams", Origin::File(path.to_owned()));
            continue;
        }
        if !tables.contains(&name) {
            let candidates = tables.iter().copied().chain(KEYS.iter().copied());
            return Err(unknown(name.to_owned(), closest(name, candidates)));
        }
        // A table name with a non-table value is a type error: serde reports it with its position.
        let DeValue::Table(table) = value.get_ref() else {
            continue;
        };
        for (field, _) in in_file_order(table) {
            let dotted = format!("{name}.{}", field.get_ref());
            match KEYS.iter().find(|known| **known == dotted) {
                Some(known) => {
                    origins.insert(known, Origin::File(path.to_owned()));
                }
                None => {
                    let suggestion = closest(&dotted, KEYS.iter().copied());
                    return Err(unknown(dotted, suggestion));
                }
            }
        }
    }
    Ok(())
}

type Entry<'a, 'i> = (
    &'a toml::Spanned<toml::de::DeString<'i>>,
    &'a toml::Spanned<DeValue<'i>>,
);

fn in_file_order<'a, 'i>(table: &'a DeTable<'i>) -> Vec<Entry<'a, 'i>> {
    let mut entries: Vec<Entry<'a, 'i>> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

/// The dotted path of the key whose name or value covers byte `at`, deepest first
/// (`upstreams[1]` for an array item).
fn key_path(table: &DeTable<'_>, at: usize) -> Option<Vec<String>> {
    let mut found = None;
    for (key, value) in table.iter() {
        let name = key.get_ref().to_string();
        match value.get_ref() {
            DeValue::Table(inner) => {
                if let Some(mut path) = key_path(inner, at) {
                    path.insert(0, name);
                    return Some(path);
                }
            }
            DeValue::Array(items) => {
                if let Some(i) = items.iter().position(|item| covers(item.span(), at)) {
                    return Some(vec![format!("{name}[{i}]")]);
                }
            }
            _ => {}
        }
        if covers(key.span(), at) || covers(value.span(), at) {
            found = Some(vec![name]);
        }
    }
    found
}

fn covers(span: Range<usize>, at: usize) -> bool {
    span.contains(&at) || span.start == at
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    // Count characters, not bytes: skip UTF-8 continuation bytes.
    let column = before[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count()
        + 1;
    (line, column)
}

/// serde's type names mean little to an operator.
fn friendly(message: &str) -> String {
    let mut message = message
        .replace("expected u64", "expected a non-negative integer")
        .replace(
            "expected u32",
            "expected a non-negative integer up to 4294967295",
        )
        .replace("expected socket address", ADDRESS)
        .replace(
            "invalid socket address syntax",
            &format!("invalid socket address, {ADDRESS}"),
        );
    if let Some(at) = message.find("expected struct ") {
        message.truncate(at);
        message.push_str("expected a table");
    }
    message
}

const ADDRESS: &str = "expected an address and port such as 127.0.0.1:9464 or [::]:4443";
