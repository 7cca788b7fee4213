//! Every SQL statement is parameterised: no value from outside is ever
//! formatted into SQL text. sqlx takes only `&'static str` or text marked
//! `AssertSqlSafe`, so SQL built at run time is found where `format!`
//! builds it; this reads every `format!` of `src/` whose text is SQL and
//! checks what it puts in: a constant (an UPPERCASE name), a name bound in
//! the same call to an enum's fixed name (`sending =
//! DeliveryStatus::Sending`), or one of the few reviewed below. Anything
//! else fails this test: bind it (`$n`, `push_bind`) instead
//! (`docs/security.md`, "SQL").

use std::path::Path;

/// Reviewed: what each puts in, and why it is not a value from outside.
const REVIEWED: [(&str, &str); 4] = [
    // `DeliveryStatus::as_str` of the filter's parsed status.
    ("src/storage/listing.rs", "literal"),
    // `DeliveryStatus::WaitForSending`, bound just above the push.
    ("src/storage/listing.rs", "waiting"),
    // The bench's own database, `herald_bench_` and a new uuid.
    ("src/tools/bench/sql.rs", "name"),
    // `DROP DATABASE` of that same name.
    ("src/tools/bench/sql.rs", ""),
];

const SQL_WORDS: [&str; 7] = [
    "SELECT ", "UPDATE ", "INSERT ", "DELETE ", "DROP ", "CREATE ", "VACUUM ",
];

/// The text of the string literal at the start of `s` (after `"`), and the
/// rest after its closing quote.
fn literal(s: &str) -> Option<(String, &str)> {
    let mut text = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => return Some((text, &s[i + 1..])),
            c => text.push(c),
        }
    }
    None
}

/// The macro's arguments after its format string: up to its closing `)`.
fn arguments(rest: &str) -> &str {
    let mut depth = 1;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &rest[..i];
                }
            }
            _ => {}
        }
    }
    rest
}

/// The names of `text`'s placeholders (`{name}`, `{}` as "").
fn placeholders(text: &str) -> Vec<String> {
    let text = text.replace("{{", "").replace("}}", "");
    text.split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}'))
        .map(|(inside, _)| inside.split(':').next().unwrap_or("").trim().to_owned())
        .collect()
}

fn is_fixed(name: &str, args: &str) -> bool {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
        return true;
    }
    let bound = format!("{name} = ");
    args.split(&bound).nth(1).is_some_and(|expr| {
        let path = expr.trim_start();
        path.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && path.contains("::")
    })
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_value_from_outside_is_formatted_into_sql() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut checked = 0;
    let mut unsafe_sql = Vec::new();
    for path in files {
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let source = std::fs::read_to_string(&path).expect("a source file");
        for (_, after) in source
            .match_indices("format!(")
            .map(|(i, m)| ((), &source[i + m.len()..]))
        {
            let Some(quoted) = after.trim_start().strip_prefix('"') else {
                continue;
            };
            let Some((text, rest)) = literal(quoted) else {
                continue;
            };
            if !SQL_WORDS.iter().any(|w| text.contains(w)) {
                continue;
            }
            checked += 1;
            let args = arguments(rest);
            for name in placeholders(&text) {
                let reviewed = REVIEWED.contains(&(relative.as_str(), name.as_str()));
                if !reviewed && !is_fixed(&name, args) {
                    unsafe_sql.push(format!("{relative}: {{{name}}} in {text:?}"));
                }
            }
        }
    }
    assert!(
        checked >= 15,
        "found only {checked} SQL texts: is the scan broken?"
    );
    assert!(
        unsafe_sql.is_empty(),
        "SQL built from values: {unsafe_sql:#?}"
    );
}
