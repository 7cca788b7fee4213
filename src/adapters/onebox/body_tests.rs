//! OneBox request bodies against `providers/onebox-message-create.md`: the
//! e-mail example and the eight channel examples, each rebuilt from a
//! command's message and compared field by field.

use super::body::{Mailbox, check, is_email, request_body};
use crate::domain::Message;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

fn message(json: Value) -> Message {
    serde_json::from_value(json).expect("test message parses")
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test time")
        .with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    at("2020-04-01T00:00:00Z")
}

/// The document types `PreviousId` and `ConversationId` as numbers but
/// writes some of them as strings ("76428"); herald always sends numbers.
fn ids_as_numbers(mut example: Value) -> Value {
    for key in ["PreviousId", "ConversationId"] {
        if let Some(Value::String(s)) = example.get(key) {
            let n: i64 = s.parse().expect("a numeric id");
            example[key] = n.into();
        }
    }
    example
}

/// Compares every key of both, so a missing or extra field names itself.
fn assert_same(built: &Value, example: &Value) {
    let (built, example) = (
        built.as_object().expect("an object"),
        example.as_object().expect("an object"),
    );
    for (key, value) in example {
        assert_eq!(built.get(key), Some(value), "field {key}");
    }
    for key in built.keys() {
        assert!(
            example.contains_key(key),
            "field {key} is not in the example"
        );
    }
}

/// A channel example: rebuilt from `command` for `connection_id`.
fn reproduces(connection_id: i64, command: Value, example: &str) {
    let example: Value = serde_json::from_str(example).expect("the document's JSON");
    let built = request_body(connection_id, &message(command.clone()), now());
    assert_same(&built, &ids_as_numbers(example));
    assert_eq!(check(&message(command)), Ok(()));
}

#[test]
fn facebook_post() {
    let text = "Send via api to FB POST - test 1";
    reproduces(
        583,
        json!({"from": "469218373611012", "to": "469218373611012", "method": "POST",
               "subject": text, "text": text, "html": text}),
        r#"{
  "ConnectionId": 583,
  "Subject": "Send via api to FB POST - test 1",
  "MethodId": "POST",
  "From": "469218373611012",
  "To": "469218373611012",
  "Attachments": [],
  "Content": {
    "Body": "Send via api to FB POST - test 1",
    "BodyText": "Send via api to FB POST - test 1",
    "ContentType": "text/html",
    "Encoding": "UTF-8"
    }
}"#,
    );
}

#[test]
fn facebook_comment() {
    let text = "Send via api to FB Comment - test 1";
    reproduces(
        583,
        json!({"from": "469218373611012", "to": "389961471775568", "method": "COMMENT",
               "reply_to": "63964", "subject": text, "text": text}),
        r#"{
  "ConnectionId": 583,
  "Subject": "Send via api to FB Comment - test 1",
  "MethodId": "COMMENT",
  "From": "469218373611012",
  "To": "389961471775568",
  "PreviousId": 63964,
  "Attachments": [],
  "Content": {
    "Body": "Send via api to FB Comment - test 1",
    "BodyText": "Send via api to FB Comment - test 1",
    "ContentType": "text/plain",
    "Encoding": "UTF-8"
    }
}"#,
    );
}

#[test]
fn facebook_direct_message() {
    let text = "Send via api to FB DIRECT - test 1";
    reproduces(
        583,
        json!({"from": "469218373611012", "to": "389961471775568", "method": "DIRECT",
               "conversation_id": "222536", "subject": text, "text": text}),
        r#"{
  "ConnectionId": 583,
  "Subject": "Send via api to FB DIRECT - test 1",
  "MethodId": "DIRECT",
  "From": "469218373611012",
  "To": "389961471775568",
  "ConversationId": 222536,
  "Attachments": [],
  "Content": {
    "Body": "Send via api to FB DIRECT - test 1",
    "BodyText": "Send via api to FB DIRECT - test 1",
    "ContentType": "text/plain",
    "Encoding": "UTF-8"
    }
}"#,
    );
}

#[test]
fn instagram_comment() {
    reproduces(
        584,
        json!({"from": "demo.onebox", "to": "azmnurami", "method": "COMMENT",
               "reply_to": "75406", "subject": "Send via api to Instagram Comment - test 1",
               "text": "Send via api to Instagram - test 1"}),
        r#"{
  "ConnectionId": 584,
  "Subject": "Send via api to Instagram Comment - test 1",
  "MethodId": "COMMENT",
  "From": "demo.onebox",
  "To": "azmnurami",
  "PreviousId": 75406,
  "Attachments": [],
  "Content": {
    "Body": "Send via api to Instagram - test 1",
    "BodyText": "Send via api to Instagram - test 1",
    "ContentType": "text/plain",
    "Encoding": "UTF-8"
    }
}"#,
    );
}

#[test]
fn twitter_tweet() {
    let text = "Send twitter tweet";
    reproduces(
        576,
        json!({"from": "trial_corp", "to": "trial_corp", "method": "POST",
               "subject": text, "text": text, "html": text}),
        r#"{
  "ConnectionId": 576,
  "Subject": "Send twitter tweet",
  "MethodId": "POST",
  "From": "trial_corp",
  "To": "trial_corp",
  "Attachments": [],
  "Content": {
    "Body": "Send twitter tweet",
    "BodyText": "Send twitter tweet",
    "ContentType": "text/html",
    "Encoding": "UTF-8"
    }
}"#,
    );
}

#[test]
fn twitter_mention() {
    let text = "Send Twitter mention @trial_corp- test 1";
    reproduces(
        576,
        json!({"from": "738567483435556864", "to": "927743274869125122", "method": "MENTION",
               "subject": "Send Twitter mention @trial_corp - test 1",
               "text": text, "html": text}),
        "{
  \"ConnectionId\": 576,
  \"Subject\": \"Send Twitter mention @trial_corp - test 1\",
  \"MethodId\": \"MENTION\",
  \"From\": \"738567483435556864\",
  \"To\": \"927743274869125122\",
  \"Attachments\": [],
  \"Content\": {
    \"Body\": \"Send Twitter mention @trial_corp- test 1\",
\t  \"BodyText\": \"Send Twitter mention @trial_corp- test 1\",
    \"ContentType\": \"text/html\",
    \"Encoding\": \"UTF-8\"
    }
}",
    );
}

#[test]
fn twitter_reply_tweet() {
    let text = "@agung4ldiana Selamat beraktivitas";
    reproduces(
        576,
        json!({"from": "738567483435556864", "to": "712571190812868608", "method": "MENTION",
               "reply_to": "76428", "subject": "Selamat beraktivitas",
               "text": text, "html": text}),
        "{
  \"ConnectionId\": 576,
  \"Subject\": \"Selamat beraktivitas\",
  \"MethodId\": \"MENTION\",
  \"From\": \"738567483435556864\",
  \"To\": \"712571190812868608\",
  \"PreviousId\": \"76428\",
  \"Attachments\": [],
  \"Content\": {
\t  \"Body\": \"@agung4ldiana Selamat beraktivitas\",
    \"BodyText\": \"@agung4ldiana Selamat beraktivitas\",
\t  \"ContentType\": \"text/html\",
\t  \"Encoding\": \"UTF-8\"
    }
}",
    );
}

#[test]
fn twitter_reply_direct_message() {
    reproduces(
        576,
        json!({"from": "738567483435556864", "to": "927743274869125122", "method": "DIRECT",
               "reply_to": "75495", "subject": "Reply to Twitter DM - test 1",
               "html": "Reply to Twitter DM- test 1", "text": "Reply to Twitter DM - test 1"}),
        "{
  \"ConnectionId\": 576,
  \"Subject\": \"Reply to Twitter DM - test 1\",
  \"MethodId\": \"DIRECT\",
  \"From\": \"738567483435556864\",
  \"To\": \"927743274869125122\",
  \"PreviousId\": \"75495\",
  \"Attachments\": [],
  \"Content\": {
 \t  \"Body\": \"Reply to Twitter DM- test 1\",
 \t  \"BodyText\": \"Reply to Twitter DM - test 1\",
 \t  \"ContentType\": \"text/html\",
 \t  \"Encoding\": \"UTF-8\"
 \t  }
}",
    );
}

/// The document's first example, an e-mail: its nulls are keys herald leaves
/// out, and it has no `MethodId`, which herald sends as null.
#[test]
fn email_with_users_and_an_attachment() {
    let command = json!({
        "from": "Onebox <test1@onebox.co.id>", "to": "Unggul W <unggul.wijayadi@gmail.com>",
        "subject": "Send via api - test 3", "text": "Hello", "html": "Hello <html></html>",
        "attachments": [{"name": "file1.csv", "description": "adesc1",
                         "content_base64": "file content encoded as base64"}]
    });
    let example: Value = serde_json::from_str(
        "{
\t\"ConnectionId\": 572,
\t\"Subject\": \"Send via api - test 3\",
\t\"From\": \"test1@onebox.co.id\",
\t\"To\": \"unggul.wijayadi@gmail.com\",
\t\"Cc\": null,
\t\"Bcc\": null,
\t\"ConversationId\": null,
\t\"PreviousId\": null,
\t\"PrevRemoteId\": null,
\t\"Attachments\": [
\t\t{
\t\t\t\"Description\": \"adesc1\",
\t\t\t\"File\": {
\t\t\t\t\"Date\": \"2020-04-01 00:00:00\",
\t\t\t\t\"Name\": \"file1.csv\",
\t\t\t\t\"Content\": \"file content encoded as base64\"
\t\t\t}
\t\t}
\t],
\t\"Users\": [{
\t\t\t\"IdentityId\": \"test1@onebox.co.id\",
\t\t\t\"Name\": \"Onebox\",
\t\t\t\"RoleId\": \"MSR1\"
\t}, {
\t\t\t\"IdentityId\": \"unggul.wijayadi@gmail.com\",
\t\t\t\"Name\": \"Unggul W\",
\t\t\t\"RoleId\": \"MSR2\"
\t}],
\t\"Content\": {
\t\t\"Body\": \"Hello <html></html>\",
\t\t\"BodyText\": \"Hello\",
\t\t\"ContentType\": \"text/html\",
\t\t\"Encoding\": \"UTF-8\"
\t}
}",
    )
    .expect("the document's JSON");
    let mut expected = example.as_object().expect("object").clone();
    expected.retain(|_, v| !v.is_null());
    expected.insert("MethodId".into(), Value::Null);
    let built = request_body(572, &message(command), now());
    assert_same(&built, &Value::Object(expected));
}

#[test]
fn email_users_carry_every_role() {
    let m = message(json!({
        "from": "Desk <desk@acme.co.id>", "to": "a@x.com, \"Bee\" <b@y.com>",
        "cc": ["c@z.com"], "bcc": ["Dee <d@z.com>; e@z.com"], "text": "hi"
    }));
    assert!(is_email(&m));
    let body = request_body(1, &m, now());
    assert_eq!(body["From"], "desk@acme.co.id");
    assert_eq!(body["To"], "a@x.com, b@y.com");
    assert_eq!(body["Cc"], "c@z.com");
    assert_eq!(body["Bcc"], "d@z.com, e@z.com");
    assert_eq!(
        body["Subject"], "hi",
        "the text stands in for a missing subject"
    );
    let roles: Vec<(&str, &str, &str)> = body["Users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| {
            let field = |k: &str| u[k].as_str().expect("a string");
            (field("IdentityId"), field("Name"), field("RoleId"))
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("desk@acme.co.id", "Desk", "MSR1"),
            ("a@x.com", "a@x.com", "MSR2"),
            ("b@y.com", "Bee", "MSR2"),
            ("c@z.com", "c@z.com", "MSR3"),
            ("d@z.com", "Dee", "MSR4"),
            ("e@z.com", "e@z.com", "MSR4"),
        ]
    );
    assert_eq!(check(&m), Ok(()));
}

#[test]
fn a_twitter_handle_or_a_method_is_not_email() {
    let handle = message(json!({"from": "a", "to": "@agung4ldiana", "text": "x"}));
    assert!(!is_email(&handle));
    let dm = message(json!({"from": "a@b.co", "to": "c@d.co", "method": "DIRECT", "text": "x"}));
    assert!(!is_email(&dm));
    assert!(request_body(1, &dm, now()).get("Users").is_none());
    assert_eq!(
        Mailbox::parse(" \"Ann\" <ann@x.io> "),
        Mailbox {
            name: Some("Ann"),
            address: "ann@x.io"
        }
    );
}

#[test]
fn media_and_url_attachments_go_by_path() {
    let m = message(json!({
        "from": "1", "to": "2", "method": "DIRECT", "kind": "image",
        "media": {"url": "https://cdn.example/p/photo.jpg?sig=1"},
        "attachments": [{"name": "f.pdf", "url": "https://cdn.example/f.pdf",
                         "content_base64": "aGk="}]
    }));
    let body = request_body(1, &m, at("2024-05-06T07:08:09Z"));
    assert_eq!(
        body["Attachments"],
        json!([
            {"Description": "photo.jpg", "File": {"Date": "2024-05-06 07:08:09",
              "Name": "photo.jpg", "Path": "https://cdn.example/p/photo.jpg?sig=1"}},
            {"Description": "f.pdf", "File": {"Date": "2024-05-06 07:08:09",
              "Name": "f.pdf", "Path": "https://cdn.example/f.pdf"}}
        ])
    );
    assert_eq!(body["Content"]["Body"], "");
    assert_eq!(body["Subject"], "");
    assert_eq!(check(&m), Ok(()));
}

#[test]
fn html_only_gets_a_plain_text_alternative() {
    let m = message(json!({"from": "1", "to": "2", "html": "<p>Tom &amp; Jerry</p>"}));
    let body = request_body(1, &m, now());
    assert_eq!(body["Content"]["Body"], "<p>Tom &amp; Jerry</p>");
    assert_eq!(body["Content"]["BodyText"], "Tom & Jerry");
    assert_eq!(body["Content"]["ContentType"], "text/html");
    assert_eq!(body["MethodId"], Value::Null);
}

#[test]
fn extra_fills_only_what_herald_leaves_empty() {
    let m = message(
        json!({"from": "1", "to": "2", "text": "x", "method": "direct",
        "extra": {"PrevRemoteId": "r-9", "To": "not-mine", "Content": {"TemplateId": 4, "Body": "no"}}}),
    );
    let body = request_body(7, &m, now());
    assert_eq!(body["PrevRemoteId"], "r-9");
    assert_eq!(body["To"], "2");
    assert_eq!(body["MethodId"], "DIRECT");
    assert_eq!(body["Content"]["TemplateId"], 4);
    assert_eq!(body["Content"]["Body"], "x");
}

#[test]
fn check_refuses_what_onebox_cannot_carry() {
    let refused = |json: Value, needle: &str| {
        let err = check(&message(json)).expect_err("refused");
        assert!(err.0.contains(needle), "{err}");
    };
    refused(
        json!({"from": "1", "to": "2", "kind": "location",
               "location": {"latitude": 1.0, "longitude": 2.0}}),
        "location",
    );
    refused(
        json!({"from": "1", "to": "2", "kind": "buttons", "buttons": [{"key": "k", "title": "t"}]}),
        "buttons",
    );
    refused(
        json!({"from": "1", "to": "2", "kind": "list", "text": "x"}),
        "list",
    );
    refused(json!({"to": "2", "text": "x"}), "message.from");
    refused(
        json!({"from": "1", "to": "2", "text": "x", "method": "STORY"}),
        "STORY",
    );
    refused(
        json!({"from": "1", "to": "2", "text": "x", "reply_to": "abc"}),
        "reply_to",
    );
    refused(
        json!({"from": "1", "to": "2", "text": "x", "conversation_id": "c-1"}),
        "conversation_id",
    );
    refused(
        json!({"from": "1", "to": "2", "text": "x", "method": "DIRECT", "cc": ["a@b.co"]}),
        "cc and bcc",
    );
    refused(
        json!({"from": "1", "to": "2", "text": "x", "attachments": [{"name": "f"}]}),
        "url or content_base64",
    );
    refused(
        json!({"from": "1", "to": "2", "text": "x",
               "attachments": [{"name": "f", "content_base64": "not base64!"}]}),
        "not base64",
    );
}
