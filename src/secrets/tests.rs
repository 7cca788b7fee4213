use super::*;

fn key() -> Key {
    Key::parse(&Key::generate()).expect("a generated key parses")
}

#[test]
fn a_sealed_value_opens_in_its_place_only() {
    let keys = Keys::new(Some(key()), vec![]);
    let sealed = keys.seal("hq-rt-secret", "t/a/refresh").unwrap();
    assert!(sealed.starts_with("hrld1:") && !sealed.contains("hq-rt-secret"));
    let opened = keys.open(&sealed, "t/a/refresh").unwrap();
    assert_eq!(opened.text, "hq-rt-secret");
    assert!(!opened.stale);
    assert!(matches!(
        keys.open(&sealed, "t/b/refresh"),
        Err(SealError::Damaged { .. })
    ));
    // A fresh nonce per write: the same text never seals the same way.
    assert_ne!(sealed, keys.seal("hq-rt-secret", "t/a/refresh").unwrap());
}

#[test]
fn an_altered_value_is_refused() {
    let keys = Keys::new(Some(key()), vec![]);
    let sealed = keys.seal("token", "p").unwrap();
    let mut bytes = sealed.into_bytes();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(bytes).unwrap();
    assert!(matches!(
        keys.open(&altered, "p"),
        Err(SealError::Damaged { .. })
    ));
}

#[test]
fn a_rotation_opens_old_values_and_marks_them_stale() {
    let (old, new) = (key(), key());
    let before = Keys::new(Some(old.clone()), vec![]);
    let sealed = before.seal("token", "p").unwrap();
    let after = Keys::new(Some(new.clone()), vec![old]);
    let opened = after.open(&sealed, "p").unwrap();
    assert_eq!(opened.text, "token");
    assert!(opened.stale, "sealed with an old key");
    let resealed = after.seal(&opened.text, "p").unwrap();
    assert!(resealed.contains(new.id()));
    // Without the old key the old value names the key it needs.
    let without = Keys::new(Some(new), vec![]);
    let err = without.open(&sealed, "p").unwrap_err();
    assert!(matches!(err, SealError::UnknownKey { .. }));
    assert!(err.to_string().contains("old_keys"), "{err}");
}

#[test]
fn plain_text_of_before_sealing_is_read_and_stale() {
    let keys = Keys::new(Some(key()), vec![]);
    let opened = keys.open("legacy-token", "p").unwrap();
    assert_eq!(opened.text, "legacy-token");
    assert!(opened.stale);
}

#[test]
fn without_a_key_nothing_is_sealed_and_the_error_says_what_to_do() {
    let err = Keys::default().seal("x", "p").unwrap_err();
    assert_eq!(err, SealError::NoKey);
    assert!(err.to_string().contains("HERALD_SECRETS_KEY"));
}

#[test]
fn only_32_bytes_of_base64_make_a_key() {
    assert!(Key::parse("c2hvcnQ=").is_none());
    assert!(Key::parse("not base64 at all!").is_none());
    assert!(Key::parse(&Key::generate()).is_some());
}

#[test]
fn the_digest_is_sha256_hex_as_postgresql_computes_it() {
    assert_eq!(
        digest("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
